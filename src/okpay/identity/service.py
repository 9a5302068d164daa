"""Identity: registration, sign-in, sessions, two-factor authentication, recovery and changes
of e-mail or phone. Functions take the session first and only flush; the unit of work commits.

Rules from QUALITY.md that live here: no account enumeration (registration, sign-in and reset
answer the same for unknown addresses), throttling with growing delays that cannot lock an
owner out for good, single-use hashed tokens with short expiry, TOTP codes accepted once.

No enumeration by time either (docs/security.md, issue 11 item 7): registration, a reset
request, a new confirmation link and a failed sign-in do the same work in the request whether
the address is registered or not (validation, rate counters, one argon2 operation, one job
queued); whatever depends on the account (its rows, tokens, e-mails, login history) is
done by a job after the answer.
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
import pyotp
import segno
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.core import audit, clock, context
from okpay.core.errors import DomainError, NotFound, RateLimited, ValidationFailed
from okpay.core.i18n import N_, get_locale, normalise, use_locale
from okpay.core.ids import random_code
from okpay.core.security import decrypt_secret, encrypt_secret, hash_token, new_token
from okpay.db import Base, one_of
from okpay.identity import passwords
from okpay.identity.devices import device_label
from okpay.identity.models import (
    AccountStatus,
    KnownDevice,
    LoginEvent,
    LoginThrottle,
    OneTimeToken,
    RecoveryCode,
    Role,
    User,
    UserSession,
)
from okpay.mail import sms
from okpay.mail.service import send_email
from okpay.settings import get_settings

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------- errors


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    status = 401
    message = N_("The e-mail address or password is incorrect.")
    persist = True


class AccountLocked(DomainError):
    code = "account_locked"
    status = 403
    message = N_(
        "For your security, sign-in to this account is paused. If the account exists, we have "
        "sent its owner an e-mail with a link to unlock it, or you can reset the password."
    )
    persist = True


class EmailNotVerified(DomainError):
    code = "email_not_verified"
    status = 403
    message = N_("Please confirm your e-mail address first. We can send the link again.")
    persist = True


class AccountClosed(DomainError):
    code = "account_closed"
    status = 403
    message = N_("This account is closed. Please contact support if you need help.")


class InvalidCode(DomainError):
    code = "invalid_code"
    status = 400
    message = N_("That code is not correct or has already been used. Please try again.")
    persist = True


class TwoFactorRequired(DomainError):
    code = "two_factor_required"
    status = 401
    message = N_("Enter the code from your authenticator app.")


class LinkInvalid(DomainError):
    code = "link_invalid"
    status = 400
    message = N_("This link is not valid. Please request a new one.")


class LinkExpired(DomainError):
    code = "link_expired"
    status = 400
    message = N_("This link has expired. Please request a new one.")


class LinkUsed(DomainError):
    code = "link_used"
    status = 400
    message = N_("This link has already been used. Please request a new one if you still need it.")


class WrongPassword(DomainError):
    code = "wrong_password"
    status = 400
    message = N_("Your current password is not correct.")
    field = "password"
    persist = True


def notify_user(session: Session, user: User, template: str, context: dict[str, Any]) -> None:
    """E-mail the account's own address, in the user's language, after commit."""
    send_email(
        session,
        to=user.email,
        template=template,
        user_id=user.id,
        locale=user.preferred_locale or get_locale(),
        context=context,
    )


# ------------------------------------------------------------------------------ validation


def normalise_email(raw: str) -> str:
    """Lower-case, syntax-checked address; ValidationFailed otherwise."""
    value = (raw or "").strip()
    if "\r" in value or "\n" in value:
        raise ValidationFailed(
            N_("Line breaks are not allowed here."), code="line_break_not_allowed", field="email"
        )
    try:
        info = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            N_("Please enter a valid e-mail address."), code="email_invalid", field="email"
        ) from exc
    return info.normalized.lower()


def normalise_phone(raw: str, *, region: str = "CN") -> str:
    """E.164 form of a phone number (default region China); ValidationFailed otherwise."""
    value = (raw or "").strip()
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(
            N_("Please enter a valid phone number."), code="phone_invalid", field="phone"
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(
            N_("Please enter a valid phone number."), code="phone_invalid", field="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Line breaks in any script: CR, LF, VT, FF, NEL (U+0085), LINE and PARAGRAPH SEPARATOR.
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x85\u2028\u2029")
# Zero-width non-joiner and joiner: needed inside words of some scripts and emoji.
_JOINERS = frozenset("\u200c\u200d")


def check_name(raw: str, *, field: str = "name", max_length: int = 100) -> str:
    """One line of text typed by a person (a note, a reason, a subject, an order id):
    trimmed of ASCII blanks; no line break of any script, no control, format (but the two
    joiners), surrogate, private-use or unassigned character; bounded length. Names of
    people, banks and merchants go through :func:`check_person_name`, which is stricter."""
    value = (raw or "").strip(" \t\r\n")
    if any(ch in _LINE_BREAKS for ch in value):
        raise ValidationFailed(
            N_("Line breaks are not allowed here."), code="line_break_not_allowed", field=field
        )
    if any(unicodedata.category(ch)[0] == "C" and ch not in _JOINERS for ch in value):
        raise ValidationFailed(
            N_("This text contains characters that are not allowed."),
            code="control_characters",
            field=field,
        )
    if len(value) > max_length:
        raise ValidationFailed(
            N_("Use at most %(max)s characters."), code="too_long", field=field, max=max_length
        )
    return value


def check_person_name(raw: str, *, field: str = "name", max_length: int = 100) -> str:
    """A name shown to other people (display name, card or account holder, bank, merchant):
    :func:`check_name`, and the only space is the ordinary one (U+0020, runs of it become
    one), so two names that look alike are alike; a zero-width joiner or non-joiner only
    between two letters, where a script needs it."""
    value = check_name(raw, field=field, max_length=max_length)
    for i, ch in enumerate(value):
        if ch in _JOINERS and not (
            0 < i < len(value) - 1 and _is_letter(value[i - 1]) and _is_letter(value[i + 1])
        ):
            raise ValidationFailed(
                N_("This text contains characters that are not allowed."),
                code="control_characters",
                field=field,
            )
        if ch != " " and unicodedata.category(ch) == "Zs":
            raise ValidationFailed(
                N_("Use only ordinary spaces in names."), code="unusual_space", field=field
            )
    return re.sub(" {2,}", " ", value)


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("L", "M")


def mask_email(email: str) -> str:
    """``z***@example.com``: enough to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def counterparty_label(name: str, email: str) -> str:
    """How a user appears in someone else's history: name and masked e-mail."""
    return f"{name} ({mask_email(email)})" if name else mask_email(email)


