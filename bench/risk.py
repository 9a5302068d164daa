"""Risk controls at scale: rule evaluation per operation with 1,000,000 past operations in the
database, and a 30-day backtest over them.

- load: ``--customers`` customers and ``--operations`` past operations over the last 30 days
  (transfers, merchant payments, withdrawals, card top-ups of which some failed), generated
  in Python with a fixed seed and written with COPY on PostgreSQL (foreign-key triggers off
  while loading) or multi-row INSERTs on SQLite, together with the risk counters and
  recipient pairs risk.counters would have kept for them (the same buckets), then ANALYZE.
  The shipped rules are installed (live and shadow, as `okpay db upgrade` does).
- evaluate: risk.engine.evaluate on ``--samples`` realistic attempts (random customer,
  operation and amount; transfers to someone paid before or not), each in its own unit of
  work, as the wallet screens them: p50 and p99 in milliseconds.
- floor: the two statements features.compute runs (the counter buckets, the customer row)
  as hand-written SQL on the same connection pool, same attempts: what any rule engine
  reading these counters must pay; reported beside it with the ratio.
- backtest: risk.backtest.run over the last ``--days`` days for one shipped rule
  (``unusual_amount`` by default: it reads the windows and the histogram), seconds.

Progress on stderr; the last stdout line is one JSON object.

    .venv/bin/python bench/risk.py [--operations 1000000] [--customers 20000] [--samples 2000]
    .venv/bin/python bench/risk.py --operations 100000          # a quick run
    .venv/bin/python bench/risk.py --sqlite                     # on a fresh SQLite file
    OKPAY_BENCH_SCHEMA=okpay_bench_risk_me .venv/bin/python bench/risk.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import bench_url as _bench_url
from common import logger, percentile

SCHEMA = os.environ.get("OKPAY_BENCH_SCHEMA", "okpay_bench_risk")
SPAN = timedelta(days=30)
log = logger("risk")
COLUMNS = (
    "id", "reference", "type", "status", "user_id", "counterparty_user_id", "currency",
    "amount", "fee", "method", "payment_method_id", "failure_code", "note", "created_at",
    "updated_at", "completed_at", "data",
)  # fmt: skip


def configure(url: str, data_dir: str) -> None:
    os.environ.update(
        {
            "OKPAY_DATABASE_URL": url,
            "OKPAY_ENV": "test",
            "OKPAY_DATA_DIR": data_dir,
            "OKPAY_JOBS_IMMEDIATE": "true",
            "OKPAY_SMTP_HOST": "",
        }
    )


def amount_for(rng: random.Random, typical: int) -> int:
    """Amounts around a customer's typical one (log-normal), in fen."""
    return max(100, int(typical * rng.lognormvariate(0, 0.8)))


def generate(rng: random.Random, customers: list[int], operations: int, now: datetime):  # type: ignore[no-untyped-def]
    """Operation rows in time order, and the counters and pairs they leave."""
    from okpay.risk import features

    start = now - SPAN
    step = SPAN.total_seconds() / operations
    typical = {u: rng.choice((2_000, 10_000, 50_000, 200_000)) for u in customers}
    friends = {u: [rng.choice(customers) for _ in range(8)] for u in customers}
    counters: dict[tuple[int, str, int], list[int]] = {}
    pairs: dict[tuple[int, int], list] = {}  # type: ignore[type-arg]
    short_from = features.ten_minute_bucket(now - timedelta(hours=25))
    rows = []
    for k in range(1, operations + 1):
        at = start + timedelta(seconds=k * step + rng.random() * step)
        user = rng.choice(customers)
        roll = rng.random()
        amount = amount_for(rng, typical[user])
        counterparty = failure = method = None
        status = "completed"
        if roll < 0.55:
            type_ = "transfer"
            counterparty = (
                rng.choice(friends[user]) if rng.random() < 0.8 else rng.choice(customers)
            )
            if counterparty == user:
                counterparty = customers[(customers.index(user) + 1) % len(customers)]
            method = "wallet"
        elif roll < 0.75:
            type_, method = "payment", "wallet"
        elif roll < 0.85:
            type_, method = "withdrawal", "bank"
        else:
            type_, method = "topup", "card"
            if rng.random() < 0.1:
                status, failure = "failed", "declined"
        rows.append(
            (k, f"BR-{k:010d}", type_, status, user, counterparty, "CNY", amount, 0, method,
             None, failure, "", at, at, at if status == "completed" else None, "{}")
        )  # fmt: skip
        tb = features.ten_minute_bucket(at)
        if failure:
            if tb > short_from:
                _add(counters, (user, "tf", tb), 1, 0)
            continue
        if type_ in features.MONEY_OUT:
            if tb > short_from:
                _add(counters, (user, "o:CNY", tb), 1, amount)
            _add(counters, (user, "d:CNY", features.day_bucket(at)), 1, amount)
            _add(counters, (user, "h:CNY", features.hist_bucket(amount)), 1, amount)
        if counterparty:
            pair = pairs.get((user, counterparty))
            if pair is None:
                pairs[(user, counterparty)] = [at, at, 1]
            else:
                pair[1] = at
                pair[2] += 1
    counter_rows = [(u, kind, b, c, t, m) for (u, kind, b), (c, t, m) in counters.items()]
    pair_rows = [(u, c, f, la, n) for (u, c), (f, la, n) in pairs.items()]
    return rows, counter_rows, pair_rows


