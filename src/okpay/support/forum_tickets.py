"""Moving a forum thread into a private ticket (staff).

When a public question turns out to be about the asker's own account, staff move it: the
question opens a ticket on channel ``web`` with the asker as requester, the answers follow as
messages under their authors' names, an internal note records where it came from, and the
thread's address then only says that it moved (its content is no longer public). The asker is
e-mailed, in their language, the request number it continues under.

This lives in support because support sits above the forum: it may call the forum's
moderation, never the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.community import moderation
from okpay.community.models import ForumPost, ForumThread, Visibility
from okpay.core import audit, clock
from okpay.core.errors import Conflict, NotFound
from okpay.core.i18n import N_, gettext, use_locale
from okpay.identity.models import User
from okpay.support import emails, event_text, events, messages, tickets
from okpay.support.models import MessageKind, Ticket

FORUM_TAG = "forum"
MOVED_EVENT = "moved_from_forum"
_MOVED_VISIBILITIES = (Visibility.public.value, Visibility.held.value)


def do_move_thread_to_ticket(
    session: Session, *, moderator: User, thread_id: int, reason: str = ""
) -> Ticket:
    """Move a thread into a new private ticket for its asker; returns the ticket."""
    moderation.check_moderator(moderator)
    reason = moderation.check_reason(reason, required=False)
    thread = session.get(ForumThread, thread_id)
    if thread is None:
        raise NotFound()
    if thread.visibility == Visibility.moved.value:
        raise Conflict(
            N_("This thread was already moved into request %(number)s."),
            code="forum_thread_moved",
            number=thread.moved_to_ticket_number or "",
        )
    posts = list(
        session.scalars(
            select(ForumPost)
            .where(ForumPost.thread_id == thread.id)
            .order_by(ForumPost.is_question.desc(), ForumPost.created_at, ForumPost.id)
        )
    )
    question = posts[0] if posts and posts[0].is_question else None
    author = session.get(User, thread.author_user_id)
    if question is None or author is None:
        raise NotFound()
    locale = author.preferred_locale or thread.locale
    link = moderation.thread_link(thread)
    ticket = tickets.do_open_ticket(
        session,
        tickets.NewTicket(
            channel="web",
            subject=thread.title,
            body=question.body_markdown,
            user=author,
            locale=locale,
            tags=[FORUM_TAG],
            context={"forum_thread_id": thread.id},
            acknowledge=False,  # the author gets the "moved" e-mail below instead
        ),
    )
    now = clock.now()
    with use_locale(ticket.locale):
        for post in posts[1:]:
            if post.visibility in _MOVED_VISIBILITIES:
                _copy_answer(session, ticket, post, asker=author, at=now)
        note = gettext(
            "Moved from the community forum by %(name)s: %(link)s", name=moderator.display_name,
            link=link,
        )  # fmt: skip
        if reason:
            note += "\n" + gettext("Reason: %(reason)s", reason=reason)
    message = messages.add_message_row(
        session, ticket, kind=MessageKind.internal.value, channel="web", side="agent",
        author=moderator, author_name=moderator.display_name, body=note, at=now,
    )  # fmt: skip
    events.record_event(session, ticket, MOVED_EVENT, actor=moderator, thread_id=thread.id,
                        message_id=message.id)  # fmt: skip
    for post in posts:
        if post.visibility in _MOVED_VISIBILITIES:
            post.visibility = Visibility.moved.value
    thread.visibility = Visibility.moved.value
    thread.moved_to_ticket_number = ticket.number
    thread.moderated_by_user_id = moderator.id
    thread.moderation_reason = reason
    audit.record(session, "forum_thread_moved_to_ticket", actor_user_id=moderator.id,
                 subject_user_id=author.id, object_type="forum_thread", object_id=thread.id,
                 ticket=ticket.number, reason=reason)  # fmt: skip
    emails.mail_requester(session, ticket, "community_thread_moved", title=thread.title)
    session.flush()
    return ticket


def _copy_answer(
    session: Session, ticket: Ticket, post: ForumPost, *, asker: User, at: datetime
) -> None:
    writer = session.get(User, post.author_user_id)
    author: User | None = writer
    if writer is not None and writer.id == asker.id:
        side, name = "customer", writer.display_name
    elif writer is not None and writer.is_staff:
        side, name = "agent", writer.display_name
    else:  # another reader: their words, but not a party to the request
        author, side = None, "customer"
        name = gettext("%(name)s (community member)", name=_name(writer))
    messages.add_message_row(
        session, ticket, kind=MessageKind.public.value, channel="web", side=side,
        author=author, author_name=name, body=post.body_markdown, at=at,
    )  # fmt: skip


def _name(user: User | None) -> str:
    return user.display_name if user is not None else "?"


def _moved_sentence(facts: event_text.EventFacts, data: Mapping[str, Any]) -> str:
    return gettext("%(actor)s moved this request here from the community forum", actor=facts.actor)


event_text.add_renderer(MOVED_EVENT, _moved_sentence)
