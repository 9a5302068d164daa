"""One place that turns errors into answers: JSON for the API, a page in the user's language
for people. Nothing internal leaks; unexpected errors get a reference to quote to support."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from okpay.core.errors import DomainError, NotAuthenticated, NotFound, StepRequired
from okpay.core.i18n import N_, gettext
from okpay.core.ids import random_code
from okpay.web.redirects import return_path

log = logging.getLogger("okpay.errors")

FIELD_MESSAGES = {
    "missing": N_("This field is required."),
    "extra_forbidden": N_("This field cannot be set."),
    "string_too_long": N_("This text is too long."),
    "string_too_short": N_("This text is too short."),
    "value_error": N_("This value is not valid."),
    "int_parsing": N_("Please enter a whole number."),
    "json_invalid": N_("The request body is not valid JSON."),
}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/openapi.json"


def error_json(err: DomainError) -> JSONResponse:
    return JSONResponse(err.as_json(), status_code=err.status, headers=err.headers)


def error_page(request: Request, err: DomainError) -> Response:
    from okpay.web.templating import render

    # A form posted by someone no longer signed in (the session ended or was signed out in
    # another tab): its CSRF token was bound to that session, so it is refused as before,
    # but the page says why and offers to sign in again and come back to the form.
    session_ended = (
        err.code == "csrf_failed"
        and request.method not in ("GET", "HEAD")
        and getattr(request.state, "user", None) is None
        and getattr(request.state, "signed_in_before", False)
    )
    return render(
        request,
        "web/error.html",
        status_code=err.status,
        error=err,
        message=err.translated(),
        headers=err.headers,
        session_ended=session_ended,
        back_to=return_path(request),
    )


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if wants_json(request):
        return error_json(exc)
    if isinstance(exc, NotAuthenticated):
        # After a posted form, back to the page that held it (a posted page cannot be
        # fetched again); the browser keeps what was typed (app.js) until it is back there.
        target = return_path(request)
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, StepRequired):
        return RedirectResponse(exc.page, status_code=303)
    response = error_page(request, exc)
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def _field_errors(errors: Any) -> list[dict[str, str]]:
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "form")]
        kind = e.get("type", "value_error")
        message = gettext(FIELD_MESSAGES.get(kind, FIELD_MESSAGES["value_error"]))
        ctx_error = (e.get("ctx") or {}).get("error")
        if isinstance(ctx_error, DomainError):
            message = ctx_error.translated()
            kind = ctx_error.code
        out.append({"field": ".".join(loc), "code": kind, "message": message})
    return out


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = _field_errors(exc.errors())
    err = DomainError(
        N_("Some of the information is not valid."), code="validation_failed", status=422
    )
    if wants_json(request):
        body = err.as_json()
        body["error"]["fields"] = fields
        return JSONResponse(body, status_code=422)
    return error_page(request, err)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        err: DomainError = NotFound()
    elif exc.status_code == 405:
        err = DomainError(
            N_("That action is not available here."), code="method_not_allowed", status=405
        )
    else:
        err = DomainError(code="http_error", status=exc.status_code)
    if wants_json(request):
        return error_json(err)
    if request.url.path.startswith("/static/"):
        return PlainTextResponse(err.translated(), status_code=err.status)
    return error_page(request, err)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    reference = random_code(8)
    log.exception("unexpected error, reference %s", reference, exc_info=exc)
    err = DomainError(
        N_(
            "Something went wrong on our side. Please try again; if it keeps happening, contact "
            "support and quote reference %(reference)s."
        ),
        code="internal_error",
        status=500,
        reference=reference,
    )
    if wants_json(request):
        return error_json(err)
    try:
        return error_page(request, err)
    except Exception:
        return JSONResponse(err.as_json(), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
