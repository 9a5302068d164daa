"""The pages of the steps an assisted unlock requires at the next sign-in: a new password,
then two-factor enrolment (the existing set-up pages do the enrolment itself). The web
middleware sends every other page here until each step is done (identity.required_steps)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.core.i18n import N_, gettext
from okpay.identity import password_change
from okpay.identity.access import CurrentSession, CurrentUser
from okpay.identity.models import User
from okpay.identity.page_parts import FormStr, redirect
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

PASSWORD_PAGE = "/account/recovered/password"
TWO_FACTOR_PAGE = "/account/recovered/two-factor"
DONE_PAGE = "/wallet"


def _next_page(user: User) -> str:
    if user.password_change_required:
        return PASSWORD_PAGE
    if user.totp_enrolment_required:
        return TWO_FACTOR_PAGE
    return DONE_PAGE


@router.get(PASSWORD_PAGE)
def password_form(request: Request, user: CurrentUser) -> Response:
    if not user.password_change_required:
        return redirect(_next_page(user))
    return render(request, "identity/required_password.html")


@router.post(PASSWORD_PAGE)
def password_save(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    current: CurrentSession,
    current_password: FormStr,
    new_password: FormStr,
    new_password_again: FormStr,
) -> Response:
    if not user.password_change_required:
        return redirect(_next_page(user))
    try:
        if new_password != new_password_again:
            raise DomainError(
                N_("The two passwords do not match."),
                code="password_mismatch",
                field="new_password_again",
            )
        password_change.do_change_password(
            db,
            user=user,
            current_password=current_password,
            new_password=new_password,
            keep_session_id=current.id,
        )
    except DomainError as err:
        return form_error(request, db, "identity/required_password.html", err)
    flash(request, gettext("Your new password is saved."), "success")
    return redirect(TWO_FACTOR_PAGE if user.totp_enrolment_required else DONE_PAGE)


@router.get(TWO_FACTOR_PAGE)
def two_factor_start(request: Request, user: CurrentUser) -> Response:
    if user.password_change_required or not user.totp_enrolment_required:
        return redirect(_next_page(user))
    return render(request, "identity/required_two_factor.html")
