"""Rate limits: at most ``limit`` units per ``window`` seconds for each key.

Two kinds with one interface (``check(key, cost=1)``, RateLimited with Retry-After when over):

- :class:`SlidingWindow`: in this process's memory. Cheap; each app process limits on its
  own, which bounds abuse per process (the help centre's public endpoints, chat).
- :class:`RedisWindow`: in Redis, so every app process and machine shares one count
  (fixed windows: at most ``limit`` per calendar window of ``window`` seconds). If Redis
  cannot be reached it falls back to a per-process window and logs it, rather than letting
  everything through or refusing everyone.

:func:`shared` picks Redis when ``OKPAY_REDIS_URL`` is set and memory otherwise."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from urllib.parse import urlsplit

import redis

from okpay.core.errors import RateLimited

log = logging.getLogger(__name__)


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


class RedisWindow:
    """At most ``limit`` units per fixed window of ``window`` seconds for each key, counted
    in Redis (shared by every process)."""

    def __init__(self, url: str, name: str, limit: int, window: float) -> None:
        self.url, self.name, self.limit, self.window = url, name, limit, window
        self._fallback = SlidingWindow(limit, window)
        db = (urlsplit(url).path or "/0").strip("/") or "0"
        self.prefix = f"okpay:{db}:rl:{name}:"

    def check(self, key: str, cost: int = 1) -> None:
        if cost <= 0:
            return
        now = time.time()
        slot = int(now // self.window)
        name = f"{self.prefix}{key}:{slot}"
        try:
            client = _client(self.url)
            pipe = client.pipeline()
            pipe.incrby(name, cost)
            pipe.expire(name, math.ceil(self.window) + 60)
            used = int(pipe.execute()[0])
            if used > self.limit:
                client.decrby(name, cost)  # a refused request uses nothing
                raise RateLimited(math.ceil((slot + 1) * self.window - now))
        except redis.RedisError as exc:
            log.warning(
                "rate limit %s: Redis unavailable, limiting per process: %s", self.name, exc
            )
            self._fallback.check(key, cost)


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _client(url: str) -> redis.Redis:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(
                url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
    return client


Limiter = SlidingWindow | RedisWindow

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
                RedisWindow(url, name, limit, window) if url else SlidingWindow(limit, window)
            )
    return limiter
