"""Shared by the HTTP benches: start `okpay serve` on a free port, drive it with concurrent
clients for a fixed time, and read percentiles."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import free_port

Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@contextmanager
def serve(
    url: str,
    data_dir: Path,
    workers: int,
    command: Sequence[str] = (),
    env_extra: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """`okpay serve` with ``workers`` processes on ``url`` (or ``command``, taking the same
    --host, --port and --workers); yields its base URL once it is ready (``/readyz``, after
    its warm-up; ``/healthz`` for a server without one), and stops it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "OKPAY_ENV": "test",
        "OKPAY_DATABASE_URL": url,
        "OKPAY_DATA_DIR": str(data_dir),
        "OKPAY_SECRET_KEY": "bench-secret",
        "OKPAY_BASE_URL": f"http://127.0.0.1:{port}",
        "OKPAY_IP_FAILURES_PER_HOUR": "1000000",
        "OKPAY_SMTP_HOST": "",
        **(env_extra or {}),
    }
    command = list(command) or [sys.executable, "-m", "okpay.cli", "serve"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # A loaded machine (CI, shared cores) can take well over 30 s to start two workers.
        deadline = time.monotonic() + float(os.environ.get("OKPAY_BENCH_START_SECONDS", "180"))
        while True:
            try:
                # Each request may reach another worker: several answers in a row, so that
                # every worker has warmed up before the load starts.
                if all(_ready(base) for _ in range(4 * workers)):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()  # else reading its stderr waits for it forever
                server.wait(timeout=20)
                raise RuntimeError(
                    "server did not start: "
                    + (server.stderr.read().decode() if server.stderr else "")
                )
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def _ready(base: str) -> bool:
    answer = httpx.get(f"{base}/readyz", timeout=5)
    if answer.status_code == 404:  # a bare app (the floor) has no warm-up
        answer = httpx.get(f"{base}/healthz", timeout=5)
    return answer.status_code == 200


async def run_load(
    base: str,
    seconds: float,
    concurrency: int,
    make_request: Request,
    ok: tuple[int, ...] = (200,),
) -> tuple[int, list[float], int]:
    """``concurrency`` clients sending requests back to back for ``seconds``: how many were
    answered, their latencies (seconds) and how many answers were not in ``ok``."""
    latencies: list[float] = []
    errors = 0
    end = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                response = await make_request(client, i)
                latencies.append(time.perf_counter() - t0)
                if response.status_code not in ok:
                    errors += 1
                i += concurrency

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return len(latencies), latencies, errors


def p(values: list[float], q: float) -> float:
    """The ``q`` quantile of latencies in seconds, in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
