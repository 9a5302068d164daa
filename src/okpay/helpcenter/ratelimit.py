"""Per-address rate limits for the public help endpoints (search, hotlines, triage,
deflection events).

These answer without sign-in and are called as the user types, so they must be cheap: a
window per address and minute, not a database row per keystroke. They go through
core.ratelimit.shared: one count in Redis for every app process when ``OKPAY_REDIS_URL`` is
set, in this process's memory otherwise (the embedded default)."""

from __future__ import annotations

from okpay.core import context, ratelimit

__all__ = ["limit"]


def limit(bucket: str, per_minute: int) -> None:
    """Count one call to the ``bucket`` endpoints from the caller's address; RateLimited
    once it makes more than ``per_minute`` in a minute."""
    ratelimit.shared(f"help-{bucket}", per_minute, 60).check(context.current().ip or "unknown")
