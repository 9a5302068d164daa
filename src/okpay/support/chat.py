"""Live chat: a customer waits, one agent accepts, they talk, either ends it.

Each chat is backed by a ticket on channel "chat", opened when the chat starts, so the
transcript is the ticket's messages from the first question on: customer lines go through
:func:`service.do_customer_message`, agent lines through :func:`service.do_agent_reply`
without an e-mail per line. A chat nobody accepts within ``OKPAY_CHAT_ACCEPT_SECONDS``
carries on as a normal ticket and the customer is told by e-mail (:func:`expire_waiting`).

What sockets need to hear is published after commit (:mod:`okpay.support.pubsub`):
channel ``chat:<id>`` for one conversation, ``queue`` whenever the waiting list changes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import Conflict, NotFound, ValidationFailed
from okpay.core.i18n import N_, format_datetime, gettext, use_locale
from okpay.core.security import sign
from okpay.db import for_update
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import access, assignment, checks, emails, events, messages, tickets
from okpay.support import status as ticket_status
from okpay.support.chat_models import ChatStatus, SupportChat
from okpay.support.models import MessageKind, Status, Ticket, TicketMessage
from okpay.support.pubsub import publish_on_commit

# One chat line; longer explanations belong in a request with files.
MESSAGE_MAX = 2000
SUBJECT_WORDS = 80
QUEUE_CHANNEL = "queue"
SIDES = ("customer", "agent")


class ChatTaken(Conflict):
    code = "chat_taken"
    message = N_("Another agent has already accepted this chat.")


class ChatOver(Conflict):
    code = "chat_over"
    message = N_("This chat has ended.")


class ChatMissed(ChatOver):
    """Too late to accept: the chat has just been turned into a ticket, and that is kept."""

    persist = True


def chat_channel(chat_id: int) -> str:
    return f"chat:{chat_id}"


def accept_deadline(chat: SupportChat) -> datetime:
    """When a waiting chat turns into a normal ticket."""
    return chat.created_at + timedelta(seconds=get_settings().chat_accept_seconds)


# ------------------------------------------------------------------------------ access


def guest_token(chat: SupportChat) -> str:
    """What a guest's chat page carries to open its socket (guests have no session)."""
    return sign(f"{chat.id}:{chat.ticket_id}:{chat.created_at.isoformat()}", "support-chat")[:32]


@dataclass
class ChatView:
    chat: SupportChat
    ticket: Ticket


def _load(session: Session, chat_id: int) -> ChatView:
    chat = session.get(SupportChat, chat_id)
    if chat is None:
        raise NotFound()
    ticket = session.get(Ticket, chat.ticket_id)
    assert ticket is not None
    return ChatView(chat, ticket)


def access_chat(session: Session, *, chat_id: int, user: User | None, token: str) -> ChatView:
    """The chat as its customer may see it: their own account's chat, or a guest chat with
    its token. Anything else (someone else's chat, a wrong token) is NotFound."""
    view = _load(session, chat_id)
    owner = view.chat.customer_user_id
    if owner is not None and user is not None and owner == user.id:
        return view
    if owner is None and token and hmac.compare_digest(guest_token(view.chat), token):
        return view
    raise NotFound()


def access_agent_chat(session: Session, *, chat_id: int, agent: User) -> ChatView:
    """Any chat, for staff."""
    access.require_staff(agent)
    return _load(session, chat_id)


# ----------------------------------------------------------------------------- reading


def queue_position(session: Session, chat: SupportChat) -> int | None:
    """1 for the chat agents will see first; None once it is no longer waiting."""
    if chat.status != ChatStatus.waiting.value:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(SupportChat)
        .where(SupportChat.status == ChatStatus.waiting.value, SupportChat.id < chat.id)
    )
    return int(ahead or 0) + 1


def transcript(session: Session, ticket: Ticket) -> list[TicketMessage]:
    """What both sides see: the ticket's public messages and system notices."""
    return messages.list_messages(session, ticket, include_internal=False)


def message_event(message: TicketMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "id": message.id,
        "side": message.author_side,
        "author": message.author_name,
        "body": message.body,
        "at": message.created_at.isoformat(),
        "time": format_datetime(message.created_at, "short"),
    }


def state_event(session: Session, view: ChatView) -> dict[str, Any]:
    """Everything a socket shows when it (re)connects."""
    agent = session.get(User, view.chat.agent_id) if view.chat.agent_id else None
    return {
        "type": "state",
        "status": view.chat.status,
        "position": queue_position(session, view.chat),
        "agent": agent.display_name if agent is not None else None,
        "number": view.ticket.number,
        "messages": [message_event(m) for m in transcript(session, view.ticket)],
    }


@dataclass
class WaitingChat:
    id: int
    number: str
    name: str
    question: str
    created_at: datetime
    locale: str


