"""What agents read in the console: queues with SLA timers, search, bulk actions, reports.

The queue is the hot query. It is built so each (team, status) pair is one short index range
scan on ``ix_ticket_queue`` (or ``ix_ticket_status_due`` across teams) in SLA order, merged
and cut to a page: it stays a few milliseconds at a million tickets, whatever the backlog.
Pages are keyset-paginated on (next_due_at, id); tickets without a running clock (waiting
for the customer, resolved) come after every running one.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_timedelta
from sqlalchemy import (
    Float,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session, load_only

from okpay.core.dbid import parse_id
from okpay.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from okpay.core.i18n import N_, get_locale, gettext
from okpay.db import UTCDateTime
from okpay.identity.models import STAFF_ROLES, User
from okpay.settings import get_settings
from okpay.support import access, assignment, checks, messages, tickets
from okpay.support import numbers as ticket_numbers
from okpay.support import status as ticket_status
from okpay.support.models import (
    OPEN_STATUSES,
    Channel,
    Priority,
    Status,
    SupportAgent,
    Team,
    Ticket,
)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
BULK_MAX = 200
SEARCH_MAX = 200
ASSIGNEE_CHOICES = ("", "mine", "unassigned")
DONE_STATUSES = (Status.resolved.value, Status.closed.value)


class CursorInvalid(DomainError):
    code = "cursor_invalid"
    status = 422
    message = N_("This page link is no longer valid. Please start from the first page.")


# ------------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class QueueFilter:
    """Which tickets a queue shows. ``statuses`` empty means every status."""

    team: str | None = None
    statuses: tuple[str, ...] = OPEN_STATUSES
    priority: str | None = None
    assignee: str = ""  # "", "mine" or "unassigned"
    search: str = ""


def check_filter(
    *,
    team: str = "",
    status: str = "",
    priority: str = "",
    assignee: str = "",
    search: str = "",
) -> QueueFilter:
    """A queue filter from query parameters; ValidationFailed names the bad one.

    ``status`` is a status, "open" (every unfinished one, the default) or "all". Looking up
    a request number or an e-mail address searches every status by default (an index hit);
    words in subjects search unfinished requests unless "all" is asked for, since that is a
    scan of the whole history."""
    if team and team not in Team.__members__:
        raise ValidationFailed(code="team_invalid", field="team")
    if priority and priority not in Priority.__members__:
        raise ValidationFailed(code="priority_invalid", field="priority")
    if assignee not in ASSIGNEE_CHOICES:
        raise ValidationFailed(code="assignee_invalid", field="assignee")
    text = checks.check_body(search, required=False).replace("\n", " ")[:SEARCH_MAX]
    exact = bool(text) and (ticket_numbers.normalise_number(text) is not None or "@" in text)
    statuses: tuple[str, ...]
    if status == "all" or (not status and exact):
        statuses = ()
    elif status in ("", "open"):
        statuses = OPEN_STATUSES
    elif status in Status.__members__:
        statuses = (status,)
    else:
        raise ValidationFailed(code="status_invalid", field="status")
    return QueueFilter(
        team=team or None,
        statuses=statuses,
        priority=priority or None,
        assignee=assignee,
        search=text,
    )


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this (due time, id)."""

    due: datetime | None
    id: int

    def encode(self) -> str:
        due = "-" if self.due is None else str(int(self.due.timestamp() * 1_000_000))
        return base64.urlsafe_b64encode(f"{due}:{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, raw: str) -> Cursor | None:
        if not raw:
            return None
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            due_text, id_text = text.split(":", 1)
            due = (
                None
                if due_text == "-"
                else datetime.fromtimestamp(int(due_text) / 1_000_000, tz=UTC)
            )
            row_id = parse_id(id_text, big=True)
        except (ValueError, UnicodeDecodeError, OverflowError, OSError):
            # OverflowError/OSError: a time no datetime can hold, from a hand-edited cursor.
            raise CursorInvalid() from None
        if row_id is None:  # an id no ticket can have would only fail in the database
            raise CursorInvalid()
        return cls(due, row_id)


# --------------------------------------------------------------------------------- timers


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


# ---------------------------------------------------------------------------------- queue


@dataclass(frozen=True)
class QueueRow:
    ticket: Ticket
    timer: Timer | None
    assignee_name: str


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    filters: QueueFilter


def _search_condition(text: str) -> Any:
    number = ticket_numbers.normalise_number(text)
    if number is not None:
        return Ticket.number == number
    if "@" in text:
        return Ticket.requester_email == text.strip().lower()
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Ticket.subject.ilike(f"%{escaped}%", escape="\\")


def _branches(
    filters: QueueFilter, *, agent: User, after: Cursor | None, limit: int
) -> list[Select[Any]]:
    """One ordered, limited range scan per status (and team): each is an index walk."""
    common = []
    if filters.team is not None:
        common.append(Ticket.team == filters.team)
    if filters.priority is not None:
        common.append(Ticket.priority == filters.priority)
    if filters.assignee == "mine":
        common.append(Ticket.assignee_id == agent.id)
    elif filters.assignee == "unassigned":
        common.append(Ticket.assignee_id.is_(None))
    if filters.search:
        common.append(_search_condition(filters.search))
    statuses: Sequence[str | None] = filters.statuses or [None]
    due_col = Ticket.next_due_at
    branches: list[Any] = []
    for status in statuses:
        where = list(common)
        if status is not None:
            where.append(Ticket.status == status)
        cols = (Ticket.id, due_col)
        # Running clocks, in due order.
        if after is None or after.due is not None:
            timed = [*where, due_col.is_not(None)]
            if after is not None:
                timed.append(
                    tuple_(due_col, Ticket.id)
                    > tuple_(bindparam(None, after.due, type_=UTCDateTime()), literal(after.id))
                )
            branches.append(select(*cols).where(*timed).order_by(due_col, Ticket.id).limit(limit))
        # Then the ones without a running clock, by id. Ordered by the index's own columns
        # (all NULL here) so the planner walks ix_ticket_queue instead of the primary key.
        untimed = [*where, due_col.is_(None)]
        if after is not None and after.due is None:
            untimed.append(Ticket.id > after.id)
        branches.append(select(*cols).where(*untimed).order_by(due_col, Ticket.id).limit(limit))
    return branches


# What a queue row (page or API) reads of a ticket; the rest loads only if asked for.
QUEUE_COLUMNS = (
    Ticket.id,
    Ticket.number,
    Ticket.subject,
    Ticket.channel,
    Ticket.category,
    Ticket.priority,
    Ticket.status,
    Ticket.team,
    Ticket.assignee_id,
    Ticket.requester_user_id,
    Ticket.requester_name,
    Ticket.created_at,
    Ticket.next_due_at,
    Ticket.first_replied_at,
    Ticket.paused_at,
)


def queue(
    session: Session,
    *,
    agent: User,
    filters: QueueFilter,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the agent queue: overdue first, then by SLA due time; the tickets
    without a running clock last. ``after`` is the previous page's cursor."""
    from okpay.core import clock

    limit = max(1, min(limit, MAX_PAGE_SIZE))
    subqueries = [
        b.subquery() for b in _branches(filters, agent=agent, after=after, limit=limit + 1)
    ]
    merged = union_all(*[select(q.c.id, q.c.next_due_at) for q in subqueries]).subquery()
    page_ids = (
        select(merged.c.id, merged.c.next_due_at)
        .order_by(merged.c.next_due_at.is_(None), merged.c.next_due_at, merged.c.id)
        .limit(limit + 1)
        .subquery()
    )
    # One round trip: the page's ids, then just the columns a queue row shows (primary-key
    # lookups) and the assignee's name.
    stmt = (
        select(Ticket, User.name, User.email)
        .options(load_only(*QUEUE_COLUMNS))
        .join(page_ids, page_ids.c.id == Ticket.id)
        .outerjoin(User, User.id == Ticket.assignee_id)
        .order_by(page_ids.c.next_due_at.is_(None), page_ids.c.next_due_at, page_ids.c.id)
    )
    found = session.execute(stmt).all()
    more = len(found) > limit
    moment = now or clock.now()
    rows = [
        QueueRow(
            ticket,
            ticket_timer(ticket, moment),
            (name or email.split("@")[0]) if email else "",
        )
        for ticket, name, email in found[:limit]
    ]
    cursor = None
    if more and rows:
        last = rows[-1].ticket
        cursor = Cursor(last.next_due_at, last.id).encode()
    return QueuePage(rows, cursor, filters)


COUNT_CAP = 1000


def queue_counts(session: Session, *, cap: int = COUNT_CAP) -> dict[str, int]:
    """Unfinished tickets per team for the tabs, each counted up to ``cap`` (shown as
    "1000+"): every count is a bounded walk of ix_ticket_queue, never a scan of the backlog."""
    parts = []
    for team in Team:
        capped = (
            select(Ticket.id)
            .where(Ticket.team == team.value, Ticket.status.in_(OPEN_STATUSES))
            .limit(cap)
            .subquery()
        )
        parts.append(
            select(literal(team.value).label("team"), func.count().label("n")).select_from(capped)
        )
    return {team: int(n) for team, n in session.execute(union_all(*parts)).all()}


# --------------------------------------------------------------------------------- agents


@dataclass(frozen=True)
class AgentInfo:
    id: int
    name: str
    email: str
    team: str | None


def list_agents(session: Session) -> list[AgentInfo]:
    """Every active staff member, with their team (assignment choices)."""
    rows = session.execute(
        select(User.id, User.name, User.email, SupportAgent.team)
        .outerjoin(SupportAgent, SupportAgent.user_id == User.id)
        .where(User.role.in_([r.value for r in STAFF_ROLES]), User.status == "active")
        .order_by(User.name, User.id)
    ).all()
    return [AgentInfo(i, n or e.split("@")[0], e, t) for i, n, e, t in rows]


def agent_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.name, User.email).where(User.id.in_(wanted)))
    return {i: n or e.split("@")[0] for i, n, e in rows}


