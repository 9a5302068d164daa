"""Changing the e-mail address (confirmed by a link to the new one) or the phone number
(confirmed by a texted code), after re-authentication."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, get_locale, use_locale
from okpay.core.security import hash_token
from okpay.identity import errors, signals, throttling, tokens, twofactor, users, validation
from okpay.identity.models import OneTimeToken, User
from okpay.mail import sms
from okpay.mail.service import send_email
from okpay.settings import get_settings


def do_request_email_change(
    session: Session, *, user: User, new_email: str, password: str, code: str | None = None
) -> None:
    """Re-authenticate, then send a confirmation link to the new address and a notice to the old."""
    user = users.lock_user(session, user.id)
    new_email = validation.normalise_email(new_email)
    twofactor.reauthenticate(session, user, password, code)
    if new_email == user.email:
        raise ValidationFailed(
            N_("That is already your e-mail address."), code="email_unchanged", field="new_email"
        )
    token = tokens.issue_token(session, user, "change_email", data={"email": new_email})
    audit.record(
        session,
        "email_change_requested",
        actor_user_id=user.id,
        subject_user_id=user.id,
        new_email=validation.mask_email(new_email),
    )
    locale = user.preferred_locale or get_locale()
    if users.get_user_by_email(session, new_email) is None:
        send_email(
            session,
            to=new_email,
            template="confirm_new_email",
            user_id=user.id,
            locale=locale,
            context={
                "user": user,
                "link": tokens.link("/account/email/confirm", token),
                "hours": get_settings().verify_token_hours,
            },
        )
    send_email(
        session,
        to=user.email,
        template="email_change_notice",
        user_id=user.id,
        locale=locale,
        context={"user": user, "new_email": validation.mask_email(new_email), "when": clock.now()},
    )


def do_confirm_email_change(session: Session, *, token: str) -> User:
    """Switch to the new address once its owner clicked the link."""
    row = tokens.consume_token(session, token, "change_email")
    user = users.lock_user(session, row.user_id)
    new_email = str(row.data.get("email", ""))
    if users.get_user_by_email(session, new_email) is not None:
        raise ValidationFailed(
            N_("That e-mail address is already used by another account."),
            code="email_taken",
            field="new_email",
        )
    old_email = user.email
    user.email = new_email
    user.email_verified_at = clock.now()
    user.updated_at = clock.now()
    signals.account_event(session, user_id=user.id, event=signals.CONTACT_CHANGE, channel="email")
    audit.record(
        session,
        "email_changed",
        actor_user_id=user.id,
        subject_user_id=user.id,
        old_email=validation.mask_email(old_email),
        new_email=validation.mask_email(new_email),
    )
    send_email(
        session,
        to=old_email,
        template="email_changed",
        user_id=user.id,
        locale=user.preferred_locale or get_locale(),
        context={"user": user, "new_email": validation.mask_email(new_email), "when": clock.now()},
    )
    return user


def do_request_phone_change(
    session: Session, *, user: User, new_phone: str, password: str, code: str | None = None
) -> None:
    """Re-authenticate, then text a six-digit code to the new number."""
    user = users.lock_user(session, user.id)
    phone = validation.normalise_phone(new_phone)
    twofactor.reauthenticate(session, user, password, code)
    if phone == user.phone:
        raise ValidationFailed(
            N_("That is already your phone number."), code="phone_unchanged", field="new_phone"
        )
    throttling.check_rate(session, f"sms:{user.id}", limit=5, window=timedelta(hours=1))
    sms_code = f"{secrets.randbelow(10**6):06d}"
    tokens.issue_token(
        session, user, "change_phone", data={"phone": phone}, token=f"{user.id}:{sms_code}"
    )
    from okpay.core.i18n import gettext

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
        new_phone=validation.mask_phone(phone),
    )


def do_confirm_phone_change(session: Session, *, user: User, code: str) -> User:
    """Set the new phone number once the texted code is entered."""
    user = users.lock_user(session, user.id)
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
        raise errors.LinkExpired(
            N_("The code has expired. Please ask for a new one."), code="code_expired"
        )
    if pending.attempts >= 5:
        raise errors.InvalidCode(
            N_("Too many wrong codes. Please ask for a new one."), code="code_locked"
        )
    if pending.token_hash != hash_token(f"{user.id}:{(code or '').strip()}"):
        pending.attempts += 1
        raise errors.InvalidCode()
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
    signals.account_event(session, user_id=user.id, event=signals.CONTACT_CHANGE, channel="phone")
    audit.record(
        session,
        "phone_changed",
        actor_user_id=user.id,
        subject_user_id=user.id,
        old_phone=validation.mask_phone(old),
        new_phone=validation.mask_phone(phone),
    )
    users.notify_user(
        session,
        user,
        "phone_changed",
        {"user": user, "new_phone": validation.mask_phone(phone), "when": clock.now()},
    )
    return user