def waiting_chats(session: Session, *, limit: int = 100) -> list[WaitingChat]:
    """The agents' list: waiting chats, longest wait first, with the first question."""
    first_message = (
        select(TicketMessage.body)
        .where(TicketMessage.ticket_id == Ticket.id)
        .order_by(TicketMessage.id)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(SupportChat.id, Ticket.number, Ticket.requester_name, first_message,
               SupportChat.created_at, Ticket.locale)
        .join(Ticket, Ticket.id == SupportChat.ticket_id)
        .where(SupportChat.status == ChatStatus.waiting.value)
        .order_by(SupportChat.id)
        .limit(limit)
    ).all()  # fmt: skip
    return [
        WaitingChat(cid, number, name, (question or "")[:200], created, locale)
        for cid, number, name, question, created, locale in rows
    ]


def agent_chats(session: Session, *, agent: User) -> list[ChatView]:
    """The chats this agent is in now."""
    rows = session.execute(
        select(SupportChat, Ticket)
        .join(Ticket, Ticket.id == SupportChat.ticket_id)
        .where(SupportChat.agent_id == agent.id, SupportChat.status == ChatStatus.active.value)
        .order_by(SupportChat.id)
    ).all()
    return [ChatView(chat, ticket) for chat, ticket in rows]


def list_event(session: Session, *, agent: User) -> dict[str, Any]:
    """The agents' list as a socket sends it."""
    now = clock.now()
    return {
        "type": "list",
        "waiting": [
            {
                "id": w.id,
                "number": w.number,
                "name": w.name,
                "question": w.question,
                "waited": int((now - w.created_at).total_seconds()),
                "locale": w.locale,
            }
            for w in waiting_chats(session)
        ],
        "mine": [
            {"id": v.chat.id, "number": v.ticket.number, "name": v.ticket.requester_name}
            for v in agent_chats(session, agent=agent)
        ],
    }


# ------------------------------------------------------------------------------ checks


def check_line(raw: str) -> str:
    """One chat line: the ticket's rules (control characters out, card numbers masked) and
    a chat-sized limit."""
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed(N_("Please type a message."), code="message_required", field="body")
    if len(text) > MESSAGE_MAX:
        raise ValidationFailed(
            N_("Use at most %(max)s characters."), code="too_long", field="body", max=MESSAGE_MAX
        )
    return checks.check_body(text)


def _subject(question: str) -> str:
    first = question.strip().splitlines()[0] if question.strip() else ""
    if len(first) > SUBJECT_WORDS:
        first = first[: SUBJECT_WORDS - 1].rstrip() + "…"
    return first or gettext("Live chat")


# ----------------------------------------------------------------------------- actions


def do_start_chat(
    session: Session,
    *,
    question: str,
    user: User | None,
    name: str = "",
    email: str = "",
    locale: str | None = None,
) -> ChatView:
    """A customer asks for a chat: the ticket opens (no acknowledgement e-mail, they are on
    the page) and the chat waits for an agent."""
    body = check_line(question)
    ticket = tickets.do_open_ticket(
        session,
        tickets.NewTicket(
            channel="chat", subject=_subject(body), body=body, name=name, email=email,
            user=user, locale=locale, acknowledge=False, tags=["live-chat"],
        ),
    )  # fmt: skip
    chat = SupportChat(
        ticket_id=ticket.id,
        status=ChatStatus.waiting.value,
        customer_user_id=user.id if user is not None else None,
        created_at=clock.now(),
    )
    session.add(chat)
    session.flush()
    events.record_event(session, ticket, "chat_started", actor=user, chat_id=chat.id)
    publish_on_commit(session, QUEUE_CHANNEL, {"type": "queue"})
    return ChatView(chat, ticket)


