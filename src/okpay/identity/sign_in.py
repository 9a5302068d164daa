"""Sign-in by password: throttling and lockout, unknown addresses and wrong passwords answered
alike, and the job that records a refused sign-in after the answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from okpay.core import audit, context
from okpay.core.errors import NotFound, ValidationFailed
from okpay.core.security import hash_token
from okpay.db import get_database
from okpay.identity import (
    deferred,
    errors,
    passwords,
    sessions,
    throttling,
    tokens,
    users,
    validation,
)
from okpay.identity.models import AccountStatus, KnownDevice, User
from okpay.jobs import job
from okpay.settings import get_settings


@dataclass
class LoginCheck:
    """The outcome of a correct password: who, and whether a second factor is still due."""

    user: User
    needs_second_factor: bool


def account_key(email: str) -> str:
    """The throttle key of sign-ins to an address (hashed: the table never holds addresses)."""
    return "acct:" + hash_token("login:" + email)[:40]


def _device_key(user_id: int, device_hash: str) -> str:
    return f"dev:{user_id}:{device_hash[:32]}"


def _is_known_device(session: Session, user: User | None, device_token: str | None) -> bool:
    if not device_token:
        return False
    # Asked for unknown addresses too (user id 0 matches nothing): the same query either way.
    return users.row_exists(
        session,
        KnownDevice,
        KnownDevice.user_id == (user.id if user is not None else 0),
        KnownDevice.device_hash == hash_token(device_token),
    )


@dataclass(frozen=True)
class PasswordPrecheck:
    """A password verified ahead of the write transaction (argon2 is slow; on SQLite the write
    lock would serialise every sign-in behind it). Valid only while the hash is unchanged."""

    email: str
    user_id: int | None
    password_hash: str | None
    ok: bool


def precheck_password(session: Session, *, email: str, password: str) -> PasswordPrecheck | None:
    """Verify ``password`` for ``email`` in a read-only session; None for a malformed address."""
    try:
        email = validation.normalise_email(email)
    except ValidationFailed:
        return None
    user = users.get_user_by_email(session, email)
    if user is None:
        passwords.burn_time()
        return PasswordPrecheck(email, None, None, False)
    ok = passwords.verify_password(user.password_hash, password)
    return PasswordPrecheck(email, user.id, user.password_hash, ok)


def _password_ok(user: User, password: str, precheck: PasswordPrecheck | None) -> bool:
    if (
        precheck is not None
        and precheck.user_id == user.id
        and precheck.password_hash == user.password_hash
    ):
        return precheck.ok
    return passwords.verify_password(user.password_hash, password)


def check_password_login(
    session: Session,
    *,
    email: str,
    password: str,
    device_token: str | None,
    precheck: PasswordPrecheck | None = None,
) -> LoginCheck:
    """Check an e-mail and password with throttling and lockout.


    Unknown addresses and wrong passwords answer alike. Failures from browsers the account has
    signed in from before are counted apart, so strangers cannot lock the owner out."""
    settings = get_settings()
    try:
        email = validation.normalise_email(email)
    except ValidationFailed:
        _burn_time(precheck)
        raise errors.InvalidCredentials() from None
    throttling.check_ip(session)
    user = users.get_user_by_email(session, email)
    known = _is_known_device(session, user, device_token)
    key = (
        _device_key(user.id, hash_token(device_token or ""))
        if (known and user)
        else account_key(email)
    )
    throttle = throttling.get_throttle(session, key)
    throttling.check_delay(throttle)

    paused_by_failures = not known and throttle.failures >= settings.login_lock_threshold
    locked = user is not None and user.status == AccountStatus.locked.value
    owner_override = known and user is not None and user.status_reason == "too_many_failed_logins"
    if paused_by_failures or (locked and not owner_override):
        # Answer before looking at the password: a paused account must not become an oracle.
        _burn_time(precheck)
        deferred.later(
            session, after_refused_sign_in, user.id if user else None, "locked", 0, known
        )
        raise errors.AccountLocked()
    if user is None:
        _burn_time(precheck)
        password_ok = False
    else:
        password_ok = _password_ok(user, password, precheck)
    if user is None or not password_ok:
        _fail(session, user, key, known=known)
        raise errors.InvalidCredentials()

    if user.status == AccountStatus.closed.value:
        raise errors.AccountClosed()
    if user.email_verified_at is None:
        raise errors.EmailNotVerified()

    if locked and owner_override:
        users.set_status(
            session,
            user,
            AccountStatus.active,
            None,
            action="account_unlocked",
            method="known_device",
        )
    throttling.clear_failures(session, key, account_key(email))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return LoginCheck(user=user, needs_second_factor=user.totp_enabled)


def _burn_time(precheck: PasswordPrecheck | None) -> None:
    # Every answer costs one argon2 verification; a precheck has already paid it.
    if precheck is None:
        passwords.burn_time()


def _fail(session: Session, user: User | None, key: str, *, known: bool) -> int:
    """Count a failed sign-in now (the throttle must hold at once); the account's history,
    audit row and lock follow in a job, queued for unknown addresses too."""
    failures = throttling.record_failure(session, key)
    ip_key = throttling.ip_key()
    if ip_key:
        throttling.record_failure(session, ip_key, window=throttling.IP_WINDOW)
    user_id = user.id if user is not None else None
    deferred.later(session, after_refused_sign_in, user_id, "bad_password", failures, known)
    return failures


def record_refused_sign_in(
    session: Session, *, user_id: int | None, result: str, failures: int, known: bool
) -> None:
    """The job's part of a refused sign-in: the owner's login history, the audit row, and the
    lock after too many failures from browsers the account has not used. Nothing for an
    unknown address."""
    if user_id is None:
        return
    try:
        user = users.lock_user(session, user_id)
    except NotFound:  # deleted since
        return
    sessions.record_login(session, user, result, context.current().user_agent)
    if result != "bad_password":
        return
    audit.record(session, "login_failed", subject_user_id=user.id, failures=failures)
    if (
        not known
        and failures >= get_settings().login_lock_threshold
        and user.status == AccountStatus.active.value
    ):
        _lock_for_failures(session, user)


def _lock_for_failures(session: Session, user: User) -> None:
    users.set_status(
        session, user, AccountStatus.locked, "too_many_failed_logins", action="account_locked"
    )
    token = tokens.issue_token(session, user, "unlock")
    users.notify_user(
        session,
        user,
        "account_locked",
        {
            "user": user,
            "link": tokens.link("/unlock", token),
            "reset_url": f"{get_settings().base_url}/password/forgot",
            "hours": get_settings().unlock_token_hours,
        },
    )


# ------------------------------------------ jobs: the account-dependent half, after the answer


@job(retries=2, retry_delay=10)
def after_refused_sign_in(
    user_id: int | None, result: str, failures: int, known: bool, origin: dict[str, Any]
) -> None:
    """Login history, audit row and lock for a refused sign-in to an existing account."""
    if user_id is None:
        return
    with deferred.in_origin(origin), get_database().unit_of_work() as session:
        record_refused_sign_in(
            session, user_id=user_id, result=result, failures=failures, known=known
        )
