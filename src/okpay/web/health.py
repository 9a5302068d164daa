"""``GET /healthz``: can this process reach its database? ``GET /readyz``: has it also done
the work it does before taking traffic (see :class:`WarmUp`)?

A load balancer asks every few seconds; a flood of checks must not cost a database round
trip and a thread each. So the database is asked at most once every ``max_age`` seconds
per process (one check at a time, in the thread pool), and the answer in between is the
last one, given on the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

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


class WarmUp:
    """Work a new process does before it should take traffic (build the help search index,
    load the triage model), so the first customers do not wait for it. The tasks run once,
    in order, on one background thread; a task that fails is logged and counts as done (the
    request that needs it builds it then). ``pending`` names those not done yet."""

    def __init__(self, tasks: Sequence[tuple[str, Callable[[], object]]]) -> None:
        self.tasks = list(tasks)
        self._pending = [name for name, _ in self.tasks]
        self._lock = threading.Lock()
        self._started = False

    @property
    def pending(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    def start(self) -> None:
        """Run the tasks on a background thread; once, however often the app starts up (a
        test may run an app's lifespan twice)."""
        with self._lock:
            if self._started or not self.tasks:
                return
            self._started = True
        threading.Thread(target=self.run, name="warm-up", daemon=True).start()

    def run(self) -> None:
        for name, task in self.tasks:
            started = time.monotonic()
            try:
                task()
            except Exception:
                log.exception("warm-up: %s failed; it is done on first use instead", name)
            else:
                log.info("warm-up: %s in %.1f s", name, time.monotonic() - started)
            finally:
                with self._lock:
                    if name in self._pending:
                        self._pending.remove(name)


class ReadinessCheck:
    """``GET /readyz``: 503 ``{"status": "starting", "warming": [...]}`` while the warm-up
    runs, then the health check's answer. A load balancer sends a new server traffic only
    once this says 200."""

    def __init__(self, health: Callable[[], Awaitable[JSONResponse]], warm_up: WarmUp) -> None:
        self.health = health
        self.warm_up = warm_up

    async def __call__(self) -> JSONResponse:
        warming = self.warm_up.pending
        if warming:
            return JSONResponse({"status": "starting", "warming": warming}, status_code=503)
        return await self.health()
