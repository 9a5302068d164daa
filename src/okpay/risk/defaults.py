"""The rules OKPay ships (docs/risk.md explains each). ``install`` adds the ones a database
does not have yet, by code, and never changes a rule an administrator has edited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core.i18n import N_
from okpay.risk import rules
from okpay.risk.models import RiskRule, RuleStatus

_OUT = ["payment", "transfer", "withdrawal"]

DEFAULTS: tuple[tuple[rules.RuleSpec, RuleStatus], ...] = (
    (
        rules.RuleSpec(
            "large_amount",
            N_("Any payment of 50,000 yuan or more needs a second factor."),
            _OUT,
            "amount_cny >= 50000",
            20,
            "step_up",
            "large_amount",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "new_payout_account",
            N_(
                "The first withdrawal to a bank account added in the last 72 hours needs a "
                "second factor."
            ),
            ["withdrawal"],
            "new_payout_account",
            30,
            "step_up",
            "new_payout_account",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "new_device_large",
            N_("2,000 yuan or more within 24 hours of a sign-in from a new device: second factor."),
            _OUT,
            "new_device_24h and amount_cny >= 2000",
            40,
            "step_up",
            "new_device",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "new_device_large_withdrawal",
            N_(
                "A withdrawal of 10,000 yuan or more within 24 hours of a new device is held for "
                "review."
            ),
            ["withdrawal"],
            "new_device_24h and amount_cny >= 10000",
            60,
            "hold",
            "new_device",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "unusual_amount",
            N_(
                "Over five times the customer's median and above their 90-day maximum (with some "
                "history)."
            ),
            _OUT,
            "ops_90d >= 5 and amount > 5 * median_amount and amount > max_amount_90d and "
            "amount_cny >= 1000",
            30,
            "step_up",
            "unusual_amount",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "recent_security_change",
            N_(
                "5,000 yuan or more out within 72 hours of a password reset or a new e-mail or "
                "phone: held."
            ),
            ["transfer", "withdrawal"],
            "(password_reset_72h or contact_change_72h) and amount_cny >= 5000",
            60,
            "hold",
            "recent_security_change",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "card_testing",
            N_(
                "Five or more failed card top-ups in the last hour: further card top-ups are "
                "blocked."
            ),
            ["card_topup", "add_card"],
            "failed_topups_1h >= 5",
            90,
            "block",
            "card_testing",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "mule_pattern",
            N_(
                "A first payment to someone after paying ten or more different people in an "
                "hour: held."
            ),
            ["transfer"],
            "not in_batch and new_recipient and recipients_1h >= 10",
            70,
            "hold",
            "many_recipients",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "structuring",
            N_("A third amount within 10 % under the per-transaction limit in 24 hours: held."),
            ["transfer", "withdrawal"],
            "limit_ratio >= 0.9 and limit_ratio < 1 and near_limit_24h >= 2",
            60,
            "hold",
            "structuring",
        ),
        RuleStatus.live,
    ),
    (
        rules.RuleSpec(
            "velocity",
            N_("More than 20 outgoing payments in an hour (shadow: watch before it acts)."),
            _OUT,
            "count_1h >= 20",
            20,
            "step_up",
            "velocity",
        ),
        RuleStatus.shadow,
    ),
    (
        rules.RuleSpec(
            "new_account_large",
            N_("An account under 7 days old sending 5,000 yuan or more (shadow)."),
            ["transfer", "withdrawal"],
            "account_age_days < 7 and amount_cny >= 5000",
            30,
            "step_up",
            "new_account",
        ),
        RuleStatus.shadow,
    ),
)


def install(session: Session, *, actor_id: int | None = None) -> list[str]:
    """Add the shipped rules this database lacks; returns their codes."""
    have = set(session.scalars(select(RiskRule.code)))
    added = []
    for spec, status in DEFAULTS:
        if spec.code not in have:
            rules.do_create_rule(
                session, spec=spec, actor_id=actor_id, status=status, note="shipped default"
            )
            added.append(spec.code)
    return added
