"""Background jobs, as the domains see them: declare a job (:func:`job`, :func:`periodic`)
and queue it once the unit of work commits (:func:`enqueue_on_commit`).

Jobs run on huey: an embedded SQLite queue by default, Redis in production. Nothing talks to
huey directly, so the backend can be chosen at start-up (``OKPAY_REDIS_URL``) and tests can
run jobs inline. This module imports no domain, so any domain may import it; running the
jobs (loading every domain's job modules, consumers) is :mod:`okpay.worker`'s part.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from sqlalchemy.orm import Session

from okpay.db import on_commit
from okpay.settings import Settings, get_settings


@dataclass
class JobSpec:
    fn: Callable[..., Any]
    retries: int
    retry_delay: int


_jobs: dict[str, JobSpec] = {}
_queue: Huey | None = None
_lock = threading.Lock()


def job(
    *, retries: int = 0, retry_delay: int = 10
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a background job; call it with :func:`enqueue` or :func:`enqueue_on_commit`."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _jobs[f"{fn.__module__}.{fn.__qualname__}"] = JobSpec(fn, retries, retry_delay)
        return fn

    return register


_periodic: dict[str, Callable[..., Any]] = {}


def periodic(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Declare a job that the worker runs every minute (SLA sweeps, chat time-outs)."""
    _periodic[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def build_queue(settings: Settings) -> Huey:
    """A huey instance for these settings with every declared job registered on it."""
    if settings.jobs_immediate:
        queue: Huey = MemoryHuey("okpay", immediate=True)
    elif settings.redis_url:
        queue = RedisHuey(settings.redis_namespace, url=settings.redis_url)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        queue = SqliteHuey("okpay", filename=str(settings.data_dir / "jobs.sqlite3"))
    register_all(queue)
    return queue


def register_all(queue: Huey) -> None:
    """Register on ``queue`` every job declared so far (once each)."""
    tasks: dict[str, Any] = queue.__dict__.setdefault("okpay_tasks", {})
    for name, spec in _jobs.items():
        if name not in tasks:
            tasks[name] = queue.task(retries=spec.retries, retry_delay=spec.retry_delay)(spec.fn)
    for name, fn in _periodic.items():
        if name not in tasks:
            tasks[name] = queue.periodic_task(crontab(minute="*"))(fn)


def get_queue() -> Huey:
    """The process-wide queue, built from the settings on first use."""
    global _queue
    with _lock:
        if _queue is None:
            _queue = build_queue(get_settings())
        return _queue


def set_queue(queue: Huey | None) -> None:
    """Install a queue (tests) or forget the current one (None)."""
    global _queue
    _queue = queue


def enqueue(fn: Callable[..., Any], *args: Any) -> None:
    """Queue a declared job now."""
    queue = get_queue()
    name = f"{fn.__module__}.{fn.__qualname__}"
    if name not in _jobs:
        raise LookupError(f"{name} is not a declared job")
    if name not in queue.__dict__.get("okpay_tasks", {}):
        register_all(queue)  # declared after the queue was built
    queue.okpay_tasks[name](*args)


def enqueue_on_commit(session: Session, fn: Callable[..., Any], *args: Any) -> None:
    """Queue a declared job once ``session``'s unit of work commits."""
    on_commit(session, lambda: enqueue(fn, *args))
