"""Pydantic shapes of the community forum's JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from okpay.community import render
from okpay.core.dbid import DbId


class CategoryRead(BaseModel):
    id: int
    slug: str
    name: str
    description: str


class AuthorRead(BaseModel):
    name: str
    is_staff: bool


class ThreadSummary(BaseModel):
    id: int
    title: str
    url: str
    category_id: int
    locale: str
    author: AuthorRead
    solved: bool
    is_pinned: bool
    is_locked: bool
    reply_count: int
    score: int
    created_at: datetime
    last_activity_at: datetime


class ThreadList(BaseModel):
    threads: list[ThreadSummary]
    total: int
    page: int
    pages: int


class PostRead(BaseModel):
    id: int
    is_question: bool
    author: AuthorRead
    html: str = Field(description="The post's Markdown rendered and sanitised")
    markdown: str
    is_official: bool
    is_accepted: bool
    visibility: str = Field(description="public, or held (waiting for review; its author only)")
    masked_kinds: list[str]
    score: int
    my_vote: int
    created_at: datetime
    edited_at: datetime | None


class ThreadRead(ThreadSummary):
    accepted_post_id: int | None
    visibility: str
    posts: list[PostRead]


class ThreadCreate(BaseModel):
    category: str = Field(max_length=40, description="The category's short name")
    title: str = Field(max_length=render.TITLE_MAX * 2)
    body: str = Field(max_length=render.BODY_MAX * 2, description="Markdown")
    mask_private_data: bool = Field(
        False, description="Post even though personal data was found, with it masked"
    )


class ReplyCreate(BaseModel):
    body: str = Field(max_length=render.BODY_MAX * 2, description="Markdown")
    official: bool = Field(False, description="Staff only: badge it as OKPay's answer")
    mask_private_data: bool = False


class PostUpdate(BaseModel):
    body: str = Field(max_length=render.BODY_MAX * 2)
    title: str | None = Field(
        None, max_length=render.TITLE_MAX * 2, description="The question's new title"
    )
    mask_private_data: bool = False


class VoteIn(BaseModel):
    value: Literal[-1, 0, 1] = Field(description="+1, −1, or 0 to withdraw your vote")


class VoteOut(BaseModel):
    post_id: int
    score: int
    my_vote: int


class AcceptIn(BaseModel):
    post_id: DbId | None = Field(description="The answer to accept; null withdraws the choice")
