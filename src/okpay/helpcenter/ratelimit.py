"""Per-address rate limits for the public help endpoints (search, triage, deflection events).

These answer without sign-in and are called as the user types, so they must be cheap: a
sliding window per address kept in the process's memory rather than a database row per
keystroke. Each app process limits on its own, which bounds abuse per process; a shared
limit across processes would use Redis like the job queue does."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from fastapi import Request

from okpay.core import context
from okpay.core.errors import RateLimited


class SlidingWindow:
    """At most ``limit`` calls per ``window`` seconds for each key."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one call for ``key``; RateLimited (with Retry-After) when over the limit."""
        now = time.monotonic()
        with self._lock:
            calls = self._calls.get(key)
            if calls is None:
                if len(self._calls) >= self.max_keys:
                    self._calls.clear()  # memory bound under a flood of addresses
                calls = self._calls[key] = deque()
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= self.limit:
                raise RateLimited(math.ceil(calls[0] + self.window - now))
            calls.append(now)


def limit(request: Request, bucket: str, per_minute: int) -> None:
    """Apply the ``bucket`` limit to the caller's address (one limiter per app)."""
    limiters: dict[str, SlidingWindow] = getattr(request.app.state, "help_rate_limits", None) or {}
    if not limiters:
        request.app.state.help_rate_limits = limiters
    limiter = limiters.get(bucket)
    if limiter is None or limiter.limit != per_minute:
        limiter = limiters[bucket] = SlidingWindow(per_minute)
    limiter.check(context.current().ip or "unknown")
