"""The console's queues: filters, keyset cursors, the queue query and its counts.

The queue is the hot query. It is built so each (team, status) pair is one short index range
scan on ``ix_ticket_queue`` (or ``ix_ticket_status_due`` across teams) in SLA order, merged
and cut to a page: it stays a few milliseconds at a million tickets, whatever the backlog.
Pages are keyset-paginated on (next_due_at, id); tickets without a running clock (waiting
for the customer, resolved) come after every running one.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session, load_only

from okpay.core.dbid import parse_id
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_
from okpay.db import UTCDateTime
from okpay.identity.models import User
from okpay.support import checks
from okpay.support import numbers as ticket_numbers
from okpay.support.console import timers
from okpay.support.models import (
    OPEN_STATUSES,
    Priority,
    Status,
    Team,
    Ticket,
)

PAGE_SIZE = 50


MAX_PAGE_SIZE = 200


SEARCH_MAX = 200


ASSIGNEE_CHOICES = ("", "mine", "unassigned")


class CursorInvalid(DomainError):
    code = "cursor_invalid"
    status = 422
    message = N_("This page link is no longer valid. Please start from the first page.")


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


@dataclass(frozen=True)
class QueueRow:
    ticket: Ticket
    timer: timers.Timer | None
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


def branches(
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
        b.subquery() for b in branches(filters, agent=agent, after=after, limit=limit + 1)
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
            timers.ticket_timer(ticket, moment),
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
