"""The agent console pages under /agent (staff only): queues, a ticket with its customer
panel, phone calls and reports. Routes are thin: console, service and casework do the work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from okpay.casework import service as casework
from okpay.core import clock
from okpay.core.dbid import BigDbId, parse_id
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import format_size, get_locale, gettext
from okpay.helpcenter.taxonomy import CATEGORIES, category_label
from okpay.identity import users as identity_users
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.support import console, customer, service
from okpay.support import files as support_files
from okpay.support.models import (
    AGENT_STATUS_LABELS,
    CHANNEL_LABELS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    TEAM_LABELS,
    Priority,
    Status,
    Team,
    Ticket,
    label,
)
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.redirects import safe_next
from okpay.web.templating import render

require_agent = require_role(Role.agent, Role.supervisor, Role.admin)
Agent = Annotated[User, Depends(require_agent)]

router = APIRouter(
    prefix="/agent",
    include_in_schema=False,
    dependencies=[Depends(require_agent), Depends(csrf_protect)],
)

FormStr = Annotated[str, Form()]
OptForm = Annotated[str, Form()]
# Statuses an agent can pick after a reply: waiting for the customer is the default.
REPLY_STATUSES = ("pending_customer", "open", "on_hold", "resolved")


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _labels() -> dict[str, Any]:
    return {
        "status_name": lambda s: label(AGENT_STATUS_LABELS, s),
        "team_name": lambda t: label(TEAM_LABELS, t),
        "priority_name": lambda p: label(PRIORITY_LABELS, p),
        "channel_name": lambda c: label(CHANNEL_LABELS, c),
        "category_name": category_label,
        "teams": [t.value for t in Team],
        "statuses": [s.value for s in Status],
        "open_statuses": OPEN_STATUSES,
        "priorities": [p.value for p in Priority],
        "categories": list(CATEGORIES),
        "format_size": format_size,
        "op_label": casework.operation_label,
        "op_status_label": casework.operation_status_label,
    }


def _back(request: Request, fallback: str = "/agent") -> str:
    """Where to go after a queue action: the queue as it was (same-site paths only)."""
    target = request.headers.get("referer", "")
    base = str(request.base_url).rstrip("/")
    if target.startswith(base + "/agent"):
        return safe_next(target[len(base) :], fallback)
    return fallback


# ------------------------------------------------------------------------------------ queue


@router.get("")
def queue_page(
    request: Request,
    agent: Agent,
    db: DbSession,
    team: str = "",
    status: str = "",
    priority: str = "",
    assignee: str = "",
    q: Annotated[str, Query(max_length=console.SEARCH_MAX)] = "",
    after: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    params = {"team": team, "status": status, "priority": priority, "assignee": assignee, "q": q}
    error = None
    try:
        filters = console.check_filter(
            team=team, status=status, priority=priority, assignee=assignee, search=q
        )
        page = console.queue(db, agent=agent, filters=filters, after=console.Cursor.decode(after))
    except DomainError as err:
        error = err.translated()
        filters = console.QueueFilter()
        page = console.QueuePage([], None, filters)
    kept = {k: v for k, v in params.items() if v}
    next_url = (
        f"/agent?{urlencode({**kept, 'after': page.next_cursor})}" if page.next_cursor else ""
    )
    return render(
        request,
        "support/agent_queue.html",
        page=page,
        params=params,
        counts=console.queue_counts(db),
        count_cap=console.COUNT_CAP,
        agents=console.list_agents(db),
        my_team=service.agent_team(db, agent),
        next_url=next_url,
        tab_url=lambda t: (
            "/agent?" + urlencode({k: v for k, v in {**kept, "team": t}.items() if v})
        ),
        error=error,
        **_labels(),
    )


@router.post("/tickets/{number}/take")
def take(request: Request, number: str, agent: Agent, db: DbSession) -> Response:
    """ "Assign to me" from the queue."""
    ticket = service.access_ticket(db, user=agent, number=number)
    service.do_assign(db, ticket=ticket, assignee=agent, agent=agent)
    flash(request, gettext("%(number)s is now yours.", number=ticket.number), "success")
    return _redirect(_back(request))


@router.post("/bulk")
def bulk(
    request: Request,
    agent: Agent,
    db: DbSession,
    action: FormStr,
    numbers: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI reads it, never mutated
    value: OptForm = "",
    value_assign: OptForm = "",
    value_status: OptForm = "",
    value_team: OptForm = "",
    value_priority: OptForm = "",
    note: OptForm = "",
) -> Response:
    """Apply one action to the selected rows; each action button has its own value field."""
    chosen = {
        "assign": value_assign, "status": value_status, "team": value_team,
        "priority": value_priority,
    }.get(action, "")  # fmt: skip
    value = chosen or value
    try:
        result = console.do_bulk(
            db, agent=agent, numbers=numbers, action=action, value=value, note=note
        )
    except DomainError as err:
        db.rollback()
        flash(request, err.translated(), "error")
        return _redirect(_back(request))
    if result.changed:
        flash(
            request,
            gettext("Changed %(count)s requests.", count=len(result.changed)),
            "success",
        )
    if result.skipped:
        flash(
            request,
            gettext(
                "Not changed: %(numbers)s.",
                numbers=", ".join(f"{n} ({code})" for n, code in result.skipped.items()),
            ),
            "warning",
        )
    return _redirect(_back(request))


# ----------------------------------------------------------------------------------- ticket


def _ticket_context(db: DbSession, ticket: Ticket, agent: User) -> dict[str, Any]:
    messages = service.list_messages(db, ticket, include_internal=True)
    events = service.list_events(db, ticket)
    names = console.agent_names(db, [e.actor_user_id for e in events] + [ticket.assignee_id])
    return {
        "ticket": ticket,
        "messages": messages,
        "files": service.attachments_by_message(db, ticket),
        "events": events,
        "unverified": service.unverified_checks(events),
        "actor_names": names,
        "assignee_name": names.get(ticket.assignee_id or 0, ""),
        "sla": console.sla_view(ticket, clock.now()),
        "panel": casework.customer_panel(db, ticket=ticket),
        "canned": service.canned_responses(db, locale=ticket.locale),
        "agents": console.list_agents(db),
        "reply_statuses": REPLY_STATUSES,
        "form": {},
        **_labels(),
    }


def _ticket_page(
    request: Request,
    db: DbSession,
    ticket_number: str,
    agent: User,
    *,
    err: DomainError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    if err is not None and not err.persist:
        db.rollback()
    ticket = service.access_ticket(db, user=agent, number=ticket_number)
    ctx = _ticket_context(db, ticket, agent)
    if form:
        ctx["form"] = form
    if err is None:
        return render(request, "support/agent_ticket.html", **ctx)
    return render(
        request,
        "support/agent_ticket.html",
        status_code=err.status,
        error=err.translated(),
        error_code=err.code,
        error_field=err.field,
        **ctx,
    )


@router.get("/tickets/{number}")
def ticket_page(request: Request, number: str, agent: Agent, db: DbSession) -> Response:
    ticket = service.access_ticket(db, user=agent, number=number)
    if ticket.number != number:
        return _redirect(f"/agent/tickets/{ticket.number}")
    return _ticket_page(request, db, ticket.number, agent)


def _checked_files(files: list[UploadFile]) -> list[support_files.CheckedFile]:
    return [support_files.check_stream(u.filename, u.file) for u in files if u.filename]


def _act(
    request: Request,
    db: DbSession,
    agent: User,
    number: str,
    change: Callable[[Ticket], Any],
    done: Callable[[], str],
    form: dict[str, str] | None = None,
) -> Response:
    """One change to a ticket from its page: done → back to the page with a message;
    refused → the page again with the reason (and what was typed), nothing stored."""
    ticket = service.access_ticket(db, user=agent, number=number)
    try:
        change(ticket)
    except DomainError as err:
        return _ticket_page(request, db, ticket.number, agent, err=err, form=form)
    flash(request, done(), "success")
    return _redirect(f"/agent/tickets/{ticket.number}")


@router.post("/tickets/{number}/reply")
def reply(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    body: OptForm = "",
    then_status: OptForm = "pending_customer",
    files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 - read only
) -> Response:
    def change(ticket: Ticket) -> None:
        if then_status not in REPLY_STATUSES:
            raise ValidationFailed(code="status_invalid", field="then_status")
        service.do_agent_reply(
            db, ticket=ticket, agent=agent, body=body, then_status=then_status,
            files=_checked_files(files),
        )  # fmt: skip

    form = {"body": body, "then": then_status}
    return _act(request, db, agent, number, change, lambda: gettext("Your reply was sent."), form)


@router.post("/tickets/{number}/note")
def note(
    request: Request, number: str, agent: Agent, db: DbSession, body: OptForm = ""
) -> Response:
    def change(ticket: Ticket) -> None:
        service.do_agent_reply(db, ticket=ticket, agent=agent, body=body, internal=True)

    def done() -> str:
        return gettext("Internal note added.")

    return _act(request, db, agent, number, change, done, {"note": body})


@router.post("/tickets/{number}/canned")
def canned(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    canned_id: OptForm = "",
    body: OptForm = "",
) -> Response:
    """The reply box again with a canned response, placeholders filled, added to what the
    agent already typed (htmx swaps the textarea)."""
    ticket = service.access_ticket(db, user=agent, number=number)
    chosen = next(
        (c for c in service.canned_responses(db, locale=ticket.locale) if str(c.id) == canned_id),
        None,
    )
    text = body
    if chosen is not None:
        filled = service.fill_placeholders(chosen.body, ticket, agent)
        text = f"{body.rstrip()}\n\n{filled}" if body.strip() else filled
    return render(request, "support/agent_reply_body.html", text=text)


@router.post("/tickets/{number}/update")
def update(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    priority: OptForm = "",
    category: OptForm = "",
    tags: OptForm = "",
    references: OptForm = "",
) -> Response:
    def change(ticket: Ticket) -> None:
        service.do_update(
            db, ticket=ticket, agent=agent, priority=priority or None, category=category or None,
            tags=[t for t in tags.replace("，", ",").split(",") if t.strip()],
            references=references,
        )  # fmt: skip

    return _act(request, db, agent, number, change, lambda: gettext("Saved."))


@router.post("/tickets/{number}/assign")
def assign(
    request: Request, number: str, agent: Agent, db: DbSession, assignee: OptForm = ""
) -> Response:
    def change(ticket: Ticket) -> None:
        target = None
        if assignee == "me":
            target = agent
        elif assignee:
            target = console.get_staff(db, parse_id(assignee) or 0)
        service.do_assign(db, ticket=ticket, assignee=target, agent=agent)

    return _act(request, db, agent, number, change, lambda: gettext("Assignment saved."))


@router.post("/tickets/{number}/status")
def set_status(
    request: Request, number: str, agent: Agent, db: DbSession, status: FormStr
) -> Response:
    def change(ticket: Ticket) -> None:
        service.do_set_status(db, ticket=ticket, status=status, agent=agent)

    return _act(request, db, agent, number, change, lambda: gettext("Status saved."))


@router.post("/tickets/{number}/escalate")
def escalate(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    team: OptForm = "",
    note: OptForm = "",
) -> Response:
    def change(ticket: Ticket) -> None:
        service.do_escalate(db, ticket=ticket, team=team, note=note, agent=agent)

    def done() -> str:
        return gettext(
            "Passed to the %(team)s team; the customer was told the new expected time.",
            team=label(TEAM_LABELS, team),
        )

    return _act(request, db, agent, number, change, done, {"escalate": note})


@router.post("/tickets/{number}/reveal")
def reveal(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    field: FormStr,
    reason: OptForm = "",
) -> Response:
    """The full value, in this answer only (audited with the reason)."""
    ticket = service.access_ticket(db, user=agent, number=number)
    try:
        value = casework.do_reveal(db, ticket=ticket, agent=agent, field=field, reason=reason)
    except DomainError as err:
        db.rollback()
        return render(
            request,
            "casework/revealed.html",
            # htmx swaps only successful answers: it gets the message with a 200.
            status_code=200 if request.headers.get("hx-request") else err.status,
            error=err.translated(),
            ticket=ticket,
            field=field,
        )
    return render(request, "casework/revealed.html", ticket=ticket, field=field, value=value)


@router.get("/tickets/{number}/files/{attachment_id}")
def download(number: str, attachment_id: BigDbId, agent: Agent, db: DbSession) -> Response:
    ticket = service.access_ticket(db, user=agent, number=number)
    row = service.get_attachment(db, ticket, attachment_id)
    return customer.download(row)


# ------------------------------------------------------------------------------------ phone


@router.get("/phone")
def phone_form(
    request: Request,
    agent: Agent,
    db: DbSession,
    lookup: Annotated[str, Query(max_length=320)] = "",
) -> Response:
    match = None
    searched = bool(lookup.strip())
    if searched:
        match = casework.find_customer(db, query=lookup)
    return render(
        request,
        "support/agent_phone.html",
        lookup=lookup,
        searched=searched,
        match=match,
        form={},
        **_labels(),
    )


@router.post("/phone")
def phone_log(
    request: Request,
    agent: Agent,
    db: DbSession,
    subject: OptForm = "",
    body: OptForm = "",
    customer_id: OptForm = "",
    name: OptForm = "",
    email: OptForm = "",
    category: OptForm = "",
    acknowledge: OptForm = "",
    number: OptForm = "",
) -> Response:
    form = {
        "subject": subject, "body": body, "name": name, "email": email, "category": category,
        "number": number,
    }  # fmt: skip
    try:
        if number.strip():
            ticket = service.access_ticket(db, user=agent, number=number)
            console.do_log_call_message(db, agent=agent, ticket=ticket, body=body)
        else:
            customer = None
            if customer_id:
                customer = identity_users.get_user(db, parse_id(customer_id) or 0)
                if customer is None or customer.is_staff:
                    raise NotFound()
            ticket = console.do_log_call(
                db, agent=agent, subject=subject, body=body, customer=customer, name=name,
                email=email, category=category, acknowledge=bool(acknowledge),
            )  # fmt: skip
    except DomainError as err:
        db.rollback()
        match = None
        if customer_id_ := parse_id(customer_id):
            user = identity_users.get_user(db, customer_id_)
            match = casework.find_customer(db, query=user.email) if user else None
        return render(
            request,
            "support/agent_phone.html",
            status_code=err.status,
            error=err.translated(),
            error_field=err.field,
            lookup="",
            searched=False,
            match=match,
            form=form,
            **_labels(),
        )
    flash(request, gettext("Call logged on %(number)s.", number=ticket.number), "success")
    return _redirect(f"/agent/tickets/{ticket.number}")


# ---------------------------------------------------------------------------------- reports


def _report(db: DbSession, start: str, end: str) -> console.Report:
    today = clock.now().astimezone(console.report_zone()).date()
    first, last = console.check_range(start, end, today=today)
    return console.report(db, start=first, end=last)


@router.get("/reports")
def reports(
    request: Request,
    agent: Agent,
    db: DbSession,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    error = None
    try:
        result = _report(db, start, end)
    except DomainError as err:
        error = err.translated()
        result = _report(db, "", "")
    from okpay.support import charts

    return render(
        request,
        "support/agent_reports.html",
        report=result,
        error=error,
        query=urlencode({"start": result.start.isoformat(), "end": result.end.isoformat()}),
        day_chart=charts.day_bars(result.by_day),
        bar_chart=charts.horizontal_bars,
        locale=get_locale(),
        **_labels(),
    )


@router.get("/reports/{name}.csv")
def report_csv(
    name: str,
    agent: Agent,
    db: DbSession,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    result = _report(db, start, end)
    table = result.tables.get(name)
    if table is None:
        raise NotFound()
    filename = f"okpay-{name}-{result.start.isoformat()}-{result.end.isoformat()}.csv"
    return Response(
        console.table_csv(table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
