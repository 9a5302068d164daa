"""Checks on what a requester or an agent types: subject, description, transaction
references and topic."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from okpay.core import ids
from okpay.core.cards import mask_card_numbers
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.helpcenter.taxonomy import CATEGORIES
from okpay.identity import validation as identity_validation

SUBJECT_MAX = 200


BODY_MAX = 20_000


def check_subject(raw: str) -> str:
    value = identity_validation.check_name(raw, field="subject", max_length=SUBJECT_MAX)
    if not value:
        raise ValidationFailed(
            N_("Please say in a few words what this is about."), code="subject_required",
            field="subject",
        )  # fmt: skip
    return mask_card_numbers(value)


def check_body(raw: str, *, required: bool = True) -> str:
    value = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    value = "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    if required and not value:
        raise ValidationFailed(
            N_("Please describe what happened."), code="description_required", field="body"
        )
    if len(value) > BODY_MAX:
        raise ValidationFailed(
            N_("Use at most %(max)s characters."), code="too_long", field="body", max=BODY_MAX
        )
    return mask_card_numbers(value)


def check_references(raw: Sequence[str] | str) -> list[str]:
    """Transaction references (TX-YYYYMMDD- and ten characters, or six for older ones),
    deduplicated; anything else refused."""
    items = re.split(r"[\s,;，；]+", raw) if isinstance(raw, str) else list(raw)
    found: list[str] = []
    for item in items:
        value = unicodedata.normalize("NFKC", item or "").strip().upper()
        if not value:
            continue
        if not ids.TX_REFERENCE.fullmatch(value) or not ids.reference_is_well_formed(value):
            raise ValidationFailed(
                N_(
                    "“%(value)s” is not a transaction reference "
                    "(they look like TX-20261121-WMSTDVEMET)."
                ),
                code="reference_invalid",
                field="reference",
                value=value[:40],
            )  # fmt: skip
        if value not in found:
            found.append(value)
    return found[:10]


def check_category(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw not in CATEGORIES:
        raise ValidationFailed(
            N_("Please choose a topic from the list."), code="category_invalid", field="category"
        )
    return raw