def mask_phone(phone: str | None) -> str:
    """``+86 138****5678`` style masking."""
    if not phone:
        return ""
    return phone[:-8] + "****" + phone[-4:] if len(phone) > 8 else "****"


# --------------------------------------------------------------------------------- lookups


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def _lock_user(session: Session, user_id: int) -> User:
    """The user row, locked for update (status and counters change under it)."""
    from okpay.db import for_update

    dialect = session.get_bind().dialect.name
    user = session.scalar(
        select(User).where(User.id == user_id).with_for_update(**for_update(dialect))
    )
    if user is None:
        raise NotFound()
    return user


def _count(session: Session, model: type[Base], *conditions: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def _exists(session: Session, model: type[Base], *conditions: Any) -> bool:
    return bool(session.scalar(select(exists().where(*conditions).select_from(model))))


# ---------------------------------------------------------------------------------- tokens


TOKEN_TTL = {
    "verify_email": lambda s: timedelta(hours=s.verify_token_hours),
    "reset_password": lambda s: timedelta(minutes=s.reset_token_minutes),
    "unlock": lambda s: timedelta(hours=s.unlock_token_hours),
    "change_email": lambda s: timedelta(hours=s.verify_token_hours),
    "not_me": lambda s: timedelta(days=7),
    "change_phone": lambda s: timedelta(minutes=10),
}


def _issue_token(
    session: Session,
    user: User,
    purpose: str,
    *,
    data: dict[str, Any] | None = None,
    token: str | None = None,
) -> str:
    """A fresh single-use token for ``purpose``; earlier unused ones of the same purpose die."""
    now = clock.now()
    session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    token = token or new_token(32)
    session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + TOKEN_TTL[purpose](get_settings()),
            data=data or {},
        )
    )
    session.flush()
    return token


def peek_token(session: Session, token: str, purpose: str) -> OneTimeToken:
    """The live token row, or LinkInvalid / LinkExpired / LinkUsed."""
    row = session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == hash_token(token or ""))
    )
    if row is None or row.purpose != purpose:
        raise LinkInvalid()
    if row.used_at is not None:
        raise LinkUsed()
    if row.expires_at <= clock.now():
        raise LinkExpired()
    return row


def _consume_token(session: Session, token: str, purpose: str) -> OneTimeToken:
    row = peek_token(session, token, purpose)
    # Conditional update: two clicks racing on the same link, only one wins.
    result = session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkUsed()
    session.refresh(row)
    return row


def _link(path: str, token: str) -> str:
    return f"{get_settings().base_url}{path}?token={token}"


# ------------------------------------------------------------------------------ throttling


@dataclass
class Throttle:
    key: str
    failures: int
    last_failure_at: datetime | None


FAILURE_WINDOW = timedelta(hours=24)


def _throttle(session: Session, key: str, *, window: timedelta | None = None) -> Throttle:
    """Failures counted for ``key`` within its window (default 24 hours: an address that
    collected failures long ago, perhaps before it was registered, starts clean)."""
    window = window or FAILURE_WINDOW
    row = session.get(LoginThrottle, key)
    if row is None:
        return Throttle(key, 0, None)
    if row.window_started_at + window <= clock.now():
        return Throttle(key, 0, None)
    return Throttle(key, row.failures, row.last_failure_at)


def _record_failure(session: Session, key: str, *, window: timedelta | None = None) -> int:
    window = window or FAILURE_WINDOW
    now = clock.now()
    row = session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now, last_failure_at=now)
        session.add(row)
    elif row.window_started_at + window <= now:
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    row.last_failure_at = now
    session.flush()
    return row.failures


def _clear_failures(session: Session, *keys: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))


def delay_for(failures: int) -> int:
    """Seconds to wait after ``failures`` consecutive failures: 0 for the first few, then
    1, 2, 4 … seconds, capped at 15 minutes."""
    free = get_settings().login_delay_after
    if failures < free:
        return 0
    return int(min(2 ** (failures - free), 900))


def _check_delay(t: Throttle) -> None:
    wait = delay_for(t.failures)
    if wait and t.last_failure_at is not None:
        remaining = (t.last_failure_at + timedelta(seconds=wait) - clock.now()).total_seconds()
        if remaining > 0:
            raise RateLimited(math.ceil(remaining))


def check_rate(session: Session, key: str, *, limit: int, window: timedelta) -> None:
    """Count one use of ``key``; RateLimited once ``limit`` uses fall in ``window``."""
    t = _throttle(session, key, window=window)
    if t.failures >= limit:
        row = session.get(LoginThrottle, key)
        assert row is not None
        raise RateLimited(math.ceil((row.window_started_at + window - clock.now()).total_seconds()))
    _record_failure(session, key, window=window)


IP_WINDOW = timedelta(hours=1)


def _ip_key() -> str | None:
    ip = context.current().ip
    return f"ip:{ip}" if ip else None


