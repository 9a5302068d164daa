"""The numbers help articles quote: fees, discounts and limits come from the wallet's own
schedule (okpay.wallet.fees, okpay.wallet.limits, okpay.wallet.fx), so an article never states
a figure the product does not apply; timings that no code enforces yet are kept here.

Articles refer to them with placeholders such as ``{{ fee.withdrawal_percent }}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def _yuan(minor: int) -> str:
    """¥ amounts as articles print them: "1,000", "0.10", "25"."""
    value = Decimal(minor) / 100
    text = f"{value:,.2f}"
    return text[:-3] if text.endswith(".00") else text


def _percent(bps: int) -> str:
    return f"{Decimal(bps) / 100:f}".rstrip("0").rstrip(".") or "0"


def wallet_facts() -> dict[str, dict[str, Any]]:
    """Fees, discounts and limits derived from the wallet's configuration."""
    from okpay.wallet import fees, fx
    from okpay.wallet.limits import limits_for

    def rule(operation: str, method: str, scope: str = "domestic") -> fees.FeeRule:
        found = fees.rule_for(operation, method, scope)
        assert found is not None, (operation, method, scope)
        return found

    withdrawal = rule("withdrawal", "bank")
    cross = rule("transfer", "wallet", "cross_border")
    fee = {
        "topup_card_percent": _percent(rule("topup", "card").percent_bps),
        "topup_bank_percent": _percent(rule("topup", "bank").percent_bps),
        "withdrawal_percent": _percent(withdrawal.percent_bps),
        "withdrawal_min_cny": _yuan(withdrawal.minimum["CNY"]),
        "withdrawal_max_cny": _yuan(withdrawal.maximum["CNY"]) if withdrawal.maximum else "—",
        "withdrawal_free_monthly_cny": _yuan(withdrawal.free_monthly_cny),
        "transfer_domestic_percent": _percent(rule("transfer", "wallet").percent_bps),
        "cross_border_percent": _percent(cross.percent_bps),
        "cross_border_min_cny": _yuan(cross.minimum["CNY"]),
        "cross_border_max_cny": _yuan(cross.maximum["CNY"]) if cross.maximum else "—",
        "fx_spread_percent": _percent(fx.SPREAD_BPS),
        "merchant_payment_percent": _percent(rule("payment", "wallet").percent_bps),
        "fx_quote_minutes": fx.QUOTE_MINUTES,
    }
    by_code = {d.code: d for d in fees.DISCOUNTS}
    silver, gold, loyal = by_code["volume_silver"], by_code["volume_gold"], by_code["loyalty_2y"]
    discount = {
        "volume_tier1_cny": _yuan(silver.min_volume_cny or 0),
        "volume_tier1_percent": silver.percent_off,
        "volume_tier2_cny": _yuan(gold.min_volume_cny or 0),
        "volume_tier2_percent": gold.percent_off,
        "loyalty_years": (loyal.min_account_days or 365) // 365,
        "loyalty_percent": loyal.percent_off,
    }
    limit: dict[str, Any] = {"reset_timezone": "UTC+8"}
    for level in (0, 1, 2):
        limits = limits_for("transfer", level)
        limit[f"level{level}_per_tx_cny"] = _yuan(limits.per_transaction)
        limit[f"level{level}_daily_cny"] = _yuan(limits.daily)
        limit[f"level{level}_monthly_cny"] = _yuan(limits.monthly)
    return {"fee": fee, "discount": discount, "limit": limit}


# ``{{ hotlines }}`` in an article marks where the live hotline table goes: the page puts the
# configured lines there at view time (helpcenter.hotline_display), never copied text.
HOTLINES_MARKER = "%%hotlines%%"

TIMINGS: dict[str, Any] = {
    "card_topup": "1",
    "bank_topup_hours": 2,
    "withdrawal_business_days": "1–2",
    "withdrawal_overdue_days": 3,
    "cross_border_business_days": "1–3",
    "refund_card_business_days": "3–7",
    "first_reply_hours": 24,
    "review_hours": 48,
    "reset_link_minutes": 30,
    "unlock_link_hours": 24,
    "lock_after_failures": 10,
    "fund_protection_days": 60,
}


def facts() -> dict[str, Any]:
    """The values article templates may use: ``fee``, ``discount``, ``limit``, ``timing``,
    ``support`` and the ``hotlines`` block."""
    from okpay.settings import get_settings

    settings = get_settings()
    timings = dict(TIMINGS)
    timings["reset_link_minutes"] = settings.reset_token_minutes
    timings["unlock_link_hours"] = settings.unlock_token_hours
    timings["lock_after_failures"] = settings.login_lock_threshold
    return {
        **wallet_facts(),
        "timing": timings,
        "support": {"email": settings.support_address},
        "hotlines": HOTLINES_MARKER,
    }
