"""Customer API bodies for the service centre. Unknown fields are refused; the service checks
the values themselves (line breaks in a subject, card numbers, references)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketCreate(_Strict):
    subject: str = Field(max_length=300, description="A few words: what is it about?")
    body: str = Field(max_length=25_000, description="What happened (plain text)")
    category: str | None = Field(
        None, max_length=40, description="A help-centre topic code; omit to let us sort it"
    )
    references: list[str] = Field(
        default_factory=list, max_length=10, description="Transaction references, TX-…"
    )


class MessageCreate(_Strict):
    body: str = Field(max_length=25_000)


class RatingCreate(_Strict):
    rating: int = Field(description="1 (poor) to 5 (excellent)")
    comment: str = Field("", max_length=2000)


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size: int
    url: str
    deleted_at: datetime | None = Field(
        None, description="Set once the file was deleted under the retention policy (url: 410)"
    )


class MessageRead(BaseModel):
    id: int
    kind: str = Field(description="public (a reply) or system (a notice from OKPay)")
    author: str = Field(description="customer, agent or system")
    author_name: str
    body: str
    body_html: str | None = Field(None, description="Cleaned HTML of an e-mail, when there was")
    created_at: datetime
    attachments: list[AttachmentRead]


class TicketSummary(BaseModel):
    number: str
    subject: str
    status: str
    status_label: str
    channel: str
    category: str
    created_at: datetime
    updated_at: datetime
    expected_reply_by: datetime | None


class TicketRead(TicketSummary):
    references: list[str]
    can_remind: bool
    can_rate: bool
    rating: int | None
    rating_comment: str | None
    link: str = Field(description="The page of this request, with its access key")
    messages: list[MessageRead]


def summary_fields(ticket: Any, status_label: str, due: datetime | None) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "status_label": status_label,
        "channel": ticket.channel,
        "category": ticket.category,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "expected_reply_by": due,
    }
