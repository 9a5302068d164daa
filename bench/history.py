"""Transaction history at scale: one page of 50 by date range, for a customer with 100,000
transactions among 5,000,000 history rows, through wallet.history.history.

- load: into the monthly partitions the migrations make (okpay.partitions; the span's
  months created first), users, operations and history rows generated inside PostgreSQL
  (INSERT … SELECT over generate_series, 2 million transfers a statement, FK triggers off,
  keys and indexes built after the load), then VACUUM ANALYZE. The customer's rows are
  spread over two years and interleaved with everyone else's, as a busy wallet's would be.
  50,000,000 rows take about 18 GB and half an hour on a busy 2-core machine.
- service: wallet.history.history(filters=start/end) in a read-only unit of work, for random
  windows of 1 to 60 days (and random pages within a window: the cursor of an earlier page).
- floor: the same query as hand-written SQL through the same connection pool.

Progress on stderr; the last stdout line is one JSON object.

    .venv/bin/python bench/history.py [--rows 5000000] [--customer-rows 100000] [--queries 400]
    .venv/bin/python bench/history.py --rows 50000000 [--reuse]
    OKPAY_BENCH_SCHEMA=okpay_bench_history_me .venv/bin/python bench/history.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common import bench_url as _bench_url
from common import logger

SCHEMA = os.environ.get("OKPAY_BENCH_SCHEMA", "okpay_bench_history")
SPAN_DAYS = 730
END = datetime(2026, 11, 1, tzinfo=UTC)
log = logger("history")


def load(url: str, *, rows: int, customer_rows: int, others: int) -> int:
    """Fresh schema with ``rows`` history rows (two per transfer), ``customer_rows`` of them
    the customer's; returns the customer's user id.

    On the partitioned schema of the migrations: the month partitions of the span are made
    first (okpay.partitions), the operations and history tables lose their keys and indexes
    while the rows go in (chunks of transfers, each statement routed to the month
    partitions), and get them back afterwards, built once per partition."""
    from sqlalchemy import text

    from okpay import migrate, partitions
    from okpay.db import get_database

    db = get_database(url)
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    migrate.upgrade(url)
    with db.engine.begin() as conn:
        partitions.ensure_range(conn, END - timedelta(days=SPAN_DAYS), END)
    operations = rows // 2
    params = {
        "others": others,
        "ops": operations,
        "mine": customer_rows,
        "end": END,
        "span": SPAN_DAYS * 86400,
    }
    with db.engine.begin() as conn:
        conn.execute(text(USERS), params)
    tables = ("wallet_operation", "wallet_activity")
    with db.engine.begin() as conn:
        saved = [statement for table in tables for statement in _drop_indexes(conn, table)]
    chunk = 2_000_000
    for first in range(1, operations + 1, chunk):
        last = min(operations, first + chunk - 1)
        started = time.perf_counter()
        with db.engine.begin() as conn:
            # Generated rows are consistent by construction: skip the per-row FK triggers.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(OPERATIONS), {**params, "first": first, "last": last})
            conn.execute(text(HISTORY), {"first": first, "last": last})
        log(f"loaded transfers {first:,}-{last:,} in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for statement in saved:
            conn.execute(text(statement))
        log(f"keys and indexes in {time.perf_counter() - started:.1f}s")
        for table, last_id in (("user_account", others + 1), ("wallet_operation", operations)):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last_id})"))
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('wallet_activity', 'id'), "
                "(SELECT MAX(id) FROM wallet_activity))"
            )
        )
        started = time.perf_counter()
        # VACUUM as well: hint bits and the visibility map, as on a table that has aged.
        conn.execute(text("VACUUM ANALYZE wallet_activity"))
        conn.execute(text("ANALYZE wallet_operation"))
        log(f"vacuum and analyze in {time.perf_counter() - started:.1f}s")
    return 1


USERS = """
INSERT INTO user_account (id, email, name, role, status, verification_level, password_hash,
  password_changed_at, address, created_at, updated_at)
SELECT g, 'h' || g || '@bench.example', 'H' || g, 'customer', 'active', 1, 'x',
  :end, '', :end, :end
