"""Casework tables: a customer's request that needs a decision (a case on a ticket), its
evidence, the proposals staff make to act on the wallet or the account, and the policy that
says which proposals need a second person."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from okpay.core.i18n import N_, gettext
from okpay.db import Base, BigId, UTCDateTime


class CaseType(enum.StrEnum):
    appeal = "appeal"  # a restriction or freeze the customer disputes
    verification = "verification"  # a higher verification level, with documents
    limit_increase = "limit_increase"  # a specific limit for an operation
    dispute = "dispute"  # a transaction the customer disputes
    unlock = "unlock"  # assisted unlock: e-mail or authenticator lost
    freeze = "freeze"  # the customer's emergency freeze, until a reviewed unfreeze
    # Opened by the risk controls: an operation held for review, or an attempt they blocked.
    risk_review = "risk_review"


class CaseStatus(enum.StrEnum):
    submitted = "submitted"
    in_review = "in_review"
    info_requested = "info_requested"  # waiting for the customer: the clock is paused
    approved = "approved"
    rejected = "rejected"
    done = "done"


OPEN_CASE_STATUSES = ("submitted", "in_review", "info_requested")
DECIDED_STATUSES = ("approved", "rejected", "done")


class ProposalStatus(enum.StrEnum):
    pending = "pending"  # waiting for a second person
    executed = "executed"
    rejected = "rejected"  # the approver said no
    stale = "stale"  # the wallet changed since it was made: make it again
    expired = "expired"
    withdrawn = "withdrawn"  # the case was decided another way


class Action(enum.StrEnum):
    lift_restriction = "lift_restriction"
    unfreeze = "unfreeze"
    unlock = "unlock"
    set_verification_level = "set_verification_level"
    grant_limit_override = "grant_limit_override"
    refund = "refund"
    freeze = "freeze"
    release_held = "release_held"
    reject_held = "reject_held"


CASE_TYPE_LABELS = {
    "appeal": N_("Appeal a restriction"),
    "verification": N_("Identity verification"),
    "limit_increase": N_("Higher limit"),
    "dispute": N_("Transaction dispute"),
    "unlock": N_("Assisted unlock"),
    "freeze": N_("Emergency freeze"),
    "risk_review": N_("Security review of a payment"),
}
CASE_STATUS_LABELS = {
    "submitted": N_("Submitted"),
    "in_review": N_("In review"),
    "info_requested": N_("More information needed"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "done": N_("Done"),
}
PROPOSAL_STATUS_LABELS = {
    "pending": N_("Waiting for approval"),
    "executed": N_("Carried out"),
    "rejected": N_("Rejected"),
    "stale": N_("Out of date"),
    "expired": N_("Expired"),
    "withdrawn": N_("Withdrawn"),
}
ACTION_LABELS = {
    "lift_restriction": N_("Lift the restriction"),
    "unfreeze": N_("Unfreeze the account"),
    "unlock": N_("Unlock the account"),
    "set_verification_level": N_("Set the verification level"),
    "grant_limit_override": N_("Grant a higher limit"),
    "refund": N_("Refund a payment"),
    "freeze": N_("Freeze the account"),
    "release_held": N_("Release the held payment"),
    "reject_held": N_("Reject the held payment"),
}


def label(table: dict[str, str], code: str) -> str:
    """One of the label tables above, in the reader's language."""
    return gettext(table.get(code, code))


class Case(Base):
    """A customer's request that needs a decision, attached to the ticket it is discussed on."""

    __tablename__ = "support_case"
    __table_args__ = (
        Index("ix_support_case_status_due", "status", "due_at", "id"),
        Index("ix_support_case_user", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), unique=True)
    # The account the case is about; None when an unlock request names an address that has
    # no account (the requester is not told, and agents see that nothing matched).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    # What the customer asked for: level, operation and amounts, the disputed reference...
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    statement: Mapped[str] = mapped_column(Text, default="")
    # What the agent asked the customer to add, while the case waits for them.
    info_request: Mapped[str | None] = mapped_column(Text)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The review clock: business hours, paused while waiting for the customer.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseEvidence(Base):
    """A file the customer gave for a case (a ticket attachment) and what it is."""

    __tablename__ = "case_evidence"
    __table_args__ = (Index("ix_case_evidence_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("support_case.id"))
    attachment_id: Mapped[int] = mapped_column(ForeignKey("ticket_attachment.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Proposal(Base):
    """A staff member's proposed change to the wallet or the account, with the state it was
    made against; it takes effect when a second staff member approves it (or at once, where
    the policy allows)."""

    __tablename__ = "case_proposal"
    __table_args__ = (
        Index("ix_case_proposal_case", "case_id", "id"),
        Index("ix_case_proposal_status", "status", "expires_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("support_case.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # In CNY minor units where the action moves money (for the policy's threshold).
    amount_cny: Mapped[int | None] = mapped_column(BigInteger)
    needs_approval: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    # What execution produced (a refund's reference), for the case panel and the audit.
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApprovalPolicy(Base):
    """Which actions need a second person, who may approve them, and up to which amount one
    person may act alone. Actions with no row use the defaults in casework.policy."""

    __tablename__ = "case_approval_policy"

    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    approval_required: Mapped[bool] = mapped_column(default=True)
    # One person may act alone up to this amount (CNY minor units); None: never alone.
    single_limit_cny: Mapped[int | None] = mapped_column(BigInteger)
    approver_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# A ticket's evidence kinds, in the order the checklist asks for them.
EVIDENCE_KINDS = {
    "id_front": N_("ID document, front"),
    "id_back": N_("ID document, back"),
    "passport": N_("Passport"),
    "address": N_("Proof of address"),
    "income": N_("Proof of income or funds"),
    "other": N_("Other evidence"),
}
