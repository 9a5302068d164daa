"""Where an OKPay server process spends its time under load: one `okpay serve` worker
(uvicorn, in this process) sampled every few milliseconds (every thread's Python stack:
the event loop and the thread pool), while wrk drives it as bench/ledger.py does.

    python bench/http_profile.py --data /tmp/okpay-wrk-XXXX --mode transfers >/dev/null

Run bench/ledger.py --http-only first (it leaves the bench schema with customers and
tokens); this reuses its schema. Prints the functions with the largest share of busy
samples (inclusive: the share of samples with the function anywhere on the stack) and the
leaf functions (self time)."""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# A thread whose innermost frame is one of these is waiting for work, not doing any.
IDLE = {
    ("threading.py", "wait"),
    ("queue.py", "get"),
    ("selectors.py", "select"),
    ("runners.py", "run"),
    ("base_events.py", "_run_once"),
    ("base_events.py", "run_forever"),
    ("server.py", "serve"),
    ("thread.py", "_worker"),
    ("_threads.py", "run"),
}


def where(frame: FrameType) -> tuple[str, str, int]:
    code = frame.f_code
    return (code.co_filename, code.co_name, code.co_firstlineno)


def short(key: tuple[str, str, int]) -> str:
    path, name, line = key
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}({name})"


class Sampler(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True, name="sampler")
        self.interval = interval
        self.inclusive: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self.leaf: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self.busy = self.idle = 0
        self.on = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        me = threading.get_ident()
        while not self.stop.is_set():
            time.sleep(self.interval)
            if not self.on.is_set():
                continue
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                leaf = where(frame)
                if (Path(leaf[0]).name, leaf[1]) in IDLE:
                    self.idle += 1
                    continue
                self.busy += 1
                self.leaf[leaf] += 1
                seen = set()
                f: FrameType | None = frame
                while f is not None:
                    key = where(f)
                    if key not in seen:
                        seen.add(key)
                        self.inclusive[key] += 1
                    f = f.f_back

    def report(self, top: int) -> str:
        lines = [f"busy samples {self.busy}, idle {self.idle}", "inclusive:"]
        for key, n in self.inclusive.most_common(top):
            lines.append(f"  {100 * n / max(1, self.busy):5.1f}%  {short(key)}")
        lines.append("self:")
        for key, n in self.leaf.most_common(top):
            lines.append(f"  {100 * n / max(1, self.busy):5.1f}%  {short(key)}")
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", default="transfers", help="transfers, healthz or hot")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--data", required=True, help="the wrk data directory of a bench run")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="also cProfile the event loop's thread (deterministic, CPU of the loop only)",
    )
    args = parser.parse_args()

    import uvicorn
    from common import bench_url, free_port
    from ledger_http import LUA

    port = free_port()
    schema = os.environ.get("OKPAY_BENCH_SCHEMA", "okpay_bench")
    os.environ.setdefault("OKPAY_DATABASE_URL", bench_url(schema))
    os.environ.setdefault("OKPAY_ENV", "test")
    os.environ.setdefault("OKPAY_SECRET_KEY", "bench-secret")
    os.environ.setdefault("OKPAY_SMTP_HOST", "")
    sampler = Sampler(0.002)
    sampler.start()
    config = uvicorn.Config(
        "okpay.app:serve_app", factory=True, host="127.0.0.1", port=port, proxy_headers=False
    )
    server = uvicorn.Server(config)

    def drive() -> None:
        while not server.started:
            time.sleep(0.1)
        script = Path(args.data) / "ledger.lua"
        script.write_text(LUA)
        base = f"http://127.0.0.1:{port}"
        wrk = ["wrk", "-t2", f"-c{args.connections}", "-s", str(script), base, "--"]
        extra = [args.mode, args.data, "abcdef" + os.urandom(3).hex(), "2"]
        subprocess.run([*wrk[:3], "-d2s", *wrk[3:], *extra], capture_output=True, check=False)
        sampler.on.set()
        out = subprocess.run(
            [*wrk[:3], f"-d{int(args.seconds)}s", *wrk[3:], *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        sampler.on.clear()
        summary = next((x for x in out.stdout.splitlines() if x.startswith("WRK")), out.stdout)
        # On stderr: stdout carries the server's access log (send it to /dev/null).
        print(summary, sampler.report(args.top), sep="\n", file=sys.stderr)
        server.should_exit = True

    threading.Thread(target=drive, daemon=True).start()
    if not args.cprofile:
        server.run()
        return 0
    import cProfile
    import pstats

    profiles: list[cProfile.Profile] = []

    def in_each_thread(*_args: object) -> None:  # the thread pool's threads too
        sys.setprofile(None)
        profiles.append(cProfile.Profile())
        profiles[-1].enable()

    threading.setprofile(in_each_thread)
    profile = cProfile.Profile()
    profile.runcall(server.run)
    threading.setprofile(None)
    for p in profiles:
        p.disable()
    stats = pstats.Stats(profile, *profiles, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
