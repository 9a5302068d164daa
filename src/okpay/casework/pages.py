"""A customer's case as they see it: its state on the way to a decision, when the review is
due, what is asked of them with the form to add evidence, the files they gave and the
decision with its reason. Also the emergency freeze: a confirmation that says exactly what
happens, then the case number (the freeze signs the customer out everywhere, so the page
that shows the number is rendered in the same response)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.casework import access, cases, freeze, intake, page_forms
from okpay.casework.models import (
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    EVIDENCE_KINDS,
    OPEN_CASE_STATUSES,
    Case,
    label,
)
from okpay.core.dbid import BigDbId
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_, format_money, format_size, gettext
from okpay.identity.access import CurrentUser
from okpay.identity.models import User
from okpay.support import access as support_access
from okpay.support import files as support_files
from okpay.support import numbers as support_numbers
from okpay.wallet import risk_reasons
from okpay.wallet.models import type_label
from okpay.web import forms
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Note = Annotated[str, Form(max_length=4100)]
Short = Annotated[str, Form(max_length=40)]


@dataclass(frozen=True)
class Step:
    label: str
    state: str  # done | current | todo


STEP_OF = {"submitted": 0, "in_review": 1, "info_requested": 2, "approved": 3, "rejected": 3,
           "done": 4}  # fmt: skip


def steps(case: Case) -> list[Step]:
    """The way to a decision, with where the case is on it."""
    decision = N_("Decision")
    if case.status in ("approved", "rejected"):
        decision = CASE_STATUS_LABELS[case.status]
    names = [
        CASE_STATUS_LABELS["submitted"],
        CASE_STATUS_LABELS["in_review"],
        CASE_STATUS_LABELS["info_requested"],
        decision,
        CASE_STATUS_LABELS["done"],
    ]
    at = STEP_OF.get(case.status, 0)
    return [
        Step(gettext(name), "done" if i < at else "current" if i == at else "todo")
        for i, name in enumerate(names)
    ]


def details(case: Case) -> list[tuple[str, str]]:
    """What the customer asked for, in words (the statement aside)."""
    d = case.details or {}
    lines: list[tuple[str, str]] = []
    if case.type == "verification" and "level" in d:
        lines.append((gettext(N_("Level asked for")), str(d["level"])))
    if case.type == "limit_increase":
        lines += [
            (gettext(N_("For")), type_label(str(d.get("operation", "")))),
            (gettext(N_("Limit")), label(intake.PERIOD_LABELS, str(d.get("period", "")))),
            (gettext(N_("Amount")), format_money(int(d.get("amount", 0)), "CNY")),
            (gettext(N_("For how many days")), str(d.get("days", ""))),
        ]
    if case.type == "dispute":
        lines.append((gettext(N_("Transaction reference")), str(d.get("reference", ""))))
        lines.append((gettext(N_("What went wrong?")),
                      label(intake.DISPUTE_REASON_LABELS, str(d.get("reason", "")))))  # fmt: skip
        if d.get("duplicate_of"):
            lines.append((gettext(N_("The other payment")), str(d["duplicate_of"])))
    if case.type == "risk_review":  # the plain-words reason only, never the rules
        for held in d.get("held", []):
            lines.append((gettext(N_("Payment under review")), str(held.get("reference", ""))))
            lines.append((gettext(N_("Why")), risk_reasons.reason_text(held.get("reason"))))
        if d.get("blocked") and not d.get("held"):
            lines.append((gettext(N_("Why")), risk_reasons.reason_text(d["blocked"][-1]["reason"])))
    if case.type == "unlock" and d.get("lost"):
        lines.append((gettext(N_("What can you no longer use?")),
                      label(intake.LOST_LABELS, str(d["lost"]))))  # fmt: skip
    return lines


def _case_page(
    request: Request,
    db: DbSession,
    case: Case,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    note: str = "",
    kind: str = "other",
    status_code: int = 200,
) -> Response:
    ticket = cases.ticket_of(db, case)
    return render(
        request,
        "casework/case.html",
        status_code=status_code,
        case=case,
        ticket=ticket,
        title=label(CASE_TYPE_LABELS, case.type),
        status_label=label(CASE_STATUS_LABELS, case.status),
        steps=steps(case),
        details=details(case),
        is_open=case.status in OPEN_CASE_STATUSES,
        evidence=cases.evidence_of(db, case),
        kind_labels=page_forms.kind_labels(),
        kinds=list(EVIDENCE_KINDS),
        accept=support_files.ACCEPT,
        format_size=format_size,
        errors=errors or {},
        error=error,
        note=note,
        kind=kind,
    )


@router.get("/support/cases/{case_id}")
def case_page(request: Request, case_id: BigDbId, db: DbSession, user: CurrentUser) -> Response:
    return _case_page(request, db, access.access_case(db, user=user, case_id=case_id))


@router.get("/support/requests/{number}/case")
def case_of_request(number: str, db: DbSession, user: CurrentUser) -> Response:
    """From a request's page to its case (the customer's own request only)."""
    if support_numbers.normalise_number(number) is None:
        raise NotFound()
    ticket = support_access.access_ticket(db, user=user, number=number)
    case = cases.case_for_ticket(db, ticket)
    if case is None:
        raise NotFound()
    return RedirectResponse(f"/support/cases/{case.id}", status_code=303)


@router.post("/support/cases/{case_id}/evidence")
def add_evidence(
    request: Request,
    case_id: BigDbId,
    db: DbSession,
    user: CurrentUser,
    files: page_forms.Files = [],  # noqa: B006 - FastAPI copies defaults
    kind: Short = "other",
    body: Note = "",
) -> Response:
    """Add files (of the kind chosen) and a note; a case waiting for the customer goes back
    to review."""
    case = access.access_case(db, user=user, case_id=case_id)
    if kind not in EVIDENCE_KINDS:
        return _case_page(
            request, db, case, errors={"kind": gettext(N_("Say what the file is."))},
            note=body, status_code=422,
        )  # fmt: skip
    form = page_forms.EvidenceForm(uploaded={kind: files}, kept={})
    checked = page_forms.check_evidence(form, (kind,))
    if checked.errors:
        return _case_page(
            request, db, case, errors={"files": checked.errors[kind]}, note=body, kind=kind,
            status_code=422,
        )  # fmt: skip
    try:
        cases.do_add_evidence(db, case=case, user=user, files=checked.take(db), body=body)
    except DomainError as err:
        forms.undo_refused(db, err)
        case = access.access_case(db, user=user, case_id=case_id)
        field_errors, message = page_forms.refusal(err, ("files", "body", "kind"))
        return _case_page(
            request, db, case, errors=field_errors, error=message, note=body, kind=kind,
            status_code=err.status,
        )  # fmt: skip
    flash(request, gettext("Thank you. We have added it to your request."), "success")
    return RedirectResponse(f"/support/cases/{case.id}#evidence", status_code=303)


# ------------------------------------------------------------------ emergency freeze

FREEZE_SOURCES = {"security": "security_page", "account": "app", "app": "app",
                  "suspicious": "suspicious_activity_form"}  # fmt: skip


class FreezeNotConfirmed(ValidationFailed):
    code = "freeze_not_confirmed"
    message = N_("Tick the box to confirm that you want to freeze your account.")


def _freeze_form(
    request: Request, user: User, source: str, *, error: str | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "casework/freeze_confirm.html",
        status_code=status_code,
        source=source if source in FREEZE_SOURCES else "app",
        frozen=user.status == "frozen",
        error=error,
    )


@router.get("/account/emergency-freeze")
def freeze_form(
    request: Request, user: CurrentUser, source: Annotated[str, Query(max_length=20)] = "app"
) -> Response:
    access.require_customer(user)
    return _freeze_form(request, user, source)


@router.post("/account/emergency-freeze")
def freeze_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    source: Short = "app",
    confirm: Short = "",
    note: Note = "",
) -> Response:
    """Freeze now. The freeze ends every session, this one too: the page that follows shows
    the case number in this response, as a signed-out page."""
    access.require_customer(user)
    if confirm != "yes":
        err = FreezeNotConfirmed()
        return _freeze_form(request, user, source, error=err.translated(), status_code=422)
    case = freeze.do_emergency_freeze(
        db, user=user, source=FREEZE_SOURCES.get(source, "app"), note=note
    )
    ticket = cases.ticket_of(db, case)
    return render(
        request,
        "casework/freeze_done.html",
        user=None,
        number=ticket.number,
        email=user.email,
    )
