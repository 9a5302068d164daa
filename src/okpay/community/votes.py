"""Votes on answers and the accepted answer.

One vote per user per post (a unique constraint): +1, −1, or 0 to withdraw; changing it moves
the post's stored score by the difference in one UPDATE, so two requests at once never lose a
vote. Nobody votes on their own post or on a question. The asker or staff accept one answer
(the thread is then solved) and may change or withdraw that choice."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.community import notify
from okpay.community.access import access_post, can_see_post
from okpay.community.models import ForumPost, ForumThread, ForumVote, Visibility
from okpay.core import clock
from okpay.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from okpay.core.i18n import N_
from okpay.db import for_update
from okpay.identity.models import User


def _signed_in(user: User | None) -> User:
    if user is None:
        raise NotAuthenticated(N_("Please sign in to vote."), code="forum_sign_in_required")
    return user


def do_vote(session: Session, *, user: User | None, post_id: int, value: int) -> ForumPost:
    """Set the user's vote on an answer to ``value`` (1, -1, or 0 to withdraw it)."""
    voter = _signed_in(user)
    if value not in (-1, 0, 1):
        raise ValidationFailed(N_("A vote is +1 or −1."), code="forum_vote_invalid",
                               field="value")  # fmt: skip
    post, _thread = access_post(session, voter, post_id)
    if post.is_question or post.visibility != Visibility.public.value:
        raise Conflict(N_("Only published answers can be voted on."), code="forum_vote_target")
    if post.author_user_id == voter.id:
        raise PermissionDenied(N_("You cannot vote on your own answer."),
                               code="forum_vote_own_post")  # fmt: skip
    dialect = session.get_bind().dialect.name
    existing = session.scalar(
        select(ForumVote)
        .where(ForumVote.post_id == post.id, ForumVote.user_id == voter.id)
        .with_for_update(**for_update(dialect))
    )
    if existing is None and value:
        try:
            with session.begin_nested():
                session.add(ForumVote(post_id=post.id, user_id=voter.id, value=value,
                                      created_at=clock.now()))  # fmt: skip
            delta = value
        except IntegrityError:  # the same user's other request won the race: change that one
            existing = session.scalar(
                select(ForumVote)
                .where(ForumVote.post_id == post.id, ForumVote.user_id == voter.id)
                .with_for_update(**for_update(dialect))
            )
    if existing is not None:
        delta = value - existing.value
        if value:
            existing.value = value
        else:
            session.delete(existing)
    elif not value:
        delta = 0
    if delta:
        session.execute(
            update(ForumPost).where(ForumPost.id == post.id).values(score=ForumPost.score + delta)
        )
    session.flush()
    session.refresh(post)
    return post


def my_votes(session: Session, *, user: User | None, post_ids: list[int]) -> dict[int, int]:
    """The reader's votes on these posts (post id → +1/−1)."""
    if user is None or not post_ids:
        return {}
    rows = session.execute(
        select(ForumVote.post_id, ForumVote.value).where(
            ForumVote.user_id == user.id, ForumVote.post_id.in_(post_ids)
        )
    )
    return {post_id: value for post_id, value in rows}


def do_accept(
    session: Session, *, user: User | None, thread: ForumThread, post_id: int | None
) -> ForumThread:
    """Mark ``post_id`` as the accepted answer (None withdraws the choice). The asker or staff
    only; the answer's author is e-mailed (unless they accepted it themselves)."""
    actor = _signed_in(user)
    if actor.id != thread.author_user_id and not actor.is_staff:
        raise PermissionDenied(N_("Only the person who asked, or our staff, can accept an "
                                  "answer."), code="forum_accept_not_asker")  # fmt: skip
    if post_id is None:
        thread.accepted_post_id = None
        thread.accepted_by_user_id = None
        thread.accepted_at = None
        session.flush()
        return thread
    post = session.get(ForumPost, post_id)
    if (
        post is None
        or post.thread_id != thread.id
        or post.is_question
        or not can_see_post(actor, post)
        or post.visibility != Visibility.public.value
    ):
        raise NotFound()
    changed = thread.accepted_post_id != post.id
    thread.accepted_post_id = post.id
    thread.accepted_by_user_id = actor.id
    thread.accepted_at = clock.now()
    thread.last_activity_at = thread.accepted_at
    session.flush()
    if changed:
        notify.answer_accepted(session, thread=thread, post=post, by=actor)
    return thread
