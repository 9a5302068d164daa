"""Answering before the work (no enumeration by time, docs/security.md, issue 11 item 7):
registration, a reset request, a new confirmation link and a failed sign-in do the same work
in the request whether the address is registered or not (validation, rate counters, one
argon2 operation, one job queued); whatever depends on the account (its rows, tokens,
e-mails, login history) is done by a job after the answer, run as the request that queued it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from okpay.core import context
from okpay.core.i18n import get_locale, use_locale
from okpay.jobs import enqueue_on_commit


def request_origin() -> dict[str, Any]:
    """The request's context and language, for a job that finishes the work later."""
    ctx = context.current()
    return {
        "ip": ctx.ip,
        "user_agent": ctx.user_agent,
        "channel": ctx.channel,
        "country": ctx.country,
        "locale": get_locale(),
    }


@contextmanager
def in_origin(origin: dict[str, Any]) -> Iterator[None]:
    """Run a job's part as the request that queued it: its address (audit) and language."""
    token = context.set_current(
        context.RequestContext(
            ip=origin.get("ip"),
            user_agent=origin.get("user_agent"),
            channel=origin.get("channel") or "web",
            country=origin.get("country"),
        )
    )
    try:
        with use_locale(origin.get("locale") or get_locale()):
            yield
    finally:
        context.reset(token)


def later(session: Session, job: Callable[..., Any], *args: Any) -> None:
    """Queue the identity ``job`` with the request's origin once the unit of work commits.
    Every path of a request that must not reveal an account calls this exactly once."""
    enqueue_on_commit(session, job, *args, request_origin())
