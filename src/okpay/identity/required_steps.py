"""Steps a signed-in user must finish before anything else: after an assisted unlock, a new
password, then two-factor enrolment. Checked in one place for every request (the web
middleware calls :func:`check_request` with the resolved user), so no route can forget it.

The flags are cleared only by the services that complete the step
(``password_change.do_change_password``, ``recovery.do_reset_password`` and
``twofactor.do_enable_totp``); nothing a request body carries can set or clear them."""

from __future__ import annotations

from okpay.core.errors import StepRequired
from okpay.identity import errors
from okpay.identity.models import User

# Reachable with any step pending: signing out (or in again: the new session has the same
# steps), the language switch, and what the API client needs to learn which step is due.
ALWAYS_ALLOWED = frozenset(
    {
        ("POST", "/logout"),
        ("POST", "/language"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/me"),
    }
)

# What each step may use: its own page and the routes that complete it (pages and API).
STEP_ROUTES: dict[str, frozenset[tuple[str, str]]] = {
    errors.PasswordChangeRequired.code: frozenset(
        {
            ("GET", "/account/recovered/password"),
            ("POST", "/account/recovered/password"),
            ("POST", "/api/v1/me/password"),
        }
    ),
    errors.TotpEnrolmentRequired.code: frozenset(
        {
            ("GET", "/account/recovered/two-factor"),
            ("POST", "/account/2fa/setup"),
            ("GET", "/account/2fa/setup"),
            ("POST", "/account/2fa/confirm"),
            ("POST", "/api/v1/me/2fa/setup"),
            ("POST", "/api/v1/me/2fa/confirm"),
        }
    ),
}


def pending_step(user: User) -> StepRequired | None:
    """The first step ``user`` still has to finish (password first, then two-factor)."""
    if user.password_change_required:
        return errors.PasswordChangeRequired()
    if user.totp_enrolment_required:
        return errors.TotpEnrolmentRequired()
    return None


def check_request(user: User | None, method: str, path: str) -> StepRequired | None:
    """The step that refuses this request (``method`` on ``path``) for ``user``, or None
    when it may go ahead. HEAD counts as GET; paths match exactly."""
    if user is None:
        return None
    step = pending_step(user)
    if step is None:
        return None
    method = "GET" if method == "HEAD" else method.upper()
    if (method, path) in ALWAYS_ALLOWED or (method, path) in STEP_ROUTES[step.code]:
        return None
    return step
