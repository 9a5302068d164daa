"""What the identity pages share: POST-redirect-GET and the page for a link that cannot be used."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from starlette.responses import RedirectResponse, Response

from okpay.core.errors import DomainError
from okpay.web.deps import DbSession
from okpay.web.templating import render

FormStr = Annotated[str, Form()]


def redirect(url: str) -> RedirectResponse:
    """303 See Other to ``url``: after a POST the browser GETs the next page."""
    return RedirectResponse(url, status_code=303)


def link_problem(request: Request, db: DbSession, err: DomainError, retry_url: str) -> Response:
    """A used, expired or unknown link: say which, and what to do next."""
    db.rollback()
    return render(
        request,
        "identity/link_problem.html",
        status_code=err.status,
        message=err.translated(),
        code=err.code,
        retry_url=retry_url,
    )
