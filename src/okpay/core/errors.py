"""Domain errors: a stable code, an HTTP status and a message in the user's language.

Messages are English source strings marked for translation; they are translated when the
error is rendered, in the locale of the request that receives it.
"""

from __future__ import annotations

from typing import Any

from okpay.core.i18n import N_, gettext


class DomainError(Exception):
    """Base for every error a user may see. Subclasses set ``code``, ``status`` and ``message``."""

    code = "bad_request"
    status = 400
    message = N_("The request could not be completed.")
    # True for refusals that must still record what happened (a failed sign-in counts
    # toward throttling): the unit of work commits before the error reaches the user.
    persist = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field
        self.headers = headers or {}
        self.params = params
        super().__init__(f"{self.code}: {self.message}")

    def translated(self) -> str:
        """The message in the current locale, with its parameters filled in."""
        return gettext(self.message, **self.params)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.translated()}
        if self.field:
            body["field"] = self.field
        return {"error": body}


class ValidationFailed(DomainError):
    code = "validation_failed"
    status = 422
    message = N_("Some of the information is not valid.")


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    message = N_("Please sign in to continue.")


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    message = N_("You do not have permission to do that.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = N_("We could not find what you were looking for.")


class StepRequired(DomainError):
    """The signed-in user must finish a step (choose a new password, set up two-factor)
    before anything else: the API answers 403 with the step's code, pages redirect to the
    step's ``page``."""

    code = "step_required"
    status = 403
    message = N_("Please finish the step your account needs first.")
    page = "/"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    message = N_("That conflicts with the current state. Please reload and try again.")


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    message = N_("Too many attempts. Please wait %(wait)s and try again.")

    def __init__(self, retry_after: int, message: str | None = None, **params: Any) -> None:
        from okpay.core.i18n import format_timedelta_seconds

        self.retry_after = max(1, int(retry_after))
        params.setdefault("wait", _LazyWait(self.retry_after, format_timedelta_seconds))
        super().__init__(message, headers={"Retry-After": str(self.retry_after)}, **params)


class _LazyWait:
    """Formats the wait in the locale in force when the message is rendered."""

    def __init__(self, seconds: int, fmt: Any) -> None:
        self.seconds = seconds
        self.fmt = fmt

    def __str__(self) -> str:
        return str(self.fmt(self.seconds))
