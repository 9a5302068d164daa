"""The dev mailbox at /dev/mail: only mounted when OKPAY_ENV=dev, so a new user can click the
links that would otherwise arrive by e-mail (and read the texted codes)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from okpay.core.dbid import DbId
from okpay.core.errors import NotFound
from okpay.mail import service, sms
from okpay.mail.models import delivery_status
from okpay.web.deps import DbSession
from okpay.web.templating import render

router = APIRouter(prefix="/dev/mail", include_in_schema=False)


@router.get("")
def mailbox(request: Request, db: DbSession) -> Response:
    return render(
        request,
        "mail/dev_mailbox.html",
        emails=service.list_recent(db),
        texts=sms.list_recent(db),
        delivery_status=delivery_status,
    )


@router.get("/{email_id}")
def message(request: Request, db: DbSession, email_id: DbId) -> Response:
    email = service.get_email(db, email_id)
    if email is None:
        raise NotFound()
    return render(request, "mail/dev_message.html", email=email, delivery_status=delivery_status)


@router.get("/{email_id}/html")
def message_html(db: DbSession, email_id: DbId) -> Response:
    """The HTML part alone, shown in a sandboxed frame with no scripts."""
    email = service.get_email(db, email_id)
    if email is None:
        raise NotFound()
    return HTMLResponse(
        email.html_body,
        headers={
            "X-Frame-Options": "SAMEORIGIN",
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                "frame-ancestors 'self'; "
                "sandbox allow-popups allow-top-navigation-by-user-activation"
            ),
        },
    )