def _add(counters: dict, key: tuple, count: int, amount: int) -> None:  # type: ignore[type-arg]
    slot = counters.get(key)
    if slot is None:
        counters[key] = [count, amount, amount]
    else:
        slot[0] += count
        slot[1] += amount
        slot[2] = max(slot[2], amount)


def load(url: str, *, operations: int, customers: int, seed: int) -> tuple[list[int], datetime]:
    from sqlalchemy import insert, text

    from okpay import migrate
    from okpay.core import clock
    from okpay.db import get_database
    from okpay.identity.models import User
    from okpay.risk import defaults

    db = get_database(url)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    migrate.upgrade(url)
    now = clock.now()
    created = now - timedelta(days=400)
    with db.unit_of_work() as s:
        s.execute(
            insert(User),
            [
                {
                    "email": f"r{i}@bench.example",
                    "name": f"R{i}",
                    "password_hash": "x",
                    "password_changed_at": created,
                    "role": "customer",
                    "status": "active",
                    "address": "",
                    "verification_level": 2,
                    "email_verified_at": created,
                    "created_at": created,
                    "updated_at": created,
                }
                for i in range(customers)
            ],
        )
        ids = [r[0] for r in s.execute(text("SELECT id FROM user_account ORDER BY id"))]
        defaults.install(s)
    started = time.perf_counter()
    rng = random.Random(seed)
    rows, counter_rows, pair_rows = generate(rng, ids, operations, now)
    log(f"generated {len(rows)} operations, {len(counter_rows)} counter buckets, "
        f"{len(pair_rows)} pairs in {time.perf_counter() - started:.1f}s")  # fmt: skip
    started = time.perf_counter()
    if db.dialect == "postgresql":
        _copy_pg(db, rows, counter_rows, pair_rows)
    else:
        _insert_sqlite(db, rows, counter_rows, pair_rows)
    log(f"wrote them in {time.perf_counter() - started:.1f}s")
    del rows
    return ids, now


def _copy_pg(db, rows, counter_rows, pair_rows) -> None:  # type: ignore[no-untyped-def]
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET session_replication_role = replica")
        tables = (
            (f"wallet_operation ({', '.join(COLUMNS)})", rows),
            ("risk_counter (user_id, kind, bucket, count, total, max_amount)", counter_rows),
            ("risk_pair (user_id, counterparty_id, first_at, last_at, count)", pair_rows),
        )
        for target, data in tables:
            with cur.copy(f"COPY {target} FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('wallet_operation', 'id'), %s)", (len(rows),)
        )
        cur.execute("SET session_replication_role = DEFAULT")
        raw.commit()
        raw.autocommit = True  # type: ignore[union-attr]
        cur.execute("ANALYZE wallet_operation, risk_counter, risk_pair, user_account")
    finally:
        raw.close()


def _insert_sqlite(db, rows, counter_rows, pair_rows) -> None:  # type: ignore[no-untyped-def]

    def stamp(at: datetime | None) -> str | None:
        return None if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        marks = ", ".join("?" * len(COLUMNS))
        cur.executemany(
            f"INSERT INTO wallet_operation ({', '.join(COLUMNS)}) VALUES ({marks})",
            [(*r[:13], stamp(r[13]), stamp(r[14]), stamp(r[15]), r[16]) for r in rows],
        )
        cur.executemany(
            "INSERT INTO risk_counter (user_id, kind, bucket, count, total, max_amount) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            counter_rows,
        )
        cur.executemany(
            "INSERT INTO risk_pair (user_id, counterparty_id, first_at, last_at, count) "
            "VALUES (?, ?, ?, ?, ?)",
            [(u, c, stamp(f), stamp(la), n) for u, c, f, la, n in pair_rows],
        )
        raw.commit()
        cur.execute("ANALYZE")
    finally:
        raw.close()


