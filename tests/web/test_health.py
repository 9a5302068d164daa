"""GET /healthz: the database is asked at most once a second per process (issue 18)."""

from __future__ import annotations

import asyncio
import concurrent.futures

from fastapi import FastAPI
from starlette.testclient import TestClient

from okpay.web.health import HealthCheck


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
