"""Opening hours: windows by weekday in a time zone, closed on holidays, and the questions
both the service centre's SLA clocks and the regional hotlines ask of them (is it open, when
does it next open, when have N seconds of opening time passed, how much opening time lies
between two instants). Instants are UTC-aware datetimes; windows are local wall-clock times,
so a daylight-saving change moves them as people expect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: How far ahead to look for an opening (a line closed longer than this is misconfigured).
LOOKAHEAD_DAYS = 400


@dataclass(frozen=True)
class OpeningHours:
    """Windows by weekday (Monday = 0) in ``zone``; ``None`` as the closing time means
    midnight at the end of the day. Closed all day on ``holidays``."""

    zone: ZoneInfo
    windows: dict[int, tuple[time, time | None]]
    holidays: frozenset[date]

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening hours as UTC instants, or None when closed all day."""
        found = self.windows.get(day.weekday())
        if found is None or day in self.holidays:
            return None
        opens, closes = found
        start = datetime.combine(day, opens, self.zone)
        if closes is None:
            end = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        else:
            end = datetime.combine(day, closes, self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def open_window(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The window ``at`` falls in (open now, until its end), or None when closed."""
        window = self.window(at.astimezone(self.zone).date())
        if window is not None and window[0] <= at < window[1]:
            return window
        return None

    def is_open(self, at: datetime) -> bool:
        return self.open_window(at) is not None

    def next_opening(self, at: datetime) -> datetime | None:
        """When it next opens after ``at`` (None if not within :data:`LOOKAHEAD_DAYS`)."""
        day = at.astimezone(self.zone).date()
        for _ in range(LOOKAHEAD_DAYS):
            window = self.window(day)
            if window is not None and window[0] > at:
                return window[0]
            day += timedelta(days=1)
        return None

    def add_open_time(self, start: datetime, seconds: float) -> datetime | None:
        """The instant when ``seconds`` of opening time have passed after ``start`` (None
        if not within :data:`LOOKAHEAD_DAYS`)."""
        remaining = max(0.0, seconds)
        day = start.astimezone(self.zone).date()
        for _ in range(LOOKAHEAD_DAYS):
            window = self.window(day)
            if window is not None:
                begin = max(window[0], start)
                if begin < window[1]:
                    available = (window[1] - begin).total_seconds()
                    if remaining <= available:
                        return begin + timedelta(seconds=remaining)
                    remaining -= available
            day += timedelta(days=1)
        return None

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of opening time between two instants (0 when ``end`` is not later)."""
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            window = self.window(day)
            if window is not None:
                begin, finish = max(window[0], start), min(window[1], end)
                if finish > begin:
                    total += (finish - begin).total_seconds()
            day += timedelta(days=1)
        return total
