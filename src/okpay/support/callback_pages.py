"""The callback request form (/help/callback): a number and a preferred time when the hotline
is closed or busy; it opens a phone ticket and shows the usual confirmation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.core import clock
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_, get_locale
from okpay.helpcenter import hotline_display, hotlines
from okpay.support import access, callbacks, customer
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Short = Annotated[str, Form(max_length=400)]
Note = Annotated[str, Form(max_length=4000)]


def _page(
    request: Request,
    db: DbSession,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    user = getattr(request.state, "user", None)
    board = hotline_display.board(db, user=user, chosen=values.get("region", ""))
    lines = {line.region: line for line in hotlines.list_hotlines(db)}
    chosen = lines.get(values.get("region", "")) or (
        lines.get(board.featured.region) if board.featured else None
    )
    now = clock.now()
    zone = hotlines.Schedule.of(chosen).zone if chosen else None
    return render(
        request,
        "support/callback_form.html",
        status_code=status_code,
        values={**values, "region": chosen.region if chosen else values.get("region", "")},
        errors=errors or {},
        error=error,
        board=board,
        chosen=hotline_display.card(chosen, visitor_zone=zone, now=now)
        if chosen and zone
        else None,
        zone_name=hotline_display.zone_name(zone) if zone else "",
        min_local=(now + callbacks.MIN_NOTICE).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        if zone
        else "",
        max_local=(now + callbacks.MAX_AHEAD - timedelta(minutes=1))
        .astimezone(zone)
        .strftime("%Y-%m-%dT%H:%M")
        if zone
        else "",
    )


@router.get("/help/callback")
def callback_form(
    request: Request, db: DbSession, region: Annotated[str, Query(max_length=4)] = ""
) -> Response:
    user = getattr(request.state, "user", None)
    values = {
        "region": region.strip().upper(),
        "number": (user.phone or "") if user else "",
        "when": "asap",
        "preferred": "",
        "note": "",
        "name": (user.name or "") if user else "",
        "email": user.email if user else "",
    }
    return _page(request, db, values=values)


@router.post("/help/callback")
def callback_submit(
    request: Request,
    db: DbSession,
    region: Short = "",
    number: Short = "",
    when: Short = "asap",
    preferred: Short = "",
    note: Note = "",
    name: Short = "",
    email: Short = "",
) -> Response:
    user = getattr(request.state, "user", None)
    values = {
        "region": region.strip().upper(), "number": number, "when": when,
        "preferred": preferred, "note": note, "name": name,
        "email": user.email if user else email,
    }  # fmt: skip
    try:
        customer.check_throttle(db, user=user, purpose="callback")
    except DomainError as err:
        return _page(request, db, values=values, error=err.translated(), status_code=err.status)
    try:
        if when == "at" and not preferred.strip():
            raise ValidationFailed(
                N_("Choose a date and time for our call."), code="callback_time_missing",
                field="preferred",
            )  # fmt: skip
        ticket, _callback = callbacks.do_request_callback(
            db,
            user=user,
            request=callbacks.CallbackRequest(
                region=region, number=number, preferred=preferred if when == "at" else "",
                note=note, name=name, email=email, locale=get_locale(),
            ),
        )  # fmt: skip
    except DomainError as err:
        db.rollback()
        field = err.field or ""
        field = {"body": "note", "subject": "number"}.get(field, field)
        return _page(
            request, db, values=values, status_code=err.status,
            errors={field: err.translated()} if field else {},
            error=None if field else err.translated(),
        )  # fmt: skip
    key = access.access_key(ticket)
    return RedirectResponse(
        f"/support/requests/{ticket.number}/sent?key={quote(key)}", status_code=303
    )
