"""Moving a forum thread into a private ticket, as JSON (staff)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from okpay.community import moderation_schemas
from okpay.core.dbid import DbId
from okpay.identity.access import CurrentUser
from okpay.support import forum_tickets
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/community/moderation", tags=["community moderation"])


class MovedRead(BaseModel):
    thread_id: int
    ticket_number: str


@router.post("/threads/{thread_id}/move-to-ticket", response_model=MovedRead)
def move_to_ticket(
    thread_id: DbId, body: moderation_schemas.ReasonIn, user: CurrentUser, db: DbSession
) -> MovedRead:
    """Staff: the thread becomes a private request for its asker (the answers follow as
    messages); its address then only says that it moved."""
    ticket = forum_tickets.do_move_thread_to_ticket(
        db, moderator=user, thread_id=thread_id, reason=body.reason
    )
    return MovedRead(thread_id=thread_id, ticket_number=ticket.number)
