"""Read replicas: when a streaming replica may answer a read, and read-your-writes.

:meth:`okpay.db.Database.read_unit_of_work` is the one place that sends read-only work
(history, statements, exports, reports, help search) to the replica configured by
``OKPAY_DATABASE_REPLICA_URL``; this module decides, per unit of work, whether the replica
may answer, and the primary answers otherwise:

- The replica must be a standby that is streaming from its primary (``pg_is_in_recovery()``
  and a running WAL receiver): a promoted replica, or one cut off from its primary, may be
  missing writes and is passed over.
- It must not lag by more than ``max_lag`` seconds: nothing received is left to replay, or
  the last transaction it replayed committed at most that long ago.
- Read-your-writes: whoever the work is done for (a key such as ``user:42``, set by the web
  middleware in :data:`acting_for`) and who committed a write in the last few seconds
  (:class:`RecentWriters`, shared through Redis when configured, so a second device or
  another app server knows too) is served by the replica only once it has replayed the
  primary's WAL up to where it was when this read began: a position later than that
  write's commit. The replica gets ``wait`` seconds to get there (polled from a few ms).
- An unreachable replica is left alone for ``RETRY_SECONDS`` (reads go to the primary), then
  tried again. Each change of state is logged once, not once per request.

Everything here costs one short query on the replica per read unit of work (at most one
per ``PROBE_EVERY`` seconds and process for readers who did not just write), plus one on
the primary when the reader wrote within the last few seconds.

This module imports nothing of OKPay: the database module hands it the replica's engine.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar
from typing import Any

import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from okpay.outage import Outage

log = logging.getLogger(__name__)

# Whom the current request or job acts for ("user:42"); None: nobody in particular (then
# only the lag bound applies). Set by the web middleware for signed-in users.
acting_for: ContextVar[str | None] = ContextVar("okpay_acting_for", default=None)

# After the replica could not be reached, leave it alone for this long.
RETRY_SECONDS = 5.0
# A replica that passed its check this recently answers readers with no position to wait for
# without being asked again.
PROBE_EVERY = 0.1
# Opening a connection to the replica gives up after this long (seconds, libpq's unit).
CONNECT_TIMEOUT = 2
# Redis answers within this, or writers are remembered in this process only for a while.
REDIS_TIMEOUT_SECONDS = 0.5

# One round trip: is it a streaming standby, how late is it, has it replayed ``needed``?
# Caught up with everything it received: not late at all, however long ago the primary last
# committed (an idle primary makes pg_last_xact_replay_timestamp() old without any lag).
PROBE = text(
    """SELECT pg_is_in_recovery(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver),
       CASE WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,
       pg_last_wal_replay_lsn() >= CAST(:needed AS pg_lsn)"""
)
# Where the primary's WAL is flushed to: every commit that has returned is before it.
PRIMARY_POSITION = "SELECT pg_current_wal_flush_lsn()::text"


class RecentWriters:
    """Who committed a write in the last ``window`` seconds, by :data:`acting_for` key. In
    Redis when ``redis_url`` is given (every process and machine sees the mark), and always in
    this process too, so a Redis outage still covers a reader on the same process; while
    Redis is unreachable everyone counts as a recent writer (the safe answer)."""

    def __init__(
        self,
        window: float,
        *,
        redis_url: str = "",
        namespace: str = "okpay",
        max_keys: int = 100_000,
    ) -> None:
        self.window = window
        self.max_keys = max_keys
        self._local: dict[str, float] = {}
        self._lock = threading.Lock()
        self._prefix = f"{namespace}:wrote:"
        self._redis = (
            redis.Redis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            if redis_url
            else None
        )
        self._redis_outage = Outage(RETRY_SECONDS, log, back="read replica: Redis reachable again")

    def mark(self, key: str) -> None:
        """``key`` has just committed a write."""
        now = time.monotonic()
        with self._lock:
            if len(self._local) >= self.max_keys:
                self._local = {k: t for k, t in self._local.items() if now - t < self.window}
                if len(self._local) >= self.max_keys:
                    self._local.clear()  # memory bound under a flood of writers
            self._local[key] = now
        if self._redis is not None and self._redis_usable():
            try:
                self._redis.set(self._prefix + key, b"1", px=max(1, int(self.window * 1000)))
            except redis.RedisError as exc:
                self._redis_failed(exc)
            else:
                self._redis_back()

    def recent(self, key: str) -> bool:
        """Whether ``key`` committed a write within the window (on any process, with Redis)."""
        at = self._local.get(key)
        if at is not None and time.monotonic() - at < self.window:
            return True
        if self._redis is None:
            return False
        if not self._redis_usable():
            return True
        try:
            found = bool(self._redis.exists(self._prefix + key))
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return True
        self._redis_back()
        return found

    def _redis_usable(self) -> bool:
        return self._redis_outage.usable()

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_outage.failed(
            "read replica: Redis unavailable (%s); recent writers read from the primary", exc
        )

    def _redis_back(self) -> None:
        self._redis_outage.succeeded()

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


class Replica:
    """A streaming replica's engine and the rules for when it may answer a read."""

    def __init__(
        self, engine: Engine, *, max_lag: float, wait: float, writers: RecentWriters
    ) -> None:
        self.engine = engine
        self.max_lag = max_lag
        self.wait = wait
        self.writers = writers
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._retry_at = 0.0
        self._probed_at = -PROBE_EVERY  # when the replica last passed a check
        self._state = "ok"  # or why reads last went to the primary (logged when it changes)
        self._lock = threading.Lock()

    def session(self, needed: str | None) -> Session | None:
        """An open session on the replica, its transaction begun, when the replica is a
        streaming standby no later than ``max_lag`` that has replayed the primary's WAL up to
        ``needed`` (an LSN, or None); otherwise None and the primary must answer."""
        now = time.monotonic()
        if now < self._retry_at:
            return None
        # A reader with no position to wait for trusts a check made in the last PROBE_EVERY
        # seconds by any reader of this process (a lag bound that much looser, one round trip
        # fewer); taking the connection still notices a replica that went away.
        trusted = needed is None and now - self._probed_at < PROBE_EVERY
        session = self._sessions()
        try:
            if trusted:
                session.connection()
                return session
            refusal = self._refusal(session, needed)
        except DBAPIError as exc:
            session.close()
            self.failed(exc)
            return None
        except BaseException:
            session.close()
            raise
        if refusal is not None:
            session.close()
            return None
        self._probed_at = now
        self._set_state("ok")
        return session

    def _refusal(self, session: Session, needed: str | None) -> str | None:
        """Why this replica may not answer now (None: it may), polling for up to ``wait``
        seconds while the only reason is that ``needed`` is not replayed yet."""
        deadline = time.monotonic() + self.wait
        pause = 0.002
        while True:
            row: Any = session.execute(PROBE, {"needed": needed or "0/0"}).one()
            standby, streaming, lag, replayed = row
            if not standby:
                return self._set_state("promoted: it is no longer a standby")
            if not streaming:
                return self._set_state("not streaming from its primary")
            if lag is None or float(lag) > self.max_lag:
                return self._set_state(f"late by more than {self.max_lag:g}s")
            if replayed:
                return None
            # Behind this reader's own write: usually a few ms. Not a fault, so not logged.
            if time.monotonic() + pause > deadline:
                return "has not replayed the reader's own write yet"
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def failed(self, exc: BaseException) -> None:
        """The replica could not be reached or failed a read: leave it for a while."""
        self._retry_at = time.monotonic() + RETRY_SECONDS
        self._probed_at = -PROBE_EVERY
        self._set_state(f"unreachable ({type(exc).__name__}), retrying every {RETRY_SECONDS:g}s")

    def _set_state(self, state: str) -> str:
        with self._lock:
            previous, self._state = self._state, state
        if state != previous:
            if state == "ok":
                log.warning("read replica: answering reads again")
            else:
                log.warning("read replica: reads go to the primary, the replica is %s", state)
        return state

    def dispose(self) -> None:
        self.engine.dispose()
        self.writers.close()
