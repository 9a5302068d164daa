"""The fee schedule and its discounts: one place, read by quotes, confirmation pages, the
public fees page and the help centre.

A fee is percent (in basis points) plus a fixed part, kept between a minimum and a maximum,
per operation and method, domestic or cross-border. Discounts: a 30-day volume tier, loyalty
by account age, and promotions with a date window; the best single discount applies
(:func:`quote_fee`: what a user pays now, from their recent usage)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.i18n import N_
from okpay.identity import directory as identity_directory
from okpay.wallet import usage


@dataclass(frozen=True)
class FeeRule:
    operation: str  # topup | withdrawal | transfer | payment
    method: str  # card | bank | wallet | any
    scope: str  # domestic | cross_border
    percent_bps: int  # 100 bps = 1 %
    fixed: dict[str, int]  # minor units per currency
    minimum: dict[str, int]
    maximum: dict[str, int] | None
    label: str
    # Moved each calendar month without a fee (CNY minor units), before the rule applies.
    free_monthly_cny: int = 0


@dataclass(frozen=True)
class Discount:
    code: str
    percent_off: int  # of the fee
    label: str
    min_volume_cny: int | None = None  # 30-day volume in CNY minor units
    min_account_days: int | None = None
    starts: date | None = None
    ends: date | None = None


def _per_currency(cny: int, usd: int, eur: int, hkd: int, jpy: int) -> dict[str, int]:
    return {"CNY": cny, "USD": usd, "EUR": eur, "HKD": hkd, "JPY": jpy}


ZERO = _per_currency(0, 0, 0, 0, 0)

SCHEDULE: tuple[FeeRule, ...] = (
    FeeRule("topup", "card", "domestic", 0, ZERO, ZERO, None, N_("Top-up by card")),
    FeeRule("topup", "bank", "domestic", 0, ZERO, ZERO, None, N_("Top-up by bank transfer")),
    FeeRule(
        "withdrawal",
        "bank",
        "domestic",
        10,
        ZERO,
        _per_currency(10, 2, 2, 10, 2),
        _per_currency(2500, 350, 320, 2700, 530),
        N_("Withdrawal to a bank account"),
        free_monthly_cny=1_000_00,
    ),
    FeeRule("transfer", "wallet", "domestic", 0, ZERO, ZERO, None, N_("Transfer to an OKPay user")),
    FeeRule(
        "transfer",
        "wallet",
        "cross_border",
        150,
        ZERO,
        _per_currency(500, 70, 65, 550, 106),
        _per_currency(20000, 2800, 2600, 22000, 4250),
        N_("Transfer to another currency"),
    ),
    FeeRule("payment", "wallet", "domestic", 0, ZERO, ZERO, None, N_("Paying a merchant")),
)

DISCOUNTS: tuple[Discount, ...] = (
    Discount(
        "volume_gold", 50, N_("Gold: more than ¥50,000 moved in 30 days"), min_volume_cny=5_000_000
    ),
    Discount(
        "volume_silver",
        25,
        N_("Silver: more than ¥10,000 moved in 30 days"),
        min_volume_cny=1_000_000,
    ),
    Discount("loyalty_2y", 15, N_("Loyalty: account older than two years"), min_account_days=730),
    Discount(
        "spring_2027",
        100,
        N_("Spring Festival promotion: no fees"),
        starts=date(2027, 2, 10),
        ends=date(2027, 2, 24),
    ),
)


def promotions(today: date) -> list[Discount]:
    """Promotions (discounts with a date window) running on ``today`` or still to come,
    soonest first: the fees page and the withdrawal form show their dates."""
    found = [d for d in DISCOUNTS if d.ends is not None and d.ends >= today]
    return sorted(found, key=lambda d: (d.starts or today, d.code))


def free_allowance_left(
    snapshot: usage.UsageSnapshot, operation: str = "withdrawal"
) -> tuple[int, int]:
    """(left, allowance) of ``operation``'s monthly free allowance this calendar month, in
    CNY minor units, as :func:`quote` counts it; (0, 0) when the rule has none."""
    rule = rule_for(operation, "bank", "domestic")
    if rule is None or not rule.free_monthly_cny:
        return 0, 0
    return max(0, rule.free_monthly_cny - snapshot.month(operation)), rule.free_monthly_cny


def rule_for(operation: str, method: str, scope: str) -> FeeRule | None:
    for rule in SCHEDULE:
        if rule.operation == operation and rule.method in (method, "any") and rule.scope == scope:
            return rule
    return None


@dataclass(frozen=True)
class FeeQuote:
    fee: int
    base_fee: int
    discount: Discount | None
    rule: FeeRule | None
    # The part of the amount inside the monthly free allowance (not charged), in the
    # amount's currency.
    free_amount: int = 0


def compute_fee(rule: FeeRule | None, amount: int, currency: str) -> int:
    """Undiscounted fee for ``amount`` minor units: percent rounded half up, then fixed,
    then clamped to [minimum, maximum]."""
    if rule is None:
        return 0
    fee = (amount * rule.percent_bps + 5_000) // 10_000 + rule.fixed.get(currency, 0)
    fee = max(fee, rule.minimum.get(currency, 0))
    if rule.maximum is not None:
        fee = min(fee, rule.maximum[currency])
    return fee


def best_discount(
    *, volume_cny_30d: int, account_created: datetime, today: date
) -> Discount | None:
    """The single largest discount the customer qualifies for today."""
    eligible = []
    for d in DISCOUNTS:
        if d.min_volume_cny is not None and volume_cny_30d < d.min_volume_cny:
            continue
        if (
            d.min_account_days is not None
            and (today - account_created.date()).days < d.min_account_days
        ):
            continue
        if d.starts is not None and today < d.starts:
            continue
        if d.ends is not None and today > d.ends:
            continue
        eligible.append(d)
    return max(eligible, key=lambda d: d.percent_off, default=None)


def quote(
    operation: str,
    method: str,
    scope: str,
    amount: int,
    currency: str,
    *,
    discount: Discount | None,
    used_this_month_cny: int = 0,
) -> FeeQuote:
    """The fee for ``amount``: only the part beyond the monthly free allowance is charged,
    then the best discount applies."""
    rule = rule_for(operation, method, scope)
    chargeable = amount
    if rule is not None and rule.free_monthly_cny:
        from okpay.wallet import fx

        free_left_cny = max(0, rule.free_monthly_cny - used_this_month_cny)
        free_left = fx.convert(free_left_cny, "CNY", currency)
        chargeable = max(0, amount - free_left)
    base = compute_fee(rule, chargeable, currency) if chargeable else 0
    fee = base - (base * discount.percent_off) // 100 if discount and base else base
    return FeeQuote(
        fee=fee,
        base_fee=base,
        discount=discount if fee != base else None,
        rule=rule,
        free_amount=amount - chargeable,
    )


def _fee_discount(snapshot: usage.UsageSnapshot, created_at: datetime) -> Discount | None:
    return best_discount(
        volume_cny_30d=snapshot.volume_30d(), account_created=created_at, today=snapshot.today
    )


def quote_fee(
    session: Session,
    *,
    user_id: int,
    operation: str,
    method: str,
    amount: int,
    currency: str,
    cross_border: bool = False,
    snapshot: usage.UsageSnapshot | None = None,
    created_at: datetime | None = None,
) -> FeeQuote:
    """The fee a user would pay now, with the best discount they qualify for."""
    if created_at is None:
        state = identity_directory.account_state(session, user_id)
        created_at = state.created_at if state else clock.now()
    snap = snapshot or usage.usage_snapshot(session, user_id=user_id)
    return quote(
        operation,
        method,
        "cross_border" if cross_border else "domestic",
        amount,
        currency,
        discount=_fee_discount(snap, created_at),
        used_this_month_cny=snap.month(operation),
    )
