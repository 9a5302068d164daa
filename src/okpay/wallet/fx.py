"""Exchange rates: a configurable table of mid rates against CNY, and exact conversion.

Rates are Decimals from configuration (never floats); converted amounts round half-up to
the target currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from okpay.core.i18n import currency_exponent

# CNY per one unit of each currency (mid-market, configurable by operators).
MID_RATES_CNY: dict[str, Decimal] = {
    "CNY": Decimal("1"),
    "USD": Decimal("7.10"),
    "EUR": Decimal("7.70"),
    "HKD": Decimal("0.91"),
    "JPY": Decimal("0.047"),
}


# What a cross-currency transfer adds over the mid rate (kept as revenue), and how long a
# quoted rate holds.
SPREAD_BPS = 50
QUOTE_MINUTES = 5


def rate(source: str, target: str) -> Decimal:
    """Units of ``target`` per unit of ``source`` at the mid rate."""
    return MID_RATES_CNY[source] / MID_RATES_CNY[target]


def convert(amount_minor: int, source: str, target: str, *, at: Decimal | None = None) -> int:
    """``amount_minor`` of ``source`` in ``target`` minor units (mid rate unless ``at``)."""
    if source == target:
        return amount_minor
    value = Decimal(amount_minor).scaleb(-currency_exponent(source)) * (at or rate(source, target))
    return int(value.scaleb(currency_exponent(target)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_cny(amount_minor: int, currency: str) -> int:
    return convert(amount_minor, currency, "CNY")


def customer_rate(source: str, target: str) -> Decimal:
    """What a customer gets per unit: the mid rate less the spread (kept as revenue)."""
    return (rate(source, target) * (Decimal(10_000 - SPREAD_BPS) / 10_000)).quantize(
        Decimal("0.00000001")
    )


def convert_down(amount_minor: int, source: str, target: str, at: Decimal) -> int:
    """``amount_minor`` at rate ``at``, rounded down: never more than promised."""
    value = Decimal(amount_minor).scaleb(-currency_exponent(source)) * at
    return int(value.scaleb(currency_exponent(target)).quantize(Decimal(1), rounding=ROUND_DOWN))
