"""The agent console's phone page (/agent/phone): callback requests due, find the caller, log
the call as a new ticket or on an existing one (which marks that ticket's callback done)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from okpay.core.dbid import parse_id
from okpay.core.errors import DomainError, NotFound
from okpay.core.i18n import gettext
from okpay.identity import users as identity_users
from okpay.support import access, agent_pages, callbacks, callers
from okpay.support.console import actions
from okpay.web.deps import DbSession
from okpay.web.flash import flash
from okpay.web.templating import render

router = agent_pages.agent_router()


@router.get("/phone")
def phone_form(
    request: Request,
    agent: agent_pages.Agent,
    db: DbSession,
    lookup: Annotated[str, Query(max_length=320)] = "",
    callback: Annotated[str, Query(max_length=30)] = "",
) -> Response:
    match = None
    searched = bool(lookup.strip())
    if searched:
        match = callers.find_customer(db, query=lookup)
    form = {}
    if callback.strip():  # "Call back" on a due callback: the call goes on its ticket
        ticket = access.access_ticket(db, user=agent, number=callback)
        form = {"number": ticket.number}
    return render(
        request,
        "support/agent_phone.html",
        lookup=lookup,
        searched=searched,
        match=match,
        form=form,
        due_callbacks=callbacks.list_due(db),
        **agent_pages.labels(),
    )


@router.post("/phone")
def phone_log(
    request: Request,
    agent: agent_pages.Agent,
    db: DbSession,
    subject: agent_pages.OptForm = "",
    body: agent_pages.OptForm = "",
    customer_id: agent_pages.OptForm = "",
    name: agent_pages.OptForm = "",
    email: agent_pages.OptForm = "",
    category: agent_pages.OptForm = "",
    acknowledge: agent_pages.OptForm = "",
    number: agent_pages.OptForm = "",
) -> Response:
    form = {
        "subject": subject, "body": body, "name": name, "email": email, "category": category,
        "number": number,
    }  # fmt: skip
    try:
        if number.strip():
            ticket = access.access_ticket(db, user=agent, number=number)
            actions.do_log_call_message(db, agent=agent, ticket=ticket, body=body)
            called_back = callbacks.do_mark_done(db, ticket=ticket, agent=agent)
        else:
            called_back = 0
            customer = None
            if customer_id:
                customer = identity_users.get_user(db, parse_id(customer_id) or 0)
                if customer is None or customer.is_staff:
                    raise NotFound()
            ticket = actions.do_log_call(
                db, agent=agent, subject=subject, body=body, customer=customer, name=name,
                email=email, category=category, acknowledge=bool(acknowledge),
            )  # fmt: skip
    except DomainError as err:
        db.rollback()
        match = None
        if customer_id_ := parse_id(customer_id):
            user = identity_users.get_user(db, customer_id_)
            match = callers.find_customer(db, query=user.email) if user else None
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
            due_callbacks=callbacks.list_due(db),
            **agent_pages.labels(),
        )
    if called_back:
        message = gettext("Call logged on %(number)s; the callback is done.", number=ticket.number)
    else:
        message = gettext("Call logged on %(number)s.", number=ticket.number)
    flash(request, message, "success")
    return agent_pages.redirect(f"/agent/tickets/{ticket.number}")
