"""``GET /healthz``: can this process reach its database?

A load balancer asks every few seconds; a flood of checks must not cost a database round
trip and a thread each. So the database is asked at most once every ``max_age`` seconds
per process (one check at a time, in the thread pool), and the answer in between is the
last one, given on the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

OK = {"status": "ok", "database": "ok"}
DEGRADED = {"status": "degraded", "database": "error"}


class HealthCheck:
    """The endpoint. ``probe`` raises when the database cannot be reached."""

    def __init__(
        self,
        probe: Callable[[], None],
        *,
        max_age: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.max_age = max_age
        self.monotonic = monotonic
        self.checked_at: float | None = None
        self.healthy = False
        self.lock: asyncio.Lock | None = None

    def _fresh(self) -> bool:
        return self.checked_at is not None and self.monotonic() - self.checked_at < self.max_age

    def _check(self) -> bool:
        try:
            self.probe()
        except Exception:
            log.exception("health check: database unreachable")
            return False
        return True

    async def __call__(self) -> JSONResponse:
        if not self._fresh():
            if self.lock is None:
                self.lock = asyncio.Lock()
            async with self.lock:  # one check at a time; the others wait for its answer
                if not self._fresh():
                    self.healthy = await run_in_threadpool(self._check)
                    self.checked_at = self.monotonic()
        if self.healthy:
            return JSONResponse(OK)
        return JSONResponse(DEGRADED, status_code=503)
