"""Reconciliation pages for staff (/agent/reconciliation): the exceptions found between
the ledger and the provider, and resolving them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.wallet import api as wallet_api
from okpay.wallet import pages, reconciliation
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

staff = APIRouter(
    prefix="/agent/reconciliation",
    include_in_schema=False,
    dependencies=[Depends(wallet_api.require_staff), Depends(csrf_protect)],
)


def _reconciliation_ctx(**extra: Any) -> dict[str, Any]:
    return pages.page_context(
        kind_label=reconciliation.kind_label,
        exception_status_label=reconciliation.status_label,
        section="reconciliation",
        **extra,
    )


@staff.get("")
def reconciliation_list(
    request: Request,
    db: DbSession,
    status: Annotated[str, Query(max_length=10)] = "open",
    before: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> Response:
    """Provider events that did not match the ledger, for supervisors and admins."""
    error = None
    try:
        rows, next_before = reconciliation.list_exceptions(db, status=status, before=before)
    except DomainError as err:
        error, status = err.translated(), "open"
        rows, next_before = reconciliation.list_exceptions(db, status=status)
    return render(
        request,
        "wallet/reconciliation.html",
        **_reconciliation_ctx(
            rows=rows,
            refs=reconciliation.operation_references(db, rows),
            status=status,
            statuses=reconciliation.STATUSES,
            next_before=next_before,
            open_count=reconciliation.open_count(db),
            error=error,
        ),
    )


@staff.get("/{exception_id}")
def reconciliation_detail(
    request: Request, db: DbSession, exception_id: Annotated[int, Path(ge=1, le=2**53)]
) -> Response:
    row = reconciliation.get_exception(db, exception_id)
    return render(
        request,
        "wallet/reconciliation_detail.html",
        **_reconciliation_ctx(
            row=row, refs=reconciliation.operation_references(db, [row]), form={}, error=None
        ),
    )


@staff.post("/{exception_id}/resolve")
def reconciliation_resolve(
    request: Request,
    db: DbSession,
    exception_id: Annotated[int, Path(ge=1, le=2**53)],
    note: Annotated[str, Form()] = "",
) -> Response:
    user = request.state.user
    try:
        reconciliation.do_resolve(db, exception_id=exception_id, note=note, actor_user_id=user.id)
    except DomainError as err:
        db.rollback()
        row = reconciliation.get_exception(db, exception_id)
        return render(
            request,
            "wallet/reconciliation_detail.html",
            status_code=err.status,
            **_reconciliation_ctx(
                row=row,
                refs=reconciliation.operation_references(db, [row]),
                form={"note": note},
                error=err.translated(),
            ),
        )
    flash(request, gettext("The exception is resolved."), "success")
    return pages.redirect(f"/agent/reconciliation/{exception_id}")
