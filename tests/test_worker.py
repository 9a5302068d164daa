"""Jobs on the production backend: a real Redis queue and a worker thread."""

from __future__ import annotations

import os
import time

import pytest
import redis
from sqlalchemy import select

from okpay import jobs, worker
from okpay.mail.models import OutboundEmail
from okpay.mail.service import send_email
from okpay.settings import configure
from tests.conftest import unavailable

REDIS_URL = os.environ.get("OKPAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_settings(settings):  # type: ignore[no-untyped-def]
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    redis.Redis.from_url(REDIS_URL).flushdb()
    s = settings.model_copy(update={"redis_url": REDIS_URL, "jobs_immediate": False})
    configure(s)
    jobs.set_queue(None)
    yield s
    jobs.set_queue(None)
    configure(settings)


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
