"""Pages that belong to no domain: home and the language switcher (beside app.py, above
the domains: the switcher also saves a signed-in user's language)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from okpay.core.i18n import normalise
from okpay.identity import profile as identity_profile
from okpay.identity import sign_in_pages
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.middleware import LANG_COOKIE
from okpay.web.redirects import safe_next
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


@router.get("/")
def home(request: Request) -> Response:
    """The welcome page; a signed-in person goes to where they work (console or wallet)."""
    user = request.state.user
    if user is not None:
        return RedirectResponse(sign_in_pages.landing_path(user), status_code=303)
    return render(request, "web/home.html")


@router.post("/language")
def switch_language(
    request: Request,
    db: DbSession,
    locale: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Set the language cookie (and the signed-in user's setting), then go back."""
    chosen = normalise(locale) or "zh_CN"
    user = request.state.user
    if user is not None and user.preferred_locale != chosen:
        identity_profile.do_update_profile(db, user=user, preferred_locale=chosen)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        chosen,
        max_age=365 * 86400,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )
    return response
