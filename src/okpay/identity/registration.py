"""Registration and e-mail confirmation: answered at once and alike for new and registered
addresses; the account is created (or its owner warned) by a job after the answer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okpay.core import audit, clock, context
from okpay.core.i18n import get_locale, normalise
from okpay.core.security import decrypt_secret, encrypt_secret
from okpay.db import get_database
from okpay.identity import deferred, passwords, throttling, tokens, users, validation
from okpay.identity.models import AccountStatus, OneTimeToken, Role, User
from okpay.jobs import job
from okpay.mail.service import send_email
from okpay.settings import get_settings


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
    email = validation.normalise_email(email)
    name = validation.check_person_name(name)
    passwords.check_password_policy(password, email=email)
    phone_e164 = validation.normalise_phone(phone) if phone and phone.strip() else None
    locale = normalise(locale) or get_locale()
    throttling.check_rate(
        session, f"register:{context.current().ip}", limit=20, window=timedelta(hours=1)
    )
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
    deferred.later(session, finish_registration, sealed)


def complete_registration(session: Session, *, sealed: str) -> User | None:
    """The job's part of :func:`do_register`: the new user (verification link sent), or None
    when the address is registered (its owner gets a notice)."""
    data = json.loads(decrypt_secret(sealed))
    email, locale = data["email"], data["locale"]
    existing = users.get_user_by_email(session, email)
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
    phone_taken = phone_e164 is not None and users.row_exists(
        session, User, User.phone == phone_e164
    )
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
    token = tokens.issue_token(session, user, "verify_email")
    users.notify_user(
        session,
        user,
        "verify_email",
        {
            "user": user,
            "link": tokens.link("/verify-email", token),
            "hours": get_settings().verify_token_hours,
            "phone_taken": phone_taken,
        },
    )


def do_verify_email(session: Session, *, token: str) -> User:
    """Confirm the address behind a verification link."""
    row = tokens.consume_token(session, token, "verify_email")
    user = users.lock_user(session, row.user_id)
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
        user.updated_at = clock.now()
        audit.record(session, "email_verified", actor_user_id=user.id, subject_user_id=user.id)
    return user


def do_resend_verification(session: Session, *, email: str) -> None:
    """Accept a request for a new confirmation link and answer at once: the same work for any
    address (rate counter, one job). The job (:func:`resend_verification`) sends the link."""
    email = validation.normalise_email(email)
    throttling.check_rate(
        session, f"resend-ip:{context.current().ip}", limit=30, window=timedelta(hours=1)
    )
    deferred.later(session, finish_resend_verification, email)


def resend_verification(session: Session, *, email: str) -> None:
    """The job's part: a new link to an unconfirmed account, at most once a minute."""
    user = users.get_user_by_email(session, email)
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


# ------------------------------------------ jobs: the account-dependent half, after the answer


@job(retries=2, retry_delay=10)
def finish_registration(sealed: str, origin: dict[str, Any]) -> None:
    """Create the account, or tell the owner of a registered address (retried: two sign-ups
    of one address racing end with the second one's notice)."""
    with deferred.in_origin(origin), get_database().unit_of_work() as session:
        complete_registration(session, sealed=sealed)


@job(retries=2, retry_delay=10)
def finish_resend_verification(email: str, origin: dict[str, Any]) -> None:
    """Send a new confirmation link if ``email`` belongs to an unconfirmed account."""
    with deferred.in_origin(origin), get_database().unit_of_work() as session:
        resend_verification(session, email=email)
