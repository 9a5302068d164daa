"""Usage against limits: what a customer moved today, this month and in the last 30 days
(counted in CNY, days in Beijing time), and the limit check every movement makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import NotFound
from okpay.core.i18n import N_
from okpay.wallet import errors, fx, overrides, pg, standing
from okpay.wallet.limits import LimitSet, limits_for
from okpay.wallet.models import Usage

BEIJING = ZoneInfo("Asia/Shanghai")


PERIOD_LABELS = {
    "transaction": N_("per-transaction"),
    "daily": N_("daily"),
    "monthly": N_("monthly"),
}


def _day_start(now: datetime) -> datetime:
    local = now.astimezone(BEIJING)
    return datetime.combine(local.date(), time(0), BEIJING)


def _month_start(now: datetime) -> datetime:
    local = now.astimezone(BEIJING)
    return datetime.combine(date(local.year, local.month, 1), time(0), BEIJING)


def _next_month(start: datetime) -> datetime:
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return datetime.combine(date(year, month, 1), time(0), BEIJING)


VOLUME_TYPES = ("transfer", "payment", "withdrawal")


class UsageSnapshot:
    """A user's recent usage rows (this month and the last 30 days): limits and the volume
    discount are computed from one small read."""

    def __init__(self, rows: dict[tuple[str, date], int], today: date) -> None:
        self.rows = rows
        self.today = today

    def day(self, op_type: str) -> int:
        return self.rows.get((op_type, self.today), 0)

    def month(self, op_type: str) -> int:
        first = self.today.replace(day=1)
        return sum(v for (t, d), v in self.rows.items() if t == op_type and d >= first)

    def volume_30d(self) -> int:
        since = self.today - timedelta(days=30)
        return sum(v for (t, d), v in self.rows.items() if t in VOLUME_TYPES and d > since)

    def add(self, op_type: str, amount_cny: int) -> None:
        """Count an operation made today (a batch checks its next item against the rest)."""
        key = (op_type, self.today)
        self.rows[key] = self.rows.get(key, 0) + amount_cny


def beijing_today() -> date:
    """Today's date in Beijing, the day limits and usage count in."""
    return clock.now().astimezone(BEIJING).date()


def usage_since(today: date) -> date:
    """The first day a snapshot needs: the month's first, or 30 days back if earlier."""
    return min(today.replace(day=1), today - timedelta(days=30))


def usage_snapshot(session: Session, *, user_id: int) -> UsageSnapshot:
    today = beijing_today()
    since = usage_since(today)
    rows = session.execute(
        select(Usage.op_type, Usage.day, Usage.amount_cny).where(
            Usage.user_id == user_id, Usage.day >= since
        )
    ).all()
    return UsageSnapshot({(t, d): int(v) for t, d, v in rows}, today)


def owner_state(
    session: Session, *, user_id: int, op_type: str
) -> tuple[standing.Standing, UsageSnapshot, LimitSet]:
    """What a movement checks: the owner's standing, recent usage and effective limits for
    ``op_type`` (one statement on PostgreSQL, see wallet.pg; three elsewhere). Money going
    out reads it after locking its balances, so a freeze that committed first is seen."""
    if session.get_bind().dialect.name != "postgresql":
        me = standing.standing(session, user_id)
        snapshot = usage_snapshot(session, user_id=user_id)
        level = me.verification_level
        return (
            me,
            snapshot,
            overrides.effective_limits(session, user_id=user_id, op_type=op_type, level=level),
        )
    today = beijing_today()
    state = pg.sender_state(
        session, user_id=user_id, op_type=op_type, since=usage_since(today), now=clock.now()
    )
    return owner_state_from(state, op_type, today)


def owner_state_from(
    state: pg.SenderState | None, op_type: str, today: date
) -> tuple[standing.Standing, UsageSnapshot, LimitSet]:
    """What :func:`owner_state` returns, from the one-statement PostgreSQL read."""
    if state is None:
        raise NotFound()
    base = limits_for(op_type, state.account.verification_level)
    limits = overrides.overridden(base, state.override) if state.override else base
    return (
        standing.standing_from(state.account, state.restrictions),
        UsageSnapshot(state.usage, today),
        limits,
    )


_usage_upserts: dict[str, Any] = {}


