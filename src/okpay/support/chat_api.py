"""Live chat JSON for apps: ``/api/v1/support/chats`` (start, state) and
``/api/v1/agent/chats`` (waiting list, accept). The conversation itself goes over the socket
(:mod:`okpay.support.chat_sockets`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from okpay.core.dbid import BigDbId
from okpay.identity.access import OptionalUser
from okpay.support import chat, chat_pages
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["support"])


class ChatStart(BaseModel):
    question: str = Field(max_length=chat.MESSAGE_MAX * 2)
    name: str = Field("", max_length=200)
    email: str = Field("", max_length=320)


class ChatStarted(BaseModel):
    id: int
    number: str
    status: str
    token: str | None = Field(None, description="Guests: pass as ?token= to the socket.")
    socket: str


@router.post("/support/chats", status_code=201, response_model=ChatStarted)
def api_start(request: Request, body: ChatStart, db: DbSession, user: OptionalUser) -> ChatStarted:
    """Start a live chat (signed in, or as a guest with name and e-mail). Talk over the
    WebSocket named in ``socket``; see docs/support.md for its messages."""
    chat_pages.limit_starts()
    view = chat.do_start_chat(
        db, question=body.question, user=user, name=body.name, email=body.email,
        locale=request.state.locale,
    )  # fmt: skip
    token = chat.guest_token(view.chat) if view.chat.customer_user_id is None else None
    socket = f"/support/chat/{view.chat.id}/ws" + (f"?token={token}" if token else "")
    return ChatStarted(
        id=view.chat.id, number=view.ticket.number, status=view.chat.status, token=token,
        socket=socket,
    )  # fmt: skip


@router.get("/support/chats/{chat_id}")
def api_chat(
    chat_id: BigDbId,
    db: DbSession,
    user: OptionalUser,
    token: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, Any]:
    """The chat's state and transcript, as its socket sends them on connect."""
    view = chat.access_chat(db, chat_id=chat_id, user=user, token=token)
    return chat.state_event(db, view)


@router.get("/agent/chats")
def api_waiting(db: DbSession, agent: chat_pages.Staff) -> dict[str, Any]:
    """Staff: waiting chats (longest wait first) and the caller's own active chats."""
    return chat.list_event(db, agent=agent)


@router.post("/agent/chats/{chat_id}/accept")
def api_accept(chat_id: BigDbId, db: DbSession, agent: chat_pages.Staff) -> dict[str, Any]:
    """Staff: take a waiting chat. 409 ``chat_taken`` when another agent was first."""
    view = chat.do_accept(db, chat_id=chat_id, agent=agent)
    return {"id": view.chat.id, "number": view.ticket.number, "status": view.chat.status}
