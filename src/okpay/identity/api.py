"""Identity JSON API under /api/v1: thin routes over the identity modules."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from okpay.core.dbid import DbId
from okpay.core.i18n import N_, gettext
from okpay.identity import (
    contact_change,
    errors,
    password_change,
    profile,
    recovery,
    registration,
    sessions,
    sign_in,
    sms_reset,
    twofactor,
)
from okpay.identity import schemas as s
from okpay.identity.access import CurrentSession, CurrentUser, precheck_password
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["identity"])


def _accepted(message: str) -> s.AcceptedOut:
    return s.AcceptedOut(message=gettext(message))


@router.post("/auth/register", response_model=s.AcceptedOut, status_code=202)
def register(body: s.RegisterIn, db: DbSession, request: Request) -> s.AcceptedOut:
    """Create an account. Answers the same for a new or a registered address."""
    registration.do_register(
        db,
        email=body.email,
        password=body.password,
        name=body.name,
        phone=body.phone,
        locale=body.locale or request.state.locale,
    )
    return _accepted(N_("Check your inbox: we sent a link to confirm your e-mail address."))


@router.post("/auth/verify-email", response_model=s.UserOut)
def verify_email(body: s.TokenIn, db: DbSession) -> s.UserOut:
    return s.user_out(registration.do_verify_email(db, token=body.token))


@router.post("/auth/verify-email/resend", response_model=s.AcceptedOut, status_code=202)
def resend_verification(body: s.EmailIn, db: DbSession) -> s.AcceptedOut:
    registration.do_resend_verification(db, email=body.email)
    return _accepted(N_("If that address has an unconfirmed account, we sent a new link."))


@router.post("/auth/login", response_model=s.LoginOut)
def login(body: s.LoginIn, db: DbSession) -> s.LoginOut:
    """Sign in for a bearer token. With 2FA on, send `otp` too (else `two_factor_required`)."""
    checked = sign_in.check_password_login(
        db,
        email=body.email,
        password=body.password,
        device_token=body.device_id,
        precheck=precheck_password(body.email, body.password),
    )
    second = None
    if checked.needs_second_factor:
        if not body.otp:
            raise errors.TwoFactorRequired()
        second = twofactor.verify_second_factor(db, user=checked.user, code=body.otp)
    new = sessions.start_session(
        db, user=checked.user, kind="api", device_token=body.device_id, second_factor=second
    )
    return s.LoginOut(
        token=new.token, expires_at=new.record.expires_at, user=s.user_out(checked.user)
    )


@router.post("/auth/logout", status_code=204)
def logout(user: CurrentUser, current: CurrentSession, db: DbSession) -> Response:
    sessions.end_session(db, user=user, session_id=current.id, reason="logout")
    return Response(status_code=204)


@router.post("/auth/password/forgot", response_model=s.AcceptedOut, status_code=202)
def forgot_password(body: s.EmailIn, db: DbSession) -> s.AcceptedOut:
    recovery.do_request_password_reset(db, email=body.email)
    return _accepted(
        N_("If an account uses that address, we sent it a link to reset the password.")
    )


@router.post("/auth/password/reset", response_model=s.AcceptedOut)
def reset_password(body: s.ResetIn, db: DbSession) -> s.AcceptedOut:
    recovery.do_reset_password(db, token=body.token, new_password=body.password)
    return _accepted(N_("Your password has been changed. Please sign in with the new password."))


@router.post("/auth/password/forgot/sms", response_model=s.AcceptedOut, status_code=202)
def forgot_password_sms(body: s.PhoneIn, db: DbSession) -> s.AcceptedOut:
    """Text a six-digit reset code to the phone, if it is an account's verified phone.
    Answers the same for any valid number."""
    sms_reset.do_request_reset_code(db, phone=body.phone)
    return _accepted(N_("If an account uses that number, we sent it a code to reset the password."))


@router.post("/auth/password/reset/sms", response_model=s.AcceptedOut)
def reset_password_sms(body: s.SmsResetIn, db: DbSession) -> s.AcceptedOut:
    """Set a new password with the texted code (once, within 10 minutes); with 2FA on, the
    next sign-in still asks for the authenticator code."""
    sms_reset.do_reset_password_with_code(
        db, phone=body.phone, code=body.code, new_password=body.password
    )
    return _accepted(N_("Your password has been changed. Please sign in with the new password."))


@router.post("/auth/unlock", response_model=s.UserOut)
def unlock(body: s.UnlockIn, db: DbSession) -> s.UserOut:
    """Unlock from the e-mailed link's token; with 2FA on, `otp` too."""
    return s.user_out(recovery.do_unlock(db, token=body.token, code=body.otp))


@router.get("/me", response_model=s.UserOut)
def me(user: CurrentUser) -> s.UserOut:
    return s.user_out(user)


