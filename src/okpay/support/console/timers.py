"""SLA timers as agents see them: time left or overdue, in words of their language."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel import Locale
from babel.dates import format_timedelta

from okpay.core.i18n import get_locale, gettext
from okpay.support.models import (
    Status,
    Ticket,
)

DONE_STATUSES = (Status.resolved.value, Status.closed.value)


@dataclass(frozen=True)
class Timer:
    """An SLA clock as agents see it: "due in 2 hr", "overdue by 30 min", "paused"."""

    state: str  # due | soon | overdue | paused | met
    text: str
    target: str = ""  # first_reply | resolution


@functools.cache
def _babel_locale(code: str) -> Locale:
    # Parsing a locale name each time costs more than the formatting (50 timers a page).
    return Locale.parse(code)


def _duration(seconds: float) -> str:
    return str(
        format_timedelta(
            timedelta(seconds=max(60, abs(seconds))),
            threshold=1.5,
            format="short",
            locale=_babel_locale(get_locale()),
        )
    )


def due_timer(due: datetime | None, now: datetime, *, target: str = "") -> Timer | None:
    """The timer for one due time, relative to ``now`` (wall clock)."""
    if due is None:
        return None
    left = (due - now).total_seconds()
    if left < 0:
        return Timer("overdue", gettext("overdue by %(time)s", time=_duration(left)), target)
    state = "soon" if left <= 2 * 3600 else "due"
    return Timer(state, gettext("due in %(time)s", time=_duration(left)), target)


def ticket_timer(ticket: Ticket, now: datetime) -> Timer | None:
    """The queue's one timer for a ticket: its running clock, paused, or none when done."""
    if ticket.status in DONE_STATUSES:
        return None
    if ticket.status == Status.pending_customer.value or ticket.paused_at is not None:
        return Timer("paused", gettext("paused, waiting for the customer"))
    target = "first_reply" if ticket.first_replied_at is None else "resolution"
    return due_timer(ticket.next_due_at, now, target=target)


@dataclass(frozen=True)
class SlaView:
    """Both SLA clocks of one ticket, for its page."""

    first_reply: Timer | None
    first_reply_due_at: datetime | None
    first_replied_at: datetime | None
    first_reply_breached: bool
    resolution: Timer | None
    resolution_due_at: datetime | None
    resolved_at: datetime | None
    resolution_breached: bool
    paused: bool


def sla_view(ticket: Ticket, now: datetime) -> SlaView:
    paused = ticket.status == Status.pending_customer.value or ticket.paused_at is not None
    done = ticket.status in DONE_STATUSES
    first = None
    if ticket.first_replied_at is None and not done and not paused:
        first = due_timer(ticket.first_reply_due_at, now, target="first_reply")
    resolution = None
    if not done and not paused:
        resolution = due_timer(ticket.resolution_due_at, now, target="resolution")
    return SlaView(
        first_reply=first,
        first_reply_due_at=ticket.first_reply_due_at,
        first_replied_at=ticket.first_replied_at,
        first_reply_breached=ticket.first_reply_breached_at is not None,
        resolution=resolution,
        resolution_due_at=ticket.resolution_due_at,
        resolved_at=ticket.resolved_at,
        resolution_breached=ticket.resolution_breached_at is not None,
        paused=paused and not done,
    )