def _check_ip(session: Session) -> None:
    key = _ip_key()
    if key is None:
        return
    t = _throttle(session, key, window=IP_WINDOW)
    if t.failures >= get_settings().ip_failures_per_hour:
        row = session.get(LoginThrottle, key)
        assert row is not None
        raise RateLimited(
            math.ceil((row.window_started_at + IP_WINDOW - clock.now()).total_seconds())
        )


# ------------------------------------------------------------ answering before the work


def _origin() -> dict[str, Any]:
    """The request's context and language, for a job that finishes the work later."""
    ctx = context.current()
    return {
        "ip": ctx.ip,
        "user_agent": ctx.user_agent,
        "channel": ctx.channel,
        "country": ctx.country,
        "locale": get_locale(),
    }


@contextmanager
def in_origin(origin: dict[str, Any]) -> Iterator[None]:
    """Run a job's part as the request that queued it: its address (audit) and language."""
    token = context.set_current(
        context.RequestContext(
            ip=origin.get("ip"),
            user_agent=origin.get("user_agent"),
            channel=origin.get("channel") or "web",
            country=origin.get("country"),
        )
    )
    try:
        with use_locale(origin.get("locale") or get_locale()):
            yield
    finally:
        context.reset(token)


def _later(session: Session, task: str, *args: Any) -> None:
    """Queue ``identity.tasks.<task>`` with the request's origin once the unit of work commits.
    Every path of a request that must not reveal an account calls this exactly once."""
    from okpay.identity import tasks
    from okpay.worker import enqueue_on_commit

    enqueue_on_commit(session, getattr(tasks, task), *args, _origin())


# ---------------------------------------------------------------------------- registration


def do_register(
    session: Session,
    *,
    email: str,
    password: str,
    name: str = "",
    phone: str | None = None,
    locale: str | None = None,
) -> None:
    """Accept a registration and answer at once: the same work for a new or a registered
    address (checks, rate counter, one argon2 hash, one job). The job
    (:func:`complete_registration`) creates the unverified customer and e-mails the
    confirmation link, or sends the owner of a registered address a notice instead."""
    email = normalise_email(email)
    name = check_person_name(name)
    passwords.check_password_policy(password, email=email)
    phone_e164 = normalise_phone(phone) if phone and phone.strip() else None
    locale = normalise(locale) or get_locale()
    check_rate(session, f"register:{context.current().ip}", limit=20, window=timedelta(hours=1))
    # Sealed: the queue (Redis in production) never holds the address or the hash in clear.
    sealed = encrypt_secret(
        json.dumps(
            {
                "email": email,
                "name": name,
                "phone": phone_e164,
                "locale": locale,
                "password_hash": passwords.hash_password(password),
            }
        )
    )
    _later(session, "finish_registration", sealed)


def complete_registration(session: Session, *, sealed: str) -> User | None:
    """The job's part of :func:`do_register`: the new user (verification link sent), or None
    when the address is registered (its owner gets a notice)."""
    data = json.loads(decrypt_secret(sealed))
    email, locale = data["email"], data["locale"]
    existing = get_user_by_email(session, email)
    if existing is not None:
        send_email(
            session,
            to=existing.email,
            template="register_existing",
            user_id=existing.id,
            locale=existing.preferred_locale or locale,
            context={
                "user": existing,
                "login_url": f"{get_settings().base_url}/login",
                "reset_url": f"{get_settings().base_url}/password/forgot",
            },
        )
        return None

    phone_e164 = data["phone"]
    phone_taken = phone_e164 is not None and _exists(session, User, User.phone == phone_e164)
    now = clock.now()
    user = User(
        email=email,
        name=data["name"],
        phone=None if phone_taken else phone_e164,
        preferred_locale=locale,
        password_hash=data["password_hash"],
        password_changed_at=now,
        role=Role.customer.value,
        status=AccountStatus.active.value,
        verification_level=0,
        address="",
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, "user_registered", actor_user_id=user.id, subject_user_id=user.id)
    _send_verification(session, user, phone_taken=bool(phone_taken))
    return user


def _send_verification(session: Session, user: User, *, phone_taken: bool = False) -> None:
    token = _issue_token(session, user, "verify_email")
    notify_user(
        session,
        user,
        "verify_email",
        {
            "user": user,
            "link": _link("/verify-email", token),
            "hours": get_settings().verify_token_hours,
            "phone_taken": phone_taken,
        },
    )


def do_verify_email(session: Session, *, token: str) -> User:
    """Confirm the address behind a verification link."""
    row = _consume_token(session, token, "verify_email")
    user = _lock_user(session, row.user_id)
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
        user.updated_at = clock.now()
        audit.record(session, "email_verified", actor_user_id=user.id, subject_user_id=user.id)
    return user


def do_resend_verification(session: Session, *, email: str) -> None:
    """Accept a request for a new confirmation link and answer at once: the same work for any
    address (rate counter, one job). The job (:func:`resend_verification`) sends the link."""
    email = normalise_email(email)
    check_rate(session, f"resend-ip:{context.current().ip}", limit=30, window=timedelta(hours=1))
    _later(session, "finish_resend_verification", email)


def resend_verification(session: Session, *, email: str) -> None:
    """The job's part: a new link to an unconfirmed account, at most once a minute."""
    user = get_user_by_email(session, email)
    if user is None or user.email_verified_at is not None:
        return
    last = session.scalar(
        select(func.max(OneTimeToken.created_at)).where(
            OneTimeToken.user_id == user.id, OneTimeToken.purpose == "verify_email"
        )
    )
    wait = get_settings().verify_resend_seconds
    if last is not None and (clock.now() - last).total_seconds() < wait:
        return  # just sent one: answer as for any address, send nothing more
    _send_verification(session, user)


# ---------------------------------------------------------------------------------- sign-in


@dataclass
class LoginCheck:
    """The outcome of a correct password: who, and whether a second factor is still due."""

    user: User
    needs_second_factor: bool


def _account_key(email: str) -> str:
    return "acct:" + hash_token("login:" + email)[:40]


