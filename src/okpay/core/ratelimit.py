"""Rate limits: at most ``limit`` units per ``window`` seconds for each key.

One interface (:class:`Limiter`: ``check(key, cost=1)``, RateLimited with Retry-After when
over, nothing counted then) and two backends:

- :class:`SlidingWindow`: in this process's memory, an exact sliding window. The embedded
  default: each app process limits on its own, so N processes allow N times the limit.
- :class:`RedisWindow`: in Redis, so every app process and machine shares one count. A
  sliding-window counter (this window's count plus the previous window's, weighted by how
  much of it still overlaps), checked and counted by one Lua script, so concurrent requests
  from any number of processes never overshoot; the time is Redis's, so app machines whose
  clocks differ agree.

If Redis cannot be reached, a :class:`RedisWindow` limits per process (its own
:class:`SlidingWindow`) and logs a warning, rather than letting everything through or
refusing everyone; after a failure it leaves Redis alone for ``REDIS_RETRY_SECONDS`` so
that requests do not each wait for a connection timeout, then tries again.

:func:`shared` picks Redis when ``OKPAY_REDIS_URL`` is set and memory otherwise; every
limit that must hold across processes goes through it (docs/deployment.md lists them)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from typing import Protocol
from urllib.parse import urlsplit

import redis

from okpay.core.errors import RateLimited
from okpay.outage import Outage

log = logging.getLogger(__name__)

# After Redis fails, limit per process for this long before trying Redis again.
REDIS_RETRY_SECONDS = 5.0
# Redis answers a limiter within this, or the limiter counts per process for a while.
REDIS_TIMEOUT_SECONDS = 0.5


class Limiter(Protocol):
    """At most ``limit`` units per ``window`` seconds for each key."""

    limit: int
    window: float

    def check(self, key: str, cost: int = 1) -> None:
        """Count ``cost`` units for ``key``; RateLimited (with Retry-After) when that would
        go over the limit (then nothing is counted)."""


class SlidingWindow:
    """At most ``limit`` units per ``window`` seconds for each key, in this process."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._calls: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, key: str, cost: int = 1) -> None:
        """Count ``cost`` units for ``key``; RateLimited (with Retry-After) when that would
        go over the limit (then nothing is counted)."""
        if cost <= 0:
            return
        now = time.monotonic()
        with self._lock:
            calls = self._calls.get(key)
            if calls is None:
                if len(self._calls) >= self.max_keys:
                    self._calls.clear()  # memory bound under a flood of keys
                    self._used.clear()
                calls = self._calls[key] = deque()
                self._used[key] = 0
            while calls and calls[0][0] <= now - self.window:
                self._used[key] -= calls.popleft()[1]
            if self._used[key] + cost > self.limit:
                retry = calls[0][0] + self.window - now if calls else self.window
                raise RateLimited(math.ceil(retry))
            calls.append((now, cost))
            self._used[key] += cost


# One hash per limited key, a field per window (its number since the epoch) holding that
# window's count. ARGV: limit, window in ms, cost. Returns {allowed, current, previous,
# ms into the current window}.
_SCRIPT = """
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.floor(now / window)
local elapsed = now - slot * window
local cur_field, prev_field = string.format('%d', slot), string.format('%d', slot - 1)
local cur = tonumber(redis.call('HGET', KEYS[1], cur_field) or '0')
local prev = tonumber(redis.call('HGET', KEYS[1], prev_field) or '0')
if prev * (window - elapsed) / window + cur + cost > limit then
  return {0, cur, prev, elapsed}
end
redis.call('HINCRBY', KEYS[1], cur_field, cost)
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if field ~= cur_field and field ~= prev_field then redis.call('HDEL', KEYS[1], field) end
end
redis.call('PEXPIRE', KEYS[1], 2 * window)
return {1, cur + cost, prev, elapsed}
"""


