"""Password reset by a texted code (seed 003: "系统会发送一封包含重置密码链接的邮件或短信"):
the phone-number twin of the e-mailed link in :mod:`okpay.identity.recovery`.

No enumeration: a request does the same work for any valid number (rate counters, one job)
and answers alike; the job texts a code only to an account's verified phone. Entering the
code looks the number up and checks the code in one query whether or not it is known, and
every wrong answer is the same ``invalid_code``; guesses are counted per number (known or
not) and per address, so they run out long before a six-digit code could be found."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock, context
from okpay.core.errors import DomainError, RateLimited
from okpay.core.i18n import N_, get_locale, gettext, use_locale
from okpay.core.security import hash_token
from okpay.db import get_database
from okpay.identity import deferred, errors, recovery, throttling, tokens, users, validation
from okpay.identity.models import AccountStatus, LoginThrottle, OneTimeToken, User
from okpay.jobs import job
from okpay.mail import sms

PURPOSE = "reset_password_sms"
CODE_MINUTES = 10
REQUESTS_PER_HOUR = 5  # per number, known or not
RESEND_AFTER = timedelta(seconds=60)
GUESSES = 5  # wrong codes per number within GUESS_WINDOW
GUESS_WINDOW = timedelta(minutes=15)

SMS_TEXT = N_(
    "OKPay: %(code)s is your code to reset your password. It expires in 10 minutes. Do not "
    "share it with anyone; OKPay staff will never ask for it. Did not ask for it? Ignore "
    "this message."
)


class ResetCodeExpired(DomainError):
    code = "reset_code_expired"
    status = 400
    message = N_("This code has expired. Ask for a new one.")
    field = "code"


def _number_key(kind: str, number: str) -> str:
    return f"{kind}:{hash_token('phone:' + number)[:40]}"


def do_request_reset_code(session: Session, *, phone: str) -> str:
    """Accept a request for a reset code and answer at once, the same for any valid number:
    rate counters per address and per number, then one job (:func:`send_reset_code`) texts
    the code if the number is an account's verified phone. Returns the number (E.164)."""
    number = validation.normalise_phone(phone)
    throttling.check_rate(
        session, f"reset-ip:{context.current().ip}", limit=30, window=timedelta(hours=1)
    )
    throttling.check_rate(
        session,
        _number_key("reset-sms-to", number),
        limit=REQUESTS_PER_HOUR,
        window=timedelta(hours=1),
    )
    deferred.later(session, finish_reset_code, number)
    return number


def send_reset_code(session: Session, *, phone: str) -> None:
    """The job's part: text a code to the account whose verified phone is ``phone``, if any
    (not again while one sent less than a minute ago is live)."""
    user = session.scalar(
        select(User).where(User.phone == phone, User.phone_verified_at.is_not(None))
    )
    if user is None or user.status == AccountStatus.closed.value:
        return
    user = users.lock_user(session, user.id)
    recent = users.row_exists(
        session,
        OneTimeToken,
        OneTimeToken.user_id == user.id,
        OneTimeToken.purpose == PURPOSE,
        OneTimeToken.used_at.is_(None),
        OneTimeToken.created_at > clock.now() - RESEND_AFTER,
    )
    if recent:
        return
    code = tokens.issue_code(session, user, PURPOSE)
    with use_locale(user.preferred_locale or get_locale()):
        body = gettext(SMS_TEXT, code=code)
    sms.send_sms(session, to=phone, body=body, user_id=user.id)
    audit.record(
        session,
        "password_reset_requested",
        subject_user_id=user.id,
        method="sms_code",
        to=validation.mask_phone(phone),
    )


def _check_guess_budget(session: Session, key: str) -> None:
    """RateLimited once GUESSES wrong codes were entered for this number in the window."""
    t = throttling.get_throttle(session, key, window=GUESS_WINDOW)
    if t.failures >= GUESSES and t.last_failure_at is not None:
        row = session.get(LoginThrottle, key)
        assert row is not None
        wait = (row.window_started_at + GUESS_WINDOW - clock.now()).total_seconds()
        raise RateLimited(math.ceil(wait))
    throttling.check_delay(t)


def do_reset_password_with_code(
    session: Session, *, phone: str, code: str, new_password: str
) -> User:
    """Set a new password with the texted code: the same rules and consequences as the
    e-mailed link (:func:`recovery.complete_password_reset`: every session ends, 2FA stays
    required). Any wrong, used or unknown-number answer is ``invalid_code``."""
    number = validation.normalise_phone(phone)
    key = _number_key("reset-sms-code", number)
    throttling.check_ip(session)
    _check_guess_budget(session, key)
    row = session.scalar(
        select(OneTimeToken)
        .join(User, User.id == OneTimeToken.user_id)
        .where(
            User.phone == number,
            User.phone_verified_at.is_not(None),
            OneTimeToken.purpose == PURPOSE,
            OneTimeToken.used_at.is_(None),
        )
        .order_by(OneTimeToken.id.desc())
        .limit(1)
    )
    if row is None or not tokens.code_matches(row, code):
        throttling.record_failure(session, key, window=GUESS_WINDOW)
        ip_key = throttling.ip_key()
        if ip_key:
            throttling.record_failure(session, ip_key, window=throttling.IP_WINDOW)
        raise errors.InvalidCode(field="code")
    if row.expires_at <= clock.now():
        raise ResetCodeExpired()
    user = users.lock_user(session, row.user_id)
    recovery.check_new_password(user, new_password)
    if not tokens.claim(session, row):  # a simultaneous use of the same code won
        raise errors.InvalidCode(field="code")
    throttling.clear_failures(session, key)
    recovery.complete_password_reset(session, user, new_password, method="sms_code")
    return user


# ------------------------------------------ jobs: the account-dependent half, after the answer


@job(retries=2, retry_delay=10)
def finish_reset_code(phone: str, origin: dict[str, Any]) -> None:
    """Text a reset code if ``phone`` is an account's verified phone."""
    with deferred.in_origin(origin), get_database().unit_of_work() as session:
        send_reset_code(session, phone=phone)
