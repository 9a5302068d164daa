"""Operation history: filtering a customer's operations and activity, and reading one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from okpay.core.errors import NotFound
from okpay.wallet import usage
from okpay.wallet.models import Activity, Operation


@dataclass(frozen=True)
class HistoryFilter:
    start: date | None = None
    end: date | None = None
    type: str | None = None
    status: str | None = None
    currency: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    text: str | None = None


def history(
    session: Session,
    *,
    user_id: int,
    filters: HistoryFilter,
    limit: int = 50,
    before: tuple[datetime, int] | None = None,
) -> list[Activity]:
    """A page of the user's history, newest first; ``before`` is the last row's
    (created_at, id) from the previous page (keyset pagination)."""
    stmt = select(Activity).where(Activity.user_id == user_id)
    if filters.start:
        stmt = stmt.where(
            Activity.created_at >= datetime.combine(filters.start, time(0), usage.BEIJING)
        )
    if filters.end:
        stmt = stmt.where(
            Activity.created_at
            < datetime.combine(filters.end + timedelta(days=1), time(0), usage.BEIJING)
        )
    if filters.type:
        stmt = stmt.where(Activity.type == filters.type)
    if filters.status:
        stmt = stmt.where(Activity.status == filters.status)
    if filters.currency:
        stmt = stmt.where(Activity.currency == filters.currency)
    if filters.min_amount is not None:
        stmt = stmt.where(func.abs(Activity.amount) >= filters.min_amount)
    if filters.max_amount is not None:
        stmt = stmt.where(func.abs(Activity.amount) <= filters.max_amount)
    if filters.text:
        like = (
            "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        stmt = stmt.where(
            or_(
                Activity.reference.ilike(like, escape="\\"),
                Activity.counterparty.ilike(like, escape="\\"),
                Activity.note.ilike(like, escape="\\"),
            )
        )
    if before is not None:
        at, last_id = before
        stmt = stmt.where(
            or_(Activity.created_at < at, and_(Activity.created_at == at, Activity.id < last_id))
        )
    stmt = stmt.order_by(Activity.created_at.desc(), Activity.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def get_operation_for_user(session: Session, *, user_id: int, reference: str) -> Operation:
    """An operation the user is a party to; anyone else's reference is NotFound."""
    op = session.scalar(select(Operation).where(Operation.reference == reference))
    if op is None or user_id not in (op.user_id, op.counterparty_user_id):
        raise NotFound()
    return op


def activity_for(session: Session, *, user_id: int, operation_id: int) -> Activity | None:
    return session.scalar(
        select(Activity).where(Activity.user_id == user_id, Activity.operation_id == operation_id)
    )
