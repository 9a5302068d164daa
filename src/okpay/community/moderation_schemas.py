"""JSON shapes of forum moderation (/api/v1/community/moderation/… and reports)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ReportReason = Literal["spam", "abuse", "personal_data", "scam", "other"]


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReportReason
    note: str = Field("", max_length=500)


class ReportRead(BaseModel):
    id: int
    post_id: int
    reason: str
    status: str
    created_at: datetime


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=300)


class ReviewIn(ReasonIn):
    approve: bool


class ResolveIn(ReasonIn):
    outcome: Literal["upheld", "dismissed"]


class ThreadFlagIn(ReasonIn):
    value: bool = Field(description="true to hide / lock / pin, false to undo it")


class BanIn(ReasonIn):
    until: datetime | None = Field(None, description="End of the ban (UTC); none: for good")


class PostModerationRead(BaseModel):
    id: int
    thread_id: int
    author_user_id: int
    is_question: bool
    visibility: str
    moderation_reason: str
    excerpt: str
    created_at: datetime


class ThreadModerationRead(BaseModel):
    id: int
    title: str
    visibility: str
    is_locked: bool
    is_pinned: bool
    moderation_reason: str
    moved_to_ticket_number: str | None


class ReportGroupRead(BaseModel):
    post: PostModerationRead
    thread_title: str
    count: int
    reasons: dict[str, int]
    notes: list[str]
    first_at: datetime | None


class BanRead(BaseModel):
    user_id: int
    reason: str
    created_at: datetime
    until: datetime | None
    banned_by_user_id: int


class ResolvedRead(BaseModel):
    settled: int


class QueueRead(BaseModel):
    reports: list[ReportGroupRead]
    held: list[PostModerationRead]
    hidden: list[PostModerationRead]
    bans: list[BanRead]
