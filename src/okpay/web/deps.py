"""Dependencies every route shares: the unit of work (and its read-only variant, which may
run on a read replica) and the CSRF check for HTML forms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.core.i18n import N_
from okpay.core.security import check_csrf
from okpay.db import get_database

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _unit_of_work(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed before the response is sent, rolled back on error.
    Reads take no write lock; anything that may change state does."""
    with get_database().unit_of_work(write=request.method not in SAFE_METHODS) as session:
        yield session


DbSession = Annotated[Session, Depends(_unit_of_work, scope="function")]


def _read_unit_of_work() -> Iterator[Session]:
    """Read-only work (history, statements, exports, reports, search): on the read replica
    when one is configured and has the signed-in user's own writes, else on the primary
    (okpay.db.Database.read_unit_of_work decides). Routes using it must not write."""
    with get_database().read_unit_of_work() as session:
        yield session


ReadSession = Annotated[Session, Depends(_read_unit_of_work, scope="function")]


class CsrfFailed(DomainError):
    code = "csrf_failed"
    status = 403
    message = N_("This form has expired. Please go back, reload the page and try again.")


async def csrf_protect(request: Request) -> None:
    """Every state-changing HTML request carries the page's CSRF token (form field or header)."""
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get("x-csrf-token")
    if not token:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            token = value if isinstance(value, str) else None
    if not check_csrf(request.state.csrf_binding, token):
        raise CsrfFailed()
