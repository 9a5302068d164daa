"""The customer's emergency freeze: outgoing money stops at once, with no review, every
session ends, and an urgent security case opens. Money coming in still arrives. Unfreezing
is a reviewed decision (an ``unfreeze`` proposal on that case)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from okpay.casework import access, cases, emails
from okpay.casework.intake import Checked
from okpay.casework.models import Case
from okpay.core import audit
from okpay.core.i18n import N_, get_locale, gettext, use_locale
from okpay.identity import recovery as identity_recovery
from okpay.identity.models import AccountStatus, User
from okpay.wallet import standing as wallet_standing

SOURCES = ("app", "security_page", "not_me", "suspicious_activity_form", "api")
REASON = "emergency_freeze"


def do_emergency_freeze(session: Session, *, user: User, source: str, note: str = "") -> Case:
    """Freeze ``user``'s outgoing money now and open (or return) their freeze case."""
    access.require_customer(user)
    existing = cases.open_case_of_type(session, user_id=user.id, type="freeze")
    state = wallet_standing.standing(session, user.id)
    if state.status != AccountStatus.frozen.value:
        wallet_standing.do_freeze(session, user_id=user.id, reason=REASON, actor_user_id=user.id)
        audit.record(
            session, "emergency_freeze", actor_user_id=user.id, subject_user_id=user.id,
            source=source if source in SOURCES else "app",
        )  # fmt: skip
    if existing is not None:
        return existing
    statement = note.strip() or gettext(
        N_("I froze my account in an emergency. Please check it with me before unfreezing.")
    )
    case = cases.do_open_case(
        session,
        checked=Checked("freeze", statement[:2000], {"source": source}, urgent=True),
        user=user,
    )
    emails.alert_team(session, cases.ticket_of(session, case))
    return case


def open_for_not_me(session: Session, user: User) -> None:
    """Identity's hook after "this wasn't me": the account is locked already (no money moves,
    no sign-in); open the urgent security case the unfreeze will be decided on."""
    if user.is_staff or cases.open_case_of_type(session, user_id=user.id, type="freeze"):
        return
    with use_locale(user.preferred_locale or get_locale()):
        statement = gettext(
            N_("I reported a sign-in that was not me. Please check my account with me.")
        )
    case = cases.do_open_case(
        session,
        checked=Checked("freeze", statement, {"source": "not_me"}, urgent=True),
        user=user,
    )
    emails.alert_team(session, cases.ticket_of(session, case))


if open_for_not_me not in identity_recovery.NOT_ME_HOOKS:
    identity_recovery.NOT_ME_HOOKS.append(open_for_not_me)
