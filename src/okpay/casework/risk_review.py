"""Security reviews the risk controls ask for: an operation created on hold, or an attempt
they blocked, opens (or joins) the customer's ``risk_review`` case for the security team,
reviewed within 24 calendar hours. The customer is e-mailed at once that a payment is on
hold, why in plain words, that the money is set aside, not gone, and where to follow it; a
blocked attempt e-mails only when it opens the case, never once per attempt.

The wallet names the moments (wallet.screening.HELD and REFUSED); this module registers its
listeners on import (okpay.models imports it, so every process that moves money has them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.casework import cases, emails
from okpay.casework.intake import Checked
from okpay.casework.models import Case
from okpay.core import clock
from okpay.core.i18n import N_, format_money, get_locale, gettext, use_locale
from okpay.identity import users as identity_users
from okpay.identity.models import User
from okpay.support import emails as support_emails
from okpay.support import messages as ticket_messages
from okpay.wallet import risk_reasons, screening
from okpay.wallet.models import Operation, OperationStatus, type_label

TYPE = "risk_review"
# How many blocked attempts a case remembers (a card-testing attack makes many).
MAX_BLOCKED = 20


def held_references(case: Case) -> list[str]:
    """The operations the case holds for review, oldest first (references)."""
    return [str(h["reference"]) for h in (case.details or {}).get("held", [])]


def held_operations(session: Session, case: Case) -> list[Operation]:
    """The case's held operations as they are now (any status), oldest first."""
    ids = [int(h["operation_id"]) for h in (case.details or {}).get("held", [])]
    if not ids:
        return []
    rows = session.scalars(select(Operation).where(Operation.id.in_(ids)).order_by(Operation.id))
    return [op for op in rows if op.user_id == case.user_id]


def still_held(session: Session, case: Case, *, besides: str | None = None) -> list[Operation]:
    """The case's operations still on hold (other than ``besides``)."""
    return [
        op
        for op in held_operations(session, case)
        if op.status == OperationStatus.on_hold.value and op.reference != besides
    ]


def case_for_operation(session: Session, *, user_id: int, reference: str) -> Case | None:
    """The customer's latest risk review case that holds ``reference``."""
    rows = session.scalars(
        select(Case)
        .where(Case.user_id == user_id, Case.type == TYPE)
        .order_by(Case.id.desc())
        .limit(50)
    )
    for case in rows:
        if reference in held_references(case):
            return case
    return None


def _locale_of(user: User | None) -> str:
    """The language the case's ticket will be in (the customer's, else the request's)."""
    return (user.preferred_locale if user else None) or get_locale()


def _open_or_join(
    session: Session, *, user_id: int, statement: str, entry: dict[str, Any], key: str,
    urgent: bool, references: list[str] | None = None,
) -> tuple[Case, bool] | None:  # fmt: skip
    """The customer's open risk review case with ``entry`` added under ``key``; True when
    it was opened now."""
    user = identity_users.get_user(session, user_id)
    if user is None or user.is_staff:
        return None
    case = cases.open_case_of_type(session, user_id=user.id, type=TYPE)
    if case is None:
        details = {"held": [], "blocked": [], key: [entry]}
        case = cases.do_open_case(
            session,
            checked=Checked(TYPE, statement, details, references or [], urgent=urgent),
            user=user,
            mail=False,
        )
        emails.alert_team(session, cases.ticket_of(session, case))
        return case, True
    details = dict(case.details or {})
    details[key] = [*details.get(key, []), entry][-MAX_BLOCKED:]
    case.details = details  # a new dict, so the JSON column is written
    case.updated_at = clock.now()
    if key == "held":  # blocked attempts are listed in the case panel, not one note each
        ticket_messages.do_system_note(
            session, ticket=cases.ticket_of(session, case), body=statement, channel="web",
            event="risk_review_joined", case_id=case.id, entry=key,
        )  # fmt: skip
    return case, False


def on_held(
    session: Session, attempt: screening.Attempt, verdict: screening.Verdict, op_id: int | None
) -> None:
    """An operation was created on hold: the case that releases or rejects it, and the
    customer's e-mail."""
    if op_id is None:
        return
    op = session.get(Operation, op_id)
    if op is None:
        return
    user = identity_users.get_user(session, attempt.user_id)
    with use_locale(_locale_of(user)):
        statement = gettext(
            N_("%(operation)s %(reference)s of %(amount)s is on hold for a security review."),
            operation=type_label(op.type),
            reference=op.reference,
            amount=format_money(op.amount, op.currency),
        )
    entry = {
        "reference": op.reference,
        "operation_id": op.id,
        "decision_id": verdict.decision_id,
        "reason": verdict.reason,
    }
    found = _open_or_join(
        session, user_id=attempt.user_id, statement=statement, entry=entry, key="held",
        urgent=True, references=[op.reference],
    )  # fmt: skip
    if found is not None:
        _mail(session, found[0], kind="held", op=op, reason=verdict.reason)


def on_refused(
    session: Session, attempt: screening.Attempt, verdict: screening.Verdict, op_id: int | None
) -> None:
    """An attempt was blocked by a live rule: the case a reviewer looks at (a card-testing
    attack is many attempts, one case, one e-mail)."""
    if verdict.outcome is not screening.Outcome.block or op_id is not None:
        return
    user = identity_users.get_user(session, attempt.user_id)
    with use_locale(_locale_of(user)):
        statement = gettext(
            N_("An attempt was blocked by the risk controls: %(reason)s"),
            reason=risk_reasons.reason_text(verdict.reason),
        )
    entry = {
        "operation": attempt.operation,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "decision_id": verdict.decision_id,
        "reason": verdict.reason,
        "at": clock.now().isoformat(),
    }
    found = _open_or_join(
        session, user_id=attempt.user_id, statement=statement, entry=entry, key="blocked",
        urgent=False,
    )  # fmt: skip
    if found is not None and found[1]:
        _mail(session, found[0], kind="blocked", op=None, reason=verdict.reason)


def _mail(
    session: Session, case: Case, *, kind: str, op: Operation | None, reason: str | None
) -> None:
    ticket = cases.ticket_of(session, case)
    with use_locale(ticket.locale):
        extra: dict[str, Any] = {
            "kind": kind,
            "reason_text": risk_reasons.reason_text(reason),
            "next_step": risk_reasons.next_step_text("hold" if kind == "held" else "block"),
            "review_hours": cases.CALENDAR_REVIEW_HOURS[TYPE],
            "operation": type_label(op.type) if op else "",
            "reference": op.reference if op else "",
            "amount": format_money(op.amount + op.fee, op.currency) if op else "",
        }
    support_emails.mail_requester(session, ticket, "risk_review", **extra)


def review_of(session: Session, user_id: int, reference: str) -> risk_reasons.Review | None:
    """The wallet's question: why the customer's operation was held, and the case page."""
    case = case_for_operation(session, user_id=user_id, reference=reference)
    if case is None:
        return None
    entry = next(h for h in case.details["held"] if h["reference"] == reference)
    return risk_reasons.Review(reason=entry.get("reason"), link=f"/support/cases/{case.id}")


# Registered once per process, on import (okpay.models imports this module).
if review_of not in risk_reasons.REVIEWS:
    risk_reasons.REVIEWS.append(review_of)
if on_held not in screening.HELD:
    screening.HELD.append(on_held)
if on_refused not in screening.REFUSED:
    screening.REFUSED.append(on_refused)