FROM generate_series(1, :others + 1) AS g
"""
# Transfer k is the customer's for the first ``mine`` ones (sending on even k, receiving on
# odd k); everyone else's sender and recipient are scattered. Times are spread evenly over
# the span, each party's interleaved with the rest.
OPERATIONS = """
INSERT INTO wallet_operation (id, reference, type, status, user_id, counterparty_user_id,
  currency, amount, fee, method, note, created_at, updated_at, completed_at, data)
SELECT k, 'BX-' || lpad(k::text, 10, '0'), 'transfer', 'completed', s, r, 'CNY',
  1 + (k * 7919) % 500000, 0, 'wallet', CASE WHEN k % 7 = 0 THEN 'rent' ELSE '' END, t, t, t,
  '{}'
FROM (
  SELECT k,
    CASE WHEN k <= :mine AND k % 2 = 0 THEN 1 ELSE 2 + (k * 104729) % :others END AS s,
    CASE WHEN k <= :mine AND k % 2 = 1 THEN 1 ELSE 2 + (k * 15485863) % :others END AS r,
    CAST(:end AS timestamptz) - make_interval(secs => CASE
      WHEN k <= :mine THEN k * (:span / :mine)
      ELSE (k * 2654435761) % :span END) AS t
  FROM generate_series(CAST(:first AS BIGINT), CAST(:last AS BIGINT)) AS k
) AS g
"""
# One history row per party (ids in transfer order: 2k-1 the sender's, 2k the recipient's).
HISTORY = """
INSERT INTO wallet_activity (id, user_id, operation_id, reference, type, direction, status,
  currency, amount, fee, counterparty, note, created_at, updated_at)
SELECT 2 * o.id - d.n, CASE WHEN d.dir = 'out' THEN o.user_id ELSE o.counterparty_user_id END,
  o.id, o.reference, o.type, d.dir, o.status, o.currency,
  CASE WHEN d.dir = 'out' THEN -o.amount ELSE o.amount END, 0,
  'H' || CASE WHEN d.dir = 'out' THEN o.counterparty_user_id ELSE o.user_id END
    || ' (h***@bench.example)',
  o.note, o.created_at, o.created_at
