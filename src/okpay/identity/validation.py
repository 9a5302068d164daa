"""What people type, checked and shown: e-mail addresses, phone numbers, names and one-line
texts, and their masked forms for other eyes."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_


def normalise_email(raw: str) -> str:
    """Lower-case, syntax-checked address; ValidationFailed otherwise."""
    value = (raw or "").strip()
    if "\r" in value or "\n" in value:
        raise ValidationFailed(
            N_("Line breaks are not allowed here."), code="line_break_not_allowed", field="email"
        )
    try:
        info = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            N_("Please enter a valid e-mail address."), code="email_invalid", field="email"
        ) from exc
    return info.normalized.lower()


def normalise_phone(raw: str, *, region: str = "CN") -> str:
    """E.164 form of a phone number (default region China); ValidationFailed otherwise."""
    value = (raw or "").strip()
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(
            N_("Please enter a valid phone number."), code="phone_invalid", field="phone"
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(
            N_("Please enter a valid phone number."), code="phone_invalid", field="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Line breaks in any script: CR, LF, VT, FF, NEL (U+0085), LINE and PARAGRAPH SEPARATOR.
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x85\u2028\u2029")


# Zero-width non-joiner and joiner: needed inside words of some scripts and emoji.
_JOINERS = frozenset("\u200c\u200d")


def check_name(raw: str, *, field: str = "name", max_length: int = 100) -> str:
    """One line of text typed by a person (a note, a reason, a subject, an order id):
    trimmed of ASCII blanks; no line break of any script, no control, format (but the two
    joiners), surrogate, private-use or unassigned character; bounded length. Names of
    people, banks and merchants go through :func:`check_person_name`, which is stricter."""
    value = (raw or "").strip(" \t\r\n")
    if any(ch in _LINE_BREAKS for ch in value):
        raise ValidationFailed(
            N_("Line breaks are not allowed here."), code="line_break_not_allowed", field=field
        )
    if any(unicodedata.category(ch)[0] == "C" and ch not in _JOINERS for ch in value):
        raise ValidationFailed(
            N_("This text contains characters that are not allowed."),
            code="control_characters",
            field=field,
        )
    if len(value) > max_length:
        raise ValidationFailed(
            N_("Use at most %(max)s characters."), code="too_long", field=field, max=max_length
        )
    return value


def check_person_name(raw: str, *, field: str = "name", max_length: int = 100) -> str:
    """A name shown to other people (display name, card or account holder, bank, merchant):
    :func:`check_name`, and the only space is the ordinary one (U+0020, runs of it become
    one), so two names that look alike are alike; a zero-width joiner or non-joiner only
    between two letters, where a script needs it."""
    value = check_name(raw, field=field, max_length=max_length)
    for i, ch in enumerate(value):
        if ch in _JOINERS and not (
            0 < i < len(value) - 1 and _is_letter(value[i - 1]) and _is_letter(value[i + 1])
        ):
            raise ValidationFailed(
                N_("This text contains characters that are not allowed."),
                code="control_characters",
                field=field,
            )
        if ch != " " and unicodedata.category(ch) == "Zs":
            raise ValidationFailed(
                N_("Use only ordinary spaces in names."), code="unusual_space", field=field
            )
    return re.sub(" {2,}", " ", value)


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("L", "M")


def mask_email(email: str) -> str:
    """``z***@example.com``: enough to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def counterparty_label(name: str, email: str) -> str:
    """How a user appears in someone else's history: name and masked e-mail."""
    return f"{name} ({mask_email(email)})" if name else mask_email(email)


def mask_phone(phone: str | None) -> str:
    """``+86 138****5678`` style masking."""
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone[:-8] + "****" + phone[-4:] if len(phone) > 8 else "****"
    national = phonenumbers.national_significant_number(number)
    shown = f"{national[:3]}****{national[-4:]}" if len(national) > 8 else f"****{national[-2:]}"
    return f"+{number.country_code} {shown}"
