"""Help-centre tables: articles with their edit history, votes, deflection events, and agents'
corrections of triage suggestions (kept to retrain the model)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from okpay.db import Base, UTCDateTime


class ArticleOrigin(enum.StrEnum):
    file = "file"  # last written by `okpay kb sync` from the repository
    web = "web"  # last edited by staff on the web


class ArticleContent:
    """What an article says: shared by the current version and each saved revision."""

    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    related: Mapped[list[str]] = mapped_column(JSON, default=list)
    action: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)


class Article(ArticleContent, Base):
    """One article in one language; the current version (history in ArticleRevision)."""

    __tablename__ = "help_article"
    __table_args__ = (UniqueConstraint("slug", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(default=1)
    origin: Mapped[str] = mapped_column(String(8), default=ArticleOrigin.file.value)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class ArticleRevision(ArticleContent, Base):
    """A saved version of an article: who changed it, when, and what it said."""

    __tablename__ = "help_article_revision"
    __table_args__ = (UniqueConstraint("article_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("help_article.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column()
    origin: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(200), default="")
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class ArticleVote(Base):
    """ "Was this helpful?": yes or no, with an optional comment."""

    __tablename__ = "help_article_vote"
    __table_args__ = (Index("ix_help_article_vote_slug_locale", "slug", "locale"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(8))
    helpful: Mapped[bool] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeflectionKind(enum.StrEnum):
    shown = "shown"  # suggestions were shown on the contact form
    clicked = "clicked"  # the visitor opened a suggested article
    submitted = "submitted"  # the visitor went on to contact support anyway


class DeflectionEvent(Base):
    """What happened to the contact form's suggestions in one visit."""

    __tablename__ = "help_deflection_event"
    __table_args__ = (Index("ix_help_deflection_event_visit_id", "visit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    slug: Mapped[str | None] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TriageCorrection(Base):
    """An agent's correction of a suggested category or priority (training data)."""

    __tablename__ = "triage_correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    suggested_category: Mapped[str] = mapped_column(String(40))
    suggested_priority: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column()
    corrected_category: Mapped[str] = mapped_column(String(40))
    corrected_priority: Mapped[str] = mapped_column(String(16))
    ticket_ref: Mapped[str | None] = mapped_column(String(40))
    corrected_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def as_training_row(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "body": self.body,
            "category": self.corrected_category,
            "priority": self.corrected_priority,
        }
