"""Rate limits (issue 18): one interface, counted in memory or in Redis; the Redis count is
shared by every process, exact under concurrency, and degrades to a per-process count with a
warning when Redis is down."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest
import redis

from okpay.core import ratelimit
from okpay.core.errors import RateLimited
from okpay.core.ratelimit import RedisWindow, SlidingWindow, retry_after
from okpay.settings import configure


def _name() -> str:
    return f"test-{uuid.uuid4().hex}"


def _allowed(limiter: ratelimit.Limiter, key: str, tries: int, cost: int = 1) -> int:
    ok = 0
    for _ in range(tries):
        try:
            limiter.check(key, cost)
            ok += 1
        except RateLimited:
            pass
    return ok


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Builds a limiter of each backend (the same behaviour is asked of both)."""
    if request.param == "memory":
        return lambda limit, window: SlidingWindow(limit, window)
    url = request.getfixturevalue("redis_url")
    return lambda limit, window: RedisWindow(url, _name(), limit, window)


def test_limit_then_refused_with_retry_after(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(3, 60)
    for _ in range(3):
        limiter.check("1.2.3.4")
    with pytest.raises(RateLimited) as refused:
        limiter.check("1.2.3.4")
    # Redis's sliding count still weighs this window early in the next: up to two windows.
    assert 1 <= refused.value.retry_after <= 2 * 60
    limiter.check("5.6.7.8")  # another address has a budget of its own


def test_cost_counts_units_and_a_refusal_counts_nothing(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(5, 60)
    limiter.check("k", 3)
    with pytest.raises(RateLimited):
        limiter.check("k", 3)  # 6 > 5: refused, and not counted
    limiter.check("k", 2)  # exactly the limit
    with pytest.raises(RateLimited):
        limiter.check("k")
    limiter.check("k", 0)  # nothing asked, nothing refused


def test_the_window_slides(make_limiter) -> None:  # type: ignore[no-untyped-def]
    limiter = make_limiter(2, 0.4)
    limiter.check("k")
    limiter.check("k")
    with pytest.raises(RateLimited):
        limiter.check("k")
    deadline = time.monotonic() + 5
    while True:  # the counts slide out within about two windows
        try:
            limiter.check("k")
            break
        except RateLimited:
            assert time.monotonic() < deadline, "the window never slid"
            time.sleep(0.05)


def test_two_redis_limiters_share_one_count_exactly_under_concurrency(redis_url) -> None:  # type: ignore[no-untyped-def]
    """Two "processes" (limiters with their own clients' view) and 16 threads hammering
    them: exactly the limit gets through, never more."""
    name = _name()
    limiters = [RedisWindow(redis_url, name, 37, 60), RedisWindow(redis_url, name, 37, 60)]
    allowed: list[int] = []
    lock = threading.Lock()

    def hammer(i: int) -> None:
        ok = _allowed(limiters[i % 2], "shared", 10)
        with lock:
            allowed.append(ok)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 37


def test_redis_keys_expire(redis_url) -> None:  # type: ignore[no-untyped-def]
    limiter = RedisWindow(redis_url, _name(), 5, 30)
    limiter.check("k")
    ttl = redis.Redis.from_url(redis_url).pttl(limiter.prefix + "k")
    assert 0 < ttl <= 60_000  # two windows: long enough for the weighted previous count


def test_redis_down_counts_per_process_and_warns_once(caplog) -> None:  # type: ignore[no-untyped-def]
    """An unreachable Redis neither lets everything through nor refuses everyone: the
    limiter counts in this process, warns once, and does not wait on Redis per request."""
    limiter = RedisWindow("redis://127.0.0.1:1/7", _name(), 3, 60)
    with caplog.at_level(logging.WARNING, logger="okpay.core.ratelimit"):
        started = time.monotonic()
        assert _allowed(limiter, "k", 10) == 3
        elapsed = time.monotonic() - started
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert elapsed < 2 * ratelimit.REDIS_TIMEOUT_SECONDS + 1  # one failed attempt, not ten


def test_retry_after_of_a_sliding_counter() -> None:
    # Full this window, nothing before: the next window, then slide until room for one.
    assert retry_after(limit=4, cost=1, current=4, previous=0, elapsed=15, window=60) == 60
    # Room in this window but the previous one still weighs: wait until enough slid out.
    assert retry_after(limit=4, cost=1, current=0, previous=4, elapsed=5, window=60) == 10
    # More than the limit can never fit: a whole window.
    assert retry_after(limit=4, cost=5, current=0, previous=0, elapsed=0, window=60) == 60
    assert retry_after(limit=4, cost=1, current=3, previous=4, elapsed=59.9, window=60) == 1


def test_shared_picks_the_backend_from_settings(settings, redis_url) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(ratelimit.shared("t", 3, 60), SlidingWindow)
    assert ratelimit.shared("t", 3, 60) is ratelimit.shared("t", 3, 60)
    configure(settings.model_copy(update={"redis_url": redis_url}))
    try:
        assert isinstance(ratelimit.shared("t", 3, 60), RedisWindow)
    finally:
        configure(settings)
