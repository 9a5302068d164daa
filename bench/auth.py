"""Sign-in throughput through the HTTP API, and /healthz on the same server.

Starts `okpay serve` (2 workers by default) on a fresh database, signs in many users
concurrently for a fixed time, then hammers /healthz. A sign-in is dominated by one argon2id
verification (19 MiB, t=2), so the same run measures the floor: how many verifications the
machine's cores do per second with no HTTP or database at all; `ratio` is logins/s against it.

Progress goes to stderr; the last stdout line is one JSON object.

    .venv/bin/python bench/auth.py [--seconds 10] [--workers 2] [--concurrency 16]
    OKPAY_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/auth.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import logger
from httpload import p as percentile
from httpload import run_load, serve

log = logger("auth")

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench passphrase 2026"


def prepare_database(url: str, users: int) -> None:
    """Fresh schema and ``users`` verified customers."""
    os.environ["OKPAY_DATABASE_URL"] = url
    from sqlalchemy import text

    from okpay import migrate
    from okpay.db import get_database
    from okpay.identity import passwords, service
    from okpay.identity.models import Role

    db = get_database(url)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS okpay_bench CASCADE"))
            conn.execute(text("CREATE SCHEMA okpay_bench"))
    migrate.upgrade(url)
    hashed = passwords.hash_password(PASSWORD)
    with db.unit_of_work() as session:
        for i in range(users):
            user = service.do_create_user(
                session, email=f"bench{i}@example.com", password=PASSWORD, role=Role.customer
            )
            user.password_hash = hashed  # one hash for all: creating them is not what we measure
    db.dispose()


def _verify_loop(seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from okpay.identity import passwords

    hashed = passwords.hash_password(PASSWORD)
    done = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        passwords.verify_password(hashed, PASSWORD)
        done += 1
    queue.put(done)


def argon2_floor(processes: int, seconds: float) -> float:
    """argon2id verifications per second across ``processes`` processes."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=_verify_loop, args=(seconds, queue))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="okpay-bench-"))
    url = os.environ.get("OKPAY_BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    if url.startswith("postgres"):
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}options=-csearch_path%3Dokpay_bench"
    dialect = "postgresql" if url.startswith("postgres") else "sqlite"
    log(f"preparing {dialect} database with {args.users} users")
    prepare_database(url, args.users)

    with serve(url, tmp, args.workers) as base:

        async def login(client: httpx.AsyncClient, i: int) -> httpx.Response:
            n = i % args.users
            return await client.post(
                "/api/v1/auth/login",
                json={
                    "email": f"bench{n}@example.com",
                    "password": PASSWORD,
                    "device_id": f"bench-device-{n}",
                },
            )

        async def healthz(client: httpx.AsyncClient, i: int) -> httpx.Response:
            return await client.get("/healthz")

        log("warming up")
        asyncio.run(run_load(base, 2, 4, login))
        log(f"sign-ins for {args.seconds}s at concurrency {args.concurrency}")
        logins, login_lat, login_errors = asyncio.run(
            run_load(base, args.seconds, args.concurrency, login)
        )
        log(f"/healthz for {args.seconds}s")
        checks, health_lat, health_errors = asyncio.run(
            run_load(base, args.seconds, args.concurrency, healthz)
        )

    log("argon2 floor: verifications per second on every core, nothing else")
    floor = argon2_floor(os.cpu_count() or 1, min(args.seconds, 5))
    logins_per_s = logins / args.seconds
    result = {
        "bench": "auth",
        "db": dialect,
        "server_workers": args.workers,
        "concurrency": args.concurrency,
        "cores": os.cpu_count(),
        "logins_per_s": round(logins_per_s, 1),
        "login_p50_ms": round(percentile(login_lat, 0.50), 1),
        "login_p99_ms": round(percentile(login_lat, 0.99), 1),
        "login_errors": login_errors,
        "floor_argon2_verifications_per_s": round(floor, 1),
        "ratio": round(logins_per_s / floor, 3) if floor else None,
        "healthz_per_s": round(checks / args.seconds, 1),
        "healthz_p50_ms": round(percentile(health_lat, 0.50), 2),
        "healthz_p99_ms": round(percentile(health_lat, 0.99), 2),
        "healthz_errors": health_errors,
        "note": "load generator shares the machine's cores with the server",
        "mean_login_ms": round(statistics.fmean(login_lat) * 1000, 1) if login_lat else None,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
