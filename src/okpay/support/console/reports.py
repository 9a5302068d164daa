"""Support reports over a date range (volumes, SLA, reply and resolution times, ratings),
and their CSV export."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Float,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.settings import get_settings
from okpay.support.models import (
    OPEN_STATUSES,
    Channel,
    Team,
    Ticket,
)


@dataclass(frozen=True)
class Table:
    """A report table: a title, column headings and rows (first column a label)."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Durations:
    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass
class Report:
    start: date
    end: date
    created: int
    resolved: int
    by_day: list[tuple[date, int, int]]
    first_reply: Durations
    resolution: Durations
    first_reply_attained: float | None
    resolution_attained: float | None
    rating_average: float | None
    rating_counts: dict[int, int]
    rating_rate: float | None
    tables: dict[str, Table]


def report_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().support_timezone)


def check_range(start: str, end: str, *, today: date) -> tuple[date, date]:
    """A report's date range (inclusive, service-centre days); the last 30 days by default."""
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=29)
    except ValueError:
        raise ValidationFailed(
            N_("Dates look like 2026-11-21."), code="date_invalid", field="start"
        ) from None
    if first > last:
        raise ValidationFailed(
            N_("The start date is after the end date."), code="date_range_invalid", field="start"
        )
    if (last - first).days > 366:
        raise ValidationFailed(
            N_("Choose at most one year."), code="date_range_too_long", field="start"
        )
    return first, last


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _durations(values: list[float]) -> Durations:
    if not values:
        return Durations(0, None, None)
    hours = [v / 3600 for v in values]
    return Durations(len(hours), statistics.median(hours), _percentile(hours, 0.9))