def _device_key(user_id: int, device_hash: str) -> str:
    return f"dev:{user_id}:{device_hash[:32]}"


def _is_known_device(session: Session, user: User | None, device_token: str | None) -> bool:
    if not device_token:
        return False
    # Asked for unknown addresses too (user id 0 matches nothing): the same query either way.
    return _exists(
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
        email = normalise_email(email)
    except ValidationFailed:
        return None
    user = get_user_by_email(session, email)
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
        email = normalise_email(email)
    except ValidationFailed:
        _burn_time(precheck)
        raise InvalidCredentials() from None
    _check_ip(session)
    user = get_user_by_email(session, email)
    known = _is_known_device(session, user, device_token)
    key = (
        _device_key(user.id, hash_token(device_token or ""))
        if (known and user)
        else _account_key(email)
    )
    throttle = _throttle(session, key)
    _check_delay(throttle)

    paused_by_failures = not known and throttle.failures >= settings.login_lock_threshold
    locked = user is not None and user.status == AccountStatus.locked.value
    owner_override = known and user is not None and user.status_reason == "too_many_failed_logins"
    if paused_by_failures or (locked and not owner_override):
        # Answer before looking at the password: a paused account must not become an oracle.
        _burn_time(precheck)
        _later(session, "after_refused_sign_in", user.id if user else None, "locked", 0, known)
        raise AccountLocked()
    if user is None:
        _burn_time(precheck)
        password_ok = False
    else:
        password_ok = _password_ok(user, password, precheck)
    if user is None or not password_ok:
        _fail(session, user, key, known=known)
        raise InvalidCredentials()

    if user.status == AccountStatus.closed.value:
        raise AccountClosed()
    if user.email_verified_at is None:
        raise EmailNotVerified()

    if locked and owner_override:
        _set_status(
            session,
            user,
            AccountStatus.active,
            None,
            action="account_unlocked",
            method="known_device",
        )
    _clear_failures(session, key, _account_key(email))
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
    failures = _record_failure(session, key)
    ip_key = _ip_key()
    if ip_key:
        _record_failure(session, ip_key, window=IP_WINDOW)
    user_id = user.id if user is not None else None
    _later(session, "after_refused_sign_in", user_id, "bad_password", failures, known)
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
        user = _lock_user(session, user_id)
    except NotFound:  # deleted since
        return
    _login_event(session, user, result, context.current().user_agent)
    if result != "bad_password":
        return
    audit.record(session, "login_failed", subject_user_id=user.id, failures=failures)
    if (
        not known
        and failures >= get_settings().login_lock_threshold
        and user.status == AccountStatus.active.value
    ):
        _lock_for_failures(session, user)


def _login_event(
    session: Session, user: User, result: str, user_agent: str | None, *, new_device: bool = False
) -> None:
    session.add(
        LoginEvent(
            user_id=user.id,
            at=clock.now(),
            result=result,
            ip=context.current().ip,
            user_agent=(user_agent or "")[:300] or None,
            device_label=device_label(user_agent),
            new_device=new_device,
            country=context.current().country,
        )
    )


def _set_status(
    session: Session,
    user: User,
    status: AccountStatus,
    reason: str | None,
    *,
    action: str,
    actor_user_id: int | None = None,
    **data: Any,
) -> None:
    previous = user.status
    user.status = status.value
    user.status_reason = reason
    user.status_changed_at = clock.now()
    user.updated_at = clock.now()
    audit.record(
        session,
        action,
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        previous=previous,
        status=status.value,
        reason=reason,
        **data,
    )


def _lock_for_failures(session: Session, user: User) -> None:
    _set_status(
        session, user, AccountStatus.locked, "too_many_failed_logins", action="account_locked"
    )
    token = _issue_token(session, user, "unlock")
    notify_user(
        session,
        user,
        "account_locked",
        {
            "user": user,
            "link": _link("/unlock", token),
            "reset_url": f"{get_settings().base_url}/password/forgot",
            "hours": get_settings().unlock_token_hours,
        },
    )


def verify_second_factor(session: Session, *, user: User, code: str) -> str:
    """Accept a TOTP code (once) or a recovery code (once); returns which kind was used."""
    key = f"2fa:{user.id}"
    throttle = _throttle(session, key)
    _check_delay(throttle)
    code = (code or "").strip().replace(" ", "").replace("-", "").lower()
    user = _lock_user(session, user.id)
    secret = _readable_totp_secret(user)
    if code.isdigit() and len(code) == 6 and secret:
        step = _matching_step(secret, code)
        if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
            user.totp_last_step = step
            _clear_failures(session, key)
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
            _clear_failures(session, key)
            audit.record(
                session, "recovery_code_used", actor_user_id=user.id, subject_user_id=user.id
            )
            return "recovery_code"
    _record_failure(session, key)
    _login_event(session, user, "bad_second_factor", context.current().user_agent)
    audit.record(session, "second_factor_failed", subject_user_id=user.id)
    raise InvalidCode()


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


@dataclass
class NewSession:
    record: UserSession
    token: str
    new_device: bool


def start_session(
    session: Session,
    *,
    user: User,
    kind: str,
    device_token: str | None,
    second_factor: str | None = None,
) -> NewSession:
    """Open a session (new random id), record the login and warn about a new device."""
    settings = get_settings()
    ctx = context.current()
    now = clock.now()
    token = new_token(32)
    label = device_label(ctx.user_agent)
    record = UserSession(
        user_id=user.id,
        token_hash=hash_token(token),
        kind=kind,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=settings.session_days),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:300] or None,
        device_label=label,
    )
    session.add(record)
    new_device = False
    if device_token:
        device_hash = hash_token(device_token)
        device = session.scalar(
            select(KnownDevice).where(
                KnownDevice.user_id == user.id, KnownDevice.device_hash == device_hash
            )
        )
        if device is None:
            had_devices = _exists(session, KnownDevice, KnownDevice.user_id == user.id)
            try:
                with session.begin_nested():
                    session.add(
                        KnownDevice(
                            user_id=user.id,
                            device_hash=device_hash,
                            label=label,
                            first_seen_at=now,
                            last_seen_at=now,
                        )
                    )
                new_device = had_devices
            except IntegrityError:
                pass  # a simultaneous sign-in from this device recorded it first
        else:
            device.last_seen_at = now
    new_country = ctx.country is not None and _is_new_country(session, user.id, ctx.country)
    _login_event(session, user, "success", ctx.user_agent, new_device=new_device)
    audit.record(
        session,
        "login_succeeded",
        actor_user_id=user.id,
        subject_user_id=user.id,
        kind=kind,
        second_factor=second_factor,
        new_device=new_device,
        country=ctx.country,
        new_country=new_country,
    )
    session.flush()
    if new_device or new_country:
        not_me = _issue_token(session, user, "not_me")
        notify_user(
            session,
            user,
            "new_device",
            {
                "user": user,
                "device": label,
                "ip": ctx.ip or "",
                "country": ctx.country or "",
                "new_country": new_country,
                "when": now,
                "link": _link("/not-me", not_me),
            },
        )
    return NewSession(record=record, token=token, new_device=new_device or new_country)


