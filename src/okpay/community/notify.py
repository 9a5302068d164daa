"""E-mail about the forum: a new answer (to the asker and everyone following the thread) and
an accepted answer (to its author), each in the recipient's language, queued after commit.

Never to the author of the post itself, never about a held or hidden post. Each e-mail carries
a one-click unsubscribe: a signed link to ``/community/unsubscribe/<token>`` (a page that asks
before it acts, so a mail scanner following the link changes nothing) and the
``List-Unsubscribe``/``List-Unsubscribe-Post`` headers mail programs show as a button."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.community.models import ForumPost, ForumSubscription, ForumThread, Visibility
from okpay.core import clock
from okpay.identity import users as identity_users
from okpay.identity.models import User
from okpay.mail import service as mail
from okpay.settings import get_settings


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().secret_key, salt="forum-unsubscribe")


def unsubscribe_token(*, user_id: int, thread_id: int) -> str:
    return str(_serializer().dumps([user_id, thread_id]))


def read_unsubscribe_token(token: str) -> tuple[int, int] | None:
    """(user id, thread id) from a link, or None when it was not made by us."""
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and 0 < v < 2**31 for v in value)
    ):
        return None
    return value[0], value[1]


def do_unsubscribe(session: Session, *, user_id: int, thread_id: int) -> bool:
    """Stop e-mails about a thread for this user; False when there was nothing to stop."""
    row = session.scalar(
        select(ForumSubscription).where(
            ForumSubscription.thread_id == thread_id, ForumSubscription.user_id == user_id
        )
    )
    if row is None:
        thread = session.get(ForumThread, thread_id)
        if thread is None or identity_users.get_user(session, user_id) is None:
            return False
        with session.begin_nested():
            now = clock.now()
            session.add(
                ForumSubscription(
                    thread_id=thread_id, user_id=user_id, created_at=now, unsubscribed_at=now
                )
            )
        return True
    if row.unsubscribed_at is None:
        row.unsubscribed_at = clock.now()
    session.flush()
    return True


def _send(
    session: Session, *, to: User, template: str, thread: ForumThread, post: ForumPost,
    extra: dict[str, str] | None = None,
) -> None:  # fmt: skip
    from okpay.community.render import excerpt
    from okpay.community.urls import thread_path

    base = get_settings().base_url
    link = f"{base}/community/unsubscribe/{unsubscribe_token(user_id=to.id, thread_id=thread.id)}"
    mail.send_email(
        session,
        to=to.email,
        template=template,
        locale=to.preferred_locale or "zh_CN",
        user_id=to.id,
        context={
            "name": to.name or to.email.split("@")[0],
            "title": thread.title,
            "thread_url": f"{base}{thread_path(thread)}#post-{post.id}",
            "excerpt": excerpt(post.body_markdown, 300),
            "unsubscribe_url": link,
            **(extra or {}),
        },
        headers={
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _wants_mail(user: User | None) -> bool:
    return user is not None and user.email_verified_at is not None and user.status == "active"


def new_reply(session: Session, *, thread: ForumThread, post: ForumPost) -> int:
    """E-mail the thread's followers about a public answer; returns how many were queued."""
    if post.visibility != Visibility.public.value or thread.visibility != Visibility.public.value:
        return 0
    follower_ids = set(
        session.scalars(
            select(ForumSubscription.user_id).where(
                ForumSubscription.thread_id == thread.id,
                ForumSubscription.unsubscribed_at.is_(None),
            )
        )
    )
    follower_ids.discard(post.author_user_id)
    sent = 0
    for user_id in sorted(follower_ids):
        user = identity_users.get_user(session, user_id)
        if _wants_mail(user):
            assert user is not None
            _send(session, to=user, template="community_new_reply", thread=thread, post=post)
            sent += 1
    return sent


def answer_accepted(session: Session, *, thread: ForumThread, post: ForumPost, by: User) -> bool:
    """E-mail an answer's author that it was accepted (not when they accepted it themselves,
    nor when they unsubscribed from the thread)."""
    if post.author_user_id == by.id or post.visibility != Visibility.public.value:
        return False
    stopped = session.scalar(
        select(ForumSubscription.id).where(
            ForumSubscription.thread_id == thread.id,
            ForumSubscription.user_id == post.author_user_id,
            ForumSubscription.unsubscribed_at.is_not(None),
        )
    )
    author = identity_users.get_user(session, post.author_user_id)
    if stopped is not None or not _wants_mail(author):
        return False
    assert author is not None
    _send(session, to=author, template="community_answer_accepted", thread=thread, post=post)
    return True