def report(session: Session, *, start: date, end: date) -> Report:
    """The service centre's figures for tickets created between two days (inclusive), plus
    today's backlog. Times are wall-clock hours from creation."""
    from okpay.helpcenter.taxonomy import category_label
    from okpay.support.models import CHANNEL_LABELS, TEAM_LABELS, label

    zone = report_zone()
    since = datetime.combine(start, time(0), zone).astimezone(UTC)
    until = datetime.combine(end + timedelta(days=1), time(0), zone).astimezone(UTC)
    dialect = session.get_bind().dialect.name
    created = and_(Ticket.created_at >= since, Ticket.created_at < until)
    # Aggregated in the database, in one pass over the range (a month is ~100,000 tickets
    # at a million a year): counts per (day, category, channel, team) with the SLA and
    # rating sums; then the two columns of durations; then resolutions per day.

    def counted_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    day = _local_day(Ticket.created_at, dialect, zone, start)
    measures = [
        func.count(),
        counted_if(
            or_(Ticket.first_replied_at.is_not(None), Ticket.first_reply_breached_at.is_not(None))
        ),
        counted_if(Ticket.first_reply_breached_at.is_not(None)),
        counted_if(
            or_(Ticket.resolved_at.is_not(None), Ticket.resolution_breached_at.is_not(None))
        ),
        counted_if(Ticket.resolution_breached_at.is_not(None)),
        counted_if(Ticket.resolved_at.is_not(None)),
        *[counted_if(Ticket.rating == n) for n in range(1, 6)],
    ]
    groups = session.execute(
        select(day, Ticket.category, Ticket.channel, Ticket.team, *measures)
        .where(created)
        .group_by(day, Ticket.category, Ticket.channel, Ticket.team)
    ).all()
    sums = [sum(int(row[4 + i]) for row in groups) for i in range(len(measures))]
    total, first_measured, first_breached, resolution_measured, resolution_breached = sums[:5]
    resolved_count = sums[5]
    rating_counts = {n: sums[5 + n] for n in range(1, 6)}
    rated = sum(rating_counts.values())
    created_per_day: Counter[date] = Counter()
    for row in groups:
        created_per_day[_as_date(row[0])] += int(row[4])
    resolved_day = _local_day(Ticket.resolved_at, dialect, zone, start)
    resolved_per_day = {
        _as_date(d): int(n)
        for d, n in session.execute(
            select(resolved_day, func.count())
            .where(Ticket.resolved_at >= since, Ticket.resolved_at < until)
            .group_by(resolved_day)
        )
    }
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    by_day = [(d, created_per_day.get(d, 0), resolved_per_day.get(d, 0)) for d in days]
    first_times: list[float] = []
    resolution_times: list[float] = []
    for first, resolution in session.execute(
        select(
            _seconds(Ticket.first_replied_at, Ticket.created_at, dialect),
            _seconds(Ticket.resolved_at, Ticket.created_at, dialect),
        ).where(created, or_(Ticket.first_replied_at.is_not(None), Ticket.resolved_at.is_not(None)))
    ):
        if first is not None:
            first_times.append(float(first))
        if resolution is not None:
            resolution_times.append(float(resolution))

    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    def counted(index: int, labeller: Any) -> list[list[Any]]:
        counter: Counter[str] = Counter()
        for row in groups:
            counter[str(row[index + 1])] += int(row[4])
        return [[labeller(k), n] for k, n in counter.most_common()]

    backlog = session.execute(
        select(Ticket.team, Ticket.status, func.count())
        .where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(Ticket.team, Ticket.status)
    ).all()
    backlog_map = {(t, s): int(n) for t, s, n in backlog}
    from okpay.support.models import AGENT_STATUS_LABELS

    count = gettext("Requests")
    tables = {
        "by_day": Table(
            "by_day",
            gettext("Requests by day"),
            [gettext("Day"), gettext("Created"), gettext("Resolved")],
            [[d.isoformat(), c, r] for d, c, r in by_day],
        ),
        "by_category": Table(
            "by_category",
            gettext("By category"),
            [gettext("Category"), count],
            counted(0, category_label),
        ),
        "by_channel": Table(
            "by_channel",
            gettext("By channel"),
            [gettext("Channel"), count],
            counted(1, lambda c: label(CHANNEL_LABELS, c)),
        ),
        "by_team": Table(
            "by_team",
            gettext("By team"),
            [gettext("Team"), count],
            counted(2, lambda t: label(TEAM_LABELS, t)),
        ),
        "backlog": Table(
            "backlog",
            gettext("Backlog now"),
            [gettext("Team")] + [label(AGENT_STATUS_LABELS, s) for s in OPEN_STATUSES],
            [
                [label(TEAM_LABELS, t.value)]
                + [backlog_map.get((t.value, s), 0) for s in OPEN_STATUSES]
                for t in Team
            ],
        ),
    }
    first = _durations(first_times)
    resolution = _durations(resolution_times)
    attained_first = share(first_measured - first_breached, first_measured)
    attained_resolution = share(resolution_measured - resolution_breached, resolution_measured)
    average = sum(n * c for n, c in rating_counts.items()) / rated if rated else None
    rate = share(rated, resolved_count)

    def hours(v: float | None) -> str:
        return "" if v is None else f"{v:.1f}"

    def percent(v: float | None) -> str:
        return "" if v is None else f"{v * 100:.1f}%"

    tables["times"] = Table(
        "times",
        gettext("Response times (hours)"),
        [gettext("Measure"), gettext("Requests"), gettext("Median"), gettext("90th percentile")],
        [
            [
                gettext("First reply"),
                first.count,
                hours(first.median_hours),
                hours(first.p90_hours),
            ],
            [
                gettext("Resolution"),
                resolution.count,
                hours(resolution.median_hours),
                hours(resolution.p90_hours),
            ],
        ],
    )
    tables["sla"] = Table(
        "sla",
        gettext("SLA attainment"),
        [gettext("Target"), gettext("Measured"), gettext("Within target")],
        [
            [gettext("First reply"), first_measured, percent(attained_first)],
            [gettext("Resolution"), resolution_measured, percent(attained_resolution)],
        ],
    )
    tables["satisfaction"] = Table(
        "satisfaction",
        gettext("Satisfaction"),
        [gettext("Rating"), count],
        [[str(n), rating_counts[n]] for n in range(5, 0, -1)],
    )
    return Report(
        start=start,
        end=end,
        created=total,
        resolved=sum(resolved_per_day.values()),
        by_day=by_day,
        first_reply=first,
        resolution=resolution,
        first_reply_attained=attained_first,
        resolution_attained=attained_resolution,
        rating_average=average,
        rating_counts=rating_counts,
        rating_rate=rate,
        tables=tables,
    )


def _local_day(column: Any, dialect: str, zone: ZoneInfo, near: date) -> Any:
    """The service-centre day of a UTC timestamp, in SQL. SQLite has no time zones: the
    zone's offset at ``near`` is used (exact for China, an hour off across a DST change)."""
    if dialect == "postgresql":
        return func.date(func.timezone(zone.key, column))
    offset = datetime.combine(near, time(12), zone).utcoffset() or timedelta(0)
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    """Seconds between two timestamp columns, in SQL."""
    if dialect == "postgresql":
        # extract() is numeric since PostgreSQL 14: a float decodes far faster.
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def table_csv(table: Table) -> str:
    """A report table as CSV (UTF-8 with BOM so spreadsheet apps read Chinese right)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([csv_cell(c) for c in row])
    return out.getvalue()


CHANNELS = [c.value for c in Channel]