def _is_new_country(session: Session, user_id: int, country: str) -> bool:
    """True when the user has signed in before, from known countries only, none this one."""
    seen = set(
        session.scalars(
            select(LoginEvent.country)
            .where(
                LoginEvent.user_id == user_id,
                LoginEvent.result == "success",
                LoginEvent.country.is_not(None),
            )
            .distinct()
        )
    )
    return bool(seen) and country not in seen


def resolve_session(
    session: Session, token: str, *, kind: str | None = None
) -> tuple[User, UserSession] | None:
    """The user and session behind a cookie or bearer token, if it is still live."""
    if not token:
        return None
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    if row is None or row.ended_at is not None or (kind and row.kind != kind):
        return None
    now = clock.now()
    idle = timedelta(hours=get_settings().session_idle_hours)
    if row.expires_at <= now or row.last_seen_at + idle <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.status == AccountStatus.closed.value:
        return None
    return user, row


def session_needs_touch(row: UserSession) -> bool:
    """Last-seen is kept to the minute: one write a minute per session, not one per request."""
    return (clock.now() - row.last_seen_at).total_seconds() > 60


def touch_session(session: Session, *, session_id: int) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id)
        .values(last_seen_at=clock.now(), ip=context.current().ip)
        .execution_options(synchronize_session=False)
    )


