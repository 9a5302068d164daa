"""Getting back in: the unlock link, "this wasn't me", password reset by e-mailed link
(requests answered alike for any address; the link is sent by a job), and the assisted
unlock support performs after a reviewed case."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from okpay.core import audit, clock, context
from okpay.core.errors import ValidationFailed
from okpay.db import get_database
from okpay.identity import (
    deferred,
    errors,
    password_change,
    passwords,
    sessions,
    sign_in,
    throttling,
    tokens,
    twofactor,
    users,
    validation,
)
from okpay.identity.models import (
    AccountStatus,
    KnownDevice,
    OneTimeToken,
    RecoveryCode,
    User,
)
from okpay.jobs import job
from okpay.settings import get_settings


def do_unlock(session: Session, *, token: str, code: str | None = None) -> User:
    """Unlock an account from the e-mailed link; with 2FA on, a code is needed too."""
    row = tokens.peek_token(session, token, "unlock")
    user = users.lock_user(session, row.user_id)
    if user.totp_enabled:
        if not code:
            raise errors.TwoFactorRequired()
        twofactor.verify_second_factor(session, user=user, code=code)
    tokens.consume_token(session, token, "unlock")
    if user.status == AccountStatus.locked.value:
        users.set_status(
            session,
            user,
            AccountStatus.active,
            None,
            action="account_unlocked",
            actor_user_id=user.id,
            method="email_link",
        )
    throttling.clear_failures(session, sign_in.account_key(user.email))
    return user


def do_report_not_me(session: Session, *, token: str) -> User:
    """ "This wasn't me": lock the account, end its sessions, forget its devices."""
    row = tokens.consume_token(session, token, "not_me")
    user = users.lock_user(session, row.user_id)
    users.set_status(
        session,
        user,
        AccountStatus.locked,
        "reported_not_me",
        action="account_locked",
        actor_user_id=user.id,
        method="not_me_link",
    )
    sessions.end_all_sessions(session, user_id=user.id, reason="not_me")
    session.execute(delete(KnownDevice).where(KnownDevice.user_id == user.id))
    users.notify_user(
        session,
        user,
        "not_me_locked",
        {"user": user, "reset_url": f"{get_settings().base_url}/password/forgot"},
    )
    for hook in NOT_ME_HOOKS:
        hook(session, user)
    return user


#: Called in the same unit of work after a customer reports a sign-in that was not them
#: (casework opens an urgent security case). Identity knows nothing of what listens.
NOT_ME_HOOKS: list[Callable[[Session, User], None]] = []


def do_request_password_reset(session: Session, *, email: str) -> None:
    """Accept a reset request and answer at once: the same work for any address (rate counter,
    one job). The job (:func:`send_password_reset`) e-mails a link if the address is
    registered."""
    try:
        email = validation.normalise_email(email)
    except ValidationFailed:
        return
    throttling.check_rate(
        session, f"reset-ip:{context.current().ip}", limit=30, window=timedelta(hours=1)
    )
    deferred.later(session, finish_password_reset, email)


def send_password_reset(session: Session, *, email: str) -> None:
    """The job's part of a reset request: a link to the account with this address, if any,
    at most five an hour."""
    user = users.get_user_by_email(session, email)
    if user is None or user.status == AccountStatus.closed.value:
        return
    # At most five links an hour to one address: enough for a person, useless for spam.
    recent = users.count_rows(
        session,
        OneTimeToken,
        OneTimeToken.user_id == user.id,
        OneTimeToken.purpose == "reset_password",
        OneTimeToken.created_at > clock.now() - timedelta(hours=1),
    )
    if recent >= 5:
        return
    token = tokens.issue_token(session, user, "reset_password")
    audit.record(session, "password_reset_requested", subject_user_id=user.id)
    users.notify_user(
        session,
        user,
        "password_reset",
        {
            "user": user,
            "link": tokens.link("/password/reset", token),
            "minutes": get_settings().reset_token_minutes,
        },
    )


def do_reset_password(session: Session, *, token: str, new_password: str) -> User:
    """Set a new password from a reset link: ends every session; 2FA stays required."""
    row = tokens.peek_token(session, token, "reset_password")
    user = users.lock_user(session, row.user_id)
    check_new_password(user, new_password)
    tokens.consume_token(session, token, "reset_password")
    if user.email_verified_at is None:  # the link proved the address
        user.email_verified_at = clock.now()
    complete_password_reset(session, user, new_password, method="email_link")
    return user


def check_new_password(user: User, new_password: str) -> None:
    """The rules a reset's new password must meet (the same for every way of resetting)."""
    passwords.check_password_policy(new_password, email=user.email)
    password_change.check_required_change(user, new_password)