FROM wallet_operation AS o CROSS JOIN (VALUES ('out', 1), ('in', 0)) AS d(dir, n)
WHERE o.id BETWEEN :first AND :last
"""


def _drop_indexes(conn: Any, table: str) -> list[str]:
    """Drop ``table``'s unique constraints and indexes, and its primary key unless another
    table refers to it; returns what rebuilds them."""
    from sqlalchemy import text

    constraints = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u') AND conparentid = 0 "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS f WHERE f.contype = 'f' "
            "AND f.conindid = pg_constraint.conindid)"
        ),
        {"t": table},
    ).all()
    indexes = conn.execute(
        text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes AS i WHERE i.tablename = :t "
            "AND i.schemaname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint "
            "AS c WHERE c.conname = i.indexname)"
        ),
        {"t": table},
    ).all()
    for name, _ in constraints:
        conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    for name, _ in indexes:
        conn.execute(text(f"DROP INDEX {name}"))
    return [f"ALTER TABLE {table} ADD CONSTRAINT {n} {d}" for n, d in constraints] + [
        d.replace(" ON ONLY ", " ON ", 1) for _, d in indexes
    ]


def windows(rng: random.Random, count: int) -> list[tuple[date, date]]:
    """Random date ranges of 1 to 60 days inside the loaded span."""
    last = END.date()
    out = []
    for _ in range(count):
        length = rng.randint(1, 60)
        start = last - timedelta(days=rng.randint(length, SPAN_DAYS))
        out.append((start, start + timedelta(days=length - 1)))
    return out


def measure(url: str, user_id: int, queries: int) -> dict:  # type: ignore[type-arg]
    """The service's history page against hand-written SQL, same windows, same pool."""
    from sqlalchemy import text

    from okpay.db import get_database
    from okpay.wallet import history, usage

    db = get_database(url)
    rng = random.Random(7)
    ranges = windows(rng, queries)

    def service_page(start: date, end: date, before: tuple[datetime, int] | None) -> list:  # type: ignore[type-arg]
        with db.unit_of_work(write=False) as session:
            return history.history(
                session,
                user_id=user_id,
                filters=history.HistoryFilter(start=start, end=end),
                limit=50,
                before=before,
            )

    floor_sql = text(
        "SELECT * FROM wallet_activity WHERE user_id = :u AND created_at >= :a "
        "AND created_at < :b ORDER BY created_at DESC, id DESC LIMIT 50"
    )

    def floor_page(start: date, end: date) -> int:
        with db.engine.connect() as conn:
            return len(
                conn.execute(
                    floor_sql,
                    {
                        "u": user_id,
                        "a": datetime.combine(start, datetime.min.time(), usage.BEIJING),
                        "b": datetime.combine(
                            end + timedelta(days=1), datetime.min.time(), usage.BEIJING
                        ),
                    },
                ).all()
            )

    for start, end in ranges[:20]:  # warm the pool and the caches
        service_page(start, end, None)
        floor_page(start, end)
    latencies, floor_latencies, pages, rows = [], [], 0, 0
    for start, end in ranges:
        t0 = time.perf_counter()
        first = service_page(start, end, None)
        latencies.append(time.perf_counter() - t0)
        rows += len(first)
        pages += 1
        if len(first) == 50:  # and the next page, as a customer scrolling would ask
            t0 = time.perf_counter()
            rows += len(service_page(start, end, (first[-1].created_at, first[-1].id)))
            latencies.append(time.perf_counter() - t0)
            pages += 1
        t0 = time.perf_counter()
        floor_page(start, end)
        floor_latencies.append(time.perf_counter() - t0)

    with db.engine.connect() as conn:
        start, end = ranges[0]
        plan = conn.execute(
            text("EXPLAIN " + floor_sql.text),
            {"u": user_id, "a": start, "b": end + timedelta(days=1)},
        ).all()
        disk = conn.execute(
            text(
                "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class AS c "
                "WHERE c.relnamespace = CAST(current_schema() AS regnamespace) AND c.relkind = 'r'"
            )
        ).scalar_one()
        parts = conn.execute(
            text("SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'wallet_activity'::regclass")
        ).scalar_one()
        counts = conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM wallet_activity), "
                "(SELECT COUNT(*) FROM wallet_activity WHERE user_id = :u)"
            ),
            {"u": user_id},
        ).one()

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "history_rows": int(counts[0]),
        "history_partitions": int(parts),
        "schema_disk_gb": round(int(disk) / 2**30, 2),
        "customer_rows": int(counts[1]),
        "pages": pages,
        "rows_returned": rows,
        "history_p50_ms": pct(latencies, 0.50),
        "history_p99_ms": pct(latencies, 0.99),
        "floor_p50_ms": pct(floor_latencies, 0.50),
        "floor_p99_ms": pct(floor_latencies, 0.99),
        "ratio_p50": round(pct(latencies, 0.5) / pct(floor_latencies, 0.5), 2),
        "plan": " ".join(row[0].strip() for row in plan[:2]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--customer-rows", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--reuse", action="store_true", help="keep the loaded schema")
    args = parser.parse_args()

    os.environ.update(
        {
            "OKPAY_ENV": "test",
            "OKPAY_DATA_DIR": tempfile.mkdtemp(prefix="okpay-bench-"),
            "OKPAY_SMTP_HOST": "",
        }
    )
    url = _bench_url(
        SCHEMA, postgres_only="bench/history.py needs PostgreSQL (OKPAY_BENCH_DATABASE_URL)"
    )
    os.environ["OKPAY_DATABASE_URL"] = url
    started = time.perf_counter()
    if args.reuse:
        user_id = 1
    else:
        log(f"loading {args.rows:,} history rows, {args.customer_rows:,} of them one customer's")
        user_id = load(url, rows=args.rows, customer_rows=args.customer_rows, others=args.others)
    load_s = time.perf_counter() - started
    log(f"{args.queries} date-range windows through wallet.history.history")
    figures = measure(url, user_id, args.queries)
    print(
        json.dumps(
            {
                "bench": "history",
                "db": "postgresql",
                "load_s": round(load_s, 1),
                **figures,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
