"""Two-factor authentication: TOTP codes accepted once, recovery codes, enrolment and
turning it off, and re-authentication (password plus second factor) for sensitive changes."""

from __future__ import annotations

import logging
import secrets

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from okpay.core import audit, clock, context
from okpay.core.errors import DomainError
from okpay.core.i18n import N_
from okpay.core.ids import random_code
from okpay.core.security import decrypt_secret, encrypt_secret, hash_token
from okpay.identity import errors, passwords, sessions, throttling, users
from okpay.identity.models import RecoveryCode, User

log = logging.getLogger(__name__)


def verify_second_factor(session: Session, *, user: User, code: str) -> str:
    """Accept a TOTP code (once) or a recovery code (once); returns which kind was used."""
    key = f"2fa:{user.id}"
    throttle = throttling.get_throttle(session, key)
    throttling.check_delay(throttle)
    code = (code or "").strip().replace(" ", "").replace("-", "").lower()
    user = users.lock_user(session, user.id)
    if code.isdigit() and len(code) == 6:
        if accept_totp_code(session, user=user, code=code):
            throttling.clear_failures(session, key)
            return "totp"
    elif len(code) == 10:
        row = session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == hash_token("rc:" + code),
                RecoveryCode.used_at.is_(None),
            )
        )
        if row is not None:
            row.used_at = clock.now()
            throttling.clear_failures(session, key)
            audit.record(
                session, "recovery_code_used", actor_user_id=user.id, subject_user_id=user.id
            )
            return "recovery_code"
    throttling.record_failure(session, key)
    sessions.record_login(session, user, "bad_second_factor", context.current().user_agent)
    audit.record(session, "second_factor_failed", subject_user_id=user.id)
    raise errors.InvalidCode()


def accept_totp_code(session: Session, *, user: User, code: str) -> bool:
    """Whether ``code`` is the user's current TOTP code (one step of drift either way) not
    used before; if so its time step is used up, so the same code never works twice. Only
    the code check: callers throttle, audit and lock (``user`` is locked here)."""
    code = (code or "").strip().replace(" ", "").replace("-", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    user = users.lock_user(session, user.id)
    secret = _readable_totp_secret(user)
    if not secret:
        return False
    step = _matching_step(secret, code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def _readable_totp_secret(user: User) -> str | None:
    """The decrypted TOTP key; None if OKPAY_SECRET_KEY changed since enrolment (then only
    recovery codes work, and the sign-in fails cleanly instead of erroring)."""
    if not user.totp_secret:
        return None
    try:
        return decrypt_secret(user.totp_secret)
    except ValueError:
        log.error("TOTP secret of user %s cannot be decrypted with the current key", user.id)
        return None


def _matching_step(secret: str, code: str) -> int | None:
    """The time step whose code is ``code``, allowing one step of clock drift either way."""
    totp = pyotp.TOTP(secret)
    now = clock.now()
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def reauthenticate(session: Session, user: User, password: str, code: str | None) -> None:
    """Current password, plus a second factor when 2FA is on: for every sensitive change."""
    key = f"reauth:{user.id}"
    throttling.check_delay(throttling.get_throttle(session, key))
    if not passwords.verify_password(user.password_hash, password or ""):
        throttling.record_failure(session, key)
        audit.record(session, "reauth_failed", actor_user_id=user.id, subject_user_id=user.id)
        raise errors.WrongPassword()
    throttling.clear_failures(session, key)
    if user.totp_enabled:
        if not code:
            raise errors.TwoFactorRequired(field="code")
        verify_second_factor(session, user=user, code=code)


def begin_totp_enrolment(session: Session, *, user: User) -> tuple[str, str]:
    """A new secret (not active until confirmed): returns (secret, otpauth URI)."""
    user = users.lock_user(session, user.id)
    if user.totp_enabled:
        raise DomainError(
            N_("Two-factor authentication is already on."), code="two_factor_already_on", status=409
        )
    secret = pyotp.random_base32()
    user.totp_secret = encrypt_secret(secret)
    user.totp_last_step = None
    return secret, totp_uri(user, secret)


def pending_totp(user: User) -> tuple[str, str] | None:
    """The unconfirmed secret and its URI, if enrolment has begun."""
    if user.totp_enabled or not user.totp_secret:
        return None
    secret = decrypt_secret(user.totp_secret)
    return secret, totp_uri(user, secret)


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="OKPay")


def qr_svg_data_uri(uri: str) -> str:
    """The otpauth URI as an SVG QR code in a data: URI (allowed by the CSP's img-src)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def do_enable_totp(session: Session, *, user: User, password: str, code: str) -> list[str]:
    """Confirm enrolment with the password and a first code; returns ten recovery codes."""
    user = users.lock_user(session, user.id)
    if user.totp_enabled:
        raise DomainError(
            N_("Two-factor authentication is already on."), code="two_factor_already_on", status=409
        )
    if not user.totp_secret:
        raise DomainError(
            N_("Start the set-up again to get a new key."),
            code="two_factor_not_started",
            status=409,
        )
    key = f"reauth:{user.id}"
    throttling.check_delay(throttling.get_throttle(session, key))
    if not passwords.verify_password(user.password_hash, password or ""):
        throttling.record_failure(session, key)
        raise errors.WrongPassword()
    step = _matching_step(decrypt_secret(user.totp_secret), (code or "").strip().replace(" ", ""))
    if step is None:
        throttling.record_failure(session, key)
        raise errors.InvalidCode()
    user.totp_last_step = step
    user.totp_enabled_at = clock.now()
    user.updated_at = clock.now()
    codes = _new_recovery_codes(session, user)
    audit.record(session, "two_factor_enabled", actor_user_id=user.id, subject_user_id=user.id)
    if user.totp_enrolment_required:
        user.totp_enrolment_required = False
        audit.record(
            session,
            "required_totp_enrolment_completed",
            actor_user_id=user.id,
            subject_user_id=user.id,
        )
    users.notify_user(
        session,
        user,
        "two_factor_changed",
        {"user": user, "enabled": True, "when": clock.now()},
    )
    return codes


def _new_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [random_code(10).lower() for _ in range(10)]
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=hash_token("rc:" + code)))
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def do_regenerate_recovery_codes(
    session: Session, *, user: User, password: str, code: str
) -> list[str]:
    user = users.lock_user(session, user.id)
    reauthenticate(session, user, password, code)
    codes = _new_recovery_codes(session, user)
    audit.record(
        session, "recovery_codes_regenerated", actor_user_id=user.id, subject_user_id=user.id
    )
    return codes


def remaining_recovery_codes(session: Session, *, user: User) -> int:
    return int(
        users.count_rows(
            session, RecoveryCode, RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
        or 0
    )


def do_disable_totp(session: Session, *, user: User, password: str, code: str) -> None:
    """Turn 2FA off with the password plus a current code (or a recovery code)."""
    user = users.lock_user(session, user.id)
    if not user.totp_enabled:
        raise DomainError(
            N_("Two-factor authentication is not on."), code="two_factor_not_on", status=409
        )
    reauthenticate(session, user, password, code or "")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.updated_at = clock.now()
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(session, "two_factor_disabled", actor_user_id=user.id, subject_user_id=user.id)
    users.notify_user(
        session,
        user,
        "two_factor_changed",
        {"user": user, "enabled": False, "when": clock.now()},
    )
