"""Issue 18, "outgrowing one machine": two app servers and a separate `okpay worker`, each its
own process (as on several machines behind a load balancer), on one PostgreSQL database and
one Redis. What must hold across processes holds: a rate limit counts requests to both
servers, an idempotency key replayed on the other server returns the first answer, a job
queued by a server runs on the worker, a chat message crosses servers, and a mail taken by a
separate `okpay mail-in` listener is visible on both.

The processes are started with `python -m okpay.cli serve|worker|mail-in` on free ports and
polled with deadlines (no fixed sleeps)."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.sync.client import ClientConnection, connect

import okpay
from tests.conftest import Mailbox, _free_port
from tests.helpers import api_token
from tests.support.helpers import make_staff
from tests.wallet.helpers import balance, fund, make_user

pytestmark = pytest.mark.postgres_only

# The address customers use (the load balancer's): both servers answer for it.
BASE_URL = "http://okpay.test"
SEARCHES_PER_MINUTE = 6
START_SECONDS = 30.0
# Up to ready: each server builds its help search index and triage model first (a few seconds
# each alone; much longer while the rest of the suite keeps both cores busy).
READY_SECONDS = 180.0


def _poll(
    check: Callable[[], Any], *, seconds: float, what: str, tail: Callable[[], str] | None = None
) -> Any:
    """``check()``'s first truthy answer within ``seconds``; fails saying ``what`` never came
    (and, given ``tail``, what the processes logged by then)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds}s\n{tail() if tail else ''}")
        time.sleep(0.05)


@dataclass
class Cluster:
    a: str
    b: str
    smtp_port: int
    namespace: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_tail(self) -> str:
        parts = []
        for name in self.processes:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
            parts.append(f"--- {name} ---\n{text[-3000:]}")
        return "\n".join(parts)


