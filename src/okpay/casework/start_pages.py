"""Starting a request that needs a decision, from where the problem shows: an appeal of a
restriction, identity verification, a higher limit, a transaction dispute, and an assisted
unlock (the one form that works signed out, answering alike whether or not the account
exists). A refused form comes back with each error by its field and nothing lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.casework import access, cases, intake, page_forms
from okpay.casework.models import CASE_TYPE_LABELS, label
from okpay.core import context
from okpay.core.errors import DomainError, NotAuthenticated, NotFound
from okpay.core.i18n import N_, gettext
from okpay.identity import throttling as identity_throttling
from okpay.identity import validation as identity_validation
from okpay.identity.access import OptionalUser
from okpay.identity.models import User
from okpay.support import access as support_access
from okpay.support import customer as support_customer
from okpay.support import files as support_files
from okpay.wallet import standing as wallet_standing
from okpay.wallet.models import Merchant, type_label
from okpay.web import forms
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Text = Annotated[str, Form(max_length=intake.STATEMENT_MAX + 100)]
Short = Annotated[str, Form(max_length=400)]
Evidence = Annotated[page_forms.EvidenceForm, Depends(page_forms.evidence_form)]

# The file inputs each form shows, in order.
FORM_KINDS = {
    "appeal": ("other",),
    "verification": ("id_front", "id_back", "passport", "address", "income"),
    "limit_increase": ("income", "other"),
    "dispute": ("other",),
    "unlock": ("id_front", "id_back", "passport"),
}
FIELDS = {
    "appeal": ("statement",),
    "verification": ("level", "statement"),
    "limit_increase": ("operation", "period", "amount", "days", "statement"),
    "dispute": ("reference", "reason", "duplicate_of", "statement"),
    "unlock": ("account_email", "lost", "recent_transactions", "name", "contact_email",
               "statement"),
}  # fmt: skip
OPERATIONS = ("topup", "withdrawal", "transfer", "payment")
GUEST_PER_HOUR = 10


def _who(user: User | None, type: str) -> None:
    if type not in FORM_KINDS:
        raise NotFound()
    if user is None and type != "unlock":
        raise NotAuthenticated()
    if user is not None:
        access.require_customer(user)


def _dispute_context(db: DbSession, user: User | None, reference: str) -> dict[str, Any]:
    """The disputed transaction and its possible duplicates (the customer's own only)."""
    if user is None or not reference:
        return {"op": None, "candidates": []}
    try:
        op = intake.own_operation(db, user=user, reference=reference.strip().upper())
    except DomainError:
        return {"op": None, "candidates": []}
    merchant = db.get(Merchant, op.merchant_id) if op.merchant_id is not None else None
    return {
        "op": op,
        "merchant": merchant.name if merchant is not None else "",
        "candidates": intake.duplicate_candidates(db, op=op),
    }


def _show(
    request: Request,
    db: DbSession,
    type: str,
    *,
    user: User | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    error: str | None = None,
    kept: dict[str, list[dict[str, str]]] | None = None,
    status_code: int = 200,
) -> Response:
    extra: dict[str, Any] = {}
    if type == "dispute":
        extra = _dispute_context(db, user, values.get("reference", ""))
    if type in ("appeal", "verification") and user is not None:
        extra["standing"] = wallet_standing.standing(db, user.id)
    return render(
        request,
        f"casework/new_{type}.html",
        status_code=status_code,
        type=type,
        title=label(CASE_TYPE_LABELS, type),
        values=values,
        errors=errors or {},
        error=error,
        kept=kept or {},
        kinds=FORM_KINDS[type],
        kind_labels=page_forms.kind_labels(),
        accept=support_files.ACCEPT,
        operations=[(code, type_label(code)) for code in OPERATIONS],
        periods=[(code, gettext(text)) for code, text in intake.PERIOD_LABELS.items()],
        reasons=[(code, gettext(text)) for code, text in intake.DISPUTE_REASON_LABELS.items()],
        lost_choices=[(code, gettext(text)) for code, text in intake.LOST_LABELS.items()],
        type_label=type_label,
        **extra,
    )


def _defaults(type: str, user: User | None, reference: str, level: str) -> dict[str, str]:
    values = dict.fromkeys(FIELDS[type], "")
    if type == "verification":
        current = user.verification_level if user is not None else 0
        values["level"] = level if level in ("1", "2") else str(min(current + 1, 2))
    if type == "limit_increase":
        values.update(operation="transfer", period="daily", days="90")
    if type == "dispute":
        values["reference"] = reference.strip().upper()[:40]
    return values


@router.get("/support/cases/new/{type}")
def new_case_form(
    request: Request,
    type: str,
    db: DbSession,
    user: OptionalUser,
    reference: Annotated[str, Query(max_length=40)] = "",
    level: Annotated[str, Query(max_length=2)] = "",
) -> Response:
    _who(user, type)
    if user is not None and type not in ("dispute", "unlock"):
        # One open request of a kind at a time: the banner's Appeal leads to the one open.
        existing = cases.open_case_of_type(db, user_id=user.id, type=type)
        if existing is not None:
            flash(
                request,
                gettext(
                    "You already have an open request of this kind: %(number)s.",
                    number=cases.ticket_of(db, existing).number,
                ),
                "info",
            )
            return RedirectResponse(f"/support/cases/{existing.id}", status_code=303)
    return _show(request, db, type, user=user, values=_defaults(type, user, reference, level))


def _check_fields(type: str, v: dict[str, str]) -> dict[str, str]:
    """The page's own checks (choices, numbers, addresses); the service checks the rest."""
    errors: dict[str, str] = {}

    def choose(name: str, allowed: Any, message: str) -> None:
        if v.get(name) not in allowed:
            errors[name] = gettext(message)

    if type == "verification":
        choose("level", ("1", "2"), N_("Choose the level you want."))
    if type == "limit_increase":
        choose("operation", OPERATIONS, N_("Choose what the limit is for."))
        choose("period", tuple(intake.PERIOD_LABELS), N_("Choose per transaction, day or month."))
        if not v["days"].strip().isdigit() or not 1 <= int(v["days"]) <= 365:
            errors["days"] = gettext(N_("Enter a number of days from 1 to 365."))
    if type == "dispute":
        if not v["reason"] and v["duplicate_of"]:
            v["reason"] = "charged_twice"  # choosing the other payment says what went wrong
        choose("reason", intake.DISPUTE_REASONS, N_("Choose what went wrong."))
    if type == "unlock":
        choose("lost", tuple(intake.LOST_LABELS), N_("Choose what you can no longer use."))
        for name in ("account_email", "contact_email"):
            if name == "contact_email" and not v[name].strip():
                continue
            try:
                identity_validation.normalise_email(v[name])
            except DomainError as err:
                errors[name] = err.translated()
    return errors


def _check_files(type: str, ev: page_forms.CheckedEvidence, v: dict[str, str]) -> dict[str, str]:
    """The documents each request needs (the file inputs say which)."""
    errors: dict[str, str] = {}
    if type in ("verification", "unlock"):
        both_sides = ev.present("id_front") and ev.present("id_back")
        if not both_sides and not ev.present("passport"):
            errors["identity"] = gettext(
                N_("Add both sides of your ID document, or your passport.")
            )
    if type == "verification":
        if not ev.present("address"):
            errors["address"] = gettext(
                N_("Add a proof of address, such as a recent bill or bank statement.")
            )
        if v.get("level") == "2" and not ev.present("income"):
            errors["income"] = gettext(N_("Level 2 needs a proof of income or funds."))
    return errors


def _body(type: str, v: dict[str, str]) -> Any:
    fields: dict[str, Any] = {"type": type, **{k: v[k] for k in FIELDS[type]}}
    if type == "verification":
        fields["level"] = int(v["level"])
    if type == "limit_increase":
        fields["days"] = int(v["days"])
    if type == "dispute":
        # The preselected duplicate counts only for a charge made twice.
        twice = v["reason"] == "charged_twice"
        fields["duplicate_of"] = (v["duplicate_of"] or None) if twice else None
        fields["reference"] = v["reference"].strip().upper()
    return pydantic.TypeAdapter(intake.CaseIn).validate_python(fields)


def _throttle(db: DbSession, user: User | None) -> None:
    if user is None:
        ip = context.current().ip or "unknown"
        identity_throttling.check_rate(
            db, f"case-guest:{ip}", limit=GUEST_PER_HOUR, window=timedelta(hours=1)
        )
    else:
        support_customer.check_throttle(db, user=user, purpose="case")


@router.post("/support/cases/new/{type}")
def new_case_submit(
    request: Request,
    type: str,
    db: DbSession,
    user: OptionalUser,
    evidence: Evidence,
    statement: Text = "",
    level: Short = "",
    operation: Short = "",
    period: Short = "",
    amount: Short = "",
    days: Short = "",
    reference: Short = "",
    reason: Short = "",
    duplicate_of: Short = "",
    account_email: Short = "",
    lost: Short = "",
    recent_transactions: Text = "",
    name: Short = "",
    contact_email: Short = "",
) -> Response:
    _who(user, type)
    given = {
        "statement": statement, "level": level, "operation": operation, "period": period,
        "amount": amount, "days": days, "reference": reference, "reason": reason,
        "duplicate_of": duplicate_of, "account_email": account_email, "lost": lost,
        "recent_transactions": recent_transactions, "name": name, "contact_email": contact_email,
    }  # fmt: skip
    values = {k: given[k] for k in FIELDS[type]}
    if type == "unlock" and user is not None:
        values["account_email"] = user.email  # signed in: this account, whatever was sent
    try:
        _throttle(db, user)
    except DomainError as err:
        return _show(
            request,
            db,
            type,
            user=user,
            values=values,
            error=err.translated(),
            status_code=err.status,
        )
    ev = page_forms.check_evidence(evidence, FORM_KINDS[type])
    errors = {**_check_fields(type, values), **ev.errors}
    errors = {**_check_files(type, ev, values), **errors}
    if errors:
        # The throttle's count is kept (the unit of work commits); nothing else was written.
        return _show(
            request,
            db,
            type,
            user=user,
            values=values,
            errors=errors,
            kept=ev.kept_view(),
            status_code=422,
        )
    files: list[cases.EvidenceFile] = []
    try:
        checked = intake.check_request(db, body=_body(type, values), user=user)
        files = ev.take(db)
        case = cases.do_open_case(db, checked=checked, user=user, files=files)
    except (DomainError, pydantic.ValidationError) as err:
        forms.undo_refused(db, err)
        if isinstance(err, pydantic.ValidationError):
            field = str(err.errors()[0]["loc"][-1]) if err.errors() else ""
            field_errors = {field: gettext(N_("Please check this field."))} if field else {}
            message = None if field_errors else gettext(N_("Please check the form."))
            status_code = 422
        else:
            field_errors, message = page_forms.refusal(err, FIELDS[type] + FORM_KINDS[type])
            status_code = err.status
        kept = page_forms.kept_again(files) if files else ev.kept_view()
        return _show(
            request, db, type, user=user, values=values, errors=field_errors, error=message,
            kept=kept, status_code=status_code,
        )  # fmt: skip
    ticket = cases.ticket_of(db, case)
    if user is None:
        # The same page whatever the address: the number and where we will write.
        key = support_access.access_key(ticket)
        return RedirectResponse(
            f"/support/requests/{ticket.number}/sent?key={key}", status_code=303
        )
    flash(request, gettext("We have your request %(number)s.", number=ticket.number), "success")
    return RedirectResponse(f"/support/cases/{case.id}", status_code=303)