def complete_password_reset(
    session: Session, user: User, new_password: str, *, method: str
) -> None:
    """What every password reset does once the owner is proven (by an e-mailed link or a
    texted code): the new password, every session ended, a lockout lifted (after "this
    wasn't me" the account is frozen instead), sign-in throttles cleared, audited, and the
    owner e-mailed. Two-factor authentication stays on: the next sign-in still asks for it."""
    password_change.set_password(session, user, new_password)
    sessions.end_all_sessions(session, user_id=user.id, reason="password_reset")
    if user.status == AccountStatus.locked.value and user.status_reason == "reported_not_me":
        # After "this wasn't me" the new password lets the owner back in, but money stays
        # frozen until security has checked with them (an unfreeze is a reviewed decision).
        users.set_status(
            session,
            user,
            AccountStatus.frozen,
            "emergency_freeze",
            action="account_frozen_after_not_me",
            actor_user_id=user.id,
            method="password_reset",
        )
    elif user.status == AccountStatus.locked.value:
        users.set_status(
            session,
            user,
            AccountStatus.active,
            None,
            action="account_unlocked",
            actor_user_id=user.id,
            method="password_reset",
        )
    throttling.clear_failures(session, sign_in.account_key(user.email))
    audit.record(
        session, "password_reset", actor_user_id=user.id, subject_user_id=user.id, method=method
    )
    users.notify_user(
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


# Links still live when support unlocks an account: whoever holds the old mailbox must not
# use them to take the account back (a "this wasn't me" link stays: it only protects).
LINKS_ENDED_BY_ASSISTED_UNLOCK = (
    "reset_password",
    "reset_password_sms",
    "unlock",
    "change_email",
    "change_phone",
    "step_up",
)


def do_assisted_unlock(
    session: Session, *, user_id: int, actor_user_id: int | None, reason: str
) -> User:
    """Support's unlock for a customer who lost their e-mail or authenticator, after a
    reviewed case: the account becomes active; two-factor is turned off and its recovery
    codes deleted; a new password, then two-factor enrolment, are required at the next
    sign-in; outgoing money is held for ``OKPAY_RECOVERY_COOLING_OFF_HOURS``; every session
    ends, live links die, sign-in throttles and known devices are forgotten; audited, and
    the customer is e-mailed. A closed account is refused (``account_closed``)."""
    user = users.lock_user(session, user_id)
    if user.status == AccountStatus.closed.value:
        raise errors.AccountClosed()
    now = clock.now()
    previous_status = user.status
    if user.status != AccountStatus.active.value or user.status_reason is not None:
        users.set_status(
            session,
            user,
            AccountStatus.active,
            None,
            action="account_unlocked",
            actor_user_id=actor_user_id,
            method="assisted_unlock",
        )
    had_two_factor = user.totp_enabled
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.password_change_required = True
    user.totp_enrolment_required = True
    hours = get_settings().recovery_cooling_off_hours
    hold_until = now + timedelta(hours=hours) if hours > 0 else None
    user.outgoing_hold_until = hold_until
    user.updated_at = now
    sessions.end_all_sessions(
        session, user_id=user.id, reason="assisted_unlock", actor_user_id=actor_user_id
    )
    session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose.in_(LINKS_ENDED_BY_ASSISTED_UNLOCK),
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    throttling.clear_failures(
        session, sign_in.account_key(user.email), f"2fa:{user.id}", f"reauth:{user.id}"
    )
    throttling.clear_failures_starting(session, f"dev:{user.id}:")
    session.execute(delete(KnownDevice).where(KnownDevice.user_id == user.id))
    audit.record(
        session,
        "account_assisted_unlock",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        previous_status=previous_status,
        had_two_factor=had_two_factor,
        outgoing_hold_until=hold_until.isoformat() if hold_until else None,
        reason=reason[:500],
    )
    users.notify_user(
        session,
        user,
        "assisted_unlock",
        {
            "user": user,
            "login_url": f"{get_settings().base_url}/login",
            "hold_until": hold_until,
        },
    )
    return user


# ------------------------------------------ jobs: the account-dependent half, after the answer


@job(retries=2, retry_delay=10)
def finish_password_reset(email: str, origin: dict[str, Any]) -> None:
    """E-mail a reset link if ``email`` belongs to an account."""
    with deferred.in_origin(origin), get_database().unit_of_work() as session:
        send_password_reset(session, email=email)
