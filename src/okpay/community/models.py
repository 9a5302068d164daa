"""Community forum (用户社区) tables: categories, threads and their posts, votes, who follows a
thread by e-mail, reports from readers, and users barred from posting.

A thread's question is its first post; answers are the posts after it. A post is stored both
as the Markdown its author typed and as the sanitised HTML pages show, rendered once when it
is written. Moderation never deletes: it hides, holds or locks, and keeps who did it and why.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okpay.db import Base, UTCDateTime


class Visibility(enum.StrEnum):
    """Who can read a thread or a post."""

    public = "public"  # everyone, signed in or not
    held = "held"  # waiting for a moderator (a new account's first post with a link)
    hidden = "hidden"  # removed from view by a moderator; kept for the record
    moved = "moved"  # a thread staff moved into a private ticket; its posts are no longer public


class ReportStatus(enum.StrEnum):
    open = "open"
    upheld = "upheld"  # the moderator acted on the post
    dismissed = "dismissed"


class ForumCategory(Base):
    """A section of the forum, named in each language."""

    __tablename__ = "forum_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    description_zh: Mapped[str] = mapped_column(String(300), default="")
    description_en: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ForumThread(Base):
    """A question and its answers."""

    __tablename__ = "forum_thread"
    __table_args__ = (
        Index("ix_forum_thread_listing", "visibility", "category_id", "last_activity_at"),
        Index("ix_forum_thread_author_user_id", "author_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("forum_category.id"))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    title: Mapped[str] = mapped_column(String(200))
    # The language it was written in: search and the page's lang attribute use it.
    locale: Mapped[str] = mapped_column(String(8))
    visibility: Mapped[str] = mapped_column(String(8), default=Visibility.public.value)
    is_locked: Mapped[bool] = mapped_column(default=False)
    is_pinned: Mapped[bool] = mapped_column(default=False)
    # The answer the asker (or staff) accepted; the thread counts as solved while it is set.
    # A plain column, not a foreign key: posts are never deleted, and a key here would make
    # the two tables refer to each other.
    accepted_post_id: Mapped[int | None] = mapped_column(Integer)
    accepted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    # The request number (OK-2026-000123) the thread was moved into by staff, when it was.
    moved_to_ticket_number: Mapped[str | None] = mapped_column(String(20))
    moderated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    moderation_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ForumPost(Base):
    """The question (``is_question``) or one answer in a thread."""

    __tablename__ = "forum_post"
    __table_args__ = (
        Index("ix_forum_post_thread_id_created_at", "thread_id", "created_at"),
        Index("ix_forum_post_author_user_id_created_at", "author_user_id", "created_at"),
        Index("ix_forum_post_visibility", "visibility"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("forum_thread.id", ondelete="CASCADE"))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    is_question: Mapped[bool] = mapped_column(default=False)
    # What the author typed (after the privacy guard masked what it found) and its HTML.
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    # Written by staff as OKPay's answer (badged "官方回答").
    is_official: Mapped[bool] = mapped_column(default=False)
    visibility: Mapped[str] = mapped_column(String(8), default=Visibility.public.value)
    # What the privacy guard masked before it was posted, e.g. ["card_number", "phone"].
    masked_kinds: Mapped[str] = mapped_column(String(120), default="")
    score: Mapped[int] = mapped_column(Integer, default=0)
    # The address it was posted from (per-address rate limits; never shown to readers).
    posted_from: Mapped[str] = mapped_column(String(45), default="")
    moderated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    moderation_reason: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ForumVote(Base):
    """One user's vote on one post: +1 or −1, changed in place."""

    __tablename__ = "forum_vote"
    __table_args__ = (UniqueConstraint("post_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("forum_post.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    value: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ForumSubscription(Base):
    """Someone who is e-mailed about a thread (its asker and those who answered, unless they
    unsubscribed with the signed link in an e-mail)."""

    __tablename__ = "forum_subscription"
    __table_args__ = (UniqueConstraint("thread_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("forum_thread.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ForumReport(Base):
    """A reader's report of a post, waiting in the moderation queue until a moderator acts."""

    __tablename__ = "forum_report"
    __table_args__ = (
        UniqueConstraint("post_id", "reporter_user_id"),
        Index("ix_forum_report_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("forum_post.id", ondelete="CASCADE"))
    reporter_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(String(24))  # spam, abuse, personal_data, scam, other
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(12), default=ReportStatus.open.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class ForumBan(Base):
    """A user barred from posting (reading stays open), until a time or for good."""

    __tablename__ = "forum_ban"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    banned_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