def end_session(session: Session, *, user: User, session_id: int, reason: str = "logout") -> None:
    """End one of ``user``'s sessions; someone else's id is NotFound."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound()
    if row.ended_at is None:
        row.ended_at = clock.now()
        row.end_reason = reason
        audit.record(
            session,
            "session_ended",
            actor_user_id=user.id,
            subject_user_id=user.id,
            object_type="session",
            object_id=row.id,
            reason=reason,
        )


def end_all_sessions(
    session: Session,
    *,
    user_id: int,
    reason: str,
    except_id: int | None = None,
    actor_user_id: int | None = None,
) -> int:
    """End every live session of the user (but ``except_id``); returns how many ended."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason=reason)
    )
    if except_id is not None:
        stmt = stmt.where(UserSession.id != except_id)
    count = session.execute(stmt.execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    audit.record(
        session,
        "sessions_ended",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        reason=reason,
        count=count,
    )
    return int(count or 0)


def list_sessions(session: Session, *, user: User) -> list[UserSession]:
    now = clock.now()
    return list(
        session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.ended_at.is_(None),
                UserSession.expires_at > now,
            )
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def list_logins(session: Session, *, user: User, limit: int = 30) -> list[LoginEvent]:
    return list(
        session.scalars(
            select(LoginEvent)
            .where(LoginEvent.user_id == user.id)
            .order_by(LoginEvent.id.desc())
            .limit(limit)
        )
    )


# -------------------------------------------------------------------------- unlock / not me


def do_unlock(session: Session, *, token: str, code: str | None = None) -> User:
    """Unlock an account from the e-mailed link; with 2FA on, a code is needed too."""
    row = peek_token(session, token, "unlock")
    user = _lock_user(session, row.user_id)
    if user.totp_enabled:
        if not code:
            raise TwoFactorRequired()
        verify_second_factor(session, user=user, code=code)
    _consume_token(session, token, "unlock")
    if user.status == AccountStatus.locked.value:
        _set_status(
            session,
            user,
            AccountStatus.active,
            None,
            action="account_unlocked",
            actor_user_id=user.id,
            method="email_link",
        )
    _clear_failures(session, _account_key(user.email))
    return user


def do_report_not_me(session: Session, *, token: str) -> User:
    """ "This wasn't me": lock the account, end its sessions, forget its devices."""
    row = _consume_token(session, token, "not_me")
    user = _lock_user(session, row.user_id)
    _set_status(
        session,
        user,
        AccountStatus.locked,
        "reported_not_me",
        action="account_locked",
        actor_user_id=user.id,
        method="not_me_link",
    )
    end_all_sessions(session, user_id=user.id, reason="not_me")
    session.execute(delete(KnownDevice).where(KnownDevice.user_id == user.id))
    notify_user(
        session,
        user,
        "not_me_locked",
        {"user": user, "reset_url": f"{get_settings().base_url}/password/forgot"},
    )
    return user


# ---------------------------------------------------------------------------- password reset


def do_request_password_reset(session: Session, *, email: str) -> None:
    """Accept a reset request and answer at once: the same work for any address (rate counter,
    one job). The job (:func:`send_password_reset`) e-mails a link if the address is
    registered."""
    try:
        email = normalise_email(email)
    except ValidationFailed:
        return
    check_rate(session, f"reset-ip:{context.current().ip}", limit=30, window=timedelta(hours=1))
    _later(session, "finish_password_reset", email)


def send_password_reset(session: Session, *, email: str) -> None:
    """The job's part of a reset request: a link to the account with this address, if any,
    at most five an hour."""
    user = get_user_by_email(session, email)
    if user is None or user.status == AccountStatus.closed.value:
        return
    # At most five links an hour to one address: enough for a person, useless for spam.
    recent = _count(
        session,
        OneTimeToken,
        OneTimeToken.user_id == user.id,
        OneTimeToken.purpose == "reset_password",
        OneTimeToken.created_at > clock.now() - timedelta(hours=1),
    )
    if recent >= 5:
        return
    token = _issue_token(session, user, "reset_password")
    audit.record(session, "password_reset_requested", subject_user_id=user.id)
    notify_user(
        session,
        user,
        "password_reset",
        {
            "user": user,
            "link": _link("/password/reset", token),
            "minutes": get_settings().reset_token_minutes,
        },
    )


def do_reset_password(session: Session, *, token: str, new_password: str) -> User:
    """Set a new password from a reset link: ends every session; 2FA stays required."""
    row = peek_token(session, token, "reset_password")
    user = _lock_user(session, row.user_id)
    passwords.check_password_policy(new_password, email=user.email)
    _consume_token(session, token, "reset_password")
    _set_password(session, user, new_password)
    end_all_sessions(session, user_id=user.id, reason="password_reset")
    if user.status == AccountStatus.locked.value:
        _set_status(
            session,
            user,
            AccountStatus.active,
            None,
            action="account_unlocked",
            actor_user_id=user.id,
            method="password_reset",
        )
    if user.email_verified_at is None:  # the link proved the address
        user.email_verified_at = clock.now()
    _clear_failures(session, _account_key(user.email))
    audit.record(session, "password_reset", actor_user_id=user.id, subject_user_id=user.id)
    notify_user(
        session,
        user,
        "password_changed",
        {
            "user": user,
            "when": clock.now(),
            "ip": context.current().ip or "",
            "reset_url": f"{get_settings().base_url}/password/forgot",
        },
    )
    return user


def _set_password(session: Session, user: User, new_password: str) -> None:
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = clock.now()
    user.updated_at = clock.now()


def _reauthenticate(session: Session, user: User, password: str, code: str | None) -> None:
    """Current password, plus a second factor when 2FA is on: for every sensitive change."""
    key = f"reauth:{user.id}"
    _check_delay(_throttle(session, key))
    if not passwords.verify_password(user.password_hash, password or ""):
        _record_failure(session, key)
        audit.record(session, "reauth_failed", actor_user_id=user.id, subject_user_id=user.id)
        raise WrongPassword()
    _clear_failures(session, key)
    if user.totp_enabled:
        if not code:
            raise TwoFactorRequired(field="code")
        verify_second_factor(session, user=user, code=code)


def do_change_password(
    session: Session,
    *,
    user: User,
    current_password: str,
    new_password: str,
    code: str | None = None,
    keep_session_id: int | None = None,
) -> None:
    """Change the password while signed in; other sessions end, a notice goes out."""
    user = _lock_user(session, user.id)
    _reauthenticate(session, user, current_password, code)
    passwords.check_password_policy(new_password, email=user.email)
    _set_password(session, user, new_password)
    end_all_sessions(
        session,
        user_id=user.id,
        reason="password_changed",
        except_id=keep_session_id,
        actor_user_id=user.id,
    )
    audit.record(session, "password_changed", actor_user_id=user.id, subject_user_id=user.id)
    notify_user(
        session,
        user,
        "password_changed",
        {
            "user": user,
            "when": clock.now(),
            "ip": context.current().ip or "",
            "reset_url": f"{get_settings().base_url}/password/forgot",
        },
    )


# ----------------------------------------------------------------------------- two-factor


def begin_totp_enrolment(session: Session, *, user: User) -> tuple[str, str]:
    """A new secret (not active until confirmed): returns (secret, otpauth URI)."""
    user = _lock_user(session, user.id)
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
    user = _lock_user(session, user.id)
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
    _check_delay(_throttle(session, key))
    if not passwords.verify_password(user.password_hash, password or ""):
        _record_failure(session, key)
        raise WrongPassword()
    step = _matching_step(decrypt_secret(user.totp_secret), (code or "").strip().replace(" ", ""))
    if step is None:
        _record_failure(session, key)
        raise InvalidCode()
    user.totp_last_step = step
    user.totp_enabled_at = clock.now()
    user.updated_at = clock.now()
    codes = _new_recovery_codes(session, user)
    audit.record(session, "two_factor_enabled", actor_user_id=user.id, subject_user_id=user.id)
    notify_user(
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
    user = _lock_user(session, user.id)
    _reauthenticate(session, user, password, code)
    codes = _new_recovery_codes(session, user)
    audit.record(
        session, "recovery_codes_regenerated", actor_user_id=user.id, subject_user_id=user.id
    )
    return codes


def remaining_recovery_codes(session: Session, *, user: User) -> int:
    return int(
        _count(
            session, RecoveryCode, RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
        or 0
    )


def do_disable_totp(session: Session, *, user: User, password: str, code: str) -> None:
    """Turn 2FA off with the password plus a current code (or a recovery code)."""
    user = _lock_user(session, user.id)
    if not user.totp_enabled:
        raise DomainError(
            N_("Two-factor authentication is not on."), code="two_factor_not_on", status=409
        )
    _reauthenticate(session, user, password, code or "")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.updated_at = clock.now()
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(session, "two_factor_disabled", actor_user_id=user.id, subject_user_id=user.id)
    notify_user(
        session,
        user,
        "two_factor_changed",
        {"user": user, "enabled": False, "when": clock.now()},
    )


# --------------------------------------------------------------------------------- profile


def do_update_profile(
    session: Session,
    *,
    user: User,
    name: str | None = None,
    preferred_locale: str | None = None,
    address: str | None = None,
) -> User:
    """Change name, language or postal address (nothing security-relevant)."""
    user = _lock_user(session, user.id)
    changed: dict[str, Any] = {}
    if name is not None:
        value = check_person_name(name)
        if value != user.name:
            user.name = value
            changed["name"] = True
    if preferred_locale is not None:
        locale = normalise(preferred_locale)
        if locale is None:
            raise ValidationFailed(
                N_("Please choose a language from the list."),
                code="locale_invalid",
                field="preferred_locale",
            )
        if locale != user.preferred_locale:
            user.preferred_locale = locale
            changed["preferred_locale"] = locale
    if address is not None:
        value = address.strip()
        if len(value) > 500:
            raise ValidationFailed(
                N_("Use at most %(max)s characters."), code="too_long", field="address", max=500
            )
        if any(ord(ch) < 32 and ch not in "\r\n\t" for ch in value):
            raise ValidationFailed(
                N_("This text contains characters that are not allowed."),
                code="control_characters",
                field="address",
            )
        if value != user.address:
            user.address = value
            changed["address"] = True
    if changed:
        user.updated_at = clock.now()
        audit.record(
            session, "profile_updated", actor_user_id=user.id, subject_user_id=user.id, **changed
        )
    return user


def do_request_email_change(
    session: Session, *, user: User, new_email: str, password: str, code: str | None = None
) -> None:
    """Re-authenticate, then send a confirmation link to the new address and a notice to the old."""
    user = _lock_user(session, user.id)
    new_email = normalise_email(new_email)
    _reauthenticate(session, user, password, code)
    if new_email == user.email:
        raise ValidationFailed(
            N_("That is already your e-mail address."), code="email_unchanged", field="new_email"
        )
    token = _issue_token(session, user, "change_email", data={"email": new_email})
    audit.record(
        session,
        "email_change_requested",
        actor_user_id=user.id,
        subject_user_id=user.id,
        new_email=mask_email(new_email),
    )
    locale = user.preferred_locale or get_locale()
    if get_user_by_email(session, new_email) is None:
        send_email(
            session,
            to=new_email,
            template="confirm_new_email",
            user_id=user.id,
            locale=locale,
            context={
                "user": user,
                "link": _link("/account/email/confirm", token),
                "hours": get_settings().verify_token_hours,
            },
        )
    send_email(
        session,
        to=user.email,
        template="email_change_notice",
        user_id=user.id,
        locale=locale,
        context={"user": user, "new_email": mask_email(new_email), "when": clock.now()},
    )


def do_confirm_email_change(session: Session, *, token: str) -> User:
    """Switch to the new address once its owner clicked the link."""
    row = _consume_token(session, token, "change_email")
    user = _lock_user(session, row.user_id)
    new_email = str(row.data.get("email", ""))
    if get_user_by_email(session, new_email) is not None:
        raise ValidationFailed(
            N_("That e-mail address is already used by another account."),
            code="email_taken",
            field="new_email",
        )
    old_email = user.email
    user.email = new_email
    user.email_verified_at = clock.now()
    user.updated_at = clock.now()
    audit.record(
        session,
        "email_changed",
        actor_user_id=user.id,
        subject_user_id=user.id,
        old_email=mask_email(old_email),
        new_email=mask_email(new_email),
    )
    send_email(
        session,
        to=old_email,
        template="email_changed",
        user_id=user.id,
        locale=user.preferred_locale or get_locale(),
        context={"user": user, "new_email": mask_email(new_email), "when": clock.now()},
    )
    return user


def do_request_phone_change(
    session: Session, *, user: User, new_phone: str, password: str, code: str | None = None
) -> None:
    """Re-authenticate, then text a six-digit code to the new number."""
    user = _lock_user(session, user.id)
    phone = normalise_phone(new_phone)
    _reauthenticate(session, user, password, code)
    if phone == user.phone:
        raise ValidationFailed(
            N_("That is already your phone number."), code="phone_unchanged", field="new_phone"
        )
    check_rate(session, f"sms:{user.id}", limit=5, window=timedelta(hours=1))
    sms_code = f"{secrets.randbelow(10**6):06d}"
    _issue_token(
        session, user, "change_phone", data={"phone": phone}, token=f"{user.id}:{sms_code}"
    )
    from okpay.core.i18n import gettext, use_locale

    with use_locale(user.preferred_locale):
        body = gettext(
            "OKPay: your code is %(code)s. It expires in 10 minutes. "
            "OKPay staff will never ask you for it.",
            code=sms_code,
        )
    sms.send_sms(session, to=phone, body=body, user_id=user.id)
    audit.record(
        session,
        "phone_change_requested",
        actor_user_id=user.id,
        subject_user_id=user.id,
        new_phone=mask_phone(phone),
    )


def do_confirm_phone_change(session: Session, *, user: User, code: str) -> User:
    """Set the new phone number once the texted code is entered."""
    user = _lock_user(session, user.id)
    pending = session.scalar(
        select(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == "change_phone",
            OneTimeToken.used_at.is_(None),
        )
        .order_by(OneTimeToken.id.desc())
    )
    if pending is None or pending.expires_at <= clock.now():
        raise LinkExpired(
            N_("The code has expired. Please ask for a new one."), code="code_expired"
        )
    if pending.attempts >= 5:
        raise InvalidCode(N_("Too many wrong codes. Please ask for a new one."), code="code_locked")
    if pending.token_hash != hash_token(f"{user.id}:{(code or '').strip()}"):
        pending.attempts += 1
        raise InvalidCode()
    pending.used_at = clock.now()
    phone = str(pending.data["phone"])
    taken = session.scalar(select(User).where(User.phone == phone, User.id != user.id))
    if taken is not None:
        raise ValidationFailed(
            N_("That phone number is already used by another account."),
            code="phone_taken",
            field="new_phone",
        )
    old = user.phone
    user.phone = phone
    user.phone_verified_at = clock.now()
    user.updated_at = clock.now()
    audit.record(
        session,
        "phone_changed",
        actor_user_id=user.id,
        subject_user_id=user.id,
        old_phone=mask_phone(old),
        new_phone=mask_phone(phone),
    )
    notify_user(
        session,
        user,
        "phone_changed",
        {"user": user, "new_phone": mask_phone(phone), "when": clock.now()},
    )
    return user


# ---------------------------------------------------------------------------- operators


def do_create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    name: str = "",
    verified: bool = True,
    locale: str | None = None,
    actor_user_id: int | None = None,
) -> User:
    """Create a user as an operator (CLI, demo data): no enumeration concerns here."""
    email = normalise_email(email)
    passwords.check_password_policy(password, email=email)
    if get_user_by_email(session, email) is not None:
        raise ValidationFailed(
            N_("That e-mail address is already used by another account."),
            code="email_taken",
            field="email",
        )
    now = clock.now()
    user = User(
        email=email,
        name=check_person_name(name),
        preferred_locale=normalise(locale),
        password_hash=passwords.hash_password(password),
        password_changed_at=now,
        role=role.value,
        status=AccountStatus.active.value,
        verification_level=0,
        address="",
        email_verified_at=now if verified else None,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "user_created",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        role=role.value,
    )
    return user


def do_set_role(
    session: Session, *, user_id: int, role: Role, actor_user_id: int | None = None
) -> User:
    user = _lock_user(session, user_id)
    previous = user.role
    user.role = role.value
    user.updated_at = clock.now()
    audit.record(
        session,
        "role_changed",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        previous=previous,
        role=role.value,
    )
    return user


# ------------------------------------------------------------------------ for other domains


@dataclass(frozen=True)
class AccountState:
    """What other domains may know about a user's standing, read fresh from the database."""

    user_id: int
    status: str
    status_reason: str | None
    verification_level: int
    created_at: datetime
    name: str
    email: str

    @property
    def label(self) -> str:
        """How this user appears in someone else's history: name and masked e-mail."""
        return counterparty_label(self.name, self.email)


def account_state(session: Session, user_id: int) -> AccountState | None:
    """The user's current status (a fresh read, not the session's cached object: callers
    check it after taking their own row locks)."""
    row = session.execute(
        select(
            User.id,
            User.status,
            User.status_reason,
            User.verification_level,
            User.created_at,
            User.name,
            User.email,
        ).where(User.id == user_id)
    ).first()
    return AccountState(*row) if row else None


@dataclass(frozen=True)
class Recipient:
    """Who money would go to: just what a payment needs."""

    id: int
    status: str
    name: str
    email: str

    @property
    def label(self) -> str:
        return counterparty_label(self.name, self.email)


def _recipient_key(reference: str) -> tuple[str, str] | None:
    """What a sender typed, as ("email", address) or ("phone", E.164); None if neither."""
    text = (reference or "").strip()
    if "@" in text:
        if "\r" in text or "\n" in text or len(text) > 320:
            return None
        return "email", text.lower()
    try:
        return "phone", normalise_phone(text)
    except ValidationFailed:
        return None


class RecipientKeys:
    """What senders typed, as lookups: the e-mail addresses and phone numbers to find, and
    the way back from the users found to what each sender typed."""

    def __init__(self, references: Iterable[str]) -> None:
        self.keys = {ref: _recipient_key(ref) for ref in set(references)}

    def wanted(self, kind: str) -> list[str]:
        """The distinct values to look up by ``kind`` ("email" or "phone")."""
        return sorted({key[1] for key in self.keys.values() if key is not None and key[0] == kind})

    def answer(self, found: dict[tuple[str, str], Recipient]) -> dict[str, Recipient]:
        """Recipients by reference, from users found by (kind, value); the references that
        matched nobody are missing."""
        return {ref: found[k] for ref, k in self.keys.items() if k is not None and k in found}


def find_recipient_summaries(session: Session, references: Iterable[str]) -> dict[str, Recipient]:
    """Recipients by e-mail or phone, as typed by senders, in at most two narrow queries;
    a reference that matches nobody is missing from the answer."""
    keys = RecipientKeys(references)
    found: dict[tuple[str, str], Recipient] = {}
    dialect = session.get_bind().dialect.name
    for kind, column in (("email", User.email), ("phone", User.phone)):
        wanted = keys.wanted(kind)
        if wanted:
            rows = session.execute(
                select(User.id, User.status, User.name, User.email, column).where(
                    one_of(dialect, column, wanted)
                )
            )
            for user_id, status, name, email, value in rows:
                found[(kind, str(value))] = Recipient(user_id, status, name, email)
    return keys.answer(found)


def find_recipient_summary(session: Session, reference: str) -> Recipient | None:
    """A recipient by e-mail or phone, as typed by a sender (one narrow query)."""
    return find_recipient_summaries(session, [reference]).get(reference)


# Statuses staff set that sign the user out everywhere (restricted only blocks operations).
SESSION_ENDING_STATUSES = frozenset(
    {AccountStatus.frozen, AccountStatus.locked, AccountStatus.closed}
)


def do_set_status(
    session: Session,
    *,
    user_id: int,
    status: AccountStatus,
    reason: str | None,
    actor_user_id: int | None,
) -> User:
    """Change a user's status as staff (freeze, restrict, release); audited. Freezing,
    locking or closing ends every session and API token of the user in the same unit of
    work: whoever holds them (perhaps the fraudster) must sign in again and meet the new
    status."""
    user = _lock_user(session, user_id)
    action = "account_status_changed"
    _set_status(session, user, status, reason, action=action, actor_user_id=actor_user_id)
    if status in SESSION_ENDING_STATUSES:
        end_all_sessions(session, user_id=user.id, reason=status.value, actor_user_id=actor_user_id)
    return user
