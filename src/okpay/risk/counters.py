"""Counters kept as money moves (and signals kept as account events happen), so features
are a few row reads instead of a scan of history. Written in the unit of work that moves
the money: a rolled-back transfer counts nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.db import driver_rows
from okpay.risk import features
from okpay.risk.models import RiskCounter, RiskPair, RiskSignal
from okpay.wallet import screening

_upserts: dict[tuple[str, str], Any] = {}


def _insert(session: Session, model: Any) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


def _counter_upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = _upserts.get((dialect, "counter"))
    if stmt is None:
        ins = _insert(session, RiskCounter)
        bigger = func.greatest if dialect == "postgresql" else func.max
        stmt = _upserts[(dialect, "counter")] = ins.on_conflict_do_update(
            index_elements=["user_id", "kind", "bucket"],
            set_={
                "count": RiskCounter.count + ins.excluded.count,
                "total": RiskCounter.total + ins.excluded.total,
                "max_amount": bigger(RiskCounter.max_amount, ins.excluded.max_amount),
            },
        )
    return stmt


def _pair_upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = _upserts.get((dialect, "pair"))
    if stmt is None:
        ins = _insert(session, RiskPair)
        stmt = _upserts[(dialect, "pair")] = ins.on_conflict_do_update(
            index_elements=["user_id", "counterparty_id"],
            set_={"last_at": ins.excluded.last_at, "count": RiskPair.count + 1},
        )
    return stmt


def rows_for(event: screening.Moved, now: datetime) -> list[dict[str, Any]]:
    """The counter buckets one event adds to."""
    tb = features.ten_minute_bucket(now)
    base = {"user_id": event.user_id}
    if event.failed:
        return [{**base, "kind": "tf", "bucket": tb, "count": 1, "total": 0, "max_amount": 0}]
    rows: list[dict[str, Any]] = []
    if event.operation in features.MONEY_OUT:
        kinds = features.counter_kinds(event.currency)
        amount = event.amount
        rows += [
            {
                **base,
                "kind": kinds["out"],
                "bucket": tb,
                "count": 1,
                "total": amount,
                "max_amount": amount,
            },
            {
                **base,
                "kind": kinds["day"],
                "bucket": features.day_bucket(now),
                "count": 1,
                "total": amount,
                "max_amount": amount,
            },
            {
                **base,
                "kind": kinds["hist"],
                "bucket": features.hist_bucket(amount),
                "count": 1,
                "total": amount,
                "max_amount": amount,
            },
        ]
    if event.near_limit:
        rows.append({**base, "kind": "nl", "bucket": tb, "count": 1, "total": 0, "max_amount": 0})
    return rows


def record(session: Session, events: list[screening.Moved]) -> None:
    """Count what moved (the wallet calls this through wallet.screening.moved)."""
    now = clock.now()
    rows: dict[tuple[int, str, int], dict[str, Any]] = {}
    for event in events:
        for row in rows_for(event, now):
            key = (row["user_id"], row["kind"], row["bucket"])
            if key in rows:  # one batch, one row per bucket (ON CONFLICT touches a row once)
                merged = rows[key]
                merged["count"] += row["count"]
                merged["total"] += row["total"]
                merged["max_amount"] = max(merged["max_amount"], row["max_amount"])
            else:
                rows[key] = row
    counted = [rows[k] for k in sorted(rows)]
    pairs = sorted(
        {
            (e.user_id, e.counterparty_user_id)
            for e in events
            if e.counterparty_user_id and not e.failed
        }
    )
    if session.get_bind().dialect.name == "postgresql":
        if counted or pairs:
            driver_rows(
                session,
                _RECORD_PG,
                {
                    "now": now,
                    "paired": json.dumps([{"user_id": u, "counterparty_id": c} for u, c in pairs]),
                    "counted": json.dumps(counted),
                },
            )
        return
    if counted:
        session.execute(_counter_upsert(session), counted)
    if pairs:
        session.execute(
            _pair_upsert(session),
            [
                {"user_id": u, "counterparty_id": c, "first_at": now, "last_at": now, "count": 1}
                for u, c in pairs
            ],
        )


# PostgreSQL: the counters and the pairs in one statement, run through the driver (see
# okpay.db.driver_rows). The rows travel as JSON: psycopg's dumping of eight Python lists as
# typed arrays cost more than the upserts themselves (0.3 ms of client CPU per payment).
_RECORD_PG = """
WITH pairs AS (
  INSERT INTO risk_pair (user_id, counterparty_id, first_at, last_at, count)
  SELECT p.user_id, p.counterparty_id, %(now)s, %(now)s, 1
    FROM json_to_recordset(%(paired)s::json) AS p(user_id integer, counterparty_id integer)
  ON CONFLICT (user_id, counterparty_id)
  DO UPDATE SET last_at = EXCLUDED.last_at, count = risk_pair.count + 1
)
INSERT INTO risk_counter (user_id, kind, bucket, count, total, max_amount)
SELECT c.user_id, c.kind, c.bucket, c.count, c.total, c.max_amount
  FROM json_to_recordset(%(counted)s::json)
       AS c(user_id integer, kind text, bucket bigint, count integer, total bigint,
            max_amount bigint)
ON CONFLICT (user_id, kind, bucket) DO UPDATE
  SET count = risk_counter.count + EXCLUDED.count,
      total = risk_counter.total + EXCLUDED.total,
      max_amount = GREATEST(risk_counter.max_amount, EXCLUDED.max_amount)
"""


def note_signal(session: Session, *, user_id: int, **values: Any) -> None:
    """Remember an account event (``new_device_at``, ``new_country_at``, ``last_country``,
    ``password_reset_at``, ``contact_change_at``)."""
    ins = _insert(session, RiskSignal)
    session.execute(
        ins.values(user_id=user_id, **values).on_conflict_do_update(
            index_elements=["user_id"], set_=values
        )
    )


def prune(session: Session, *, now: datetime | None = None) -> int:
    """Forget ten-minute buckets older than a day and daily ones older than 90 days."""
    now = now or clock.now()
    old_short = features.ten_minute_bucket(now - timedelta(hours=25))
    old_day = features.day_bucket(now - timedelta(days=91))
    gone = session.execute(
        delete(RiskCounter)
        .where(
            (RiskCounter.kind.like("o:%") | RiskCounter.kind.in_(["tf", "nl"]))
            & (RiskCounter.bucket < old_short)
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    gone += session.execute(
        delete(RiskCounter)
        .where(RiskCounter.kind.like("d:%"), RiskCounter.bucket < old_day)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return int(gone)


# The wallet reports what moved through wallet.screening; okpay.models imports this module.
if record not in screening.COUNTERS:
    screening.COUNTERS.append(record)
