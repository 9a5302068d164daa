"""Who is asking, from where: set once per request or job, read by audit and i18n."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Where the current action comes from (request, CLI or job)."""

    ip: str | None = None
    user_agent: str | None = None
    channel: str = "web"
    country: str | None = None  # ISO 3166 alpha-2, from the configured proxy header


_context: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "okpay_request_context",
    default=RequestContext(channel="system"),  # noqa: B039 - frozen, never mutated
)


def current() -> RequestContext:
    """The context of the running request or job."""
    return _context.get()


def set_current(ctx: RequestContext) -> contextvars.Token[RequestContext]:
    """Set the context; keep the token to reset it."""
    return _context.set(ctx)


def reset(token: contextvars.Token[RequestContext]) -> None:
    _context.reset(token)
