"""Background jobs on huey: an embedded SQLite queue by default, Redis in production.

Domains declare jobs with :func:`job`; nothing talks to huey directly, so the backend can be
chosen at start-up (``OKPAY_REDIS_URL``) and tests can run jobs inline. Jobs are queued only
after the unit of work commits (:func:`enqueue_on_commit`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy.orm import Session

from okpay.db import on_commit
from okpay.settings import Settings, get_settings

log = logging.getLogger(__name__)


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
        queue = RedisHuey("okpay", url=settings.redis_url)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        queue = SqliteHuey("okpay", filename=str(settings.data_dir / "jobs.sqlite3"))
    _register_all(queue)
    return queue


def _register_all(queue: Huey) -> None:
    _load_job_modules()
    tasks: dict[str, Any] = queue.__dict__.setdefault("okpay_tasks", {})
    for name, spec in _jobs.items():
        if name not in tasks:
            tasks[name] = queue.task(retries=spec.retries, retry_delay=spec.retry_delay)(spec.fn)
    for name, fn in _periodic.items():
        if name not in tasks:
            tasks[name] = queue.periodic_task(crontab(minute="*"))(fn)


def _load_job_modules() -> None:
    # Importing a module that declares jobs registers them; every model must be known too,
    # or a job in a worker process cannot resolve foreign keys to other domains' tables.
    import okpay.identity.recovery
    import okpay.identity.registration
    import okpay.identity.sign_in
    import okpay.mail.tasks
    import okpay.support.tasks
    import okpay.wallet.tasks  # noqa: F401
    from okpay.db import import_models

    import_models()


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
    queue.okpay_tasks[name](*args)


def enqueue_on_commit(session: Session, fn: Callable[..., Any], *args: Any) -> None:
    """Queue a declared job once ``session``'s unit of work commits."""
    on_commit(session, lambda: enqueue(fn, *args))


class _EmbeddedConsumer(Consumer):
    """A consumer that runs inside the web process: the server keeps its own signal handlers."""

    def _set_signal_handlers(self) -> None:
        return None


def start_embedded_worker(workers: int | None = None) -> Consumer | None:
    """Run job workers as threads of this process (``okpay serve`` without a separate worker)."""
    queue = get_queue()
    if queue.immediate:
        return None
    consumer = _EmbeddedConsumer(
        queue, workers=workers or get_settings().jobs_workers, worker_type="thread", periodic=True
    )
    consumer.start()
    return consumer


def run_worker(workers: int | None = None) -> None:
    """Run a dedicated worker process until interrupted (``okpay worker``)."""
    queue = get_queue()
    consumer = queue.create_consumer(
        workers=workers or get_settings().jobs_workers, worker_type="thread", periodic=True
    )
    consumer.run()
