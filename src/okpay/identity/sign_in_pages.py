"""Identity pages before and at sign-in: sign-up and e-mail confirmation, sign-in with
two-factor, sign-out, unlock and "this wasn't me" (password reset: :mod:`reset_pages`).

Links in e-mails open a page with a button: the change happens on POST, never on GET, so
mail scanners that follow links cannot use up a token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.identity import (
    errors,
    recovery,
    registration,
    sessions,
    sign_in,
    tokens,
    twofactor,
    users,
)
from okpay.identity.access import precheck_password
from okpay.identity.models import User
from okpay.identity.page_parts import FormStr, link_problem, redirect
from okpay.settings import get_settings
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.middleware import SESSION_COOKIE
from okpay.web.redirects import safe_next
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

MFA_COOKIE = "okpay_mfa"
MFA_MAX_AGE = 300


def _mfa_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt="login-2fa")


def _set_session_cookie(response: Response, token: str) -> None:
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def landing_path(user: User) -> str:
    """Where a signed-in person starts: staff on the console, customers on their wallet."""
    return "/agent" if user.is_staff else "/wallet"


def _after_sign_in(user: User, next_url: str) -> str:
    """The page asked for (``next``), else the person's landing page."""
    target = safe_next(next_url)
    return landing_path(user) if target == "/" else target


def _signed_in(
    request: Request, db: DbSession, user: User, next_url: str, second_factor: str | None = None
) -> Response:
    new = sessions.start_session(
        db,
        user=user,
        kind="web",
        device_token=request.state.device_token,
        second_factor=second_factor,
    )
    if second_factor == "recovery_code":
        left = twofactor.remaining_recovery_codes(db, user=user)
        flash(
            request,
            gettext("You signed in with a recovery code. %(left)s codes are left.", left=left),
            "warning",
        )
    response = redirect(_after_sign_in(user, next_url))
    _set_session_cookie(response, new.token)
    response.delete_cookie(MFA_COOKIE)
    return response


# ------------------------------------------------------------------------------ sign-up


@router.get("/register")
def register_form(request: Request) -> Response:
    if request.state.user is not None:
        return redirect("/")
    return render(request, "identity/register.html", form={})


@router.post("/register")
def register(
    request: Request,
    db: DbSession,
    email: FormStr,
    password: FormStr,
    name: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
) -> Response:
    form = {"email": email, "name": name, "phone": phone}
    try:
        registration.do_register(
            db,
            email=email,
            password=password,
            name=name,
            phone=phone or None,
            locale=request.state.locale,
        )
    except DomainError as err:
        return form_error(request, db, "identity/register.html", err, form=form)
    return render(request, "identity/check_email.html", email=email.strip())


@router.get("/verify-email")
def verify_email_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        tokens.peek_token(db, token, "verify_email")
    except DomainError as err:
        return link_problem(request, db, err, "/verify-email/resend")
    return render(
        request,
        "identity/confirm_action.html",
        token=token,
        action="/verify-email",
        title=gettext("Confirm your e-mail address"),
        button=gettext("Confirm my e-mail address"),
    )


@router.post("/verify-email")
def verify_email(request: Request, db: DbSession, token: FormStr) -> Response:
    try:
        registration.do_verify_email(db, token=token)
    except DomainError as err:
        return link_problem(request, db, err, "/verify-email/resend")
    flash(request, gettext("Your e-mail address is confirmed. You can sign in now."), "success")
    return redirect("/login")


@router.get("/verify-email/resend")
def resend_form(request: Request) -> Response:
    return render(request, "identity/resend.html", form={})


@router.post("/verify-email/resend")
def resend(request: Request, db: DbSession, email: FormStr) -> Response:
    try:
        registration.do_resend_verification(db, email=email)
    except DomainError as err:
        return form_error(request, db, "identity/resend.html", err, form={"email": email})
    return render(request, "identity/check_email.html", email=email.strip(), resent=True)


