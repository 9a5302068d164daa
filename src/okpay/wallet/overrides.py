"""Limit overrides: per-account limits granted after a review, over the verification
level's defaults (see wallet.limits)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.identity import validation as identity_validation
from okpay.wallet.limits import LimitSet, limits_for
from okpay.wallet.models import LimitOverride


def effective_limits(session: Session, *, user_id: int, op_type: str, level: int) -> LimitSet:
    """The verification level's limits, with any live override granted after a review."""
    base = limits_for(op_type, level)
    now = clock.now()
    override = session.scalar(
        select(LimitOverride)
        .where(
            LimitOverride.user_id == user_id,
            LimitOverride.op_type == op_type,
            LimitOverride.revoked_at.is_(None),
            or_(LimitOverride.expires_at.is_(None), LimitOverride.expires_at > now),
        )
        .order_by(LimitOverride.id.desc())
        .limit(1)
    )
    if override is None:
        return base
    return overridden(base, (override.per_transaction, override.daily, override.monthly))


def live_overrides(session: Session, *, user_id: int) -> list[LimitOverride]:
    """The customer's overrides in force, one per operation at most, newest first."""
    now = clock.now()
    rows = session.scalars(
        select(LimitOverride)
        .where(
            LimitOverride.user_id == user_id,
            LimitOverride.revoked_at.is_(None),
            or_(LimitOverride.expires_at.is_(None), LimitOverride.expires_at > now),
        )
        .order_by(LimitOverride.id.desc())
    )
    seen: dict[str, LimitOverride] = {}
    for row in rows:
        seen.setdefault(row.op_type, row)
    return list(seen.values())


def overridden(base: LimitSet, override: tuple[int | None, int | None, int | None]) -> LimitSet:
    """``base`` with the override's limits where it sets them."""
    per_transaction, daily, monthly = override
    return LimitSet(
        per_transaction=base.per_transaction if per_transaction is None else per_transaction,
        daily=base.daily if daily is None else daily,
        monthly=base.monthly if monthly is None else monthly,
    )


def do_grant_limit_override(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    reason: str,
    actor_user_id: int | None,
    per_transaction: int | None = None,
    daily: int | None = None,
    monthly: int | None = None,
    days: int | None = None,
) -> LimitOverride:
    """Set one customer's limits for an operation after a review (replaces the previous
    override); audited, and the customer is told."""
    if op_type not in ("topup", "withdrawal", "transfer", "payment"):
        raise ValidationFailed(N_("Unknown operation."), code="operation_invalid", field="op_type")
    if per_transaction is None and daily is None and monthly is None:
        raise ValidationFailed(N_("Give at least one new limit."), code="limit_required")
    reason = identity_validation.check_name(reason, field="reason", max_length=500)
    if not reason:
        raise ValidationFailed(
            N_("Please give a reason the customer will see."),
            code="reason_required",
            field="reason",
        )
    now = clock.now()
    session.execute(
        update(LimitOverride)
        .where(
            LimitOverride.user_id == user_id,
            LimitOverride.op_type == op_type,
            LimitOverride.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    override = LimitOverride(
        user_id=user_id,
        op_type=op_type,
        per_transaction=per_transaction,
        daily=daily,
        monthly=monthly,
        reason=reason,
        granted_by=actor_user_id,
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    session.add(override)
    session.flush()
    audit.record(
        session,
        "limit_override_granted",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        object_type="limit_override",
        object_id=override.id,
        op_type=op_type,
        per_transaction=per_transaction,
        daily=daily,
        monthly=monthly,
        days=days,
        reason=reason,
    )
    return override
