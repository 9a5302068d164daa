"""Account events other domains learn from: a sign-in (from a new device or country), a
password reset or change, a new e-mail address or phone number.

Identity sits below the domains that watch these (the risk controls keep their signals and
evaluate their rules on them), so it names the events here and they register a listener
(okpay.models imports them, so every process has them). A listener may answer "block": a
sign-in is then refused; the other events have already been proven by their owner (a link,
a code) and go ahead, the listener recording the decision for review."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

Listener = Callable[[Session, int, str, dict[str, Any]], str | None]
LISTENERS: list[Listener] = []

SIGN_IN = "sign_in"
PASSWORD_RESET = "password_reset"  # also a password changed while signed in
CONTACT_CHANGE = "contact_change"


def account_event(session: Session, *, user_id: int, event: str, **data: Any) -> str | None:
    """Tell the listeners; "block" if any of them blocks it, else None."""
    outcome = None
    for listener in LISTENERS:
        if listener(session, user_id, event, data) == "block":
            outcome = "block"
    return outcome
