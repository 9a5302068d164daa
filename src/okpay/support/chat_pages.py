"""Live chat pages and WebSockets.

Customers: ``/support/chat`` (start), ``/support/chat/{id}`` (the conversation) and its
socket ``/support/chat/{id}/ws``. Agents: ``/agent/chats`` (waiting list, live over
``/agent/chats/ws``), ``/agent/chats/{id}`` and its socket. Sockets check the Origin header
against OKPAY_BASE_URL before anything else (cross-site WebSocket hijacking), then the
session cookie (the request middleware resolves it for WebSockets too) or, for guests, the
chat's signed token. JSON for apps is under ``/api/v1/support/chats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from okpay.core import clock, context
from okpay.core.dbid import BigDbId
from okpay.core.errors import DomainError, NotFound, RateLimited
from okpay.core.i18n import gettext
from okpay.db import get_database
from okpay.helpcenter.ratelimit import SlidingWindow
from okpay.identity.access import OptionalUser, require_role
from okpay.identity.models import Role, User
from okpay.settings import get_settings
from okpay.support import access, chat, pubsub, sla
from okpay.support.chat_models import CHAT_STATUS_LABELS, ChatStatus
from okpay.support.models import AGENT_STATUS_LABELS, label
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.templating import render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
sockets = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["support"])

Staff = Annotated[User, Depends(require_role(Role.agent, Role.supervisor, Role.admin))]
FormStr = Annotated[str, Form()]

# Per connection: chat lines per minute, and "typing" at most once a second. A client that
# keeps flooding past the line limit is disconnected.
LINES_PER_MINUTE = 30
FLOOD_STRIKES = 10
TYPING_INTERVAL = 1.0
FRAME_MAX = 16_384
# Chats started per address and hour (each opens a ticket).
STARTS_PER_HOUR = 10
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_UNSUPPORTED = 1003


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def customer_url(view: chat.ChatView) -> str:
    """The chat page for its customer; a guest's carries the chat's token."""
    url = f"/support/chat/{view.chat.id}"
    if view.chat.customer_user_id is None:
        url += f"?token={quote(chat.guest_token(view.chat))}"
    return url


def _limit_starts(request: Request) -> None:
    """Each chat opens a ticket: a few per address and hour (one limiter per app)."""
    limiter: SlidingWindow | None = getattr(request.app.state, "chat_start_limiter", None)
    if limiter is None:
        limiter = request.app.state.chat_start_limiter = SlidingWindow(STARTS_PER_HOUR, 3600)
    limiter.check(context.current().ip or "unknown")


# ------------------------------------------------------------------------ customer pages


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
        _limit_starts(request)
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
        side="customer",
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


# --------------------------------------------------------------------------- agent pages


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
    view = chat.access_agent_chat(db, chat_id=chat_id, agent=agent)
    return render(
        request,
        "support/chat_room.html",
        view=view,
        side="agent",
        ws_path=f"/agent/chats/{chat_id}/ws",
        messages=chat.transcript(db, view.ticket),
        position=chat.queue_position(db, view.chat),
        due=None,
        agent_name=_agent_name(db, view),
        can_write=view.chat.agent_id == agent.id,
        status_label=lambda code: label(CHAT_STATUS_LABELS, code),
        ticket_statuses=[(code, label(AGENT_STATUS_LABELS, code)) for code in AGENT_STATUS_LABELS],
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


# ------------------------------------------------------------------------------ sockets


def hub_of(websocket: WebSocket) -> pubsub.Hub:
    """The app's hub, made on first use with the settings in force."""
    state = websocket.app.state
    hub: pubsub.Hub | None = getattr(state, "chat_hub", None)
    if hub is None:
        hub = state.chat_hub = pubsub.make_hub()
    return hub


def origin_allowed(websocket: WebSocket) -> bool:
    """Browsers send Origin with every WebSocket handshake; only our own pages may connect
    with the user's cookies."""
    origin = websocket.headers.get("origin", "")
    base = urlsplit(get_settings().base_url)
    return origin.rstrip("/") == f"{base.scheme}://{base.netloc}"


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    """A unit of work in a worker thread (the event loop never waits on the database);
    after-commit hooks, such as publishing, run there too."""

    def work() -> Any:
        with get_database().unit_of_work() as session:
            return fn(session, *args, **kwargs)

    return run_in_threadpool(work)


def _user_in(session: Any, user: User | None) -> User | None:
    return session.get(User, user.id) if user is not None else None


class Closing(Exception):
    """Ends a socket's conversation with a close code."""

    def __init__(self, code: int = 1000) -> None:
        self.code = code


