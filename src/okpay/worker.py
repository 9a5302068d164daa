"""Running the background jobs: every domain's job modules loaded, and consumers (threads
in the web process, or a dedicated ``okpay worker`` process). Declaring and queueing jobs is
:mod:`okpay.jobs`, which the domains import.
"""

from __future__ import annotations

import logging

from huey import Huey
from huey.consumer import Consumer

from okpay import jobs
from okpay.settings import get_settings

log = logging.getLogger(__name__)


def load_job_modules() -> None:
    """Import every module that declares jobs, and every model."""
    # Importing a module that declares jobs registers them; every model must be known too,
    # or a job in a worker process cannot resolve foreign keys to other domains' tables.
    import okpay.casework.tasks
    import okpay.identity.recovery
    import okpay.identity.registration
    import okpay.identity.sign_in
    import okpay.identity.sms_reset
    import okpay.mail.tasks
    import okpay.models
    import okpay.partitions
    import okpay.risk.tasks
    import okpay.support.tasks
    import okpay.support.wechat.inbound
    import okpay.support.wechat.outbound
    import okpay.wallet.tasks  # noqa: F401


def get_queue() -> Huey:
    """The process-wide queue with every domain's jobs registered on it (for consumers)."""
    load_job_modules()
    queue = jobs.get_queue()
    jobs.register_all(queue)
    return queue


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
