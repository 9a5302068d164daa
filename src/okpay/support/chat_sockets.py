"""Live chat WebSockets: ``/support/chat/{id}/ws`` (customer), ``/agent/chats/{id}/ws`` and
the live waiting list ``/agent/chats/ws`` (agents).

Sockets check the Origin header against OKPAY_BASE_URL before anything else (cross-site
WebSocket hijacking), then the session cookie (the request middleware resolves it for
WebSockets too) or, for guests, the chat's signed token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from okpay.core import clock
from okpay.core.dbid import BigDbId
from okpay.core.errors import DomainError, NotFound, RateLimited
from okpay.core.i18n import gettext
from okpay.core.ratelimit import SlidingWindow
from okpay.db import get_database
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import chat, pubsub
from okpay.support.chat_models import ChatStatus

log = logging.getLogger(__name__)


router = APIRouter(include_in_schema=False)


# Per connection: chat lines per minute, and "typing" at most once a second. A client that
# keeps flooding past the line limit is disconnected.
LINES_PER_MINUTE = 30


FLOOD_STRIKES = 10


TYPING_INTERVAL = 1.0


FRAME_MAX = 16_384


CLOSE_POLICY = 1008


CLOSE_TOO_BIG = 1009


CLOSE_UNSUPPORTED = 1003


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


@router.websocket("/support/chat/{chat_id}/ws")
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


@router.websocket("/agent/chats/{chat_id}/ws")
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


@router.websocket("/agent/chats/ws")
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
