"""Who can read what in the forum, in one place: public threads and posts for everyone, a held
one for its author and staff, hidden or moved ones for staff only (404 for anyone else)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.community.models import ForumPost, ForumThread, Visibility
from okpay.core.errors import NotFound
from okpay.identity.models import User


def _may_see(user: User | None, visibility: str, author_user_id: int) -> bool:
    if visibility == Visibility.public.value:
        return True
    if user is None:
        return False
    if user.is_staff:
        return True
    return visibility == Visibility.held.value and author_user_id == user.id


def can_see_thread(user: User | None, thread: ForumThread) -> bool:
    return _may_see(user, thread.visibility, thread.author_user_id)


def can_see_post(user: User | None, post: ForumPost) -> bool:
    return _may_see(user, post.visibility, post.author_user_id)


def access_thread(session: Session, user: User | None, thread_id: int) -> ForumThread:
    """The thread if this reader may see it, else NotFound (never "forbidden": a hidden
    thread's existence is not told)."""
    thread = session.get(ForumThread, thread_id)
    if thread is None or not can_see_thread(user, thread):
        raise NotFound()
    return thread


def access_post(session: Session, user: User | None, post_id: int) -> tuple[ForumPost, ForumThread]:
    """A post and its thread, if the reader may see both."""
    post = session.get(ForumPost, post_id)
    if post is None or not can_see_post(user, post):
        raise NotFound()
    return post, access_thread(session, user, post.thread_id)


def visible_posts(session: Session, user: User | None, thread: ForumThread) -> list[ForumPost]:
    """The thread's posts this reader may see, question first, then answers by time."""
    rows = session.scalars(
        select(ForumPost)
        .where(ForumPost.thread_id == thread.id)
        .order_by(ForumPost.is_question.desc(), ForumPost.created_at, ForumPost.id)
    )
    return [p for p in rows if can_see_post(user, p)]