class Conversation:
    """One socket's side of a chat: what the client may send, what it is shown."""

    def __init__(
        self, websocket: WebSocket, *, chat_id: int, side: str, user: User | None, token: str
    ) -> None:
        self.ws = websocket
        self.chat_id = chat_id
        self.side = side
        self.user = user
        self.token = token
        self.lines = SlidingWindow(LINES_PER_MINUTE, window=60)
        self.strikes = 0
        self.last_typing = 0.0
        self.status = ""
        self.deadline: float | None = None
        # Staff watching someone else's chat read along but neither write nor "type".
        self.writer = side == "customer"

    # What the client sends: {"type": "message", "body": ...}, {"type": "typing"}, {"type": "end"}
    async def from_client(self, raw: str) -> None:
        if len(raw) > FRAME_MAX:
            raise Closing(CLOSE_TOO_BIG)
        try:
            data = json.loads(raw)
            kind = data.get("type") if isinstance(data, dict) else None
        except ValueError:
            kind = None
        if kind == "message":
            await self._say(data.get("body"))
        elif kind == "typing":
            now = time.monotonic()
            live = self.status in ("waiting", "active")
            if live and self.writer and now - self.last_typing >= TYPING_INTERVAL:
                self.last_typing = now
                event = {"type": "typing", "side": self.side}
                await run_in_threadpool(pubsub.publish, chat.chat_channel(self.chat_id), event)
        elif kind == "end":
            try:
                await _run(self._end)
            except DomainError as err:
                await self._error(err.code, err.translated())
        else:
            self._strike()
            await self._error("bad_frame", gettext("The request could not be completed."))

    def _strike(self) -> None:
        """A client that keeps sending what it must not is disconnected."""
        self.strikes += 1
        if self.strikes >= FLOOD_STRIKES:
            raise Closing(CLOSE_POLICY)

    async def _say(self, body: Any) -> None:
        try:
            self.lines.check("line")
        except RateLimited as err:
            self._strike()
            await self._error(err.code, err.translated())
            return
        try:
            await _run(self._save, body if isinstance(body, str) else "")
        except DomainError as err:
            await self._error(err.code, err.translated())

    def _save(self, session: Any, body: str) -> None:
        chat.do_say(
            session, chat_id=self.chat_id, side=self.side, user=_user_in(session, self.user),
            body=body, token=self.token,
        )  # fmt: skip

    def _end(self, session: Any) -> None:
        chat.do_end(
            session, chat_id=self.chat_id, side=self.side, user=_user_in(session, self.user),
            token=self.token,
        )  # fmt: skip

    async def _error(self, code: str, message: str) -> None:
        await self.ws.send_json({"type": "error", "code": code, "message": message})

    # What the hub delivers.
    async def from_hub(self, channel: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if channel == chat.QUEUE_CHANNEL:
            if self.status == ChatStatus.waiting.value:
                await self.send_state()
            return
        if kind == "typing" and event.get("side") == self.side:
            return  # one's own typing is not news
        await self.ws.send_json(event)
        if kind == "accepted":
            self.status = ChatStatus.active.value
            self.deadline = None
        elif kind in ("ended", "missed"):
            raise Closing()

    async def send_state(self) -> None:
        state = await _run(self._state)
        self.status = state["status"]
        await self.ws.send_json(state)
        if self.status not in (ChatStatus.waiting.value, ChatStatus.active.value):
            raise Closing()

    def _state(self, session: Any) -> dict[str, Any]:
        if self.side == "agent":
            assert self.user is not None
            view = chat.access_agent_chat(session, chat_id=self.chat_id, agent=self.user)
            self.writer = view.chat.agent_id == self.user.id
        else:
            view = chat.access_chat(session, chat_id=self.chat_id, user=self.user, token=self.token)
        if self.side == "customer" and view.chat.status == ChatStatus.waiting.value:
            left = (chat.accept_deadline(view.chat) - clock.now()).total_seconds()
            self.deadline = time.monotonic() + max(0.0, left) + 1
        return chat.state_event(session, view)

    async def on_idle(self) -> None:
        """The customer's socket times its own chat out when no periodic job has (a separate
        worker without Redis cannot reach this process's sockets)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.deadline = None
            await _run(lambda s: chat.expire_waiting(s, chat_id=self.chat_id))

    def idle_timeout(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.05, self.deadline - time.monotonic())


async def _serve(conversation: Conversation, inbox: asyncio.Queue[tuple[str, Any]]) -> None:
    """Read the client and the hub at once until either side ends the conversation."""
    ws = conversation.ws

    async def client() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if message.get("text") is None:
                raise Closing(CLOSE_UNSUPPORTED)  # binary frames: not part of the protocol
            await conversation.from_client(message["text"])

    async def hub() -> None:
        while True:
            try:
                channel, event = await asyncio.wait_for(
                    inbox.get(), timeout=conversation.idle_timeout()
                )
            except TimeoutError:
                await conversation.on_idle()
                continue
            await conversation.from_hub(channel, event)

    exc = await _first_to_end(client(), hub())
    if isinstance(exc, WebSocketDisconnect):
        return
    code = exc.code if isinstance(exc, Closing) else 1000
    if exc is not None and not isinstance(exc, Closing):
        log.error("chat socket failed", exc_info=exc)
        code = 1011
    with contextlib.suppress(Exception):
        await ws.close(code)


async def _first_to_end(*jobs: Coroutine[Any, Any, None]) -> BaseException | None:
    """Run ``jobs`` until the first one ends; cancel the rest. Returns how it ended."""
    tasks = [asyncio.create_task(job) for job in jobs]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    ended = None
    for task in done:
        ended = task.exception() or ended
    return ended


async def _converse(websocket: WebSocket, conversation: Conversation) -> None:
    hub = hub_of(websocket)
    async with hub.subscribe(chat.chat_channel(conversation.chat_id), chat.QUEUE_CHANNEL) as inbox:
        await websocket.accept()
        try:
            await conversation.send_state()
        except Closing as stop:
            await websocket.close(stop.code)
            return
        await _serve(conversation, inbox)


@sockets.websocket("/support/chat/{chat_id}/ws")
async def customer_socket(
    websocket: WebSocket, chat_id: BigDbId, token: Annotated[str, Query(max_length=64)] = ""
) -> None:
    user: User | None = websocket.state.user
    if not origin_allowed(websocket):
        await websocket.close(CLOSE_POLICY)
        return
    try:
        await _run(lambda s: chat.access_chat(s, chat_id=chat_id, user=user, token=token))
    except NotFound:
        await websocket.close(CLOSE_POLICY)
        return
    conversation = Conversation(websocket, chat_id=chat_id, side="customer", user=user, token=token)
    await _converse(websocket, conversation)


@sockets.websocket("/agent/chats/{chat_id}/ws")
async def agent_socket(websocket: WebSocket, chat_id: BigDbId) -> None:
    user: User | None = websocket.state.user
    if not origin_allowed(websocket) or user is None or not user.is_staff:
        await websocket.close(CLOSE_POLICY)
        return
    try:
        await _run(lambda s: chat.access_agent_chat(s, chat_id=chat_id, agent=user))
    except NotFound:
        await websocket.close(CLOSE_POLICY)
        return
    conversation = Conversation(websocket, chat_id=chat_id, side="agent", user=user, token="")
    await _converse(websocket, conversation)


@sockets.websocket("/agent/chats/ws")
async def agent_list_socket(websocket: WebSocket) -> None:
    """The waiting list, sent again whenever it changes (and timed-out chats swept first)."""
    user: User | None = websocket.state.user
    if not origin_allowed(websocket) or user is None or not user.is_staff:
        await websocket.close(CLOSE_POLICY)
        return

    def refresh(session: Any) -> dict[str, Any]:
        chat.expire_waiting(session)
        return chat.list_event(session, agent=session.get(User, user.id))

    async with hub_of(websocket).subscribe(chat.QUEUE_CHANNEL) as inbox:
        await websocket.accept()
        await websocket.send_json(await _run(refresh))

        async def client() -> None:
            while True:
                await websocket.receive_text()  # nothing to say; notices a closed socket

        async def changes() -> None:
            while True:
                # Refresh at least every 15 s: waiting times grow and time-outs fall due.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(inbox.get(), timeout=15)
                while not inbox.empty():  # a burst of changes is one refresh
                    inbox.get_nowait()
                await websocket.send_json(await _run(refresh))

        await _first_to_end(client(), changes())


# ---------------------------------------------------------------------------------- API


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


@api.post("/support/chats", status_code=201, response_model=ChatStarted)
def api_start(request: Request, body: ChatStart, db: DbSession, user: OptionalUser) -> ChatStarted:
    """Start a live chat (signed in, or as a guest with name and e-mail). Talk over the
    WebSocket named in ``socket``; see docs/support.md for its messages."""
    _limit_starts(request)
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


@api.get("/support/chats/{chat_id}")
def api_chat(
    chat_id: BigDbId,
    db: DbSession,
    user: OptionalUser,
    token: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, Any]:
    """The chat's state and transcript, as its socket sends them on connect."""
    view = chat.access_chat(db, chat_id=chat_id, user=user, token=token)
    return chat.state_event(db, view)


@api.get("/agent/chats")
def api_waiting(db: DbSession, agent: Staff) -> dict[str, Any]:
    """Staff: waiting chats (longest wait first) and the caller's own active chats."""
    return chat.list_event(db, agent=agent)


@api.post("/agent/chats/{chat_id}/accept")
def api_accept(chat_id: BigDbId, db: DbSession, agent: Staff) -> dict[str, Any]:
    """Staff: take a waiting chat. 409 ``chat_taken`` when another agent was first."""
    view = chat.do_accept(db, chat_id=chat_id, agent=agent)
    return {"id": view.chat.id, "number": view.ticket.number, "status": view.chat.status}
