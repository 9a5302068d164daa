"""Per-address rate limits for the public help endpoints (search, triage, deflection events).

These answer without sign-in and are called as the user types, so they must be cheap: a
sliding window per address kept in the process's memory rather than a database row per
keystroke (core.ratelimit). Each app process limits on its own, which bounds abuse per
process; core.ratelimit.RedisWindow shares a count across processes where that matters."""

from __future__ import annotations

from fastapi import Request

from okpay.core import context
from okpay.core.ratelimit import SlidingWindow

__all__ = ["SlidingWindow", "limit"]


def limit(request: Request, bucket: str, per_minute: int) -> None:
    """Apply the ``bucket`` limit to the caller's address (one limiter per app)."""
    limiters: dict[str, SlidingWindow] = getattr(request.app.state, "help_rate_limits", None) or {}
    if not limiters:
        request.app.state.help_rate_limits = limiters
    limiter = limiters.get(bucket)
    if limiter is None or limiter.limit != per_minute:
        limiter = limiters[bucket] = SlidingWindow(per_minute)
    limiter.check(context.current().ip or "unknown")
