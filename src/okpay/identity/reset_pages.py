"""Password reset pages: one field for the phone number or e-mail address of the account
(as Chinese apps do), then either "check your inbox" (a link) or a page to enter the texted
code with the new password. Both answer alike for known and unknown accounts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.identity import errors, recovery, sms_reset, tokens, validation
from okpay.identity.page_parts import FormStr, link_problem, redirect
from okpay.settings import get_settings
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.middleware import SESSION_COOKIE
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

# The number a code was asked for, between the two pages (signed; never in the URL, so it
# stays out of logs and browser history).
PHONE_COOKIE = "okpay_reset_phone"
PHONE_MAX_AGE = 15 * 60


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="reset-phone")


def _phone_from(request: Request) -> str | None:
    raw = request.cookies.get(PHONE_COOKIE, "")
    try:
        value = _serializer().loads(raw, max_age=PHONE_MAX_AGE) if raw else None
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def _password_mismatch() -> DomainError:
    return DomainError(
        gettext("The two passwords do not match."),
        code="password_mismatch",
        field="password_again",
    )


@router.get("/password/forgot")
def forgot_form(request: Request) -> Response:
    return render(request, "identity/forgot.html", form={})


@router.post("/password/forgot")
def forgot(request: Request, db: DbSession, account: FormStr) -> Response:
    """An e-mail address gets a link, anything else is taken for a phone number."""
    account = account.strip()
    if "@" in account:
        try:
            recovery.do_request_password_reset(db, email=account)
        except DomainError as err:
            return form_error(request, db, "identity/forgot.html", err, form={"account": account})
        return render(
            request,
            "identity/forgot_sent.html",
            email=account,
            minutes=get_settings().reset_token_minutes,
        )
    try:
        number = sms_reset.do_request_reset_code(db, phone=account)
    except DomainError as err:
        if err.code == "phone_invalid":
            err = ValidationFailed(
                N_("Please enter a valid phone number or e-mail address."),
                code="account_invalid",
                field="account",
            )
        return form_error(request, db, "identity/forgot.html", err, form={"account": account})
    response = redirect("/password/reset/sms")
    settings = get_settings()
    response.set_cookie(
        PHONE_COOKIE,
        _serializer().dumps(number),
        max_age=PHONE_MAX_AGE,
        path="/password",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    return response


def _code_page(phone: str, **ctx: Any) -> dict[str, Any]:
    return {
        "phone": phone,
        "masked_phone": validation.mask_phone(phone),
        "minutes": sms_reset.CODE_MINUTES,
        **ctx,
    }


@router.get("/password/reset/sms")
def reset_by_code_form(request: Request) -> Response:
    phone = _phone_from(request)
    if phone is None:
        return redirect("/password/forgot")
    return render(request, "identity/reset_sms.html", **_code_page(phone))


@router.post("/password/reset/sms")
def reset_by_code(
    request: Request,
    db: DbSession,
    code: FormStr,
    password: FormStr,
    password_again: FormStr,
) -> Response:
    phone = _phone_from(request)
    if phone is None:
        flash(request, gettext("Please ask for a new code."), "warning")
        return redirect("/password/forgot")
    page = _code_page(phone, code=code.strip())
    if password != password_again:
        return form_error(request, db, "identity/reset_sms.html", _password_mismatch(), **page)
    try:
        sms_reset.do_reset_password_with_code(db, phone=phone, code=code, new_password=password)
    except DomainError as err:
        return form_error(request, db, "identity/reset_sms.html", err, **page)
    flash(
        request,
        gettext(
            "Your password has been changed and every session was signed out. "
            "Please sign in with the new password."
        ),
        "success",
    )
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(PHONE_COOKIE, path="/password")
    return response


@router.get("/password/reset")
def reset_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        tokens.peek_token(db, token, "reset_password")
    except DomainError as err:
        return link_problem(request, db, err, "/password/forgot")
    return render(request, "identity/reset.html", token=token)


@router.post("/password/reset")
def reset(
    request: Request, db: DbSession, token: FormStr, password: FormStr, password_again: FormStr
) -> Response:
    if password != password_again:
        return form_error(request, db, "identity/reset.html", _password_mismatch(), token=token)
    try:
        recovery.do_reset_password(db, token=token, new_password=password)
    except (errors.LinkInvalid, errors.LinkExpired, errors.LinkUsed) as err:
        return link_problem(request, db, err, "/password/forgot")
    except DomainError as err:
        return form_error(request, db, "identity/reset.html", err, token=token)
    flash(
        request,
        gettext(
            "Your password has been changed and every session was signed out. "
            "Please sign in with the new password."
        ),
        "success",
    )
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response