@router.patch("/me", response_model=s.UserOut)
def update_me(body: s.ProfileIn, user: CurrentUser, db: DbSession) -> s.UserOut:
    """Name, language and address only; anything else in the body is rejected."""
    updated = profile.do_update_profile(
        db, user=user, name=body.name, preferred_locale=body.preferred_locale, address=body.address
    )
    return s.user_out(updated)


@router.post("/me/password", status_code=204)
def change_password(
    body: s.PasswordChangeIn, user: CurrentUser, current: CurrentSession, db: DbSession
) -> Response:
    password_change.do_change_password(
        db,
        user=user,
        current_password=body.current_password,
        new_password=body.new_password,
        code=body.otp,
        keep_session_id=current.id,
    )
    return Response(status_code=204)


@router.get("/me/sessions", response_model=list[s.SessionOut])
def my_sessions(user: CurrentUser, current: CurrentSession, db: DbSession) -> list[s.SessionOut]:
    rows = sessions.list_sessions(db, user=user)
    return [
        s.SessionOut.model_validate(r).model_copy(update={"current": r.id == current.id})
        for r in rows
    ]


@router.delete("/me/sessions/{session_id}", status_code=204)
def end_my_session(session_id: DbId, user: CurrentUser, db: DbSession) -> Response:
    sessions.end_session(db, user=user, session_id=session_id, reason="ended_by_user")
    return Response(status_code=204)


@router.post("/me/sessions/end-others", status_code=204)
def end_other_sessions(user: CurrentUser, current: CurrentSession, db: DbSession) -> Response:
    sessions.end_all_sessions(
        db, user_id=user.id, reason="ended_by_user", except_id=current.id, actor_user_id=user.id
    )
    return Response(status_code=204)


@router.get("/me/logins", response_model=list[s.LoginEventOut])
def my_logins(user: CurrentUser, db: DbSession) -> list[s.LoginEventOut]:
    return [s.LoginEventOut.model_validate(r) for r in sessions.list_logins(db, user=user)]


@router.post("/me/2fa/setup", response_model=s.TotpSetupOut)
def totp_setup(user: CurrentUser, db: DbSession) -> s.TotpSetupOut:
    secret, uri = twofactor.begin_totp_enrolment(db, user=user)
    return s.TotpSetupOut(
        secret=secret, otpauth_uri=uri, qr_svg_data_uri=twofactor.qr_svg_data_uri(uri)
    )


@router.post("/me/2fa/confirm", response_model=s.RecoveryCodesOut)
def totp_confirm(body: s.TotpConfirmIn, user: CurrentUser, db: DbSession) -> s.RecoveryCodesOut:
    codes = twofactor.do_enable_totp(db, user=user, password=body.password, code=body.code)
    return s.RecoveryCodesOut(recovery_codes=codes)


@router.post("/me/2fa/disable", status_code=204)
def totp_disable(body: s.TotpConfirmIn, user: CurrentUser, db: DbSession) -> Response:
    twofactor.do_disable_totp(db, user=user, password=body.password, code=body.code)
    return Response(status_code=204)


@router.post("/me/2fa/recovery-codes", response_model=s.RecoveryCodesOut)
def totp_recovery_codes(
    body: s.TotpConfirmIn, user: CurrentUser, db: DbSession
) -> s.RecoveryCodesOut:
    codes = twofactor.do_regenerate_recovery_codes(
        db, user=user, password=body.password, code=body.code
    )
    return s.RecoveryCodesOut(recovery_codes=codes)


@router.post("/me/email", response_model=s.AcceptedOut, status_code=202)
def change_email(body: s.EmailChangeIn, user: CurrentUser, db: DbSession) -> s.AcceptedOut:
    contact_change.do_request_email_change(
        db, user=user, new_email=body.new_email, password=body.password, code=body.otp
    )
    return _accepted(
        N_(
            "We sent a confirmation link to the new address. "
            "The change takes effect once you click it."
        )
    )


@router.post("/me/email/confirm", response_model=s.UserOut)
def confirm_email_change(body: s.TokenIn, db: DbSession) -> s.UserOut:
    return s.user_out(contact_change.do_confirm_email_change(db, token=body.token))


@router.post("/me/phone", response_model=s.AcceptedOut, status_code=202)
def change_phone(body: s.PhoneChangeIn, user: CurrentUser, db: DbSession) -> s.AcceptedOut:
    contact_change.do_request_phone_change(
        db, user=user, new_phone=body.new_phone, password=body.password, code=body.otp
    )
    return _accepted(N_("We sent a six-digit code to the new number."))


@router.post("/me/phone/confirm", response_model=s.UserOut)
def confirm_phone_change(body: s.CodeIn, user: CurrentUser, db: DbSession) -> s.UserOut:
    return s.user_out(contact_change.do_confirm_phone_change(db, user=user, code=body.code))
