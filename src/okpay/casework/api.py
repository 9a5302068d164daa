"""Customers' casework API: requests that need a decision (appeal, verification, higher
limit, dispute, assisted unlock), their state and evidence, and the emergency freeze.

``POST /api/v1/support/cases`` answers 201 with the case ``id`` and its ticket ``number``.
An assisted unlock may be asked for while signed out (the customer cannot sign in); it
answers alike whether or not the address has an account. Evidence files go to the case's
evidence endpoint (with what each is) or to the ticket's files endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Form, UploadFile

from okpay.casework import access, cases, freeze, intake, views
from okpay.casework import schemas as s
from okpay.casework.models import EVIDENCE_KINDS
from okpay.core import context
from okpay.core.dbid import BigDbId
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.identity import throttling as identity_throttling
from okpay.identity.access import CurrentUser, OptionalUser
from okpay.support import customer as support_customer
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["casework"])


class CaseCreated(s.CaseRead):
    number: str


def read_evidence(files: list[UploadFile], kind: str) -> list[cases.EvidenceFile]:
    """Check uploaded evidence: a refused file refuses them all (nothing is stored)."""
    if kind not in EVIDENCE_KINDS:
        raise ValidationFailed(
            N_("Say what the file is."), code="evidence_kind_invalid", field="kind"
        )
    uploads = support_customer.read_uploads((f.filename or "", f.file) for f in files)
    if uploads.errors:
        raise ValidationFailed(" ".join(uploads.errors), code="upload_rejected", field="files")
    return [cases.EvidenceFile(kind, f) for f in uploads.files]


@router.post("/support/cases", response_model=CaseCreated, status_code=201)
def open_case(
    body: Annotated[intake.CaseIn, Body()], user: OptionalUser, db: DbSession
) -> CaseCreated:
    """Open a case (its ticket is opened with it). Signed out, only ``unlock`` is accepted."""
    if user is None:
        identity_throttling.check_rate(
            db, f"case-guest:{context.current().ip}", limit=10, window=timedelta(hours=1)
        )
    else:
        access.require_customer(user)
    checked = intake.check_request(db, body=body, user=user)
    case = cases.do_open_case(db, checked=checked, user=user)
    read = views.case_read(db, case)
    return CaseCreated(**read.model_dump(), number=read.ticket_number)


@router.get("/support/cases", response_model=s.CaseList)
def my_cases(user: CurrentUser, db: DbSession) -> s.CaseList:
    """The customer's cases, newest first."""
    return s.CaseList(items=[views.summary(db, c) for c in cases.cases_of(db, user=user)])


@router.get("/support/cases/{case_id}", response_model=s.CaseRead)
def show_case(case_id: BigDbId, user: CurrentUser, db: DbSession) -> s.CaseRead:
    return views.case_read(db, access.access_case(db, user=user, case_id=case_id))


@router.post("/support/cases/{case_id}/evidence", response_model=s.CaseRead, status_code=201)
def add_evidence(
    case_id: BigDbId,
    files: list[UploadFile],
    user: CurrentUser,
    db: DbSession,
    kind: Annotated[str, Form(max_length=20)] = "other",
    body: Annotated[str, Form(max_length=4000)] = "",
) -> s.CaseRead:
    """Add evidence (multipart ``files``, what they are in ``kind``: id_front, id_back,
    passport, address, income or other). A case waiting for the customer goes back to review."""
    case = access.access_case(db, user=user, case_id=case_id)
    evidence = read_evidence(files, kind)
    cases.do_add_evidence(db, case=case, user=user, files=evidence, body=body)
    return views.case_read(db, case)


@router.post("/me/emergency-freeze", response_model=s.FreezeOut)
def emergency_freeze(
    user: CurrentUser, db: DbSession, body: Annotated[s.FreezeIn | None, Body()] = None
) -> s.FreezeOut:
    """Freeze your outgoing money now (no review); every session ends and an urgent security
    case opens. Money coming in still arrives. Unfreezing is reviewed."""
    case = freeze.do_emergency_freeze(
        db, user=user, source="api", note=body.note if body is not None else ""
    )
    return s.FreezeOut(
        status="frozen",
        case_id=case.id,
        ticket_number=cases.ticket_of(db, case).number,
        message=gettext(
            N_(
                "Your account is frozen: no money can leave it. Money sent to you still "
                "arrives. We have opened an urgent case and will contact you."
            )
        ),
    )
