"""Step-up verification (二次验证): a second factor asked for right before money leaves.

A challenge is bound to one operation (``binding``: the request it authorises, e.g. the
hash of a withdrawal's idempotency scope and body), so a code works once, for that
operation only, and expires after five minutes. TOTP is used when the customer has
enrolled it, else a code sent by SMS to their verified phone.

Recovery codes do not pass a step-up: they are the way back in after losing the
authenticator, printed and kept somewhere else; letting them move money would make a
stolen printout (with a stolen session) as good as the phone. A customer who lost the
authenticator signs in with a recovery code and sets up a new one first."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import DomainError, RateLimited
from okpay.core.i18n import N_, gettext, use_locale
from okpay.core.security import hash_token
from okpay.identity import errors, throttling, tokens, twofactor, users, validation
from okpay.identity.models import OneTimeToken, User
from okpay.mail import sms

PURPOSE = "step_up"
CODE_TTL = timedelta(minutes=5)
RESEND_AFTER = timedelta(seconds=60)  # a second ask within this sends nothing new
SENDS_PER_HOUR = 5
MAX_ATTEMPTS = 5  # wrong codes per challenge; then it is dead and a new one is sent

#: What the texted code is for, in the customer's language (``demand(..., action=...)``).
SMS_TEXTS = {
    "payment": N_(
        "OKPay: %(code)s is your code to confirm a payment. It expires in 5 minutes. "
        "Do not share it with anyone; OKPay staff will never ask for it."
    ),
    "withdrawal": N_(
        "OKPay: %(code)s is your code to confirm a withdrawal to your bank account. It "
        "expires in 5 minutes. Do not share it with anyone; OKPay staff will never ask for it."
    ),
    "payment_method": N_(
        "OKPay: %(code)s is your code to add a card or bank account. It expires in 5 "
        "minutes. Do not share it with anyone; OKPay staff will never ask for it."
    ),
}


class StepUpRequired(DomainError):
    """403: the same request again with the code (``otp`` in the body or the
    ``OKPay-Step-Up-Code`` header) proceeds."""

    code = "step_up_required"
    status = 403
    message = N_("For your security, enter the verification code to continue.")
    persist = True

    def __init__(self, *, channel: str, sent_to: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.channel = channel  # "totp" | "sms"
        self.sent_to = sent_to  # the masked phone number an SMS went to

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        body["error"]["step_up"] = {"channel": self.channel, "sent_to": self.sent_to}
        return body


class StepUpUnavailable(DomainError):
    code = "step_up_unavailable"
    status = 403
    message = N_(
        "This payment needs a second verification step, but your account has no verified "
        "phone number or authenticator app. Add one on the security page, then try again."
    )


class StepUpCodeExpired(DomainError):
    code = "step_up_code_expired"
    status = 400
    message = N_("This verification code has expired. Ask for a new one and try again.")
    field = "otp"
    persist = True  # the failure is audited


class StepUpCodeLocked(errors.InvalidCode):
    """Five wrong codes for one challenge: it is dead; asking again sends a new code."""

    code = "step_up_code_locked"
    message = N_("Too many wrong codes. Ask for a new code and try again.")


class StepUpSendLimited(RateLimited):
    code = "step_up_sms_limited"
    message = N_(
        "We have sent you several codes in the last hour. Please wait %(wait)s before asking "
        "for another."
    )


def channel_for(user: User) -> str | None:
    """The second factor a step-up uses for ``user``: "totp", "sms", or None (none usable)."""
    if user.totp_enabled:
        return "totp"
    if user.phone and user.phone_verified_at is not None:
        return "sms"
    return None


def demand(
    session: Session,
    *,
    user_id: int,
    binding: str,
    code: str | None,
    action: str = "payment",
) -> str:
    """Require a second factor for the operation ``binding`` names.

    No code: send one (SMS; TOTP needs nothing sent) and raise :class:`StepUpRequired`.
    A code: accept it once for this binding (returns "totp" or "sms"), or raise
    identity.errors.InvalidCode / StepUpCodeExpired; guesses are throttled.
    ``action`` ("payment", "withdrawal", "payment_method") says in the SMS what it is for.

    Call it before the operation writes anything: StepUpRequired, InvalidCode and
    StepUpCodeExpired are ``persist`` (the texted code, counted guesses and audit rows must
    survive the refusal), so the unit of work commits whatever the session holds when they
    are raised."""
    if action not in SMS_TEXTS:
        raise ValueError(f"unknown step-up action {action!r}")
    user = users.get_user(session, user_id)
    if user is None:
        raise errors.InvalidCode()
    channel = channel_for(user)
    code = (code or "").strip()
    if channel == "totp":
        if not code:
            raise StepUpRequired(channel="totp")
        return _check_totp(session, user, code, binding)
    if channel == "sms":
        if not code:
            _send_code(session, user, binding, action)
        return _check_sms_code(session, user, code, binding)
    raise StepUpUnavailable()


def binding_hash(binding: str) -> str:
    """How a challenge remembers its operation (never the caller's string itself)."""
    return hash_token("step-up:" + binding)


def _throttle_key(user: User) -> str:
    # The same budget as the sign-in's second factor: guesses add up wherever they are made.
    return f"2fa:{user.id}"


def _failed(session: Session, user: User, channel: str, reason: str) -> None:
    throttling.record_failure(session, _throttle_key(user))
    audit.record(
        session,
        "step_up_failed",
        actor_user_id=user.id,
        subject_user_id=user.id,
        channel=channel,
        reason=reason,
    )


def _passed(session: Session, user: User, channel: str) -> str:
    throttling.clear_failures(session, _throttle_key(user))
    audit.record(
        session, "step_up_passed", actor_user_id=user.id, subject_user_id=user.id, channel=channel
    )
    return channel


def _check_totp(session: Session, user: User, code: str, binding: str) -> str:
    throttling.check_delay(throttling.get_throttle(session, _throttle_key(user)))
    if not twofactor.accept_totp_code(session, user=user, code=code):
        _failed(session, user, "totp", "wrong_code")
        raise errors.InvalidCode(field="otp")
    return _passed(session, user, "totp")


def _live_challenges(session: Session, user: User) -> list[OneTimeToken]:
    """The user's unused step-up codes, newest first (issuing one retires the others)."""
    return list(
        session.scalars(
            select(OneTimeToken)
            .where(
                OneTimeToken.user_id == user.id,
                OneTimeToken.purpose == PURPOSE,
                OneTimeToken.used_at.is_(None),
            )
            .order_by(OneTimeToken.id.desc())
            .limit(5)
        )
    )


def _send_code(session: Session, user: User, binding: str, action: str) -> None:
    """Text a new code for ``binding`` (unless one went out less than a minute ago and is
    still usable); always ends with :class:`StepUpRequired`."""
    user = users.lock_user(session, user.id)  # one sender at a time per user
    assert user.phone is not None
    sent_to = validation.mask_phone(user.phone)
    wanted = binding_hash(binding)
    now = clock.now()
    for row in _live_challenges(session, user):
        if (
            row.data.get("binding") == wanted
            and row.created_at + RESEND_AFTER > now
            and row.attempts < MAX_ATTEMPTS
        ):
            raise StepUpRequired(channel="sms", sent_to=sent_to)
    _check_send_budget(session, user)
    sms_code = tokens.issue_code(session, user, PURPOSE, data={"binding": wanted})
    with use_locale(user.preferred_locale):
        body = gettext(SMS_TEXTS[action], code=sms_code)
    sms.send_sms(session, to=user.phone, body=body, user_id=user.id)
    audit.record(
        session,
        "step_up_code_sent",
        actor_user_id=user.id,
        subject_user_id=user.id,
        channel="sms",
        to=sent_to,
    )
    raise StepUpRequired(channel="sms", sent_to=sent_to)


def _check_send_budget(session: Session, user: User) -> None:
    """StepUpSendLimited once SENDS_PER_HOUR codes went out in the last hour, saying when
    the oldest of them leaves the window."""
    since = clock.now() - timedelta(hours=1)
    recent = list(
        session.scalars(
            select(OneTimeToken.created_at)
            .where(
                OneTimeToken.user_id == user.id,
                OneTimeToken.purpose == PURPOSE,
                OneTimeToken.created_at > since,
            )
            .order_by(OneTimeToken.created_at.desc())
            .limit(SENDS_PER_HOUR)
        )
    )
    if len(recent) >= SENDS_PER_HOUR:
        wait = (recent[-1] - since).total_seconds()
        raise StepUpSendLimited(math.ceil(wait))


def _check_sms_code(session: Session, user: User, code: str, binding: str) -> str:
    throttling.check_delay(throttling.get_throttle(session, _throttle_key(user)))
    wanted = binding_hash(binding)
    row = next(
        (r for r in _live_challenges(session, user) if r.data.get("binding") == wanted), None
    )
    if row is None:  # used, retired, or sent for another operation
        _failed(session, user, "sms", "no_challenge")
        raise errors.InvalidCode(field="otp")
    if row.attempts >= MAX_ATTEMPTS:
        _failed(session, user, "sms", "challenge_locked")
        raise StepUpCodeLocked(field="otp")
    if not tokens.code_matches(row, code):
        tokens.count_attempt(session, row)
        _failed(session, user, "sms", "wrong_code")
        if row.attempts >= MAX_ATTEMPTS:
            raise StepUpCodeLocked(field="otp")
        raise errors.InvalidCode(field="otp")
    if row.expires_at <= clock.now():
        _failed(session, user, "sms", "expired")
        raise StepUpCodeExpired()
    if not tokens.claim(session, row):  # a simultaneous use of the same code won
        # Not a guess (the code was right): audited, not counted against the owner.
        audit.record(
            session,
            "step_up_failed",
            actor_user_id=user.id,
            subject_user_id=user.id,
            channel="sms",
            reason="already_used",
        )
        raise errors.InvalidCode(field="otp")
    return _passed(session, user, "sms")
