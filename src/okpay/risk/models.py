"""Risk tables: rules and their versions, decisions, and the counters features read."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okpay.core.i18n import N_
from okpay.db import Base, BigId, UTCDateTime


class RuleStatus(enum.StrEnum):
    draft = "draft"  # written, never evaluated
    shadow = "shadow"  # evaluated and recorded, never acts
    live = "live"  # evaluated and acts
    paused = "paused"  # was live or shadow, not evaluated now


class RuleOutcome(enum.StrEnum):
    step_up = "step_up"
    hold = "hold"
    block = "block"


STATUS_LABELS = {
    RuleStatus.draft.value: N_("Draft"),
    RuleStatus.shadow.value: N_("Shadow"),
    RuleStatus.live.value: N_("Live"),
    RuleStatus.paused.value: N_("Paused"),
}
OUTCOME_LABELS = {
    "allow": N_("Allowed"),
    RuleOutcome.step_up.value: N_("Second factor asked"),
    RuleOutcome.hold.value: N_("Held for review"),
    RuleOutcome.block.value: N_("Blocked"),
}


class RiskRule(Base):
    """A rule: a condition over features, for some operations, with a score and an outcome.

    Every change bumps ``version`` and writes a :class:`RiskRuleVersion` (the rule as it
    then stood), so a decision names the exact version that fired."""

    __tablename__ = "risk_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    operations: Mapped[list[str]] = mapped_column(JSON, default=list)
    condition: Mapped[str] = mapped_column(Text)
    score: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(32))  # customer-facing reason (risk.reasons)
    status: Mapped[str] = mapped_column(String(8), default=RuleStatus.draft.value)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class RiskRuleVersion(Base):
    """A rule as it stood after one change: who changed it, when and why."""

    __tablename__ = "risk_rule_version"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("risk_rule.id"))
    version: Mapped[int] = mapped_column()
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(500), default="")
    changed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RiskDecision(Base):
    """What the risk controls decided about one attempt, stored whenever a rule fired (live
    or shadow): the outcome, the rules with their versions, and the feature values."""

    __tablename__ = "risk_decision"
    __table_args__ = (
        Index("ix_risk_decision_user_id_created_at", "user_id", "created_at"),
        Index("ix_risk_decision_operation_id", "operation_id"),
        Index("ix_risk_decision_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    operation: Mapped[str] = mapped_column(String(24))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_operation.id"))
    reference: Mapped[str | None] = mapped_column(String(24))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(8))  # allow | hold | block
    step_up: Mapped[bool] = mapped_column(default=False)
    score: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(String(32))
    fired: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RiskCounter(Base):
    """A per-customer counter bucket: ten-minute and daily windows of money out, failed
    card top-ups, amounts near a limit, and a log-scale histogram of amounts. Features read
    a handful of these rows instead of scanning history."""

    __tablename__ = "risk_counter"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    max_amount: Mapped[int] = mapped_column(BigInteger, default=0)


class RiskPair(Base):
    """Someone this customer has sent money to: first and last time, how often."""

    __tablename__ = "risk_pair"
    __table_args__ = (Index("ix_risk_pair_user_id_last_at", "user_id", "last_at"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    counterparty_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(default=0)


class RiskSignal(Base):
    """Account events features look back on: the last new device, new country, password
    reset and change of e-mail or phone (kept as they happen, by identity's hooks)."""

    __tablename__ = "risk_signal"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    last_country: Mapped[str | None] = mapped_column(String(2))
    new_device_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    new_country_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contact_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
