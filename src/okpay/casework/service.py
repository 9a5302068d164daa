"""The customer panel beside a ticket: who wrote, their account's standing, limits, balances
and recent transactions, all masked. Revealing an e-mail address or phone number in full
needs a reason, is audited, and shows the value in that one answer only.

This module reads the other domains through their services only; it never stores anything
of its own, and there is no way here to ask for or keep a password or a code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from okpay.core import audit
from okpay.core.errors import NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.identity import users as identity_users
from okpay.identity import validation as identity_validation
from okpay.identity.models import User
from okpay.support import access as support_access
from okpay.support.models import Ticket
from okpay.wallet import history as wallet_history
from okpay.wallet import ledger as wallet_ledger
from okpay.wallet import methods as wallet_methods
from okpay.wallet import models as wallet_models
from okpay.wallet import provider_events as wallet_provider_events
from okpay.wallet import standing as wallet_standing
from okpay.wallet import usage as wallet_usage

LIMIT_OPERATIONS = ("topup", "withdrawal", "transfer", "payment")
# The wallet's own words for its operations and their states.
operation_label = wallet_models.type_label
operation_status_label = wallet_models.operation_status_label
RECENT_TRANSACTIONS = 10
REVEALABLE = ("email", "phone")
REASON_MIN = 5


@dataclass(frozen=True)
class Balance:
    currency: str
    balance: int
    held: int


@dataclass(frozen=True)
class MethodView:
    kind: str  # card | bank
    label: str  # "Visa •••• 4242", "ICBC •••• 3445"


@dataclass(frozen=True)
class TransactionView:
    reference: str
    type: str
    status: str
    amount: int
    currency: str
    created_at: datetime
    counterparty: str
    linked: bool  # the ticket names this transaction


@dataclass
class CustomerPanel:
    """What an agent sees of the requester. Guests have only ``email`` and ``account_exists``."""

    is_guest: bool
    email: str  # masked for account holders, as typed for guests
    account_exists: bool = False
    user_id: int | None = None
    name: str = ""
    phone: str = ""  # masked
    status: str = ""
    status_reason: str | None = None
    blocked: dict[str, str] = field(default_factory=dict)
    verification_level: int = 0
    member_since: datetime | None = None
    limits: list[wallet_usage.LimitUsage] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)
    methods: list[MethodView] = field(default_factory=list)
    transactions: list[TransactionView] = field(default_factory=list)
    missing_references: list[str] = field(default_factory=list)
    earlier: list[Ticket] = field(default_factory=list)


def mask_account(last4: str) -> str:
    return f"•••• {last4}"


def customer_panel(session: Session, *, ticket: Ticket) -> CustomerPanel:
    """The panel for ``ticket`` (the caller checked the agent may see the ticket)."""
    earlier = support_access.earlier_tickets(session, ticket)
    if ticket.requester_user_id is None:
        return CustomerPanel(
            is_guest=True,
            email=ticket.requester_email,
            # Said, never linked: an e-mail's From is no proof the writer owns the account.
            account_exists=identity_users.get_user_by_email(session, ticket.requester_email)
            is not None,
            earlier=earlier,
        )
    user_id = ticket.requester_user_id
    user = identity_users.get_user(session, user_id)
    if user is None:
        raise NotFound()
    standing = wallet_standing.standing(session, user_id)
    snapshot = wallet_usage.usage_snapshot(session, user_id=user_id)
    limits = [
        wallet_usage.limit_usage(
            session,
            user_id=user_id,
            op_type=op,
            level=standing.verification_level,
            snapshot=snapshot,
        )
        for op in LIMIT_OPERATIONS
    ]
    balances = [
        Balance(a.currency, a.balance, a.held)
        for a in wallet_ledger.balances(session, user_id=user_id)
    ]
    methods = [
        MethodView(
            m.kind,
            f"{m.brand or 'Card'} {mask_account(m.last4)}"
            if m.kind == "card"
            else f"{m.bank_name} {mask_account(m.last4)}",
        )
        for m in wallet_methods.list_payment_methods(session, user_id=user_id)
    ]
    linked = set(ticket.references or [])
    recent = wallet_history.history(
        session, user_id=user_id, filters=wallet_history.HistoryFilter(), limit=RECENT_TRANSACTIONS
    )
    seen = {a.reference for a in recent}
    rows = list(recent)
    missing = []
    for reference in ticket.references or []:
        if reference in seen:
            continue
        op = wallet_provider_events.find_by_reference(session, reference)
        activity = (
            wallet_history.activity_for(session, user_id=user_id, operation_id=op.id)
            if op is not None
            else None
        )
        if activity is None:
            missing.append(reference)  # not this customer's, or no such transaction
        else:
            rows.append(activity)
    transactions = [
        TransactionView(
            a.reference,
            a.type,
            a.status,
            a.amount,
            a.currency,
            a.created_at,
            a.counterparty,
            a.reference in linked,
        )
        for a in sorted(rows, key=lambda a: (a.reference not in linked, -a.created_at.timestamp()))
    ]
    return CustomerPanel(
        is_guest=False,
        email=identity_validation.mask_email(user.email),
        account_exists=True,
        user_id=user_id,
        name=user.name,
        phone=identity_validation.mask_phone(user.phone),
        status=standing.status,
        status_reason=standing.status_reason,
        blocked=dict(standing.blocked),
        verification_level=standing.verification_level,
        member_since=standing.created_at,
        limits=limits,
        balances=balances,
        methods=methods,
        transactions=transactions,
        missing_references=missing,
        earlier=earlier,
    )


def do_reveal(session: Session, *, ticket: Ticket, agent: User, field: str, reason: str) -> str:
    """The requester's full e-mail address or phone number, for this answer only; the reason
    is kept in the audit log ("customer_data_revealed")."""
    support_access.require_staff(agent)
    if field not in REVEALABLE:
        raise ValidationFailed(code="field_invalid", field="field")
    text = identity_validation.check_name(reason, field="reason", max_length=300)
    if len(text) < REASON_MIN:
        raise ValidationFailed(
            N_("Please say why you need to see this (at least %(min)s characters)."),
            code="reason_required", field="reason", min=REASON_MIN,
        )  # fmt: skip
    if ticket.requester_user_id is None:
        raise NotFound()
    user = identity_users.get_user(session, ticket.requester_user_id)
    if user is None:
        raise NotFound()
    value = user.email if field == "email" else (user.phone or "")
    audit.record(
        session, "customer_data_revealed", actor_user_id=agent.id, subject_user_id=user.id,
        object_type="ticket", object_id=ticket.number, field=field, reason=text,
    )  # fmt: skip
    session.flush()
    return value