# ------------------------------------------------------------------------------ sign-in


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    if request.state.user is not None:
        return redirect(safe_next(next))
    return render(request, "identity/login.html", form={}, next=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    db: DbSession,
    email: FormStr,
    password: FormStr,
    next: Annotated[str, Form()] = "/",
) -> Response:
    form = {"email": email}
    try:
        checked = sign_in.check_password_login(
            db,
            email=email,
            password=password,
            device_token=request.state.device_token,
            precheck=precheck_password(email, password),
        )
    except DomainError as err:
        return form_error(request, db, "identity/login.html", err, form=form, next=safe_next(next))
    if checked.needs_second_factor:
        response = redirect("/login/2fa")
        pending = _mfa_serializer().dumps(
            {"u": checked.user.id, "n": safe_next(next), "d": request.state.device_token}
        )
        response.set_cookie(
            MFA_COOKIE,
            pending,
            max_age=MFA_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=get_settings().secure_cookies,
        )
        return response
    return _signed_in(request, db, checked.user, next)


def _pending_login(request: Request, db: DbSession) -> tuple[User, str] | None:
    raw = request.cookies.get(MFA_COOKIE)
    if not raw:
        return None
    try:
        data = _mfa_serializer().loads(raw, max_age=MFA_MAX_AGE)
    except BadSignature:
        return None
    if data.get("d") != request.state.device_token:
        return None
    user = users.get_user(db, int(data["u"]))
    if user is None or not user.totp_enabled:
        return None
    return user, str(data.get("n") or "/")


@router.get("/login/2fa")
def second_factor_form(request: Request, db: DbSession) -> Response:
    if _pending_login(request, db) is None:
        flash(request, gettext("Please sign in again."), "warning")
        return redirect("/login")
    return render(request, "identity/login_2fa.html")


@router.post("/login/2fa")
def second_factor(request: Request, db: DbSession, code: FormStr) -> Response:
    pending = _pending_login(request, db)
    if pending is None:
        flash(request, gettext("Please sign in again."), "warning")
        return redirect("/login")
    user, next_url = pending
    try:
        kind = twofactor.verify_second_factor(db, user=user, code=code)
    except DomainError as err:
        return form_error(request, db, "identity/login_2fa.html", err)
    return _signed_in(request, db, user, next_url, second_factor=kind)


@router.post("/logout")
def logout(request: Request, db: DbSession) -> Response:
    row = request.state.user_session
    if row is not None and request.state.user is not None:
        sessions.end_session(db, user=request.state.user, session_id=row.id, reason="logout")
    flash(request, gettext("You have signed out."), "success")
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# ------------------------------------------------------------------------------- recovery


@router.get("/unlock")
def unlock_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        row = tokens.peek_token(db, token, "unlock")
    except DomainError as err:
        return link_problem(request, db, err, "/password/forgot")
    user = users.get_user(db, row.user_id)
    return render(
        request, "identity/unlock.html", token=token, needs_code=bool(user and user.totp_enabled)
    )


@router.post("/unlock")
def unlock(
    request: Request, db: DbSession, token: FormStr, code: Annotated[str, Form()] = ""
) -> Response:
    try:
        recovery.do_unlock(db, token=token, code=code or None)
    except (errors.LinkInvalid, errors.LinkExpired, errors.LinkUsed) as err:
        return link_problem(request, db, err, "/password/forgot")
    except DomainError as err:
        return form_error(request, db, "identity/unlock.html", err, token=token, needs_code=True)
    flash(request, gettext("Your account is unlocked. You can sign in now."), "success")
    return redirect("/login")


@router.get("/not-me")
def not_me_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        tokens.peek_token(db, token, "not_me")
    except DomainError as err:
        return link_problem(request, db, err, "/password/forgot")
    return render(
        request,
        "identity/confirm_action.html",
        token=token,
        action="/not-me",
        title=gettext("This sign-in wasn't me"),
        danger=True,
        intro=gettext(
            "We will lock your account and sign out every device at once. "
            "To get back in, reset your password from the link we e-mail you."
        ),
        button=gettext("Lock my account now"),
    )


@router.post("/not-me")
def not_me(request: Request, db: DbSession, token: FormStr) -> Response:
    try:
        recovery.do_report_not_me(db, token=token)
    except DomainError as err:
        return link_problem(request, db, err, "/password/forgot")
    flash(
        request,
        gettext(
            "Your account is locked and every device was signed out. Reset your "
            "password to get back in."
        ),
        "warning",
    )
    response = redirect("/password/forgot")
    response.delete_cookie(SESSION_COOKIE)
    return response
