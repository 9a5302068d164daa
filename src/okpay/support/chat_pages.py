"""Live chat pages.

Customers: ``/support/chat`` (start) and ``/support/chat/{id}`` (the conversation). Agents:
``/agent/chats`` (waiting list), ``/agent/chats/{id}``. The pages talk over the sockets in
:mod:`okpay.support.chat_sockets`; JSON for apps is in :mod:`okpay.support.chat_api`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.core import context, ratelimit
from okpay.core.dbid import BigDbId
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.identity.access import OptionalUser, require_role
from okpay.identity.models import Role, User
from okpay.support import access, agent_pages, agents, chat, sla
from okpay.support.chat_models import CHAT_STATUS_LABELS
from okpay.support.models import AGENT_STATUS_LABELS, label
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


Staff = Annotated[User, Depends(require_role(Role.agent, Role.supervisor, Role.admin))]


FormStr = Annotated[str, Form()]


# Chats started per address and hour (each opens a ticket).
STARTS_PER_HOUR = 10


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def customer_url(view: chat.ChatView) -> str:
    """The chat page for its customer; a guest's carries the chat's token."""
    url = f"/support/chat/{view.chat.id}"
    if view.chat.customer_user_id is None:
        url += f"?token={quote(chat.guest_token(view.chat))}"
    return url


def limit_starts() -> None:
    """Each chat opens a ticket: a few per address and hour (shared by every app process
    through Redis when it is configured)."""
    ratelimit.shared("chat-start", STARTS_PER_HOUR, 3600).check(context.current().ip or "unknown")


@router.get("/support/chat")
def start_form(request: Request) -> Response:
    return render(request, "support/chat_start.html", form={})


@router.post("/support/chat")
def start(
    request: Request,
    db: DbSession,
    user: OptionalUser,
    question: Annotated[str, Form(max_length=chat.MESSAGE_MAX * 2)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    form = {"question": question, "name": name, "email": email}
    try:
        limit_starts()
        view = chat.do_start_chat(
            db, question=question, user=user, name=name, email=email,
            locale=request.state.locale,
        )  # fmt: skip
    except DomainError as err:
        return form_error(request, db, "support/chat_start.html", err, form=form)
    return _redirect(customer_url(view))


@router.get("/support/chat/{chat_id}")
def customer_page(
    request: Request,
    chat_id: BigDbId,
    db: DbSession,
    user: OptionalUser,
    token: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    view = chat.access_chat(db, chat_id=chat_id, user=user, token=token)
    ws = f"/support/chat/{chat_id}/ws" + (f"?token={quote(token)}" if token else "")
    return render(
        request,
        "support/chat_room.html",
        view=view,
        ws_path=ws,
        messages=chat.transcript(db, view.ticket),
        position=chat.queue_position(db, view.chat),
        due=sla.promised_reply_at(view.ticket),
        follow_link=access.requester_link(view.ticket),
        agent_name=_agent_name(db, view),
        status_label=lambda code: label(CHAT_STATUS_LABELS, code),
    )


def _agent_name(db: Any, view: chat.ChatView) -> str | None:
    if view.chat.agent_id is None:
        return None
    agent = db.get(User, view.chat.agent_id)
    return agent.display_name if agent is not None else None


@router.get("/agent/chats")
def agent_list(request: Request, db: DbSession, agent: Staff) -> Response:
    return render(
        request,
        "support/chat_agent_list.html",
        waiting=chat.waiting_chats(db),
        mine=chat.agent_chats(db, agent=agent),
    )


@router.post("/agent/chats/{chat_id}/accept")
def accept(request: Request, chat_id: BigDbId, db: DbSession, agent: Staff) -> Response:
    try:
        chat.do_accept(db, chat_id=chat_id, agent=agent)
    except (chat.ChatTaken, chat.ChatOver) as err:
        # A lost race or a timed-out chat: keep what the time-out wrote, say what happened.
        flash(request, err.translated(), "warning")
        return _redirect("/agent/chats")
    return _redirect(f"/agent/chats/{chat_id}")


@router.get("/agent/chats/{chat_id}")
def agent_page(request: Request, chat_id: BigDbId, db: DbSession, agent: Staff) -> Response:
    """The agent's side of a chat: the conversation with canned replies, beside the
    customer and wallet panel the ticket page shows."""
    view = chat.access_agent_chat(db, chat_id=chat_id, agent=agent)
    return render(
        request,
        "support/chat_agent_room.html",
        view=view,
        ws_path=f"/agent/chats/{chat_id}/ws",
        messages=chat.transcript(db, view.ticket),
        can_write=view.chat.agent_id == agent.id,
        chat_status_label=lambda code: label(CHAT_STATUS_LABELS, code),
        ticket_statuses=[(code, label(AGENT_STATUS_LABELS, code)) for code in AGENT_STATUS_LABELS],
        panels=agent_pages.ticket_panels(db, view.ticket, agent),
        canned=agents.canned_responses(db, locale=view.ticket.locale),
        form={},
        **agent_pages.labels(),
    )


@router.post("/agent/chats/{chat_id}/end")
def agent_end(chat_id: BigDbId, db: DbSession, agent: Staff) -> Response:
    chat.do_end(db, chat_id=chat_id, side="agent", user=agent)
    return _redirect(f"/agent/chats/{chat_id}")


@router.post("/support/chat/{chat_id}/end")
def customer_end(
    chat_id: BigDbId, db: DbSession, user: OptionalUser, token: Annotated[str, Form()] = ""
) -> Response:
    view = chat.do_end(db, chat_id=chat_id, side="customer", user=user, token=token)
    return _redirect(customer_url(view))


@router.post("/agent/chats/{chat_id}/status")
def set_status(
    request: Request, chat_id: BigDbId, db: DbSession, agent: Staff, status: FormStr
) -> Response:
    chat.do_set_status_after_chat(db, chat_id=chat_id, agent=agent, status=status)
    flash(request, gettext("The request status is saved."), "success")
    return _redirect(f"/agent/chats/{chat_id}")
