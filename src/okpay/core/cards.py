"""Card numbers: the Luhn check, and masking any that people type into free text."""

from __future__ import annotations

import re

# 13 to 19 digits, optionally grouped by single spaces or dashes, not inside a longer number.
_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (digits only) pass the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_number_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a Luhn-valid card number: (start, end) of each."""
    return [m.span() for m in _CANDIDATE.finditer(text) if luhn_ok(re.sub(r"\D", "", m.group(0)))]


def mask_card_numbers(text: str) -> str:
    """Replace every Luhn-valid card number in ``text`` by its last four digits
    (PCI DSS: a full number must not be stored, even when a customer types it in a ticket)."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if not luhn_ok(digits):
            return match.group(0)
        return "**** **** **** " + digits[-4:]

    return _CANDIDATE.sub(mask, text)
