"""Money as integers in minor units (ISO 4217 exponents): parsing people's input exactly.

"10.001" in CNY is an error, never a rounding; floats never appear."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, currency_exponent

SUPPORTED_CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY")
# Larger than any single operation we accept, far below 2**63 minor units.
MAX_MINOR_UNITS = 10**15

# ASCII digits only (``\d`` would take "١٠" or "৪"), one optional decimal point.
_AMOUNT = re.compile(r"^([0-9]{1,40})(?:[.]([0-9]{1,40}))?$")
# Thousands separators only where they belong: "1,000" and "12,345.60", never "1,0,0".
_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:[.][0-9]{1,40})?$")
# A Chinese input method in full-width mode types "１０．５"; these map one to one to ASCII.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，", "0123456789.,")


def check_currency(currency: str) -> str:
    """The upper-case code of a supported currency, or ValidationFailed."""
    code = (currency or "").strip().upper()
    if code not in SUPPORTED_CURRENCIES:
        raise ValidationFailed(
            N_("We do not support the currency %(currency)s."),
            code="currency_not_supported",
            field="currency",
            currency=code[:8] or "?",
        )
    return code


def parse_amount(value: str | int, currency: str, *, field: str = "amount") -> int:
    """Minor units from "1234.5" (or an int of minor units from the API), exactly.

    Only ASCII digits, one optional "." and thousands separators in their places ("1,000.50");
    full-width digits, "．" and "，" count as their ASCII forms. Zero, negative, NaN, huge,
    other scripts' digits or more decimals than the currency has are refused with a code."""
    currency = check_currency(currency)
    exponent = currency_exponent(currency)
    if isinstance(value, bool):
        raise ValidationFailed(N_("Please enter an amount."), code="amount_invalid", field=field)
    if isinstance(value, int):
        minor = value
    else:
        text = str(value).strip().translate(_FULL_WIDTH)
        if text.startswith("-"):
            raise ValidationFailed(
                N_("The amount must be more than zero."), code="amount_not_positive", field=field
            )
        if not text.isascii():
            raise ValidationFailed(
                N_("Please type the amount with the digits 0 to 9 and at most one decimal point."),
                code="amount_not_ascii",
                field=field,
            )
        if "," in text and _GROUPED.match(text):
            text = text.replace(",", "")
        match = _AMOUNT.match(text)
        if not match:
            raise ValidationFailed(
                N_("Please enter an amount such as 100 or 99.50."),
                code="amount_invalid",
                field=field,
            )
        whole, fraction = match.group(1), match.group(2) or ""
        if len(fraction.rstrip("0")) > exponent:
            raise ValidationFailed(
                N_("%(currency)s amounts have at most %(digits)s decimal places."),
                code="amount_too_precise",
                field=field,
                currency=currency,
                digits=exponent,
            )
        try:
            minor = int(Decimal(f"{whole}.{fraction or '0'}").scaleb(exponent))
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only digits
            raise ValidationFailed(code="amount_invalid", field=field) from exc
    if minor <= 0:
        raise ValidationFailed(
            N_("The amount must be more than zero."), code="amount_not_positive", field=field
        )
    if minor > MAX_MINOR_UNITS:
        raise ValidationFailed(
            N_("That amount is too large."), code="amount_too_large", field=field
        )
    return minor


def to_decimal_string(minor: int, currency: str) -> str:
    """ "1234.50" for 123450 CNY: for APIs and CSV, never rounded."""
    exponent = currency_exponent(currency)
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"
