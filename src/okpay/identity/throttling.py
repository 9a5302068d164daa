"""Throttling: failures counted per key within a window, growing delays that cannot lock an
owner out for good, rate counters and the per-address (IP) budget."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from okpay.core import clock, context
from okpay.core.errors import RateLimited
from okpay.identity.models import LoginThrottle
from okpay.settings import get_settings


@dataclass
class Throttle:
    key: str
    failures: int
    last_failure_at: datetime | None


FAILURE_WINDOW = timedelta(hours=24)


def get_throttle(session: Session, key: str, *, window: timedelta | None = None) -> Throttle:
    """Failures counted for ``key`` within its window (default 24 hours: an address that
    collected failures long ago, perhaps before it was registered, starts clean)."""
    window = window or FAILURE_WINDOW
    row = session.get(LoginThrottle, key)
    if row is None:
        return Throttle(key, 0, None)
    if row.window_started_at + window <= clock.now():
        return Throttle(key, 0, None)
    return Throttle(key, row.failures, row.last_failure_at)


def record_failure(session: Session, key: str, *, window: timedelta | None = None) -> int:
    """Count one failure for ``key`` (a new window once the old one has passed); the count."""
    window = window or FAILURE_WINDOW
    now = clock.now()
    row = session.get(LoginThrottle, key)
    if row is None:
        row = _create_row(session, key, now)
    elif row.window_started_at + window <= now:
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    row.last_failure_at = now
    session.flush()
    return row.failures


def _create_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The new row for ``key``: two requests failing at once on a new key (two guesses at
    one code) must both count, not end in a duplicate-key error, hence ON CONFLICT DO
    NOTHING (PostgreSQL waits for the other insert, then reads its row)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, window_started_at=now, last_failure_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.get(LoginThrottle, key, populate_existing=True)
    assert row is not None
    return row


def clear_failures(session: Session, *keys: str) -> None:
    """Forget the failures counted for ``keys`` (after a success)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))


def clear_failures_starting(session: Session, prefix: str) -> None:
    """Forget the failures of every key starting with ``prefix`` (a user's known devices)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.like(escaped + "%", escape="\\")))


def delay_for(failures: int) -> int:
    """Seconds to wait after ``failures`` consecutive failures: 0 for the first few, then
    1, 2, 4 … seconds, capped at 15 minutes."""
    free = get_settings().login_delay_after
    if failures < free:
        return 0
    return int(min(2 ** (failures - free), 900))


def check_delay(t: Throttle) -> None:
    """RateLimited while the delay earned by ``t``'s failures has not passed."""
    wait = delay_for(t.failures)
    if wait and t.last_failure_at is not None:
        remaining = (t.last_failure_at + timedelta(seconds=wait) - clock.now()).total_seconds()
        if remaining > 0:
            raise RateLimited(math.ceil(remaining))


def check_rate(session: Session, key: str, *, limit: int, window: timedelta) -> None:
    """Count one use of ``key``; RateLimited once ``limit`` uses fall in ``window``."""
    t = get_throttle(session, key, window=window)
    if t.failures >= limit:
        row = session.get(LoginThrottle, key)
        assert row is not None
        raise RateLimited(math.ceil((row.window_started_at + window - clock.now()).total_seconds()))
    record_failure(session, key, window=window)


IP_WINDOW = timedelta(hours=1)


def ip_key() -> str | None:
    """The throttle key of the request's address, if it has one."""
    ip = context.current().ip
    return f"ip:{ip}" if ip else None


def check_ip(session: Session) -> None:
    """RateLimited once the request's address has failed too often within the hour."""
    key = ip_key()
    if key is None:
        return
    t = get_throttle(session, key, window=IP_WINDOW)
    if t.failures >= get_settings().ip_failures_per_hour:
        row = session.get(LoginThrottle, key)
        assert row is not None
        raise RateLimited(
            math.ceil((row.window_started_at + IP_WINDOW - clock.now()).total_seconds())
        )
