"""The risk controls at sign-in, password reset and changes of e-mail or phone: the signals
features look back on are kept here, and the rules for these events are evaluated.

A blocked sign-in is refused (identity ends the session it was opening); a blocked password
reset or contact change, already proven by its owner's link or code, goes ahead and opens a
review for the security team instead."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.identity import signals
from okpay.risk import counters, engine
from okpay.wallet import screening


def on_account_event(
    session: Session, user_id: int, event: str, data: dict[str, Any]
) -> str | None:
    now = clock.now()
    values: dict[str, Any] = {}
    if event == signals.SIGN_IN:
        if data.get("new_device"):
            values["new_device_at"] = now
        if data.get("new_country"):
            values["new_country_at"] = now
        if data.get("country"):
            values["last_country"] = data["country"]
    elif event == signals.PASSWORD_RESET:
        values["password_reset_at"] = now
    elif event == signals.CONTACT_CHANGE:
        values["contact_change_at"] = now
    if values:
        counters.note_signal(session, user_id=user_id, **values)
    attempt = screening.Attempt(user_id=user_id, operation=event)
    verdict = engine.evaluate(session, attempt, now=now)
    if verdict.outcome is not screening.Outcome.block:
        return None
    screening.blocked(session, attempt, verdict)
    return "block" if event == signals.SIGN_IN else None


if on_account_event not in signals.LISTENERS:
    signals.LISTENERS.append(on_account_event)
