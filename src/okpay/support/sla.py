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
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class Calendar:
    """Opening hours in a time zone, closed on the given holidays."""

    zone: ZoneInfo
    weekdays: frozenset[int]  # Monday = 0
    opens: time
    closes: time
    holidays: frozenset[date]

    @classmethod
    def from_settings(cls, holidays: Iterable[date] = ()) -> Calendar:
        s = get_settings()
        return cls(
            zone=ZoneInfo(s.support_timezone),
            weekdays=frozenset(s.support_weekdays),
            opens=time(s.support_open_hour),
            closes=time(0) if s.support_close_hour == 24 else time(s.support_close_hour),
            holidays=frozenset(holidays),
        )

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening window in UTC, or None when closed all day."""
        if day.weekday() not in self.weekdays or day in self.holidays:
            return None
        start = datetime.combine(day, self.opens, self.zone)
        end_day = day + timedelta(days=1) if self.closes == time(0) else day
        end = datetime.combine(end_day, self.closes, self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of opening time have passed after ``start``."""
        remaining = max(0.0, seconds)
        day = start.astimezone(self.zone).date()
        for _ in range(3660):  # ten years of closed days would be a misconfiguration
            window = self._window(day)
            if window is not None:
                begin = max(window[0], start)
                if begin < window[1]:
                    available = (window[1] - begin).total_seconds()
                    if remaining <= available:
                        return begin + timedelta(seconds=remaining)
                    remaining -= available
            day += timedelta(days=1)
        raise ValueError("the support calendar has no opening hours")

    def between(self, start: datetime, end: datetime) -> float:
        """Seconds of opening time between two instants (0 when ``end`` is not later)."""
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            window = self._window(day)
            if window is not None:
                begin, finish = max(window[0], start), min(window[1], end)
                if finish > begin:
                    total += (finish - begin).total_seconds()
            day += timedelta(days=1)
        return total

    def is_open(self, at: datetime) -> bool:
        window = self._window(at.astimezone(self.zone).date())
        return window is not None and window[0] <= at < window[1]


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
