"""A dependency that can be down (Redis, for the shared rate limits and for the replica's
recent writers). After a failure, callers are told to do without it for ``retry_seconds``
before trying again, and the outage is logged twice: when it starts and when it ends, not
once per call in between."""

from __future__ import annotations

import logging
import threading
import time


class Outage:
    """The state of one dependency: usable, or down until a moment."""

    def __init__(self, retry_seconds: float, log: logging.Logger, *, back: str) -> None:
        self.retry_seconds = retry_seconds
        self.log = log
        self.back = back  # logged once when a call succeeds again
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()

    def usable(self) -> bool:
        """Whether to try the dependency now (it is up, or its pause is over)."""
        return time.monotonic() >= self._down_until

    def failed(self, message: str, *args: object) -> None:
        """A call failed: do without for ``retry_seconds``; ``message`` is logged only if
        this starts an outage."""
        with self._lock:
            self._down_until = time.monotonic() + self.retry_seconds
            first, self._down = not self._down, True
        if first:
            self.log.warning(message, *args)

    def succeeded(self) -> None:
        """A call succeeded: an outage under way is over (logged once)."""
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                self.log.warning(self.back)
