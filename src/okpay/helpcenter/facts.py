"""The wallet's numbers that help articles quote: fees, limits and timings.

The wallet domain (issue 3) will own these figures and this module will then read them from
its fee schedule and limit tables; until it exists, this is the single place they are kept.
Articles refer to them with placeholders such as ``{{ fee.withdrawal_percent }}``, so an
article never states a number the product does not apply.
"""

from __future__ import annotations

from typing import Any

FEES: dict[str, Any] = {
    "topup_card_percent": "0",
    "topup_bank_percent": "0",
    "withdrawal_percent": "0.1",
    "withdrawal_min_cny": "0.10",
    "withdrawal_max_cny": "25",
    "withdrawal_free_monthly_cny": "1,000",
    "transfer_domestic_percent": "0",
    "cross_border_percent": "1.5",
    "cross_border_min_cny": "5",
    "cross_border_max_cny": "200",
    "fx_spread_percent": "0.5",
    "merchant_payment_percent": "0",
    "fx_quote_minutes": 5,
}

DISCOUNTS: dict[str, Any] = {
    "volume_tier1_cny": "20,000",
    "volume_tier1_percent": 10,
    "volume_tier2_cny": "100,000",
    "volume_tier2_percent": 25,
    "loyalty_years": 2,
    "loyalty_percent": 15,
}

LIMITS: dict[str, Any] = {
    "level0_per_tx_cny": "2,000",
    "level0_daily_cny": "5,000",
    "level0_monthly_cny": "20,000",
    "level1_per_tx_cny": "50,000",
    "level1_daily_cny": "100,000",
    "level1_monthly_cny": "500,000",
    "level2_per_tx_cny": "200,000",
    "level2_daily_cny": "500,000",
    "level2_monthly_cny": "3,000,000",
    "reset_timezone": "UTC+8",
}

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
    """The values article templates may use: ``fee``, ``discount``, ``limit``, ``timing``."""
    from okpay.settings import get_settings

    settings = get_settings()
    timings = dict(TIMINGS)
    timings["reset_link_minutes"] = settings.reset_token_minutes
    timings["unlock_link_hours"] = settings.unlock_token_hours
    timings["lock_after_failures"] = settings.login_lock_threshold
    return {
        "fee": FEES,
        "discount": DISCOUNTS,
        "limit": LIMITS,
        "timing": timings,
        "support": {"email": settings.support_address},
    }
