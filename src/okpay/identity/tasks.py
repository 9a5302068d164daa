"""Identity jobs: the account-dependent half of registration, reset requests, new
confirmation links and refused sign-ins. The request answers first, doing the same work for
any address; these run after it (issue 11 item 7: no account enumeration by time)."""

from __future__ import annotations

from typing import Any

from okpay.db import get_database
from okpay.identity import service
from okpay.worker import job


@job(retries=2, retry_delay=10)
def finish_registration(sealed: str, origin: dict[str, Any]) -> None:
    """Create the account, or tell the owner of a registered address (retried: two sign-ups
    of one address racing end with the second one's notice)."""
    with service.in_origin(origin), get_database().unit_of_work() as session:
        service.complete_registration(session, sealed=sealed)


@job(retries=2, retry_delay=10)
def finish_password_reset(email: str, origin: dict[str, Any]) -> None:
    """E-mail a reset link if ``email`` belongs to an account."""
    with service.in_origin(origin), get_database().unit_of_work() as session:
        service.send_password_reset(session, email=email)


@job(retries=2, retry_delay=10)
def finish_resend_verification(email: str, origin: dict[str, Any]) -> None:
    """Send a new confirmation link if ``email`` belongs to an unconfirmed account."""
    with service.in_origin(origin), get_database().unit_of_work() as session:
        service.resend_verification(session, email=email)


@job(retries=2, retry_delay=10)
def after_refused_sign_in(
    user_id: int | None, result: str, failures: int, known: bool, origin: dict[str, Any]
) -> None:
    """Login history, audit row and lock for a refused sign-in to an existing account."""
    if user_id is None:
        return
    with service.in_origin(origin), get_database().unit_of_work() as session:
        service.record_refused_sign_in(
            session, user_id=user_id, result=result, failures=failures, known=known
        )
