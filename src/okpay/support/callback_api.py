"""Callback requests over JSON: POST /api/v1/support/callbacks opens a phone ticket asking an
agent to call back (signed in, or with name and e-mail)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.access import OptionalUser
from okpay.support import access, callbacks, customer
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/support", tags=["support"])


class CallbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(max_length=4, description="the hotline's region: CN, HK, MO, TW…")
    number: str = Field(max_length=32, description="the number to call; local to the region or +…")
    preferred_at: datetime | None = Field(
        default=None, description="with a UTC offset; none = as soon as possible"
    )
    note: str = Field(default="", max_length=2000)
    name: str = Field(default="", max_length=100, description="required when signed out")
    email: str = Field(default="", max_length=320, description="required when signed out")


class CallbackRead(BaseModel):
    ticket_number: str
    region: str
    number: str = Field(description="E.164")
    preferred_at: datetime | None
    due_at: datetime
    status: str
    key: str = Field(description="opens the request's page without signing in")


@router.post("/callbacks", response_model=CallbackRead, status_code=201)
def request_callback(
    body: CallbackCreate, request: Request, user: OptionalUser, db: DbSession
) -> CallbackRead:
    """Ask an agent to call back within the hotline's service hours."""
    customer.check_throttle(db, user=user, purpose="callback")
    if body.preferred_at is not None and body.preferred_at.tzinfo is None:
        raise ValidationFailed(
            N_("Give the time with its UTC offset."), code="callback_time_invalid",
            field="preferred_at",
        )  # fmt: skip
    ticket, callback = callbacks.do_request_callback(
        db,
        user=user,
        request=callbacks.CallbackRequest(
            region=body.region, number=body.number,
            preferred=body.preferred_at.isoformat() if body.preferred_at else "",
            note=body.note, name=body.name, email=body.email, locale=request.state.locale,
        ),
    )  # fmt: skip
    return CallbackRead(
        ticket_number=ticket.number,
        region=callback.region,
        number=callback.number,
        preferred_at=callback.preferred_at,
        due_at=callback.due_at,
        status=callback.status,
        key=access.access_key(ticket),
    )
