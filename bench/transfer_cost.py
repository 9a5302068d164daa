"""What one transfer costs, counted rather than timed (so that a busy machine does not blur
it): database round trips and this process's CPU time per transfer, one client, at three
layers: the service (wallet.transfers.do_transfer in a unit of work, as bench/ledger.py's
service run), the money flow (wallet.flows.transfer: idempotency key, risk screening,
stored answer) and HTTP (``POST /api/v1/wallet/transfers`` with bearer token and
Idempotency-Key, through the ASGI app in this process, no socket). The plain-SQL floor
(bench/floor_sql.py) is counted alongside.

Round trips are what the driver sends and waits for: each statement, and each BEGIN,
COMMIT and ROLLBACK. CPU is ``time.process_time`` over the loop; the database server's own
CPU (``server_cpu_ms``: the backends of this process's connections, from /proc, in 10 ms
ticks, so use a large ``--n``) is counted apart when it runs on this machine.
``--profile LAYER`` prints a cProfile of that layer's loop (``OKPAY_PROFILE_DUMP=file``
keeps it); ``--show`` prints each layer's statements.

    python bench/transfer_cost.py [--n 300] [--users 200] [--profile http [--inline]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import bench_url, logger  # noqa: E402

SCHEMA = os.environ.get("OKPAY_BENCH_SCHEMA", "okpay_bench") + "_cost"
log = logger("transfer_cost")


class RoundTrips:
    """Counts the round trips of every connection ``engine`` opens from now on, from libpq's
    own trace of the messages it sends: each Sync (the end of a statement in the extended
    protocol) and each simple Query (BEGIN, COMMIT, ...) is one wait for the server."""

    def __init__(self, engine: Any) -> None:
        from psycopg import pq
        from sqlalchemy import event

        self.files: list[Any] = []
        self.backends: list[int] = []  # the server processes of those connections
        engine.dispose()

        def trace(dbapi_conn: Any, _record: Any) -> None:
            self.backends.append(dbapi_conn.info.backend_pid)
            out = tempfile.TemporaryFile("w+")  # noqa: SIM115 - read until the end
            self.files.append(out)
            dbapi_conn.pgconn.trace(out.fileno())
            dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

        event.listen(engine, "connect", trace)

    def show(self, step: Callable[[], None]) -> None:
        """Run ``step`` once and print what it sent, one line per statement (a prepared
        statement by the text it was prepared with)."""
        marks = [out.seek(0, 2) for out in self.files]
        step()
        prepared: dict[str, str] = {}
        for out in self.files:
            out.seek(0)
            for parts in _messages(out.read()):
                if parts[0] == "F" and parts[2] == "Parse":
                    name, _sp, sql = parts[3].strip().partition(" ")
                    prepared[name] = sql
        for out, mark in zip(self.files, marks, strict=False):
            out.seek(mark)
            for parts in _messages(out.read()):
                if parts[0] != "F":
                    continue
                if parts[2] == "Query":
                    log(f"  {_short(parts[3])}")
                elif parts[2] == "Bind":
                    name = parts[3].strip().split(" ")[1]
                    if name != '""':
                        log(f"  {_short(prepared.get(name, name))}")
                elif parts[2] == "Parse" and parts[3].strip().startswith('""'):
                    log(f"  {_short(parts[3].strip()[3:])}")

    @property
    def count(self) -> int:
        total = 0
        for out in self.files:
            out.seek(0)
            for line in out:
                parts = line.split("\t", 3)
                if len(parts) >= 3 and parts[0] == "F" and parts[2].strip() in ("Sync", "Query"):
                    total += 1
        return total


def _messages(trace: str) -> list[list[str]]:
    """libpq's trace as messages [direction, length, type, rest]; a statement's text may
    span several lines."""
    out: list[list[str]] = []
    for line in trace.splitlines():
        parts = line.split("\t", 3)
        if len(parts) == 4 and parts[0] in ("F", "B") and parts[1].isdigit():
            out.append(parts)
        elif out:
            out[-1][3] += " " + line
    return out


def _short(sql: str) -> str:
    return " ".join(sql.replace("\\n", " ").split())[:160]


def server_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by the PostgreSQL backends ``pids`` (this process's
    connections), from /proc: the database's side of the work, when it runs on this
    machine (0 when it does not)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # elsewhere, or ended
            continue
        fields = text.rpartition(") ")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def measure(name: str, step: Callable[[], None], n: int, trips: RoundTrips, profile: bool) -> dict:  # type: ignore[type-arg]
    for _ in range(5):
        step()
    before = trips.count
    server = server_cpu(trips.backends)
    prof = cProfile.Profile(time.process_time) if profile else None  # CPU, not waits
    wall, cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    for _ in range(n):
        step()
    if prof:
        prof.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server = server_cpu(trips.backends) - server
    figures = {
        "round_trips": round((trips.count - before) / n, 2),
        "cpu_ms": round(cpu / n * 1000, 3),
        "server_cpu_ms": round(server / n * 1000, 3),
        "wall_ms": round(wall / n * 1000, 3),
    }
    log(f"{name}: {figures}")
    if prof:
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        if os.environ.get("OKPAY_PROFILE_DUMP"):
            prof.dump_stats(os.environ["OKPAY_PROFILE_DUMP"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--profile", default="", help="service, flow, http or floor")
    parser.add_argument("--show", action="store_true", help="print each layer's statements")
    parser.add_argument(
        "--inline",
        action="store_true",
        help="run the thread pool's work inline, so that --profile http sees it (cProfile "
        "follows one thread); CPU figures then leave out the hops to the pool",
    )
    args = parser.parse_args()
    if args.inline:
        run_thread_pool_inline()

    import ledger
    from ledger_http import api_tokens

    ledger.SCHEMA = SCHEMA
    url = bench_url(SCHEMA)
    ledger.configure(url, tempfile.mkdtemp(prefix="okpay-cost-"))
    user_ids, op_id = ledger.prepare(url, args.users)

    from floor_sql import PlainTransfer

    from okpay import models as all_models
    from okpay.app import create_app
    from okpay.db import get_database
    from okpay.wallet import flows, transfers
    from okpay.wallet import ledger as wallet_ledger
    from okpay.wallet.models import WalletAccount

    assert all_models.HOOKS
    db = get_database(url)
    trips = RoundTrips(db.engine)
    rng = random.Random(18)

    def pair() -> tuple[int, str]:
        a, b = rng.sample(user_ids, 2)
        return a, f"b{b - user_ids[0]}@bench.example"

    def service() -> None:
        a, recipient = pair()
        with db.unit_of_work() as s:
            transfers.do_transfer(
                s, sender_id=a, recipient=recipient, amount=rng.randint(1, 500), currency="CNY"
            )

    counter = iter(range(10**9))

    def flow() -> None:
        a, recipient = pair()
        body = {"recipient": recipient, "amount": f"{rng.randint(1, 500) / 100:.2f}"}
        idem = flows.idempotency(a, f"cost-{time.time_ns()}-{next(counter)}", "transfer", body)
        flows.transfer(
            idem,
            sender_id=a,
            recipient=recipient,
            amount=rng.randint(1, 500),
            currency="CNY",
            note="",
        )

    with db.unit_of_work() as s:
        accounts = [
            acc.id
            for acc in s.query(WalletAccount).where(WalletAccount.user_id.in_(user_ids)).all()
        ]
        wallet_ledger.ensure_system_accounts(s)
    plain = PlainTransfer(db.dialect, op_id)

    def floor() -> None:
        with db.engine.execution_options(okpay_write=True).connect() as conn:
            plain(conn, *rng.sample(accounts, 2))

    tokens = api_tokens(url, user_ids, len(user_ids))
    app = create_app()
    http = HttpClient(app)

    def over_http() -> None:
        i = rng.randrange(len(tokens))
        r = rng.randrange(len(user_ids) - 1)
        r = r + 1 if r >= i else r
        amount = rng.randint(1, 500)
        status = http.post(
            "/api/v1/wallet/transfers",
            {
                "content-type": "application/json",
                "authorization": f"Bearer {tokens[i]}",
                "idempotency-key": f"cost-{time.time_ns()}-{next(counter)}",
            },
            json.dumps(
                {
                    "recipient": f"b{r}@bench.example",
                    "amount": f"{amount // 100}.{amount % 100:02d}",
                    "currency": "CNY",
                }
            ).encode(),
        )
        assert status == 201, status

    out = {}
    for name, step in (
        ("floor", floor),
        ("service", service),
        ("flow", flow),
        ("http", over_http),
    ):
        out[name] = measure(name, step, args.n, trips, args.profile == name)
        if args.show:
            trips.show(step)
    out["load_average"] = os.getloadavg()[0]
    print(json.dumps(out))


def run_thread_pool_inline() -> None:
    """Make anyio's ``to_thread.run_sync`` (behind Starlette's and FastAPI's thread pool) call
    the function in the event loop's thread."""
    import anyio.to_thread

    async def inline(func: Callable[..., Any], *args: Any, **_options: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = inline  # type: ignore[assignment]


class HttpClient:
    """POSTs through the ASGI app in this process (its thread pool and all), no socket."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        return self.loop.run_until_complete(self._post(path, headers, body))

    async def _post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()]
            + [(b"host", b"bench"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0

        async def receive() -> dict:  # type: ignore[type-arg]
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:  # type: ignore[type-arg]
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


if __name__ == "__main__":
    main()
