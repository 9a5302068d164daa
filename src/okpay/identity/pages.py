"""Identity pages: sign-up, sign-in with two-factor, recovery, and the account's security pages.

Links in e-mails open a page with a button: the change happens on POST, never on GET, so
mail scanners that follow links cannot use up a token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import RedirectResponse, Response

from okpay.core.dbid import DbId
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext, normalise
from okpay.identity import (
    contact_change,
    errors,
    password_change,
    profile,
    recovery,
    registration,
    sessions,
    sign_in,
    tokens,
    twofactor,
    users,
    validation,
)
from okpay.identity.access import CurrentSession, CurrentUser, precheck_password
from okpay.identity.models import User
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

FormStr = Annotated[str, Form()]
OptFormStr = Annotated[str, Form()]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _form_error(
    request: Request, db: DbSession, template: str, err: DomainError, **ctx: Any
) -> Response:
    return form_error(request, db, template, err, **ctx)


def _link_problem(request: Request, db: DbSession, err: DomainError, retry_url: str) -> Response:
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
    response = _redirect(safe_next(next_url))
    _set_session_cookie(response, new.token)
    response.delete_cookie(MFA_COOKIE)
    return response


# ------------------------------------------------------------------------------ sign-up


@router.get("/register")
def register_form(request: Request) -> Response:
    if request.state.user is not None:
        return _redirect("/")
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
        return _form_error(request, db, "identity/register.html", err, form=form)
    return render(request, "identity/check_email.html", email=email.strip())


@router.get("/verify-email")
def verify_email_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        tokens.peek_token(db, token, "verify_email")
    except DomainError as err:
        return _link_problem(request, db, err, "/verify-email/resend")
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
        return _link_problem(request, db, err, "/verify-email/resend")
    flash(request, gettext("Your e-mail address is confirmed. You can sign in now."), "success")
    return _redirect("/login")


@router.get("/verify-email/resend")
def resend_form(request: Request) -> Response:
    return render(request, "identity/resend.html", form={})


@router.post("/verify-email/resend")
def resend(request: Request, db: DbSession, email: FormStr) -> Response:
    try:
        registration.do_resend_verification(db, email=email)
    except DomainError as err:
        return _form_error(request, db, "identity/resend.html", err, form={"email": email})
    return render(request, "identity/check_email.html", email=email.strip(), resent=True)


# ------------------------------------------------------------------------------ sign-in


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    if request.state.user is not None:
        return _redirect(safe_next(next))
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
        return _form_error(request, db, "identity/login.html", err, form=form, next=safe_next(next))
    if checked.needs_second_factor:
        response = _redirect("/login/2fa")
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
        return _redirect("/login")
    return render(request, "identity/login_2fa.html")


@router.post("/login/2fa")
def second_factor(request: Request, db: DbSession, code: FormStr) -> Response:
    pending = _pending_login(request, db)
    if pending is None:
        flash(request, gettext("Please sign in again."), "warning")
        return _redirect("/login")
    user, next_url = pending
    try:
        kind = twofactor.verify_second_factor(db, user=user, code=code)
    except DomainError as err:
        return _form_error(request, db, "identity/login_2fa.html", err)
    return _signed_in(request, db, user, next_url, second_factor=kind)


@router.post("/logout")
def logout(request: Request, db: DbSession) -> Response:
    row = request.state.user_session
    if row is not None and request.state.user is not None:
        sessions.end_session(db, user=request.state.user, session_id=row.id, reason="logout")
    flash(request, gettext("You have signed out."), "success")
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


# ------------------------------------------------------------------------------- recovery


@router.get("/password/forgot")
def forgot_form(request: Request) -> Response:
    return render(request, "identity/forgot.html", form={})


@router.post("/password/forgot")
def forgot(request: Request, db: DbSession, email: FormStr) -> Response:
    try:
        recovery.do_request_password_reset(db, email=email)
    except DomainError as err:
        return _form_error(request, db, "identity/forgot.html", err, form={"email": email})
    return render(
        request,
        "identity/forgot_sent.html",
        email=email.strip(),
        minutes=get_settings().reset_token_minutes,
    )


@router.get("/password/reset")
def reset_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        tokens.peek_token(db, token, "reset_password")
    except DomainError as err:
        return _link_problem(request, db, err, "/password/forgot")
    return render(request, "identity/reset.html", token=token)


@router.post("/password/reset")
def reset(
    request: Request, db: DbSession, token: FormStr, password: FormStr, password_again: FormStr
) -> Response:
    if password != password_again:
        err = DomainError(
            gettext("The two passwords do not match."),
            code="password_mismatch",
            field="password_again",
        )
        return _form_error(request, db, "identity/reset.html", err, token=token)
    try:
        recovery.do_reset_password(db, token=token, new_password=password)
    except (errors.LinkInvalid, errors.LinkExpired, errors.LinkUsed) as err:
        return _link_problem(request, db, err, "/password/forgot")
    except DomainError as err:
        return _form_error(request, db, "identity/reset.html", err, token=token)
    flash(
        request,
        gettext(
            "Your password has been changed and every session was signed out. "
            "Please sign in with the new password."
        ),
        "success",
    )
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/unlock")
def unlock_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        row = tokens.peek_token(db, token, "unlock")
    except DomainError as err:
        return _link_problem(request, db, err, "/password/forgot")
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
        return _link_problem(request, db, err, "/password/forgot")
    except DomainError as err:
        return _form_error(request, db, "identity/unlock.html", err, token=token, needs_code=True)
    flash(request, gettext("Your account is unlocked. You can sign in now."), "success")
    return _redirect("/login")


@router.get("/not-me")
def not_me_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        tokens.peek_token(db, token, "not_me")
    except DomainError as err:
        return _link_problem(request, db, err, "/password/forgot")
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
        return _link_problem(request, db, err, "/password/forgot")
    flash(
        request,
        gettext(
            "Your account is locked and every device was signed out. Reset your "
            "password to get back in."
        ),
        "warning",
    )
    response = _redirect("/password/forgot")
    response.delete_cookie(SESSION_COOKIE)
    return response


# -------------------------------------------------------------------------------- account


@router.get("/account")
def account(request: Request, user: CurrentUser) -> Response:
    return render(
        request, "identity/account.html", form={}, masked_phone=validation.mask_phone(user.phone)
    )


@router.post("/account/profile")
def update_profile(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    name: FormStr,
    preferred_locale: FormStr,
    address: Annotated[str, Form()] = "",
) -> Response:
    try:
        updated = profile.do_update_profile(
            db, user=user, name=name, preferred_locale=preferred_locale, address=address
        )
    except DomainError as err:
        return _form_error(
            request,
            db,
            "identity/account.html",
            err,
            form={"name": name, "address": address},
            masked_phone=validation.mask_phone(user.phone),
        )
    response = _redirect("/account")
    with_locale = normalise(updated.preferred_locale)
    if with_locale:
        from okpay.core.i18n import use_locale

        with use_locale(with_locale):
            flash(request, gettext("Your profile is saved."), "success")
        response.set_cookie(
            "okpay_lang",
            with_locale,
            max_age=365 * 86400,
            samesite="lax",
            secure=get_settings().secure_cookies,
        )
    return response


def _security_context(db: DbSession, user: User, current_id: int) -> dict[str, Any]:
    return {
        "sessions": sessions.list_sessions(db, user=user),
        "logins": sessions.list_logins(db, user=user, limit=20),
        "current_session_id": current_id,
        "recovery_left": twofactor.remaining_recovery_codes(db, user=user)
        if user.totp_enabled
        else 0,
    }


@router.get("/account/security")
def security(
    request: Request, db: DbSession, user: CurrentUser, current: CurrentSession
) -> Response:
    return render(request, "identity/security.html", **_security_context(db, user, current.id))


@router.post("/account/password")
def change_password(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    current: CurrentSession,
    current_password: FormStr,
    new_password: FormStr,
    code: Annotated[str, Form()] = "",
) -> Response:
    try:
        password_change.do_change_password(
            db,
            user=user,
            current_password=current_password,
            new_password=new_password,
            code=code or None,
            keep_session_id=current.id,
        )
    except DomainError as err:
        return _form_error(
            request, db, "identity/security.html", err, **_security_context(db, user, current.id)
        )
    flash(
        request,
        gettext("Your password has been changed. Other devices were signed out."),
        "success",
    )
    return _redirect("/account/security")


@router.post("/account/sessions/{session_id}/end")
def end_session(request: Request, db: DbSession, user: CurrentUser, session_id: DbId) -> Response:
    sessions.end_session(db, user=user, session_id=session_id, reason="ended_by_user")
    flash(request, gettext("That session has been signed out."), "success")
    return _redirect("/account/security")


@router.post("/account/sessions/end-others")
def end_others(
    request: Request, db: DbSession, user: CurrentUser, current: CurrentSession
) -> Response:
    count = sessions.end_all_sessions(
        db, user_id=user.id, reason="ended_by_user", except_id=current.id, actor_user_id=user.id
    )
    flash(request, gettext("%(count)s other sessions were signed out.", count=count), "success")
    return _redirect("/account/security")


@router.post("/account/2fa/setup")
def totp_begin(request: Request, db: DbSession, user: CurrentUser) -> Response:
    try:
        twofactor.begin_totp_enrolment(db, user=user)
    except DomainError as err:
        flash(request, err.translated(), "warning")
        return _redirect("/account/security")
    return _redirect("/account/2fa/setup")


@router.get("/account/2fa/setup")
def totp_setup(request: Request, user: CurrentUser) -> Response:
    pending = twofactor.pending_totp(user)
    if pending is None:
        return _redirect("/account/security")
    secret, uri = pending
    return render(
        request,
        "identity/totp_setup.html",
        secret=secret,
        secret_grouped=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr=twofactor.qr_svg_data_uri(uri),
    )


@router.post("/account/2fa/confirm")
def totp_confirm(
    request: Request, db: DbSession, user: CurrentUser, password: FormStr, code: FormStr
) -> Response:
    try:
        codes = twofactor.do_enable_totp(db, user=user, password=password, code=code)
    except DomainError as err:
        pending = twofactor.pending_totp(user)
        if pending is None:
            return _redirect("/account/security")
        secret, uri = pending
        return _form_error(
            request,
            db,
            "identity/totp_setup.html",
            err,
            secret=secret,
            secret_grouped=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            qr=twofactor.qr_svg_data_uri(uri),
        )
    return render(request, "identity/recovery_codes.html", codes=codes, just_enabled=True)


@router.post("/account/2fa/recovery-codes")
def totp_new_codes(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    current: CurrentSession,
    password: FormStr,
    code: FormStr,
) -> Response:
    try:
        codes = twofactor.do_regenerate_recovery_codes(db, user=user, password=password, code=code)
    except DomainError as err:
        return _form_error(
            request, db, "identity/security.html", err, **_security_context(db, user, current.id)
        )
    return render(request, "identity/recovery_codes.html", codes=codes, just_enabled=False)


@router.post("/account/2fa/disable")
def totp_disable(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    current: CurrentSession,
    password: FormStr,
    code: FormStr,
) -> Response:
    try:
        twofactor.do_disable_totp(db, user=user, password=password, code=code)
    except DomainError as err:
        return _form_error(
            request, db, "identity/security.html", err, **_security_context(db, user, current.id)
        )
    flash(request, gettext("Two-factor authentication is off."), "warning")
    return _redirect("/account/security")


@router.get("/account/email")
def email_form(request: Request, user: CurrentUser) -> Response:
    return render(request, "identity/change_email.html", form={})


@router.post("/account/email")
def email_change(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    new_email: FormStr,
    password: FormStr,
    code: Annotated[str, Form()] = "",
) -> Response:
    try:
        contact_change.do_request_email_change(
            db, user=user, new_email=new_email, password=password, code=code or None
        )
    except DomainError as err:
        return _form_error(
            request, db, "identity/change_email.html", err, form={"new_email": new_email}
        )
    flash(
        request,
        gettext(
            "We sent a confirmation link to %(email)s. The change takes effect once you click it.",
            email=new_email.strip(),
        ),
        "success",
    )
    return _redirect("/account")


@router.get("/account/email/confirm")
def email_confirm_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        row = tokens.peek_token(db, token, "change_email")
    except DomainError as err:
        return _link_problem(request, db, err, "/account/email")
    return render(
        request,
        "identity/confirm_action.html",
        token=token,
        action="/account/email/confirm",
        title=gettext("Confirm your new e-mail address"),
        intro=gettext(
            "Your OKPay account will use %(email)s from now on.", email=row.data.get("email", "")
        ),
        button=gettext("Use this address"),
    )


@router.post("/account/email/confirm")
def email_confirm(request: Request, db: DbSession, token: FormStr) -> Response:
    try:
        contact_change.do_confirm_email_change(db, token=token)
    except DomainError as err:
        return _link_problem(request, db, err, "/account/email")
    flash(request, gettext("Your e-mail address has been changed."), "success")
    return _redirect("/account")


@router.get("/account/phone")
def phone_form(request: Request, user: CurrentUser) -> Response:
    return render(
        request,
        "identity/change_phone.html",
        form={},
        step="request",
        masked_phone=validation.mask_phone(user.phone),
    )


@router.post("/account/phone")
def phone_change(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    new_phone: FormStr,
    password: FormStr,
    code: Annotated[str, Form()] = "",
) -> Response:
    try:
        contact_change.do_request_phone_change(
            db, user=user, new_phone=new_phone, password=password, code=code or None
        )
    except DomainError as err:
        return _form_error(
            request,
            db,
            "identity/change_phone.html",
            err,
            form={"new_phone": new_phone},
            step="request",
            masked_phone=validation.mask_phone(user.phone),
        )
    return render(
        request,
        "identity/change_phone.html",
        form={"new_phone": new_phone},
        step="confirm",
        masked_phone=validation.mask_phone(user.phone),
    )


@router.post("/account/phone/confirm")
def phone_confirm(
    request: Request, db: DbSession, user: CurrentUser, sms_code: FormStr
) -> Response:
    try:
        contact_change.do_confirm_phone_change(db, user=user, code=sms_code)
    except DomainError as err:
        return _form_error(
            request,
            db,
            "identity/change_phone.html",
            err,
            form={},
            step="confirm",
            masked_phone=validation.mask_phone(user.phone),
        )
    flash(request, gettext("Your phone number has been changed."), "success")
    return _redirect("/account")
