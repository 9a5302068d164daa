"""GET /healthz: the database is asked at most once a second per process (issue 18). GET
/readyz: 503 while the process warms up, then as /healthz."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from okpay.web.health import HealthCheck, ReadinessCheck, WarmUp


class Probe:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def __call__(self) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("database gone")


def _app(probe: Probe, now: list[float]) -> FastAPI:
    app = FastAPI()
    app.add_api_route("/healthz", HealthCheck(probe, max_age=1.0, monotonic=lambda: now[0]))
    return app


def test_an_answer_is_reused_for_a_second_then_asked_again() -> None:
    probe, now = Probe(), [100.0]
    with TestClient(_app(probe, now)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
        now[0] += 0.5
        assert client.get("/healthz").status_code == 200
        assert probe.calls == 1
        probe.down = True
        now[0] += 0.6  # the last answer is a second old: ask again
        answer = client.get("/healthz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "degraded", "database": "error"}
        assert probe.calls == 2
        probe.down = False
        now[0] += 1.0
        assert client.get("/healthz").status_code == 200


def test_checks_at_once_share_one_probe() -> None:
    probe, now = Probe(), [5.0]
    check = HealthCheck(probe, monotonic=lambda: now[0])

    async def many() -> list[int]:
        answers = await asyncio.gather(*(check() for _ in range(20)))
        return [a.status_code for a in answers]

    # A loop of its own in a thread of its own: a browser test earlier in this process may
    # leave Playwright's loop running in the main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, many()).result() == [200] * 20
    assert probe.calls == 1


def test_readyz_says_starting_until_the_warm_up_is_done_then_follows_the_health_check() -> None:
    probe, now = Probe(), [0.0]
    health = HealthCheck(probe, monotonic=lambda: now[0])
    gate = threading.Event()
    done: list[str] = []
    warm_up = WarmUp([("help_search", gate.wait), ("triage", lambda: done.append("triage"))])
    app = FastAPI()
    app.add_api_route("/readyz", ReadinessCheck(health, warm_up))
    with TestClient(app) as client:
        warm_up.start()
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "starting", "warming": ["help_search", "triage"]}
        assert probe.calls == 0  # not ready: the database is not even asked
        gate.set()
        deadline = time.monotonic() + 10
        while warm_up.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done == ["triage"]
        assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}
        probe.down = True
        now[0] += 2
        assert client.get("/readyz").status_code == 503


def test_a_failing_warm_up_task_is_logged_and_does_not_keep_the_server_unready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise RuntimeError("no articles directory")

    warm_up = WarmUp([("help_search", broken), ("triage", lambda: None)])
    warm_up.run()
    assert warm_up.pending == []
    assert "warm-up: help_search failed" in caplog.text


def test_without_warm_up_work_a_server_is_ready_at_once() -> None:
    app = FastAPI()
    app.add_api_route("/readyz", ReadinessCheck(HealthCheck(Probe()), WarmUp([])))
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200


def test_a_warm_up_started_twice_runs_its_tasks_once() -> None:
    """An app's lifespan may run more than once in one process (tests do): one warm-up."""
    ran: list[str] = []
    gate = threading.Event()

    def task() -> None:
        gate.wait(10)
        ran.append("help_search")

    warm_up = WarmUp([("help_search", task)])
    warm_up.start()
    warm_up.start()
    gate.set()
    deadline = time.monotonic() + 10
    while warm_up.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert ran == ["help_search"] and warm_up.pending == []
