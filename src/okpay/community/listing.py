"""Lists of threads: by category, solved or not, sorted by latest activity, votes or
unanswered first; pinned threads always on top. Public threads only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from okpay.community.models import ForumPost, ForumThread, Visibility
from okpay.identity.models import User

Sort = Literal["activity", "votes", "unanswered"]
SORTS: tuple[Sort, ...] = ("activity", "votes", "unanswered")
PAGE_SIZE = 20


@dataclass(frozen=True)
class ThreadPage:
    threads: list[ForumThread]
    total: int
    page: int
    pages: int
    scores: dict[int, int]


def _score_of_thread() -> Any:
    return (
        select(func.coalesce(func.sum(ForumPost.score), 0))
        .where(
            ForumPost.thread_id == ForumThread.id,
            ForumPost.visibility == Visibility.public.value,
        )
        .correlate(ForumThread)
        .scalar_subquery()
    )


def _filtered(category_id: int | None, solved: bool | None, sort: Sort) -> Select[Any]:
    query = select(ForumThread).where(ForumThread.visibility == Visibility.public.value)
    if category_id is not None:
        query = query.where(ForumThread.category_id == category_id)
    if solved is True:
        query = query.where(ForumThread.accepted_post_id.is_not(None))
    elif solved is False:
        query = query.where(ForumThread.accepted_post_id.is_(None))
    if sort == "unanswered":
        query = query.where(ForumThread.reply_count == 0)
    return query


def list_threads(
    session: Session,
    *,
    category_id: int | None = None,
    solved: bool | None = None,
    sort: Sort = "activity",
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> ThreadPage:
    """One page of public threads, pinned first."""
    base = _filtered(category_id, solved, sort)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    pages = max(1, -(-total // page_size))
    page = max(1, min(page, pages))
    score = _score_of_thread()
    order: list[Any] = [ForumThread.is_pinned.desc()]
    if sort == "votes":
        order.append(score.desc())
    order += [ForumThread.last_activity_at.desc(), ForumThread.id.desc()]
    rows = session.execute(
        base.add_columns(score).order_by(*order).limit(page_size).offset((page - 1) * page_size)
    ).all()
    return ThreadPage(
        threads=[r[0] for r in rows],
        total=total,
        page=page,
        pages=pages,
        scores={r[0].id: int(r[1] or 0) for r in rows},
    )


def authors(session: Session, user_ids: set[int]) -> dict[int, User]:
    """The users behind these ids (for names and staff badges)."""
    if not user_ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}


def display_name(user: User | None) -> str:
    """How a post's author is shown: their name, else the part of the e-mail address before
    the @ with most of it hidden (never the address itself)."""
    from okpay.core.i18n import gettext

    if user is None:
        return gettext("Former member")
    if user.name.strip():
        return user.name.strip()
    local = user.email.split("@")[0]
    return f"{local[:2]}***"
