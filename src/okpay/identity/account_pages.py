"""The signed-in account's pages: profile, security (password, sessions, login history),
two-factor set-up, and changing the e-mail address or phone number. The confirmation link
for a new address opens a page with a button, as in :mod:`okpay.identity.sign_in_pages`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from okpay.core.dbid import DbId
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext, normalise
from okpay.identity import (
    contact_change,
    password_change,
    profile,
    sessions,
    tokens,
    twofactor,
    validation,
)
from okpay.identity.access import CurrentSession, CurrentUser
from okpay.identity.models import User
from okpay.identity.page_parts import FormStr, link_problem, redirect
from okpay.settings import get_settings
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.forms import form_error
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])


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
        return form_error(
            request,
            db,
            "identity/account.html",
            err,
            form={"name": name, "address": address},
            masked_phone=validation.mask_phone(user.phone),
        )
    response = redirect("/account")
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
        return form_error(
            request, db, "identity/security.html", err, **_security_context(db, user, current.id)
        )
    flash(
        request,
        gettext("Your password has been changed. Other devices were signed out."),
        "success",
    )
    return redirect("/account/security")


@router.post("/account/sessions/{session_id}/end")
def end_session(request: Request, db: DbSession, user: CurrentUser, session_id: DbId) -> Response:
    sessions.end_session(db, user=user, session_id=session_id, reason="ended_by_user")
    flash(request, gettext("That session has been signed out."), "success")
    return redirect("/account/security")


@router.post("/account/sessions/end-others")
def end_others(
    request: Request, db: DbSession, user: CurrentUser, current: CurrentSession
) -> Response:
    count = sessions.end_all_sessions(
        db, user_id=user.id, reason="ended_by_user", except_id=current.id, actor_user_id=user.id
    )
    flash(request, gettext("%(count)s other sessions were signed out.", count=count), "success")
    return redirect("/account/security")


@router.post("/account/2fa/setup")
def totp_begin(request: Request, db: DbSession, user: CurrentUser) -> Response:
    try:
        twofactor.begin_totp_enrolment(db, user=user)
    except DomainError as err:
        flash(request, err.translated(), "warning")
        return redirect("/account/security")
    return redirect("/account/2fa/setup")


@router.get("/account/2fa/setup")
def totp_setup(request: Request, user: CurrentUser) -> Response:
    pending = twofactor.pending_totp(user)
    if pending is None:
        return redirect("/account/security")
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
            return redirect("/account/security")
        secret, uri = pending
        return form_error(
            request,
            db,
            "identity/totp_setup.html",
            err,
            secret=secret,
            secret_grouped=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            qr=twofactor.qr_svg_data_uri(uri),
        )
    return render(
        request,
        "identity/recovery_codes.html",
        codes=codes,
        just_enabled=True,
        # After an assisted unlock this was the last step: on to the wallet.
        continue_to_wallet=user.totp_enrolment_required,
    )


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
        return form_error(
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
        return form_error(
            request, db, "identity/security.html", err, **_security_context(db, user, current.id)
        )
    flash(request, gettext("Two-factor authentication is off."), "warning")
    return redirect("/account/security")


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
        return form_error(
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
    return redirect("/account")


@router.get("/account/email/confirm")
def email_confirm_form(request: Request, db: DbSession, token: str = "") -> Response:
    try:
        row = tokens.peek_token(db, token, "change_email")
    except DomainError as err:
        return link_problem(request, db, err, "/account/email")
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
        return link_problem(request, db, err, "/account/email")
    flash(request, gettext("Your e-mail address has been changed."), "success")
    return redirect("/account")


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
        return form_error(
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
        # The number the code went to, written as everywhere else (+86 137****5678).
        sent_to=validation.mask_phone(validation.normalise_phone(new_phone)),
    )


@router.post("/account/phone/confirm")
def phone_confirm(
    request: Request, db: DbSession, user: CurrentUser, sms_code: FormStr
) -> Response:
    try:
        contact_change.do_confirm_phone_change(db, user=user, code=sms_code)
    except DomainError as err:
        return form_error(
            request,
            db,
            "identity/change_phone.html",
            err,
            form={},
            step="confirm",
            masked_phone=validation.mask_phone(user.phone),
        )
    flash(request, gettext("Your phone number has been changed."), "success")
    return redirect("/account")
