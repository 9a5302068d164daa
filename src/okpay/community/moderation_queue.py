"""What the staff moderation queue lists: open reports (one row per post), held posts,
recently hidden posts and threads, and users barred from posting. Staff only: every
function asks :func:`okpay.community.moderation.check_moderator` first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from okpay.community import moderation
from okpay.community.models import (
    ForumBan,
    ForumPost,
    ForumReport,
    ForumThread,
    ReportStatus,
    Visibility,
)
from okpay.core import clock
from okpay.identity.models import User

EXCERPT_CHARS = 160
LIMIT = 50


def excerpt(text: str, size: int = EXCERPT_CHARS) -> str:
    """The start of a post's text on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


@dataclass
class PostRow:
    """One post in the queue, with its thread and author."""

    post: ForumPost
    thread: ForumThread
    author: User | None
    excerpt: str


@dataclass
class ReportRow(PostRow):
    """The open reports on one post."""

    reasons: Counter[str] = field(default_factory=Counter)
    count: int = 0
    reporters: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    first_at: datetime | None = None


@dataclass
class BanRow:
    ban: ForumBan
    user: User | None
    banned_by: User | None


def _users(session: Session, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def _post_rows(session: Session, posts: list[ForumPost]) -> list[PostRow]:
    threads = {
        t.id: t
        for t in session.scalars(
            select(ForumThread).where(ForumThread.id.in_({p.thread_id for p in posts}))
        )
    } if posts else {}  # fmt: skip
    users = _users(session, {p.author_user_id for p in posts})
    return [
        PostRow(
            post=p,
            thread=threads[p.thread_id],
            author=users.get(p.author_user_id),
            excerpt=excerpt(p.body_markdown),
        )
        for p in posts
    ]


def open_reports(session: Session, *, moderator: User, limit: int = LIMIT) -> list[ReportRow]:
    """Posts with open reports, the most reported first, then the oldest."""
    moderation.check_moderator(moderator)
    reports = list(
        session.scalars(
            select(ForumReport)
            .where(ForumReport.status == ReportStatus.open.value)
            .order_by(ForumReport.created_at, ForumReport.id)
            .limit(limit * 10)
        )
    )
    by_post: dict[int, list[ForumReport]] = {}
    for report in reports:
        by_post.setdefault(report.post_id, []).append(report)
    posts = (
        list(session.scalars(select(ForumPost).where(ForumPost.id.in_(by_post)))) if by_post else []
    )
    reporters = _users(session, {r.reporter_user_id for r in reports})
    rows: list[ReportRow] = []
    for base in _post_rows(session, posts):
        items = by_post[base.post.id]
        rows.append(
            ReportRow(
                post=base.post, thread=base.thread, author=base.author, excerpt=base.excerpt,
                reasons=Counter(r.reason for r in items), count=len(items),
                reporters=[_name(reporters.get(r.reporter_user_id)) for r in items],
                notes=[r.note for r in items if r.note], first_at=items[0].created_at,
            )
        )  # fmt: skip
    rows.sort(key=lambda r: (-r.count, r.first_at or clock.now()))
    return rows[:limit]


def held_posts(session: Session, *, moderator: User, limit: int = LIMIT) -> list[PostRow]:
    """Posts waiting for review, oldest first."""
    moderation.check_moderator(moderator)
    posts = session.scalars(
        select(ForumPost)
        .where(ForumPost.visibility == Visibility.held.value)
        .order_by(ForumPost.created_at, ForumPost.id)
        .limit(limit)
    )
    return _post_rows(session, list(posts))


def hidden_posts(session: Session, *, moderator: User, limit: int = LIMIT) -> list[PostRow]:
    """Hidden posts and the questions of hidden threads, the most recent first."""
    moderation.check_moderator(moderator)
    hidden_threads = select(ForumThread.id).where(ForumThread.visibility == Visibility.hidden.value)
    posts = session.scalars(
        select(ForumPost)
        .where(
            or_(
                ForumPost.visibility == Visibility.hidden.value,
                ForumPost.is_question & ForumPost.thread_id.in_(hidden_threads),
            )
        )
        .order_by(ForumPost.created_at.desc(), ForumPost.id.desc())
        .limit(limit)
    )
    return _post_rows(session, list(posts))


def active_bans(session: Session, *, moderator: User, limit: int = LIMIT) -> list[BanRow]:
    """Users barred from posting now, the most recent ban first."""
    moderation.check_moderator(moderator)
    bans = list(
        session.scalars(
            select(ForumBan)
            .where(or_(ForumBan.until.is_(None), ForumBan.until > clock.now()))
            .order_by(ForumBan.created_at.desc())
            .limit(limit)
        )
    )
    users = _users(session, {b.user_id for b in bans} | {b.banned_by_user_id for b in bans})
    return [
        BanRow(ban=b, user=users.get(b.user_id), banned_by=users.get(b.banned_by_user_id))
        for b in bans
    ]


def counts(session: Session, *, moderator: User) -> dict[str, int]:
    """How many rows each tab has (for the tab labels)."""
    return {
        "reports": len(open_reports(session, moderator=moderator)),
        "held": len(held_posts(session, moderator=moderator)),
        "hidden": len(hidden_posts(session, moderator=moderator)),
        "bans": len(active_bans(session, moderator=moderator)),
    }


def _name(user: User | None) -> str:
    if user is None:
        return ""
    return user.name or user.email.split("@", 1)[0]


def display_name(user: User | None) -> str:
    """A user's name as the queue shows it."""
    return _name(user)
