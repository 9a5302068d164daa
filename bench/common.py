"""What every bench shares: progress on stderr, the bench database URL with the bench's own
schema, percentiles and a free port. Benches run as scripts (`python bench/x.py`), so this
module is imported by its bare name."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def logger(name: str) -> Callable[[str], None]:
    """A function printing ``[bench NAME] message`` lines on stderr."""

    def log(msg: str) -> None:
        print(f"[bench {name}] {msg}", file=sys.stderr, flush=True)

    return log


def bench_url(schema: str, *, postgres_only: str = "") -> str:
    """OKPAY_BENCH_DATABASE_URL (default: PostgreSQL on this machine) with ``schema`` as the
    search path on PostgreSQL. With ``postgres_only`` set, any other database stops the bench
    with that message."""
    url = os.environ.get("OKPAY_BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        if postgres_only:
            raise SystemExit(postgres_only)
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0–100) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