def retry_after(
    *, limit: int, cost: int, current: int, previous: int, elapsed: float, window: float
) -> int:
    """Whole seconds until a sliding-window counter at ``current`` (this window) and
    ``previous`` (the last), ``elapsed`` seconds into this window, would take ``cost`` more
    (if nothing else is counted meanwhile); at least 1."""
    if cost > limit:
        return math.ceil(window)
    if current + cost <= limit and previous > 0:
        # Wait until enough of the previous window has slid out.
        until = window - (limit - current - cost) * window / previous
        wait = until - elapsed
    else:
        # Wait for the next window, then until enough of this one has slid out.
        until = window - (limit - cost) * window / current if current else 0.0
        wait = window - elapsed + max(0.0, until)
    return max(1, math.ceil(wait))


class RedisWindow:
    """At most ``limit`` units per sliding ``window`` seconds for each key, counted in Redis
    (shared by every process); per process while Redis cannot be reached."""

    def __init__(
        self, url: str, name: str, limit: int, window: float, *, namespace: str = "okpay"
    ) -> None:
        self.url, self.name, self.limit, self.window = url, name, limit, window
        self._fallback = SlidingWindow(limit, window)
        db = (urlsplit(url).path or "/0").strip("/") or "0"
        self.prefix = f"{namespace}:{db}:rl:{name}:"

    def check(self, key: str, cost: int = 1) -> None:
        """Count ``cost`` units for ``key`` in Redis; RateLimited when over."""
        if cost <= 0:
            return
        connection = _connection(self.url)
        if not connection.usable():
            self._fallback.check(key, cost)
            return
        window_ms = max(1, round(self.window * 1000))
        try:
            allowed, current, previous, elapsed_ms = connection.script(
                keys=[self.prefix + key], args=[self.limit, window_ms, cost]
            )
        except redis.RedisError as exc:
            connection.failed(self.name, exc)
            self._fallback.check(key, cost)
            return
        connection.succeeded()
        if not allowed:
            raise RateLimited(
                retry_after(
                    limit=self.limit, cost=cost, current=int(current), previous=int(previous),
                    elapsed=int(elapsed_ms) / 1000, window=window_ms / 1000,
                )
            )  # fmt: skip


class _Connection:
    """One Redis client per URL, with its script and its health: after a failure, callers
    are told to count per process until ``REDIS_RETRY_SECONDS`` have passed."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self.script = self.client.register_script(_SCRIPT)
        self.outage = Outage(
            REDIS_RETRY_SECONDS,
            log,
            back="rate limits: Redis reachable again; counts are shared again",
        )

    def usable(self) -> bool:
        return self.outage.usable()

    def failed(self, name: str, exc: Exception) -> None:
        self.outage.failed(
            "rate limits: Redis unavailable (%s: %s); counting per process, retrying every %ss",
            name, exc, REDIS_RETRY_SECONDS,
        )  # fmt: skip

    def succeeded(self) -> None:
        self.outage.succeeded()


_connections: dict[str, _Connection] = {}
_connections_lock = threading.Lock()


def _connection(url: str) -> _Connection:
    with _connections_lock:
        connection = _connections.get(url)
        if connection is None:
            connection = _connections[url] = _Connection(url)
    return connection


_registry: tuple[object, dict[tuple[str, int, float], Limiter]] = (None, {})
_registry_lock = threading.Lock()


def shared(name: str, limit: int, window: float) -> Limiter:
    """The limiter ``name`` (with this limit and window) for the configured backend: Redis
    when ``OKPAY_REDIS_URL`` is set, this process's memory otherwise. Limiters are made
    once per configuration (new settings, as in tests, start from empty counts)."""
    global _registry
    from okpay.settings import get_settings

    settings = get_settings()
    with _registry_lock:
        owner, limiters = _registry
        if owner is not settings:
            limiters = {}
            _registry = (settings, limiters)
        limiter = limiters.get((name, limit, window))
        if limiter is None:
            url = settings.redis_url
            limiter = limiters[(name, limit, window)] = (
                RedisWindow(url, name, limit, window, namespace=settings.redis_namespace)
                if url
                else SlidingWindow(limit, window)
            )
    return limiter
