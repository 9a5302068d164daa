"""Step-up verification (二次验证): a second factor asked for right before money leaves.

A challenge is bound to one operation (``binding``: the request it authorises, e.g. the
hash of a withdrawal's idempotency scope and body), so a code works once, for that
operation only, and expires after five minutes. TOTP is used when the customer has
enrolled it, else a code sent by SMS to their verified phone."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.core.i18n import N_


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


def demand(session: Session, *, user_id: int, binding: str, code: str | None) -> str:
    """Require a second factor for the operation ``binding`` names.

    No code: send one (SMS; TOTP needs nothing sent) and raise :class:`StepUpRequired`.
    A code: accept it once for this binding (returns "totp" or "sms"), or raise
    identity.errors.InvalidCode / StepUpCodeExpired; guesses are throttled."""
    raise NotImplementedError  # built in this step-up work