def _usage_upsert(session: Session) -> Any:
    """INSERT … ON CONFLICT DO UPDATE for a usage row, built once per dialect."""
    dialect = session.get_bind().dialect.name
    stmt = _usage_upserts.get(dialect)
    if stmt is None:
        from sqlalchemy.dialects import postgresql, sqlite

        insert_stmt = (postgresql if dialect == "postgresql" else sqlite).insert(Usage)
        stmt = _usage_upserts[dialect] = insert_stmt.on_conflict_do_update(
            index_elements=["user_id", "op_type", "day"],
            set_={
                "amount_cny": Usage.amount_cny + insert_stmt.excluded.amount_cny,
                "count": Usage.count + insert_stmt.excluded.count,
            },
        )
    return stmt


def record_usage(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    amount: int,
    currency: str,
    day: date | None = None,
    undo: bool = False,
) -> None:
    """Count (or, with ``undo``, uncount) an operation against its day's usage."""
    cny = fx.to_cny(amount, currency)
    add_usage(
        session,
        user_id=user_id,
        op_type=op_type,
        day=day or beijing_today(),
        amount_cny=-cny if undo else cny,
        count=-1 if undo else 1,
    )


def add_usage(
    session: Session, *, user_id: int, op_type: str, day: date, amount_cny: int, count: int
) -> None:
    """Add ``count`` operations worth ``amount_cny`` to a user's usage of one day."""
    session.execute(
        _usage_upsert(session),
        {
            "user_id": user_id,
            "op_type": op_type,
            "day": day,
            "amount_cny": amount_cny,
            "count": count,
        },
    )


@dataclass(frozen=True)
class LimitUsage:
    operation: str
    per_transaction: int
    daily: int
    daily_used: int
    daily_resets_at: datetime
    monthly: int
    monthly_used: int
    monthly_resets_at: datetime


def limit_usage(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    level: int,
    snapshot: UsageSnapshot | None = None,
    limits: LimitSet | None = None,
) -> LimitUsage:
    """A user's limits for an operation, what is used and when it resets (``limits``: the
    user's effective limits, when the caller has them already)."""
    if limits is None:
        limits = overrides.effective_limits(session, user_id=user_id, op_type=op_type, level=level)
    snap = snapshot or usage_snapshot(session, user_id=user_id)
    now = clock.now()
    day, month = _day_start(now), _month_start(now)
    return LimitUsage(
        operation=op_type,
        per_transaction=limits.per_transaction,
        daily=limits.daily,
        daily_used=snap.day(op_type),
        daily_resets_at=day + timedelta(days=1),
        monthly=limits.monthly,
        monthly_used=snap.month(op_type),
        monthly_resets_at=_next_month(month),
    )


def check_limits(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    amount: int,
    currency: str,
    level: int,
    snapshot: UsageSnapshot | None = None,
    limits: LimitSet | None = None,
) -> None:
    """Refuse an amount over the per-transaction, daily or monthly limit, naming which."""
    from okpay.core.i18n import format_datetime

    amount_cny = fx.to_cny(amount, currency)
    usage = limit_usage(
        session,
        user_id=user_id,
        op_type=op_type,
        level=level,
        snapshot=snapshot,
        limits=limits,
    )
    if amount_cny > usage.per_transaction:
        raise errors.TransactionLimitExceeded(
            limit=LazyMoney(usage.per_transaction, "CNY"),
            amount=LazyMoney(amount_cny, "CNY"),
            period=_Lazy(PERIOD_LABELS["transaction"]),
        )
    checks = (
        ("daily", usage.daily, usage.daily_used, usage.daily_resets_at),
        ("monthly", usage.monthly, usage.monthly_used, usage.monthly_resets_at),
    )
    for period, limit, used, resets in checks:
        if used + amount_cny > limit:
            raise errors.LimitExceeded(
                period=_Lazy(PERIOD_LABELS[period]),
                limit=LazyMoney(limit, "CNY"),
                remaining=LazyMoney(max(0, limit - used), "CNY"),
                # When it resets, in the reader's language and time zone, to the minute:
                # "2026年12月7日 00:00 中国标准时间", "Dec 7, 2026 00:00 China Standard Time".
                resets=_LazyText(lambda r=resets: format_datetime(r, "minutes")),
            )


class _Lazy:
    def __init__(self, msg: str) -> None:
        self.msg = msg

    def __str__(self) -> str:
        from okpay.core.i18n import gettext

        return gettext(self.msg)


LazyMoney = errors.LazyMoney


class _LazyText:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __str__(self) -> str:
        return str(self.fn())
