"""Staff API under /api/v1/admin: restricting and freezing customers (protective: one person
may), and reconciliation exceptions. Lifting a restriction or a freeze and granting higher
limits are reviewed decisions: proposals on a case (/api/v1/agent/cases/…/proposals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from okpay.core.dbid import DbId
from okpay.identity.models import User
from okpay.wallet import api, reconciliation, standing
from okpay.wallet import schemas as s
from okpay.web.deps import DbSession

admin = APIRouter(prefix="/api/v1/admin", tags=["admin"])


Staff = Annotated[User, Depends(api.require_staff)]


@admin.post("/users/{user_id}/restrict", status_code=204)
def admin_restrict(user_id: DbId, body: s.RestrictIn, staff: Staff, db: DbSession) -> Response:
    """Block some operations for compliance; the customer sees the reason."""
    standing.do_restrict(
        db, user_id=user_id, blocked=body.blocked, reason=body.reason, actor_user_id=staff.id
    )
    return Response(status_code=204)


@admin.post("/users/{user_id}/freeze", status_code=204)
def admin_freeze(user_id: DbId, body: s.FreezeIn, staff: Staff, db: DbSession) -> Response:
    """Fraud: nothing leaves the account until released."""
    standing.do_freeze(db, user_id=user_id, reason=body.reason, actor_user_id=staff.id)
    return Response(status_code=204)


@admin.get("/reconciliation", response_model=s.ReconciliationListOut)
def reconciliation_list(
    staff: Staff,
    db: DbSession,
    status: Annotated[str, Query(max_length=10, description="open, resolved or all")] = "open",
    before: Annotated[int | None, Query(ge=1, le=2**53, description="Page: ids below")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> s.ReconciliationListOut:
    """Provider events that did not match the ledger, newest first (supervisors, admins)."""
    rows, next_before = reconciliation.list_exceptions(
        db, status=status, before=before, limit=limit
    )
    refs = reconciliation.operation_references(db, rows)
    return s.ReconciliationListOut(
        items=[reconciliation.exception_out(r, refs.get(r.operation_id or 0)) for r in rows],
        open_count=reconciliation.open_count(db),
        next_before=next_before,
    )


@admin.get("/reconciliation/{exception_id}", response_model=s.ReconciliationExceptionOut)
def reconciliation_detail(
    exception_id: Annotated[int, Path(ge=1, le=2**53)], staff: Staff, db: DbSession
) -> s.ReconciliationExceptionOut:
    row = reconciliation.get_exception(db, exception_id)
    refs = reconciliation.operation_references(db, [row])
    return reconciliation.exception_out(row, refs.get(row.operation_id or 0))


@admin.post("/reconciliation/{exception_id}/resolve", response_model=s.ReconciliationExceptionOut)
def reconciliation_resolve(
    exception_id: Annotated[int, Path(ge=1, le=2**53)],
    body: s.ReconciliationResolveIn,
    staff: Staff,
    db: DbSession,
) -> s.ReconciliationExceptionOut:
    """Close an exception with a note saying what was decided and done (audited). Moving
    money for it is a separate, reviewed proposal."""
    row = reconciliation.do_resolve(
        db, exception_id=exception_id, note=body.note, actor_user_id=staff.id
    )
    refs = reconciliation.operation_references(db, [row])
    return reconciliation.exception_out(row, refs.get(row.operation_id or 0))
