"""Help centre: articles in Chinese and English, search, and triage of new requests.

Other domains call ``from okpay.helpcenter import triage`` (``triage.suggest(subject, body)``)
and ``from okpay.helpcenter import service as helpcenter_service``."""
