"""Sign-in throughput through the HTTP API, and /healthz on the same server.

Starts `okpay serve` (2 workers by default) on a fresh database, signs in many users
concurrently for a fixed time, then hammers /healthz. A sign-in is dominated by one argon2id
verification (19 MiB, t=2), so the same run measures the floor: how many verifications the
machine's cores do per second with no HTTP or database at all; `ratio` is logins/s against it.

A last phase measures what a stranger learns from time alone (issue 11 item 7): interleaved,
one at a time, requests for registered and unknown addresses on password reset, registration
and a sign-in with a wrong password. Per endpoint it reports both medians, their gap, and
`one_request_guess`: how often a single request is classified right by the best threshold
between the medians (0.5 = time says nothing). Each request comes from its own address
(X-Forwarded-For from a trusted proxy), so per-address rate limits do not interfere.

Progress goes to stderr; the last stdout line is one JSON object.

    .venv/bin/python bench/auth.py [--seconds 10] [--workers 2] [--concurrency 16]
    .venv/bin/python bench/auth.py --enumeration-only [--rounds 150]
    OKPAY_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/auth.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
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


def _guess_rate(known: list[float], unknown: list[float]) -> float:
    """How often one latency alone tells the two groups apart, with the best threshold
    placed between the medians (known above when its median is higher)."""
    if not known or not unknown:
        return 0.0
    high = statistics.median(known) >= statistics.median(unknown)
    cut = (statistics.median(known) + statistics.median(unknown)) / 2
    right = sum((t > cut) == high for t in known) + sum((t <= cut) == high for t in unknown)
    return right / (len(known) + len(unknown))


def enumeration_timing(base: str, rounds: int, users: int) -> dict[str, dict[str, float]]:
    """Interleaved known/unknown requests, one at a time, on reset, register and sign-in."""
    rng = random.Random(11)
    wrong = "not the bench passphrase"

    def reset(email: str, _n: int) -> tuple[str, dict[str, str]]:
        return "/api/v1/auth/password/forgot", {"email": email}

    def register(email: str, _n: int) -> tuple[str, dict[str, str]]:
        return "/api/v1/auth/register", {"email": email, "password": "a long new passphrase"}

    def login(email: str, n: int) -> tuple[str, dict[str, str]]:
        return "/api/v1/auth/login", {"email": email, "password": wrong, "device_id": f"e-{n}"}

    figures: dict[str, dict[str, float]] = {}
    address = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        for name, make in (("reset", reset), ("register", register), ("login", login)):
            times: dict[bool, list[float]] = {True: [], False: []}
            for n in range(rounds):
                # A different registered account each time (a sign-in failure counts per
                # account), in a random order within the pair.
                pair = [
                    (True, f"bench{n % users}@example.com"),
                    (False, f"{name}-ghost{n}@example.com"),
                ]
                rng.shuffle(pair)
                answers = set()
                for known, email in pair:
                    address += 1
                    path, body = make(email, n)
                    ip = f"10.{address // 65536 % 256}.{address // 256 % 256}.{address % 256}"
                    t0 = time.perf_counter()
                    response = client.post(path, json=body, headers={"X-Forwarded-For": ip})
                    elapsed = time.perf_counter() - t0
                    if response.status_code >= 500 or response.status_code == 429:
                        raise RuntimeError(f"{name}: {response.status_code} {response.text}")
                    answers.add((response.status_code, response.text))
                    if n >= 5:  # the first rounds warm caches up
                        times[known].append(elapsed)
                if len(answers) != 1:
                    raise RuntimeError(f"{name}: the answers differ: {answers}")
            known_ms = statistics.median(times[True]) * 1000
            unknown_ms = statistics.median(times[False]) * 1000
            figures[name] = {
                "known_p50_ms": round(known_ms, 2),
                "unknown_p50_ms": round(unknown_ms, 2),
                "gap_ms": round(known_ms - unknown_ms, 2),
                "one_request_guess": round(_guess_rate(times[True], times[False]), 3),
            }
            log(f"{name}: {figures[name]}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=150, help="pairs per endpoint (timing)")
    parser.add_argument(
        "--enumeration-only", action="store_true", help="only the enumeration-timing phase"
    )
    args = parser.parse_args()
    # Each timing request comes from its own address through a "proxy" on 127.0.0.1.
    os.environ.setdefault("OKPAY_TRUSTED_PROXIES", '["127.0.0.1/32"]')

    tmp = Path(tempfile.mkdtemp(prefix="okpay-bench-"))
    url = os.environ.get("OKPAY_BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}"
    if url.startswith("postgres"):
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}options=-csearch_path%3Dokpay_bench"
    dialect = "postgresql" if url.startswith("postgres") else "sqlite"
    log(f"preparing {dialect} database with {args.users} users")
    prepare_database(url, args.users)

    with serve(url, tmp, args.workers) as base:
        if args.enumeration_only:
            log(f"enumeration timing: {args.rounds} interleaved pairs per endpoint")
            figures = enumeration_timing(base, args.rounds, args.users)
            print(json.dumps({"bench": "auth", "db": dialect, "enumeration": figures}))
            return 0

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
        log(f"enumeration timing: {args.rounds} interleaved pairs per endpoint")
        enumeration = enumeration_timing(base, args.rounds, args.users)

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
        "enumeration": enumeration,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
