"""The one source of "now", so tests can move time (SLA, expiry, throttling)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return _source() if _source is not None else datetime.now(UTC)


def set_source(source: Callable[[], datetime] | None) -> None:
    """Install a time source (tests); None goes back to the system clock."""
    global _source
    _source = source