def get_staff(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_staff:
        raise ValidationFailed(
            N_("Choose an agent from the list."), code="assignee_invalid", field="assignee"
        )
    return user


# ----------------------------------------------------------------------------------- bulk

BULK_ACTIONS = ("assign", "status", "team", "priority")


@dataclass
class BulkResult:
    changed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # number -> reason code


def do_bulk(
    session: Session,
    *,
    agent: User,
    numbers: Sequence[str],
    action: str,
    value: str,
    note: str = "",
) -> BulkResult:
    """Apply one action to several tickets. Each ticket is its own savepoint: one that
    cannot take the change (closed, already in that team) is skipped and named."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed(code="bulk_action_invalid", field="action")
    unique = list(dict.fromkeys(n for n in numbers if n))
    if not unique:
        raise ValidationFailed(
            N_("Select at least one request."), code="nothing_selected", field="numbers"
        )
    if len(unique) > BULK_MAX:
        raise ValidationFailed(
            N_("Select at most %(max)s requests at a time."), code="too_many_selected",
            field="numbers", max=BULK_MAX,
        )  # fmt: skip
    assignee: User | None = None
    if action == "assign":
        if value == "me":
            assignee = agent
        elif value not in ("", "nobody"):
            assignee = get_staff(session, parse_id(value) or 0)
    elif action == "status" and value not in Status.__members__:
        raise ValidationFailed(code="status_invalid", field="value")
    elif action == "team" and value not in Team.__members__:
        raise ValidationFailed(code="team_invalid", field="value")
    elif action == "priority" and value not in Priority.__members__:
        raise ValidationFailed(code="priority_invalid", field="value")
    result = BulkResult()
    for number in unique:
        try:
            ticket = access.access_ticket(session, user=agent, number=number)
        except NotFound:
            result.skipped[number] = "not_found"
            continue
        if ticket.status == Status.closed.value:
            result.skipped[number] = "ticket_closed"  # closed is final: reopen by a new request
            continue
        savepoint = session.begin_nested()
        try:
            if action == "assign":
                assignment.do_assign(session, ticket=ticket, assignee=assignee, agent=agent)
            elif action == "status":
                ticket_status.do_set_status(session, ticket=ticket, status=value, agent=agent)
            elif action == "priority":
                assignment.do_update(session, ticket=ticket, agent=agent, priority=value)
            else:
                text = note.strip() or gettext(
                    "Moved to another team by %(agent)s.", agent=agent.display_name
                )
                assignment.do_escalate(session, ticket=ticket, team=value, note=text, agent=agent)
            savepoint.commit()
            result.changed.append(ticket.number)
        except DomainError as err:
            savepoint.rollback()
            result.skipped[number] = err.code
    return result


# -------------------------------------------------------------------------------- reports


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


# ---------------------------------------------------------------------------------- phone


def require_staff(user: User) -> None:
    """Agents' actions are refused to anyone else, whatever route called them."""
    if not user.is_staff:
        raise PermissionDenied()


def do_log_call(
    session: Session,
    *,
    agent: User,
    subject: str,
    body: str,
    customer: User | None = None,
    name: str = "",
    email: str = "",
    category: str | None = None,
    acknowledge: bool = False,
) -> Ticket:
    """An agent logs a phone call as a new ticket, for a customer found by e-mail or phone,
    or for a guest by name and e-mail."""
    require_staff(agent)
    new = tickets.NewTicket(
        channel=Channel.phone.value,
        subject=subject,
        body=body,
        name=name,
        email=email,
        user=customer,
        category=category or None,
        logged_by=agent,
        acknowledge=acknowledge,
    )
    return tickets.do_open_ticket(session, new)


def do_log_call_message(session: Session, *, agent: User, ticket: Ticket, body: str) -> Any:
    """What the customer said on the phone, added to their ticket (audited as the agent's)."""
    require_staff(agent)
    message = messages.do_customer_message(
        session, ticket=ticket, body=body, channel=Channel.phone.value
    )
    from okpay.core import audit

    audit.record(
        session, "ticket_phone_logged", actor_user_id=agent.id,
        subject_user_id=ticket.requester_user_id, object_type="ticket", object_id=ticket.number,
        message_id=message.id,
    )  # fmt: skip
    return message
