"""SLA clocks in business hours.

Targets are counted in the service centre's opening hours (``OKPAY_SUPPORT_*`` settings:
time zone, days of the week, opening and closing hour) minus holidays. A due time is a
wall-clock instant: "24 business hours after Friday 20:00" lands on a later day. While a
ticket waits for the customer the clock is paused, and the paused business time is added
to its due times when it runs again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import opening_hours
from okpay.settings import get_settings
from okpay.support.models import ACTIVE_STATUSES, Status, SupportHoliday, Ticket

# First-reply and resolution targets in business hours, by priority.
FIRST_REPLY_HOURS = {"urgent": 2, "high": 8, "normal": 24, "low": 24}
RESOLUTION_HOURS = {"urgent": 24, "high": 48, "normal": 72, "low": 120}
# Requests that ask us to review something (a limit, a restriction, a charge) are answered
# with a decision within 48 business hours, whatever their priority.
REVIEW_CATEGORIES = frozenset(
    {"limit_increase", "account_restricted", "account_locked", "duplicate_charge"}
)
REVIEW_HOURS = 48
# Agents are warned this long (business time) before a target is missed.
WARNING_SECONDS = 2 * 3600


@dataclass(frozen=True)
class Targets:
    first_reply_hours: int
    resolution_hours: int


def targets_for(*, priority: str, category: str) -> Targets:
    """The SLA policy: targets for a ticket of this priority and category."""
    first = FIRST_REPLY_HOURS.get(priority, FIRST_REPLY_HOURS["normal"])
    resolution = RESOLUTION_HOURS.get(priority, RESOLUTION_HOURS["normal"])
    if category in REVIEW_CATEGORIES:
        resolution = min(resolution, REVIEW_HOURS)
    return Targets(first, max(first, resolution))


class Calendar(opening_hours.OpeningHours):
    """The service centre's business hours: the same window on each open weekday in one
    time zone, closed on holidays (a hotline's schedule may differ day by day)."""

    @classmethod
    def every(
        cls, *, zone: ZoneInfo, weekdays: Iterable[int], opens: time, closes: time,
        holidays: Iterable[date] = (),
    ) -> Calendar:  # fmt: skip
        """Open from ``opens`` to ``closes`` (``time(0)``: midnight) on each of ``weekdays``."""
        end = None if closes == time(0) else closes
        return cls(
            zone=zone, windows={day: (opens, end) for day in weekdays},
            holidays=frozenset(holidays),
        )  # fmt: skip

    @classmethod
    def from_settings(cls, holidays: Iterable[date] = ()) -> Calendar:
        s = get_settings()
        return cls.every(
            zone=ZoneInfo(s.support_timezone),
            weekdays=s.support_weekdays,
            opens=time(s.support_open_hour),
            closes=time(0) if s.support_close_hour == 24 else time(s.support_close_hour),
            holidays=holidays,
        )

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of opening time have passed after ``start``."""
        found = self.add_open_time(start, seconds)
        if found is None:
            raise ValueError("the support calendar has no opening hours")
        return found

    def between(self, start: datetime, end: datetime) -> float:
        """Seconds of opening time between two instants (0 when ``end`` is not later)."""
        return self.open_seconds_between(start, end)


# ----------------------------------------------------------------------- ticket clocks


def calendar(session: Session) -> Calendar:
    """The service centre's business-hours calendar, with its holidays."""
    return Calendar.from_settings(session.scalars(select(SupportHoliday.day)))


def set_due_times(session: Session, ticket: Ticket, *, start: datetime) -> None:
    """Start the ticket's first-reply and resolution clocks from ``start``."""
    targets = targets_for(priority=ticket.priority, category=ticket.category)
    cal = calendar(session)
    if ticket.first_replied_at is None:
        ticket.first_reply_due_at = cal.add(start, targets.first_reply_hours * 3600)
    ticket.resolution_due_at = cal.add(start, targets.resolution_hours * 3600)
    ticket.warned_at = None
    refresh_next_due(ticket)


def refresh_next_due(ticket: Ticket) -> None:
    """The due time the queues sort by: the first reply until it is given, then resolution;
    none while the clock is paused or the ticket is done."""
    if ticket.status not in ACTIVE_STATUSES and ticket.status != Status.on_hold.value:
        ticket.next_due_at = None
    elif ticket.first_replied_at is None and ticket.first_reply_due_at is not None:
        ticket.next_due_at = ticket.first_reply_due_at
    else:
        ticket.next_due_at = ticket.resolution_due_at


def pause_clock(ticket: Ticket, now: datetime) -> None:
    """Stop the ticket's clocks while it waits for the customer."""
    if ticket.paused_at is None:
        ticket.paused_at = now


def resume_clock(session: Session, ticket: Ticket, now: datetime) -> None:
    """Move the due times on by the business time spent waiting for the customer."""
    if ticket.paused_at is None:
        return
    cal = calendar(session)
    paused = cal.between(ticket.paused_at, now)
    if ticket.first_replied_at is None and ticket.first_reply_due_at is not None:
        ticket.first_reply_due_at = cal.add(ticket.first_reply_due_at, paused)
    if ticket.resolution_due_at is not None:
        ticket.resolution_due_at = cal.add(ticket.resolution_due_at, paused)
    ticket.paused_at = None
    ticket.warned_at = None


def promised_reply_at(ticket: Ticket) -> datetime | None:
    """When the customer can expect our next answer (what pages and e-mails promise)."""
    if ticket.first_replied_at is None:
        return ticket.first_reply_due_at
    return ticket.resolution_due_at if ticket.status in ACTIVE_STATUSES else None
