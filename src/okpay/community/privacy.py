"""The privacy guard: personal data typed into a public post is found before it is posted.

A forum post is read by everyone, so a card number, a phone number, an e-mail address, an
identity-card number or a transaction reference in one hands a stranger what they need to
impersonate the author or to phish them. :func:`scan` finds them (the page warns the author
and offers a private request instead); :func:`mask` hides them if the author posts anyway.

What counts:

- card numbers: 13–19 digits that pass the Luhn check (core.cards);
- phone numbers: what libphonenumber finds as a valid number, national mainland numbers and
  any written with a country code (+852 …);
- e-mail addresses;
- identity numbers: mainland resident identity cards (18 characters, ISO 7064 check), Hong
  Kong identity cards (letter(s), six digits, check digit) and Taiwan national IDs;
- transaction references (TX-YYYYMMDD-…).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import phonenumbers

from okpay.core import cards, ids
from okpay.core.i18n import N_, gettext

KINDS = ("card_number", "phone", "email", "id_number", "transaction_reference")

KIND_LABELS = {
    "card_number": N_("card number"),
    "phone": N_("phone number"),
    "email": N_("e-mail address"),
    "id_number": N_("ID number"),
    "transaction_reference": N_("transaction reference"),
}

MASK = "••••"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_MAINLAND_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_HK_ID = re.compile(r"(?<![0-9A-Za-z])([A-Z]{1,2})(\d{6})\s?\(?([0-9A])\)?(?![0-9A-Za-z])")
_TW_ID = re.compile(r"(?<![0-9A-Za-z])([A-Z])([12]\d{8})(?![0-9A-Za-z])")
_MAINLAND_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"  # A=10 … O=35, in the ministry's order
# Regions whose numbers people type without a country code on OKPay.
_PHONE_REGIONS = ("CN", "HK")
# A Hong Kong number without +852 is eight bare digits, like many order numbers: it counts
# only when the words just before it say it is a phone number.
_PHONE_WORDS = re.compile(
    r"(?i)(电话|電話|手机|手機|手提|号码|號碼|致电|致電|联系|聯絡|联络|whatsapp|phone|tel|mobile|call)"
)
_PHONE_WORDS_BEFORE = 12
# Mainland 400/800 numbers belong to businesses (OKPay's own hotline among them), never to a
# person: they are not personal data.
_BUSINESS_PREFIXES = ("400", "800")


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind and where it is in the text."""

    kind: str
    start: int
    end: int

    @property
    def label(self) -> str:
        """The kind in the current language ("银行卡号")."""
        return gettext(KIND_LABELS[self.kind])


def _mainland_id_ok(value: str) -> bool:
    total = sum(int(d) * w for d, w in zip(value[:17], _MAINLAND_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def _hk_id_ok(letters: str, digits: str, check: str) -> bool:
    values = [36] if len(letters) == 1 else []
    values += [ord(ch) - 55 for ch in letters] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def _tw_id_ok(letter: str, digits: str) -> bool:
    code = _TW_LETTERS.index(letter) + 10
    values = [code // 10, code % 10] + [int(d) for d in digits]
    weights = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
    return sum(v * w for v, w in zip(values, weights, strict=True)) % 10 == 0


def _candidates(text: str, exempt_phones: Collection[str]) -> list[Finding]:
    found = [Finding("card_number", s, e) for s, e in cards.card_number_spans(text)]
    found += [Finding("email", *m.span()) for m in _EMAIL.finditer(text)]
    found += [Finding("transaction_reference", *m.span()) for m in ids.TX_REFERENCE.finditer(text)]
    found += [
        Finding("id_number", *m.span()) for m in _MAINLAND_ID.finditer(text)
        if _mainland_id_ok(m.group(0))
    ]  # fmt: skip
    found += [
        Finding("id_number", *m.span()) for m in _HK_ID.finditer(text) if _hk_id_ok(*m.groups())
    ]
    found += [
        Finding("id_number", *m.span()) for m in _TW_ID.finditer(text) if _tw_id_ok(*m.groups())
    ]
    for region in _PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.VALID
        ):
            if _is_personal_phone(text, match, region) and not _is_exempt(match, exempt_phones):
                found.append(Finding("phone", match.start, match.end))
    return found


def _is_personal_phone(text: str, match: phonenumbers.PhoneNumberMatch, region: str) -> bool:
    """False for what only looks like a person's phone number: a business 400/800 number, an
    amount (¥13812345678.00) or a bare Hong Kong-length number with no phone word before it."""
    number = match.number
    if number.country_code == 86 and str(number.national_number)[:3] in _BUSINESS_PREFIXES:
        return False
    before = text[max(0, match.start - 1) : match.start]
    if before in ("¥", "$", "€", "£") or re.match(r"[.,]\d", text[match.end : match.end + 2]):
        return False
    raw = match.raw_string.lstrip()
    if region == "HK" and not raw.startswith(("+", "00", "852")):
        words = text[max(0, match.start - _PHONE_WORDS_BEFORE) : match.start]
        return _PHONE_WORDS.search(words) is not None
    return True


def _is_exempt(match: phonenumbers.PhoneNumberMatch, exempt_phones: Collection[str]) -> bool:
    if not exempt_phones:
        return False
    e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return e164 in exempt_phones


def scan(text: str, *, exempt_phones: Collection[str] = ()) -> list[Finding]:
    """The personal data in ``text``, in order, without overlaps (a card number is not also
    reported as a phone number). Full-width digits count as digits. Phone numbers in
    ``exempt_phones`` (E.164, e.g. the hotlines OKPay publishes) are not personal data."""
    normal = _normalise(text)
    found: list[Finding] = []
    for item in sorted(
        _candidates(normal, exempt_phones), key=lambda f: (f.start, -(f.end - f.start))
    ):
        if found and item.start < found[-1].end:
            continue
        found.append(item)
    return found


def kinds(findings: list[Finding]) -> list[str]:
    """The distinct kinds found, in the order of :data:`KINDS`."""
    present = {f.kind for f in findings}
    return [k for k in KINDS if k in present]


def mask(text: str, *, exempt_phones: Collection[str] = ()) -> tuple[str, list[str]]:
    """``text`` with each piece of personal data replaced by a mask that keeps at most its
    last four characters (never for e-mail addresses or ID numbers), and the kinds masked."""
    findings = scan(text, exempt_phones=exempt_phones)
    out: list[str] = []
    at = 0
    for item in findings:
        out.append(text[at : item.start])
        value = _normalise(text[item.start : item.end])
        tail = re.sub(r"[^0-9A-Za-z]", "", value)[-4:]
        keep = item.kind in ("card_number", "phone", "transaction_reference")
        out.append(f"{MASK} {tail}" if keep else MASK)
        at = item.end
    out.append(text[at:])
    return "".join(out), kinds(findings)


def _normalise(text: str) -> str:
    """Full-width ASCII as ASCII (１３８… is a phone number too), one character for one, so
    a span in the result is the same span in ``text``."""
    return text.translate(_FULL_WIDTH)


_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
