"""The audit log: who did what, when, from where, for every security event and agent action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from okpay.core import clock, context
from okpay.db import Base, UTCDateTime


class AuditEvent(Base):
    """One row per security event or staff action; never updated or deleted."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_subject", "subject_user_id", "id"),
        Index("ix_audit_event_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record(
    session: Session,
    action: str,
    *,
    actor_user_id: int | None = None,
    subject_user_id: int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    **data: Any,
) -> AuditEvent:
    """Write an audit row in the current unit of work, with the request's address and device."""
    ctx = context.current()
    event = AuditEvent(
        at=clock.now(),
        action=action,
        actor_user_id=actor_user_id,
        subject_user_id=subject_user_id,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:300] or None,
        channel=ctx.channel,
        data=data,
    )
    session.add(event)
    return event


def events_for_user(session: Session, user_id: int, *, limit: int = 50) -> list[AuditEvent]:
    """The newest audit rows about ``user_id``, newest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.subject_user_id == user_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))