def attempts(rng: random.Random, ids: list[int], samples: int):  # type: ignore[no-untyped-def]
    from okpay.wallet import screening

    out = []
    for _ in range(samples):
        user = rng.choice(ids)
        roll = rng.random()
        amount = amount_for(rng, rng.choice((2_000, 10_000, 50_000, 200_000)))
        if roll < 0.55:
            op, other = "transfer", rng.choice(ids)
        elif roll < 0.75:
            op, other = "payment", None
        elif roll < 0.85:
            op, other = "withdrawal", None
        else:
            op, other = "card_topup", None
        out.append(
            screening.Attempt(
                user_id=user,
                operation=op,
                amount=amount,
                currency="CNY",
                counterparty_user_id=other if other != user else None,
                extra={"in_batch": False, "new_payout_account": False},
            )
        )
    return out


def measure_evaluate(url: str, samples: list) -> dict:  # type: ignore[type-arg]
    from sqlalchemy import text

    from okpay.db import get_database
    from okpay.risk import engine, features

    db = get_database(url)
    for a in samples[:50]:  # warm the rule cache and the pool
        with db.unit_of_work() as s:
            engine.evaluate(s, a)
    now_tb = features.ten_minute_bucket(datetime.now(UTC))
    now_db = features.day_bucket(datetime.now(UTC))
    counters_sql = text(
        "SELECT kind, bucket, count, total, max_amount FROM risk_counter "
        "WHERE user_id = :u AND ((kind IN ('tf', 'nl', 'o:CNY') AND bucket > :tb) "
        "OR (kind = 'd:CNY' AND bucket > :db) OR kind = 'h:CNY')"
    )
    person_sql = text("SELECT created_at, verification_level FROM user_account WHERE id = :u")

    def evaluate_one(a) -> bool:  # type: ignore[no-untyped-def]
        with db.unit_of_work() as s:
            return engine.evaluate(s, a).decision_id is not None

    def floor_one(a) -> None:  # type: ignore[no-untyped-def]
        with db.unit_of_work() as s:  # the same kind of unit of work the wallet screens in
            s.execute(counters_sql, {"u": a.user_id, "tb": now_tb - 144, "db": now_db - 90}).all()
            s.execute(person_sql, {"u": a.user_id}).one()

    # The same customer's rows for both, in turns (whichever runs first warms the cache).
    times, floor, fired = [], [], 0
    for i, a in enumerate(samples):
        for which in ("e", "f") if i % 2 else ("f", "e"):
            started = time.perf_counter()
            if which == "e":
                fired += evaluate_one(a)
                times.append((time.perf_counter() - started) * 1000)
            else:
                floor_one(a)
                floor.append((time.perf_counter() - started) * 1000)
    p50, p99 = percentile(times, 50), percentile(times, 99)
    f50 = percentile(floor, 50)
    return {
        "samples": len(samples),
        "evaluate_p50_ms": round(p50, 3),
        "evaluate_p99_ms": round(p99, 3),
        "floor_p50_ms": round(f50, 3),
        "floor_p99_ms": round(percentile(floor, 99), 3),
        "ratio_p50": round(f50 / p50, 3) if p50 else None,
        "decisions_stored": fired,
    }


def measure_backtest(url: str, code: str, days: int) -> dict:  # type: ignore[type-arg]
    import resource

    from okpay.db import get_database
    from okpay.risk import backtest, rules

    db = get_database(url)
    with db.unit_of_work(write=False) as s:
        rule = rules.find_rule(s, code)
        assert rule is not None, code
        started = time.perf_counter()
        result = backtest.run(s, rule=rule, days=days)
        seconds = time.perf_counter() - started
    return {
        "backtest_rule": code,
        "backtest_days": days,
        "backtest_s": round(seconds, 2),
        "backtest_operations": result.operations,
        "backtest_hits": result.hits,
        "backtest_ops_per_s": round(result.operations / seconds) if seconds else None,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--operations", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rule", default="unusual_amount")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--sqlite", action="store_true", help="on a fresh SQLite file")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/risk.sqlite3" if args.sqlite else _bench_url(SCHEMA)
        configure(url, tmp)
        from okpay.db import get_database

        dialect = get_database(url).dialect
        log(f"loading {args.operations} operations for {args.customers} customers ({dialect})")
        started = time.perf_counter()
        ids, _now = load(url, operations=args.operations, customers=args.customers, seed=args.seed)
        load_s = time.perf_counter() - started
        log(f"loaded in {load_s:.1f}s; evaluating {args.samples} attempts")
        rng = random.Random(args.seed + 1)
        evaluated = measure_evaluate(url, attempts(rng, ids, args.samples))
        log(f"evaluate p50 {evaluated['evaluate_p50_ms']} ms; backtest of {args.rule}")
        tested = measure_backtest(url, args.rule, args.days)
        log(f"backtest in {tested['backtest_s']}s")
        get_database(url).dispose()
    result = {
        "bench": "risk",
        "db": dialect,
        "operations": args.operations,
        "customers": args.customers,
        **evaluated,
        **tested,
        "load_s": round(load_s, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
