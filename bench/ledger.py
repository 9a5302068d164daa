"""Ledger throughput: service-layer transfers against a plain-SQL floor, in the same run.

- floor: each transfer locks two balance rows in id order, updates them, inserts a journal
  entry and two postings, commits: hand-written SQL through psycopg, 8 client processes.
- service: wallet.transfers.do_transfer in a unit of work (status, limits and fee checks,
  operation and history rows included), 8 processes, uniform random pairs of customers.
- uniform_rules: the same transfers screened by the shipped risk rules first, as
  wallet.flows does: in the transfer's unit of work, features from the counters (one
  statement), rules evaluated (a decision stored when one fires), then the transfer and
  the counters (one statement).
- hot: the same, but half of the operations are bank top-up completions, the provider's
  webhook crediting a top-up opened before the clock started: the ledger movement from the
  bank-clearing system account (sharded) to a customer, reported as a ratio to the uniform
  figure. Completions alone are measured too: ``hot_ratio_to_its_parts`` compares the mix
  with what its two parts would reach if they did not slow each other down, which is the
  share lost to the system account itself.
- hot round trips: half of the operations are bank top-ups begun and completed in one unit
  of work (two state changes each), and such top-ups alone: what a top-up costs end to end.
- the floor and the service runs take turns for ``--rounds`` rounds, and every
  worker waits at a start barrier after a short warm-up, so that process start-up and a
  machine whose speed drifts weigh on all of them alike.
- batch: wallet.batch.do_transfer_batch, batches of 1000 transfers from one random
  sender to random others, one unit of work each (``--batch-workers`` processes).
- http (bench/ledger_http.py, wrk): `okpay serve` with 2 workers, ``--concurrency``
  connections sending POST /api/v1/wallet/transfers (bearer token, Idempotency-Key and all)
  for ``--senders`` distinct customers, uniform and in the hot mix, against a bare FastAPI
  app on the same server settings doing the plain-SQL transfer (``http_ratio_to_floor``);
  OKPay's /healthz against the bare app's (``healthz_ratio_to_bare``). Without wrk the
  bench says so and leaves the HTTP figures out. ``--http-only`` runs just these.

On PostgreSQL the same run then repeats on a fresh SQLite file (``--no-sqlite`` skips it)
and adds those figures under ``sqlite``. Progress on stderr; the last stdout line is one
JSON object.

    .venv/bin/python bench/ledger.py [--seconds 8] [--rounds 2] [--workers 8] [--users 2000]
    .venv/bin/python bench/ledger.py --http-only [--quick]     # the HTTP figures alone
    OKPAY_BENCH_SCHEMA=okpay_bench_me .venv/bin/python bench/ledger.py   # own PG schema
    OKPAY_BENCH_DATABASE_URL=sqlite:///var/bench.sqlite3 .venv/bin/python bench/ledger.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import bench_url as _bench_url
from common import logger
from ledger_http import http_figures

SCHEMA = os.environ.get("OKPAY_BENCH_SCHEMA", "okpay_bench")
PASSWORD = "bench passphrase"
log = logger("ledger")


def configure(url: str, data_dir: str) -> None:
    os.environ.update(
        {
            "OKPAY_DATABASE_URL": url,
            "OKPAY_ENV": "test",
            "OKPAY_DATA_DIR": data_dir,
            "OKPAY_JOBS_IMMEDIATE": "true",
            "OKPAY_SMTP_HOST": "",
            "OKPAY_SECRET_KEY": "bench-secret",  # as httpload.serve gives the HTTP server
            # Senders pay thousands of people they never paid before (a batch: 1000 at
            # once): the recipient-lookup budget is counted as usual but never runs out.
            "OKPAY_RECIPIENT_LOOKUPS_PER_HOUR": "1000000000",
            "OKPAY_RECIPIENT_LOOKUPS_PER_DAY": "1000000000",
        }
    )


def prepare(url: str, users: int) -> tuple[list[int], int]:
    """Fresh schema, ``users`` verified customers with ¥100,000 each; returns their user ids
    and one operation id the floor's entries can point at."""
    from sqlalchemy import insert, text

    from okpay import migrate
    from okpay.core import clock
    from okpay.db import get_database
    from okpay.identity import passwords
    from okpay.identity.models import User
    from okpay.wallet import ledger, topups
    from okpay.wallet.models import SystemAccount

    db = get_database(url)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    migrate.upgrade(url)
    now = clock.now()
    hashed = passwords.hash_password(PASSWORD)
    with db.unit_of_work() as s:
        s.execute(
            insert(User),
            [
                {
                    "email": f"b{i}@bench.example",
                    "name": f"B{i}",
                    "password_hash": hashed,
                    "password_changed_at": now,
                    "role": "customer",
                    "status": "active",
                    "address": "",
                    "verification_level": 2,
                    "email_verified_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(users)
            ],
        )
    with db.unit_of_work() as s:
        ids = [r[0] for r in s.execute(text("SELECT id FROM user_account ORDER BY id"))]
        ledger.ensure_system_accounts(s)
    with db.unit_of_work() as s:
        from okpay.risk import defaults as risk_defaults

        risk_defaults.install(s)  # live for the run with rules (the others do not screen)
    first_op = None
    for chunk in range(0, len(ids), 200):
        with db.unit_of_work() as s:
            for uid in ids[chunk : chunk + 200]:
                op = topups.do_begin_bank_topup(s, user_id=uid, amount=100_000_00, currency="CNY")
                topups.do_complete_topup(
                    s, operation_id=op.id, external_ref="seed", clearing=SystemAccount.bank_clearing
                )
                first_op = first_op or op.id
    if db.dialect == "postgresql":
        # Statistics for the planner, as autovacuum would gather them on a server where it
        # runs (it is off on some machines this bench runs on).
        from okpay import models as all_models

        with db.engine.begin() as conn:
            conn.execute(
                text("ANALYZE " + ", ".join(t.name for t in all_models.metadata().sorted_tables))
            )
    db.dispose()
    assert first_op is not None
    return ids, first_op


WARM_UP = 5  # steps each worker runs before the clock starts


def timed(step, seconds: float, start, warm_up: int = WARM_UP) -> tuple[int, int, list[float]]:  # type: ignore[no-untyped-def]
    """Run ``step`` a few times (connections open, statements prepared), wait until every
    worker of the run is ready (``start``, a barrier: no worker is timed while another is
    still importing), then back to back for ``seconds``. ``step`` returns how many
    transfers it made; the answer is (transfers, errors, each step's time)."""
    for _ in range(warm_up):
        try:
            step()
        except Exception as exc:  # a reference clash, say: the run itself counts errors
            print(
                f"[bench ledger] warm-up error: {getattr(exc, 'orig', None) or exc}",
                file=sys.stderr,
            )
    start.wait()
    done = errors = 0
    spent: list[float] = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        try:
            done += step()
        except OutOfPending:
            print(
                f"[bench ledger] a worker ran out of pending top-ups after "
                f"{seconds - (end - now):.1f} s of {seconds:.0f}: raise PENDING_MARGIN",
                file=sys.stderr,
            )
            break
        except Exception as exc:
            errors += 1
            if errors < 3:
                cause = getattr(exc, "orig", None) or exc  # the database's words, not the SQL
                print(f"[bench ledger] worker error: {cause}", file=sys.stderr)
        spent.append(time.perf_counter() - now)
    return done, errors, spent


def floor_worker(
    url: str, seconds: float, account_ids: list[int], op_id: int, start, out: mp.Queue
) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Plain SQL: the least any transfer must do (bench/floor_sql.py)."""
    from floor_sql import PlainTransfer

    from okpay.db import Database

    db = Database(url, pool_size=1, max_overflow=0)
    rng = random.Random()
    plain = PlainTransfer(db.dialect, op_id)
    with db.engine.execution_options(okpay_write=True).connect() as conn:

        def step() -> int:
            plain(conn, *rng.sample(account_ids, 2))
            return 1

        done, _errors, _spent = timed(step, seconds, start)
    out.put(done)


# Pending top-ups each worker opens before a run whose operations include completions: this
# many times what the same worker did per second in the round's uniform run. Completions
# have run up to 1.3 times as fast as transfers on PostgreSQL and 1.7 times on SQLite, where
# some workers also get the write lock far more often than others.
PENDING_MARGIN = {"postgresql": 3, "sqlite": 8}


class OutOfPending(Exception):
    """A worker completed every top-up it had opened: it stops, and says so."""


def service_worker(
    url: str,
    data_dir: str,
    seconds: float,
    user_ids: list[int],
    hot_share: float,
    hot: str,
    pending_per_s: float,
    start,
    out: mp.Queue,
) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Service-layer operations, back to back: a ``hot_share`` of them touch the bank
    clearing account, the rest are transfers between random customers. ``hot`` says how:
    ``completion``, the provider's webhook completing a bank top-up opened before the clock
    started (the ledger movement from clearing to customer, like production's webhooks), or
    ``round_trip``, a top-up begun and completed in the same unit of work. For completions,
    ``pending_per_s`` top-ups a second of the run are opened before it."""
    configure(url, data_dir)
    import uuid

    from sqlalchemy.exc import IntegrityError

    from okpay import models as all_models
    from okpay.db import get_database
    from okpay.wallet import held, risk_checks, screening, topups, transfers
    from okpay.wallet.models import SystemAccount

    assert all_models.HOOKS  # the risk controls are registered with the wallet
    db = get_database(url)
    rng = random.Random()

    def screened_transfer(a: int, b: int) -> None:
        """What wallet.flows.transfer does around the transfer (without the key): screened in
        the unit of work that moves the money (features, rules, a decision stored when one
        fires), then the transfer (or its hold) and the counters."""
        recipient, amount = f"b{b - user_ids[0]}@bench.example", rng.randint(1, 500)
        with db.unit_of_work() as s:
            attempt = risk_checks.transfer_attempt(
                s, sender_id=a, recipient=recipient, amount=amount, currency="CNY"
            )
            verdict = screening.screen(s, attempt)
            if verdict.outcome is screening.Outcome.hold:
                held.do_hold_transfer(
                    s, sender_id=a, recipient=recipient, amount=amount, currency="CNY"
                )
                return
            result = transfers.do_transfer(
                s, sender_id=a, recipient=recipient, amount=amount, currency="CNY"
            )
            screening.moved(s, [risk_checks.moved(attempt, verdict, result=result)])

    def begin_topup() -> int:
        for _attempt in range(5):  # a reference already taken: try another, as flows do
            try:
                with db.unit_of_work() as s:
                    return topups.do_begin_bank_topup(
                        s, user_id=rng.choice(user_ids), amount=rng.randint(1, 500), currency="CNY"
                    ).id
            except IntegrityError:
                continue
        raise RuntimeError("no pending top-up after five attempts")

    def complete(s, operation_id: int) -> None:  # type: ignore[no-untyped-def]
        topups.do_complete_topup(
            s,
            operation_id=operation_id,
            external_ref=f"bank-{uuid.uuid4().hex[:16]}",  # each unique, as a bank's are
            clearing=SystemAccount.bank_clearing,
        )

    pending: list[int] = []
    if hot == "completion" and hot_share:
        wanted = int(seconds * pending_per_s * hot_share) + WARM_UP
        pending = [begin_topup() for _ in range(wanted)]

    def step() -> int:
        if hot == "rules":
            screened_transfer(*rng.sample(user_ids, 2))
            return 1
        with db.unit_of_work() as s:
            if rng.random() < hot_share:
                if hot == "completion":
                    if not pending:
                        raise OutOfPending
                    complete(s, pending.pop())
                else:
                    uid = rng.choice(user_ids)
                    op = topups.do_begin_bank_topup(
                        s, user_id=uid, amount=rng.randint(1, 500), currency="CNY"
                    )
                    complete(s, op.id)
            else:
                a, b = rng.sample(user_ids, 2)
                transfers.do_transfer(
                    s,
                    sender_id=a,
                    recipient=f"b{b - user_ids[0]}@bench.example",
                    amount=rng.randint(1, 500),
                    currency="CNY",
                )
        return 1

    done, errors, _spent = timed(step, seconds, start)
    out.put((done, errors))


def batch_worker(
    url: str, data_dir: str, seconds: float, user_ids: list[int], size: int, start, out: mp.Queue
) -> None:  # type: ignore[no-untyped-def,type-arg]
    """Batches of ``size`` transfers from one random sender to random others, each batch
    one unit of work through wallet.batch.do_transfer_batch."""
    configure(url, data_dir)
    from okpay.db import get_database
    from okpay.wallet import batch, operations

    db = get_database(url)
    rng = random.Random()
    refusals: list[int] = []

    def step() -> int:
        sender = rng.choice(user_ids)
        others = [u for u in user_ids if u != sender]
        items = [
            batch.BatchItem(
                recipient=f"b{r - user_ids[0]}@bench.example",
                amount=f"{rng.randint(1, 500) / 100:.2f}",
                currency="CNY",
                note="payroll",
                client_ref=f"r{i}",
            )
            for i, r in enumerate(rng.sample(others, min(size, len(others))))
        ]
        with db.unit_of_work() as s:
            outcome = batch.do_transfer_batch(s, sender_id=sender, items=items)
        ok = sum(1 for o in outcome if isinstance(o, operations.TransferResult))
        refusals.append(len(outcome) - ok)
        return ok

    done, _errors, spent = timed(step, seconds, start, warm_up=1)
    out.put((done, sum(refusals[1:]), spent))


def run_parallel(target, args_for, workers: int) -> list:  # type: ignore[no-untyped-def]
    """Start ``workers`` processes of ``target`` together (they share a start barrier)."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    start = ctx.Barrier(workers)
    procs = [ctx.Process(target=target, args=(*args_for(i), start, out)) for i in range(workers)]
    for p in procs:
        p.start()
    results = []
    while len(results) < workers:
        try:
            results.append(out.get(timeout=5))
        except queue.Empty:
            crashed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if crashed:  # a worker that died never reports: stop rather than wait forever
                for p in procs:
                    p.kill()
                raise SystemExit(f"[bench ledger] a worker died (exit codes {crashed})") from None
    for p in procs:
        p.join()
    return results


def sqlite_figures(args: argparse.Namespace) -> dict:  # type: ignore[type-arg]
    """The same bench on a fresh SQLite file, in a child process: its JSON figures."""
    path = Path(tempfile.mkdtemp(prefix="okpay-bench-")) / "bench.sqlite3"
    env = {**os.environ, "OKPAY_BENCH_DATABASE_URL": f"sqlite:///{path}"}
    command = [sys.executable, __file__, "--no-sqlite", "--seconds", str(args.seconds)]
    command += ["--rounds", str(args.rounds)]
    command += ["--workers", str(args.workers), "--users", str(args.users)]
    command += ["--batch-workers", "1", "--concurrency", str(args.concurrency)]
    command += ["--senders", str(args.senders)] + (["--http-only"] if args.http_only else [])
    out = subprocess.run(command, env=env, stdout=subprocess.PIPE, check=False, text=True)
    if out.returncode:  # keep the PostgreSQL figures: say what failed instead
        return {"error": f"the SQLite run stopped (exit code {out.returncode}), see stderr"}
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: v for k, v in figures.items() if k != "bench"}


# The service runs of each round: name, share of operations touching the bank-clearing
# system account, how they touch it (see service_worker), what the log says.
SERVICE_RUNS = (
    ("uniform", 0.0, "completion", "service transfers, uniform"),
    ("uniform_rules", 0.0, "rules", "the same, screened by the default risk rules first"),
    ("hot", 0.5, "completion", "half of them bank top-up completions (bank clearing)"),
    ("completions", 1.0, "completion", "bank top-up completions only"),
    ("hot_round_trips", 0.5, "round_trip", "half of them bank top-ups begun and completed"),
    ("topups", 1.0, "round_trip", "bank top-ups begun and completed only"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8, help="per run and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--batch-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16, help="wrk connections")
    parser.add_argument("--senders", type=int, default=500, help="signed-in HTTP senders")
    parser.add_argument("--http-only", action="store_true", help="the HTTP figures alone")
    parser.add_argument("--quick", action="store_true", help="one round of 4 s per run")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL figures only")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 4, 1

    data_dir = tempfile.mkdtemp(prefix="okpay-bench-")
    url = _bench_url(SCHEMA)
    if "sqlite" in url and ":///" in url and not url.endswith(".sqlite3"):
        url = f"sqlite:///{Path(data_dir) / 'bench.sqlite3'}"
    configure(url, data_dir)
    dialect = "postgresql" if url.startswith("postgres") else "sqlite"
    log(f"preparing {dialect}: {args.users} funded customers")
    user_ids, op_id = prepare(url, args.users)

    from sqlalchemy import text

    from okpay.db import get_database

    db = get_database(url)
    with db.engine.connect() as conn:
        account_ids = [
            r[0]
            for r in conn.execute(
                text("SELECT id FROM wallet_account WHERE kind = 'customer' ORDER BY id")
            )
        ]
    db.dispose()

    def run_http() -> dict[str, Any]:
        return http_figures(
            url,
            data_dir,
            args.seconds,
            args.rounds,
            args.concurrency,
            user_ids,
            account_ids,
            op_id,
            args.senders,
        )

    if args.http_only:
        http = run_http()
        print(json.dumps({"bench": "ledger", "db": dialect, **http, "cores": os.cpu_count()}))
        return 0

    # The floor and the service runs take turns, round after round, so that a machine whose
    # speed drifts (shared cores) weighs on both alike.
    floor = 0
    runs: dict[str, list[tuple[int, int]]] = {name: [] for name, *_rest in SERVICE_RUNS}
    for round_ in range(1, args.rounds + 1):
        log(f"round {round_}/{args.rounds}: floor, plain SQL, {args.workers} processes")
        floor += sum(
            run_parallel(
                floor_worker, lambda i: (url, args.seconds, account_ids, op_id), args.workers
            )
        )
        pending_per_s = 0.0
        for name, share, hot, title in SERVICE_RUNS:
            log(f"round {round_}/{args.rounds}: {title}")
            done = run_parallel(
                service_worker,
                lambda i, share=share, hot=hot, p=pending_per_s: (  # type: ignore[misc]
                    url,
                    data_dir,
                    args.seconds,
                    user_ids,
                    share,
                    hot,
                    p,
                ),
                args.workers,
            )
            runs[name] += done
            if name == "uniform":
                per_worker = sum(d for d, _e in done) / args.seconds / args.workers
                pending_per_s = PENDING_MARGIN[dialect] * per_worker
    timed_s = args.seconds * args.rounds
    floor_rate = floor / timed_s
    rate = {name: sum(d for d, _e in done) / timed_s for name, done in runs.items()}
    uniform_rate, hot_rate = rate["uniform"], rate["hot"]
    # What the half-and-half mix would reach if its parts did not slow each other down.
    completion_rate = rate["completions"]
    parts_rate = (
        1 / (0.5 / uniform_rate + 0.5 / completion_rate) if uniform_rate and completion_rate else 0
    )
    log(f"batches of 1000 transfers, {args.batch_workers} processes")
    batches = run_parallel(
        batch_worker,
        lambda i: (url, data_dir, args.seconds, user_ids, 1000),
        args.batch_workers,
    )
    # A batch may run past the end of the run: divide by the time the batches took.
    batch_seconds = max(args.seconds, max(sum(spent) for _d, _r, spent in batches))
    batch_rate = sum(d for d, _r, _s in batches) / batch_seconds
    batch_ms = sorted(s * 1000 for _d, _r, spent in batches for s in spent)
    http = run_http()

    from okpay.db import get_database as _gd

    with _gd(url).engine.connect() as conn:
        imbalance = conn.execute(text("SELECT COALESCE(SUM(amount), 0) FROM posting")).scalar_one()
        drift = conn.execute(
            text(
                "SELECT COUNT(*) FROM wallet_account a WHERE a.balance <> "
                "(SELECT COALESCE(SUM(amount), 0) FROM posting p WHERE p.account_id = a.id)"
            )
        ).scalar_one()
    result = {
        "bench": "ledger",
        "db": dialect,
        "workers": args.workers,
        "customers": args.users,
        "transfers_per_s": round(uniform_rate, 1),
        "floor_per_s": round(floor_rate, 1),
        "ratio": round(uniform_rate / floor_rate, 3) if floor_rate else None,
        "transfers_with_rules_per_s": round(rate["uniform_rules"], 1),
        "ratio_with_rules": round(rate["uniform_rules"] / floor_rate, 3) if floor_rate else None,
        "rounds": args.rounds,
        "hot_account_per_s": round(hot_rate, 1),
        "hot_ratio_to_uniform": round(hot_rate / uniform_rate, 3) if uniform_rate else None,
        "completions_only_per_s": round(completion_rate, 1),
        "hot_ratio_to_its_parts": round(hot_rate / parts_rate, 3) if parts_rate else None,
        "topups_begun_and_completed_per_s": round(rate["topups"], 1),
        "hot_round_trips_per_s": round(rate["hot_round_trips"], 1),
        "hot_round_trips_ratio_to_uniform": (
            round(rate["hot_round_trips"] / uniform_rate, 3) if uniform_rate else None
        ),
        "batch_transfers_per_s": round(batch_rate, 1),
        "batch_workers": args.batch_workers,
        "batch_refused": sum(r for _d, r, _s in batches),
        "batch_of_1000_p50_ms": round(batch_ms[len(batch_ms) // 2], 1) if batch_ms else None,
        "batch_of_1000_best_ms": round(batch_ms[0], 1) if batch_ms else None,
        "batch_ratio_to_floor": round(batch_rate / floor_rate, 3) if floor_rate else None,
        **http,
        "errors": sum(e for done in runs.values() for _d, e in done),
        "postings_sum": int(imbalance),
        "balances_off_their_postings": int(drift),
        "cores": os.cpu_count(),
    }
    if dialect == "postgresql" and not args.no_sqlite:
        log("the same on SQLite")
        result["sqlite"] = sqlite_figures(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
