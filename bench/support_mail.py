"""Inbound e-mail throughput: tickets created per second through the SMTP listener.

- service: `okpay mail-in` in its own process (as at scale) on a fresh schema; N new-request
  e-mails (Chinese and English, from many senders, a tenth with a screenshot) go over
  several concurrent SMTP connections, each keeping its connection open like an MTA does.
  Each message is answered only after it is filed and committed, so the rate is tickets
  stored per second (acknowledgements are queued, delivered later by the worker).
- floor: the same messages and connections against a bare aiosmtpd server in its own process
  that answers 250 without looking at the message: what SMTP alone costs on this machine.

Progress on stderr; the last stdout line is one JSON object.

    .venv/bin/python bench/support_mail.py [--messages 1000] [--connections 8] [--workers 4]
    OKPAY_BENCH_DATABASE_URL=sqlite:///var/bench-mail.sqlite3 .venv/bin/python bench/support_mail.py

``measure(url, messages=..., connections=...)`` returns the figures as a dict, for
bench/support.py.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

from common import bench_url as _bench_url
from common import free_port, logger, percentile

SCHEMA = "okpay_bench_mail"
log = logger("support_mail")
SUPPORT = "support@okpay.example"


def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port}")


def prepare(url: str) -> None:
    """A fresh, migrated schema."""
    from sqlalchemy import text

    from okpay import migrate
    from okpay.db import get_database

    db = get_database(url)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    migrate.upgrade(url)
    db.dispose()


def screenshot() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (390, 844), (240, 240, 245)).save(out, "PNG")
    return out.getvalue()


SUBJECTS = [
    (
        "充值没有到账",
        "我昨天晚上用银行卡充值了 500 元，银行已经扣款，但是钱包余额没有变化。请帮忙查一下。",
    ),
    ("提现一直在处理中", "我周一申请提现到工商银行卡，已经三天了还是显示处理中，什么时候能到账？"),
    (
        "Payment charged twice",
        "I paid a merchant once but my balance went down twice. Please refund.",
    ),
    ("Cannot sign in", "I changed my phone and the verification code does not arrive any more."),
]


def build_messages(count: int, senders: int) -> list[tuple[str, bytes]]:
    image = screenshot()
    out = []
    for i in range(count):
        subject, body = SUBJECTS[i % len(SUBJECTS)]
        address = f"customer{i % senders}@bench.example"
        msg = EmailMessage()
        msg.set_content(f"{body}\n\n{i}")
        msg["From"] = f"Customer {i % senders} <{address}>"
        msg["To"] = SUPPORT
        msg["Subject"] = f"{subject} #{i}"
        msg["Message-ID"] = make_msgid(domain="bench.example")
        if i % 10 == 0:
            msg.add_attachment(image, maintype="image", subtype="png", filename="screen.png")
        out.append((address, msg.as_bytes(policy=policy.SMTP)))
    return out


def blast(port: int, messages: list[tuple[str, bytes]], connections: int) -> dict[str, float]:
    """Send every message over ``connections`` SMTP sessions at once; times and failures."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    shares = [messages[i::connections] for i in range(connections)]

    def run(share: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            for sender, raw in share:
                t0 = time.perf_counter()
                try:
                    smtp.sendmail(sender, [SUPPORT], raw)
                except smtplib.SMTPException as exc:
                    with lock:
                        failures.append(str(exc)[:200])
                    continue
                with lock:
                    latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        log(f"{len(failures)} failures, first: {failures[0]}")
    return {
        "seconds": elapsed,
        "per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else 0.0,
        "failures": float(len(failures)),
    }


def serve_floor(port: int) -> None:
    """A bare aiosmtpd server that accepts everything (the floor), until killed."""
    from aiosmtpd.controller import Controller

    class Accept:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    controller = Controller(Accept(), hostname="127.0.0.1", port=port)
    controller.start()
    threading.Event().wait()


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def measure(
    url: str, *, messages: int = 1000, connections: int = 8, workers: int = 4, senders: int = 200
) -> dict[str, object]:
    """Run the service and floor measurements; returns the figures."""
    data_dir = tempfile.mkdtemp(prefix="okpay-bench-mail-")
    env = {
        **os.environ,
        "OKPAY_DATABASE_URL": url,
        "OKPAY_ENV": "test",
        "OKPAY_DATA_DIR": data_dir,
        "OKPAY_JOBS_IMMEDIATE": "false",
        "OKPAY_SMTP_HOST": "",
        "OKPAY_INBOUND_PER_HOUR": "1000000",
    }
    os.environ.update({k: env[k] for k in ("OKPAY_DATABASE_URL", "OKPAY_DATA_DIR", "OKPAY_ENV")})
    log(f"preparing {url.split('?')[0]}")
    prepare(url)
    mails = build_messages(messages, senders)
    size = sum(len(raw) for _s, raw in mails) / len(mails)
    log(f"{messages} messages, {size / 1024:.1f} KiB on average, {connections} connections")

    port = free_port()
    okpay = [sys.executable, "-m", "okpay.cli", "mail-in", "--port", str(port)]
    server = _spawn([*okpay, "--workers", str(workers)], env)
    try:
        wait_for_port(port, server)
        blast(port, build_messages(20, 20), 2)  # warm up: imports, connections, catalogs
        before = _count(url)
        log("service: sending")
        service = blast(port, mails, connections)
    finally:
        _stop(server)
    stored = _count(url) - before
    log(f"service: {service['per_s']:.1f} tickets/s, {stored} stored")

    port = free_port()
    floor_proc = _spawn([sys.executable, __file__, "--serve-floor", str(port)], env)
    try:
        wait_for_port(port, floor_proc)
        blast(port, build_messages(20, 20), 2)
        log("floor: sending")
        floor = blast(port, mails, connections)
    finally:
        _stop(floor_proc)
    log(f"floor: {floor['per_s']:.1f} messages/s")
    return {
        "bench": "support_mail",
        "db": "postgresql" if url.startswith("postgres") else "sqlite",
        "messages": messages,
        "connections": connections,
        "workers": workers,
        "tickets_stored": stored,
        "failures": int(service["failures"]),
        "smtp_tickets_per_s": round(service["per_s"], 1),
        "p50_ms": round(service["p50_ms"], 1),
        "p99_ms": round(service["p99_ms"], 1),
        "floor_smtp_accept_per_s": round(floor["per_s"], 1),
        "ratio": round(service["per_s"] / floor["per_s"], 3) if floor["per_s"] else None,
    }


def _count(url: str) -> int:
    from okpay.db import get_database
    from okpay.support.inbound import filing

    with get_database(url).unit_of_work(write=False) as s:
        return filing.count_tickets(s)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--serve-floor", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return
    result = measure(
        _bench_url(SCHEMA),
        messages=args.messages,
        connections=args.connections,
        workers=args.workers,
        senders=args.senders,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