def _environment(
    database_url: str, data_dir: Path, redis_url: str, namespace: str, smtp_port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKPAY_")}
    src = str(Path(okpay.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    env.update(
        OKPAY_ENV="test",
        OKPAY_DATABASE_URL=database_url,
        OKPAY_REDIS_URL=redis_url,
        OKPAY_REDIS_NAMESPACE=namespace,
        OKPAY_SECRET_KEY="test-secret-key",
        OKPAY_BASE_URL=BASE_URL,
        OKPAY_DATA_DIR=str(data_dir),
        OKPAY_EMBEDDED_WORKER="false",  # only the worker process runs jobs
        OKPAY_MAIL_IN_PORT="0",
        OKPAY_SMTP_HOST="127.0.0.1",
        OKPAY_SMTP_PORT=str(smtp_port),
        OKPAY_SMTP_STARTTLS="false",
        OKPAY_HELP_SEARCH_PER_MINUTE=str(SEARCHES_PER_MINUTE),
        OKPAY_WARM_UP="true",  # as in production: /readyz once the search index is built
    )
    return env


@pytest.fixture(scope="module")
def cluster(
    database_url: str,
    redis_url: str,
    smtp_listener: Mailbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """Servers A and B and a worker, started together once for this file (starting them
    takes most of its time); stopped, and their Redis keys removed, afterwards. Each test
    still gets emptied tables (``db``); only one test moves money, so the servers' caches
    of system accounts and risk rules never outlive the rows they name."""
    logs = tmp_path_factory.mktemp("cluster")
    namespace = f"okpaytest{uuid.uuid4().hex[:12]}"  # huey drops anything else
    env = _environment(database_url, logs, redis_url, namespace, smtp_listener.port)
    ports = {"a": _free_port(), "b": _free_port(), "mail": _free_port()}
    found = Cluster(
        a=f"http://127.0.0.1:{ports['a']}",
        b=f"http://127.0.0.1:{ports['b']}",
        smtp_port=ports["mail"],
        namespace=namespace,
        logs=logs,
    )
    commands = {
        "a": ["serve", "--port", str(ports["a"])],
        "b": ["serve", "--port", str(ports["b"])],
        "worker": ["worker", "--workers", "2"],
        "mail-in": ["mail-in", "--port", str(ports["mail"]), "--workers", "1"],
    }
    try:
        for name, args in commands.items():
            with (logs / f"{name}.log").open("wb") as log:
                found.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "okpay.cli", *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        for url in (found.a, found.b):
            # As a load balancer would: traffic only once the server says it is ready.
            _poll(
                lambda url=url: _ready(url, found),
                seconds=READY_SECONDS,
                what=f"server {url} ready",
                tail=found.log_tail,
            )
        _poll(
            lambda: _listening(found.smtp_port),
            seconds=START_SECONDS,
            what="mail-in up",
            tail=found.log_tail,
        )
        yield found
    finally:
        _stop(found.processes.values())
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"*{namespace}*"):
            client.delete(key)


def _ready(url: str, found: Cluster) -> bool:
    for name, process in found.processes.items():
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}\n{found.log_tail()}")
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _stop(processes: Any) -> None:
    running = [p for p in processes if p.poll() is None]
    for p in running:
        p.send_signal(signal.SIGTERM)
    for p in running:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Accept-Language": "en"}, timeout=30)


def test_a_rate_limit_holds_across_two_servers(cluster: Cluster) -> None:
    """Help search allows 6 a minute per address: 4 to A and 2 to B, sent at once, use it up,
    and then both refuse. (Without Redis each process would allow 6 on its own.)"""
    with _client(cluster.a) as a, _client(cluster.b) as b:

        def search(client: httpx.Client) -> httpx.Response:
            return client.get("/api/v1/help/search", params={"q": "fee"})

        # The count slides over fixed minutes (the last minute's share weighs less as this
        # one goes on): not in a minute's last 15 s, so the refusals below come in the same
        # minute as the searches they count (the servers are warm: each takes milliseconds).
        while time.time() % 60 > 45:
            time.sleep(0.5)
        # At the same time, as a load balancer would spread them.
        with ThreadPoolExecutor(SEARCHES_PER_MINUTE) as pool:
            codes = [r.status_code for r in pool.map(search, [a, a, a, a, b, b])]
        assert codes == [200] * SEARCHES_PER_MINUTE, cluster.log_tail()
        for client in (a, b):
            refused = search(client)
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "rate_limited"
            # A sliding count: what this minute used still weighs early in the next.
            assert 1 <= int(refused.headers["Retry-After"]) <= 2 * 60
        # The limit is per address and endpoint: triage is still open.
        triage = b.post("/api/v1/triage", json={"subject": "fees", "body": ""})
        assert triage.status_code == 200


def test_an_idempotency_key_replayed_on_the_other_server_returns_the_first_answer(
    cluster: Cluster, db: Any
) -> None:
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    body = {"recipient": "bob@example.com", "amount": "10", "currency": "CNY", "note": "lunch"}
    with _client(cluster.a) as a, _client(cluster.b) as b:
        headers = {**api_token(a, "alice@example.com"), "Idempotency-Key": "lunch-1"}  # type: ignore[arg-type]
        first = a.post("/api/v1/wallet/transfers", json=body, headers=headers)
        assert first.status_code == 201, first.text
        again = b.post("/api/v1/wallet/transfers", json=body, headers=headers)
        assert again.status_code == 201 and again.json() == first.json()
        other = b.post("/api/v1/wallet/transfers", json={**body, "amount": "11"}, headers=headers)
        assert other.status_code == 422
    assert balance(db, alice) == (90_00, 0) and balance(db, bob) == (10_00, 0)


def test_a_job_queued_by_a_server_runs_on_the_worker(
    cluster: Cluster, db: Any, mailbox: Mailbox
) -> None:
    """The servers run no jobs (OKPAY_EMBEDDED_WORKER=false): the reset e-mail B queues is
    sent by the `okpay worker` process."""
    make_user(db, "carol@example.com")
    with _client(cluster.b) as b:
        asked = b.post("/api/v1/auth/password/forgot", json={"email": "carol@example.com"})
        assert asked.status_code == 202
    _poll(
        lambda: mailbox.to("carol@example.com"),
        seconds=15,
        what="the reset e-mail sent by the worker",
        tail=cluster.log_tail,
    )
    assert mailbox.link("carol@example.com", "/password/reset").startswith(BASE_URL)


def _next(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next event of this type (and with these values), skipping others; 10 s at most."""
    deadline = time.monotonic() + 10
    while True:
        data = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if data.get("type") == kind and all(data.get(k) == v for k, v in match.items()):
            return data  # type: ignore[no-any-return]


def test_a_chat_message_crosses_servers(cluster: Cluster, db: Any) -> None:
    """A guest's chat is followed by two sockets, one on each server; the agent accepts on
    B. The acceptance reaches the socket on A, and a line typed on A reaches B."""
    make_staff(db, "agent@okpay.example")
    with _client(cluster.a) as a, _client(cluster.b) as b:
        started = a.post(
            "/api/v1/support/chats",
            json={"question": "Where is my refund?", "name": "Li", "email": "li@example.com"},
        )
        assert started.status_code == 201, started.text
        chat_id, token = started.json()["id"], started.json()["token"]
        path = f"/support/chat/{chat_id}/ws?token={token}"
        origin = {"Origin": BASE_URL}
        with (
            connect(cluster.a.replace("http", "ws") + path, additional_headers=origin) as on_a,
            connect(cluster.b.replace("http", "ws") + path, additional_headers=origin) as on_b,
        ):
            assert json.loads(on_a.recv(timeout=10))["status"] == "waiting"
            assert json.loads(on_b.recv(timeout=10))["status"] == "waiting"
            agent = api_token(b, "agent@okpay.example")  # type: ignore[arg-type]
            accepted = b.post(f"/api/v1/agent/chats/{chat_id}/accept", headers=agent)
            assert accepted.status_code == 200, accepted.text
            assert _next(on_a, "accepted")["agent"]  # published by B, delivered by A
            on_a.send(json.dumps({"type": "message", "body": "Typed on server A"}))
            assert _next(on_b, "message", body="Typed on server A")["side"] == "customer"


def test_a_mail_taken_by_the_listener_is_visible_on_both_servers(cluster: Cluster, db: Any) -> None:
    make_staff(db, "agent@okpay.example")
    msg = EmailMessage()
    msg.set_content("I topped up 100 yuan by bank transfer yesterday; it is not in my wallet.")
    msg["From"] = "Li Hua <lihua@example.com>"
    msg["To"] = "support@okpay.example"
    msg["Subject"] = "Top-up not arrived (scale-out)"
    msg["Message-ID"] = make_msgid(domain="example.com")
    with smtplib.SMTP("127.0.0.1", cluster.smtp_port, timeout=30) as smtp:
        smtp.send_message(msg, from_addr="lihua@example.com", to_addrs=["support@okpay.example"])
    with _client(cluster.a) as a, _client(cluster.b) as b:
        on_a, on_b = api_token(a, "agent@okpay.example"), api_token(b, "agent@okpay.example")  # type: ignore[arg-type]

        def filed() -> str | None:
            queue = a.get("/api/v1/agent/queue", params={"status": "all"}, headers=on_a).json()
            numbers = [t["number"] for t in queue["items"] if "scale-out" in t["subject"]]
            return numbers[0] if numbers else None

        number = _poll(filed, seconds=15, what="the mail filed", tail=cluster.log_tail)
        seen = b.get(f"/api/v1/agent/tickets/{number}", headers=on_b)
        assert seen.status_code == 200, seen.text
        assert "not in my wallet" in seen.json()["messages"][0]["body"]
