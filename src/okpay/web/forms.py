"""Showing a form again after a refusal: the error in the user's language, nothing kept."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.web.templating import render


def undo_refused(db: Session, err: BaseException) -> None:
    """A refused change leaves nothing behind, unless the refusal itself must be recorded (a
    failed sign-in, a proposal found stale: ``err.persist``)."""
    if not getattr(err, "persist", False):
        db.rollback()


def form_error(
    request: Request, db: Session, template: str, err: DomainError, **ctx: Any
) -> Response:
    """Render ``template`` with the error. A refused change leaves nothing behind (unless the
    refusal itself must be recorded, like a failed sign-in: ``err.persist``)."""
    undo_refused(db, err)
    return render(
        request,
        template,
        status_code=err.status,
        error=err.translated(),
        error_code=err.code,
        error_field=err.field,
        **ctx,
    )