def do_accept(session: Session, *, chat_id: int, agent: User) -> ChatView:
    """The agent takes the chat. One conditional update decides between agents pressing
    "accept" at once (and the time-out): exactly one of them changes the row."""
    access.require_staff(agent)
    now = clock.now()
    cutoff = now - timedelta(seconds=get_settings().chat_accept_seconds)
    won = session.execute(
        update(SupportChat)
        .where(
            SupportChat.id == chat_id,
            SupportChat.status == ChatStatus.waiting.value,
            SupportChat.created_at > cutoff,
        )
        .values(status=ChatStatus.active.value, agent_id=agent.id, accepted_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    view = _load(session, chat_id)
    session.refresh(view.chat)
    if won != 1:
        if view.chat.status == ChatStatus.active.value:
            raise ChatTaken()
        if view.chat.status == ChatStatus.waiting.value:
            expire_waiting(session, now=now, chat_id=chat_id)
            raise ChatMissed()
        raise ChatOver()
    assignment.do_assign(session, ticket=view.ticket, assignee=agent, agent=agent)
    events.record_event(session, view.ticket, "chat_accepted", actor=agent, chat_id=chat_id)
    audit.record(
        session, "chat_accept", actor_user_id=agent.id,
        subject_user_id=view.ticket.requester_user_id, object_type="ticket",
        object_id=view.ticket.number, chat_id=chat_id,
    )  # fmt: skip
    session.flush()
    publish_on_commit(
        session, chat_channel(chat_id), {"type": "accepted", "agent": agent.display_name}
    )
    publish_on_commit(session, QUEUE_CHANNEL, {"type": "queue"})
    return view


def _access_side(
    session: Session, *, chat_id: int, side: str, user: User | None, token: str
) -> ChatView:
    """The chat for one of its two sides: its customer, or the agent who accepted it."""
    if side != "agent":
        return access_chat(session, chat_id=chat_id, user=user, token=token)
    if user is None:
        raise NotFound()
    view = access_agent_chat(session, chat_id=chat_id, agent=user)
    if view.chat.agent_id != user.id:
        raise ChatTaken()
    return view


def do_say(
    session: Session, *, chat_id: int, side: str, user: User | None, body: str, token: str = ""
) -> TicketMessage:
    """One line from the customer (while waiting or talking) or from the chat's agent."""
    text = check_line(body)
    view = _access_side(session, chat_id=chat_id, side=side, user=user, token=token)
    if side == "agent":
        assert user is not None
        if view.chat.status != ChatStatus.active.value:
            raise ChatOver()
        message = messages.do_agent_reply(
            session, ticket=view.ticket, agent=user, body=text, then_status=Status.open.value,
            channel="chat", notify=False,
        )  # fmt: skip
    else:
        if view.chat.status not in (ChatStatus.waiting.value, ChatStatus.active.value):
            raise ChatOver()
        message = messages.do_customer_message(
            session, ticket=view.ticket, body=text, channel="chat", author=user
        )
    publish_on_commit(session, chat_channel(chat_id), message_event(message))
    return message


def do_end(
    session: Session, *, chat_id: int, side: str, user: User | None, token: str = ""
) -> ChatView:
    """Either side ends the chat (again is harmless). A chat the customer leaves before any
    agent accepted it stays a normal ticket, answered by e-mail."""
    view = _access_side(session, chat_id=chat_id, side=side, user=user, token=token)
    now = clock.now()
    ended = session.execute(
        update(SupportChat)
        .where(
            SupportChat.id == chat_id,
            SupportChat.status.in_((ChatStatus.waiting.value, ChatStatus.active.value)),
        )
        .values(status=ChatStatus.ended.value, ended_at=now, ended_by=side)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(view.chat)
    if ended != 1:
        return view
    events.record_event(session, view.ticket, "chat_ended", actor=user, chat_id=chat_id, by=side)
    if side == "agent" and user is not None:
        audit.record(
            session, "chat_end", actor_user_id=user.id,
            subject_user_id=view.ticket.requester_user_id, object_type="ticket",
            object_id=view.ticket.number, chat_id=chat_id,
        )  # fmt: skip
    view.ticket.updated_at = now
    session.flush()
    publish_on_commit(session, chat_channel(chat_id), {"type": "ended", "by": side})
    publish_on_commit(session, QUEUE_CHANNEL, {"type": "queue"})
    return view


def expire_waiting(
    session: Session, *, now: datetime | None = None, chat_id: int | None = None
) -> list[SupportChat]:
    """Chats nobody accepted in time become normal tickets: the customer is told on the
    page and by e-mail, with the request number and when to expect the answer."""
    now = now or clock.now()
    cutoff = now - timedelta(seconds=get_settings().chat_accept_seconds)
    stmt = select(SupportChat).where(
        SupportChat.status == ChatStatus.waiting.value, SupportChat.created_at <= cutoff
    )
    if chat_id is not None:
        stmt = stmt.where(SupportChat.id == chat_id)
    lock = for_update(session.get_bind().dialect.name)
    missed = list(
        session.scalars(stmt.order_by(SupportChat.id).with_for_update(skip_locked=True, **lock))
    )
    for chat in missed:
        ticket = session.get(Ticket, chat.ticket_id)
        assert ticket is not None
        chat.status = ChatStatus.missed.value
        chat.ended_at = now
        chat.ended_by = "timeout"
        with use_locale(ticket.locale):
            notice = gettext(
                "All our agents were busy. Your chat is now request %(number)s and we will "
                "answer you by e-mail.",
                number=ticket.number,
            )
        messages.add_message_row(
            session, ticket, kind=MessageKind.system.value, channel="chat", side="system",
            author=None, author_name="OKPay", body=notice, at=now,
        )  # fmt: skip
        events.record_event(session, ticket, "chat_missed", chat_id=chat.id)
        emails.mail_requester(session, ticket, "support_chat_missed")
        publish_on_commit(
            session, chat_channel(chat.id), {"type": "missed", "number": ticket.number}
        )
    if missed:
        session.flush()
        publish_on_commit(session, QUEUE_CHANNEL, {"type": "queue"})
    return missed


def do_set_status_after_chat(
    session: Session, *, chat_id: int, agent: User, status: str
) -> ChatView:
    """Once the chat is over, its agent (or a supervisor) sets where the ticket stands."""
    view = access_agent_chat(session, chat_id=chat_id, agent=agent)
    if view.chat.status == ChatStatus.active.value:
        raise Conflict(N_("End the chat first."), code="chat_active")
    ticket_status.do_set_status(session, ticket=view.ticket, status=status, agent=agent)
    return view
