"""The platform's request signature: SHA-1 over the token, timestamp and nonce sorted and
joined (docs/wechat.md), checked in constant time, with stale timestamps refused."""

from __future__ import annotations

import hashlib
import hmac

from okpay.core import clock
from okpay.core.errors import DomainError
from okpay.core.i18n import N_

#: How far a push's timestamp may be from our clock before it is refused as a replay.
MAX_SKEW_SECONDS = 300


class BadSignature(DomainError):
    """The call is not signed with our token (or not signed at all)."""

    code = "wechat_signature_invalid"
    status = 403
    message = N_("The request is not signed by WeChat.")


class StaleTimestamp(DomainError):
    code = "wechat_timestamp_stale"
    status = 403
    message = N_("The request's timestamp is too old or in the future.")


def sign(token: str, timestamp: str, nonce: str) -> str:
    """The signature the platform sends with a push (hex SHA-1)."""
    joined = "".join(sorted([token, timestamp, nonce]))
    return hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


def check_signature(*, token: str, signature: str, timestamp: str, nonce: str) -> None:
    """BadSignature unless ``signature`` is ours for this timestamp and nonce (and a token is
    configured at all); StaleTimestamp when the timestamp is more than a few minutes off."""
    if not token or not signature or not timestamp.isdigit() or not nonce:
        raise BadSignature()
    if len(timestamp) > 12 or len(nonce) > 64 or len(signature) > 64:
        raise BadSignature()
    if not hmac.compare_digest(sign(token, timestamp, nonce), signature.lower()):
        raise BadSignature()
    if abs(clock.now().timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
        raise StaleTimestamp()
