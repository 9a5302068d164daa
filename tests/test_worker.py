"""Jobs on the production backend: a real Redis queue and a worker thread."""

from __future__ import annotations

import time
import uuid

import pytest
import redis
from sqlalchemy import select

from okpay import jobs, worker
from okpay.mail.models import OutboundEmail
from okpay.mail.service import send_email
from okpay.settings import configure


@pytest.fixture
def redis_settings(settings, redis_url):  # type: ignore[no-untyped-def]
    """The Redis queue under a namespace of its own: tests sharing the Redis database (other
    test processes, issue 18's multi-process test) never take each other's jobs."""
    namespace = f"okpaytest{uuid.uuid4().hex[:12]}"  # huey drops anything else
    s = settings.model_copy(
        update={"redis_url": redis_url, "redis_namespace": namespace, "jobs_immediate": False}
    )
    configure(s)
    jobs.set_queue(None)
    yield s
    jobs.set_queue(None)
    configure(settings)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{namespace}*"):
        client.delete(key)


def test_email_job_goes_through_redis_and_a_worker(db, mailbox, redis_settings) -> None:
    queue = worker.get_queue()
    assert type(queue).__name__ == "RedisHuey"
    with db.unit_of_work() as s:
        send_email(
            s,
            to="queue@example.com",
            template="password_reset",
            locale="en",
            context={"user": type("U", (), {"display_name": "Q"})(), "link": "x", "minutes": 30},
        )
    assert queue.pending_count() == 1
    consumer = worker.start_embedded_worker(workers=1)
    try:
        deadline = time.monotonic() + 10
        while not mailbox.to("queue@example.com") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert consumer is not None
        consumer.stop(graceful=True)
    assert mailbox.to("queue@example.com")
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(OutboundEmail.status)).one() == "sent"
