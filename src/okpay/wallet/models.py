"""Wallet tables. Amounts are integers in minor units; the ledger is double entry and
immutable (database triggers refuse UPDATE and DELETE on journal entries and postings)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from okpay.core.i18n import N_, gettext
from okpay.db import Base, BigId, UTCDateTime


class AccountKind(enum.StrEnum):
    customer = "customer"
    system = "system"
    merchant = "merchant"


class SystemAccount(enum.StrEnum):
    """OKPay's own accounts, one set per currency (sharded so hot ones don't serialise)."""

    card_clearing = "card_clearing"
    bank_clearing = "bank_clearing"
    payouts = "payouts"
    fee_revenue = "fee_revenue"
    fx_position = "fx_position"
    merchant_settlement = "merchant_settlement"


class OperationType(enum.StrEnum):
    topup = "topup"
    withdrawal = "withdrawal"
    transfer = "transfer"
    payment = "payment"
    refund = "refund"


class OperationStatus(enum.StrEnum):
    pending = "pending"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    reversed = "reversed"
    # Created by a risk control's hold: its funds are held until a reviewer releases it
    # (it goes ahead) or rejects it (cancelled, funds released). See okpay.risk.
    on_hold = "on_hold"


class WalletAccount(Base):
    """A balance in one currency: a customer's, a merchant's, or a shard of a system account."""

    __tablename__ = "wallet_account"
    __table_args__ = (
        UniqueConstraint("user_id", "currency"),
        UniqueConstraint("merchant_id", "currency"),
        UniqueConstraint("system_code", "currency", "shard"),
        # Customers and merchants never go below zero, and never hold more than they have;
        # system (clearing) accounts may run negative.
        CheckConstraint("kind = 'system' OR (held >= 0 AND balance >= held)", name="no_overdraft"),
        CheckConstraint("kind IN ('customer', 'system', 'merchant')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))
    system_code: Mapped[str | None] = mapped_column(String(32))
    shard: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Merchant(Base):
    """A business customers pay; its money sits in merchant wallet accounts."""

    __tablename__ = "merchant"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Hosts a payment intent's return URL may point at; empty: any https host.
    return_hosts: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MerchantApiKey(Base):
    """A secret a merchant's server uses to create payment intents. Only its keyed hash is
    kept; the key is shown once, when it is created."""

    __tablename__ = "merchant_api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(60), default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IntentStatus(enum.StrEnum):
    open = "open"
    paid = "paid"
    cancelled = "cancelled"
    expired = "expired"  # never stored: an open intent past its expiry reads as expired


class PaymentIntent(Base):
    """What a merchant asks a customer to pay for an order: the merchant fixes the amount
    server-side; the checkout link names only the intent's unguessable token. An order may
    have several intents; the one that is paid makes the order paid."""

    __tablename__ = "payment_intent"
    __table_args__ = (
        Index("ix_payment_intent_merchant_id_order_id", "merchant_id", "order_id"),
        CheckConstraint("amount > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(48), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("merchant_api_key.id"))
    order_id: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(140), default="")
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    return_url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12))  # open | paid | cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payer_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_operation.id"), unique=True)


class Operation(Base):
    """One money movement as people see it: a reference, a type, a status and its parties."""

    __tablename__ = "wallet_operation"
    __table_args__ = (
        Index("ix_wallet_operation_user_id_created_at", "user_id", "created_at"),
        Index("ix_wallet_operation_external_ref", "external_ref"),
        # "Has this sender paid that person before?" (recipient names, lookup budget)
        Index(
            "ix_wallet_operation_user_id_counterparty_user_id", "user_id", "counterparty_user_id"
        ),
        UniqueConstraint("merchant_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_account.id"))
    counterparty_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    counterparty_account_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_account.id"))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"))
    order_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    target_currency: Mapped[str | None] = mapped_column(String(3))
    target_amount: Mapped[int | None] = mapped_column(BigInteger)
    fx_rate: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str | None] = mapped_column(String(12))
    payment_method_id: Mapped[int | None] = mapped_column(ForeignKey("payment_method.id"))
    external_ref: Mapped[str | None] = mapped_column(String(64))
    original_operation_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_operation.id"))
    failure_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(String(140), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Activity(Base):
    """One line of a user's transaction history: an operation from that party's side.

    Denormalised on purpose: a filtered page of history is one index range scan on
    (user_id, created_at, id), whatever the other tables hold."""

    __tablename__ = "wallet_activity"
    __table_args__ = (
        Index("ix_wallet_activity_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_wallet_activity_operation_id", "operation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    operation_id: Mapped[int] = mapped_column(ForeignKey("wallet_operation.id"))
    reference: Mapped[str] = mapped_column(String(24))
    type: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    status: Mapped[str] = mapped_column(String(12))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed, as this party sees it
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    counterparty: Mapped[str] = mapped_column(String(120), default="")
    note: Mapped[str] = mapped_column(String(140), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JournalEntry(Base):
    """A balanced set of postings: one per movement (a transfer, its fee, a reversal)."""

    __tablename__ = "journal_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("wallet_operation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Posting(Base):
    """A signed amount on one account, with the balance it left. Never updated or deleted.

    ``created_at`` is its journal entry's: on PostgreSQL both tables are partitioned by that
    month (okpay.partitions), the primary keys there are (id, created_at) and the foreign key
    to the entry is (entry_id, created_at); ids alone stay unique (one sequence each), so the
    mapper keeps ``id`` as the key on both databases."""

    __tablename__ = "posting"
    __table_args__ = (
        Index("ix_posting_account_id_id", "account_id", "id"),
        CheckConstraint("amount <> 0", name="nonzero"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("wallet_account.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Hold(Base):
    """Money set aside for a pending withdrawal: available = balance - held."""

    __tablename__ = "wallet_hold"
    __table_args__ = (CheckConstraint("amount > 0", name="positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("wallet_account.id"), index=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("wallet_operation.id"), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))  # active | released | captured
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentMethod(Base):
    """A card (provider token, brand, expiry, last four: never the number) or a bank account
    (masked)."""

    __tablename__ = "payment_method"
    __table_args__ = (Index("ix_payment_method_user_id_status", "user_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(8))  # card | bank
    provider_token: Mapped[str] = mapped_column(String(80))
    brand: Mapped[str] = mapped_column(String(20), default="")
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int | None] = mapped_column()
    exp_year: Mapped[int | None] = mapped_column()
    holder_name: Mapped[str] = mapped_column(String(100), default="")
    bank_name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first answer to a money-moving request, replayed for the same key and body."""

    __tablename__ = "idempotency_record"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_record_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    key: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(120))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # in_flight | completed
    operation_reference: Mapped[str | None] = mapped_column(String(24))
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who holds an in-flight key, and until when: an attempt that dies leaves a claim that
    # another attempt may take over once the lease has passed (and the first attempt's
    # final write, fenced on its token, then finds the key taken and rolls back).
    claim_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountRestriction(Base):
    """Which operations compliance has blocked for a user, and why (the user sees the reason)."""

    __tablename__ = "account_restriction"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    blocked: Mapped[list[str]] = mapped_column(JSON)  # topup, withdraw, transfer, pay
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


TYPE_LABELS = {
    OperationType.topup.value: N_("Top-up"),
    OperationType.withdrawal.value: N_("Withdrawal"),
    OperationType.transfer.value: N_("Transfer"),
    OperationType.payment.value: N_("Payment"),
    OperationType.refund.value: N_("Refund"),
}

STATUS_LABELS = {
    OperationStatus.pending.value: N_("Pending"),
    OperationStatus.completed.value: N_("Completed"),
    OperationStatus.failed.value: N_("Failed"),
    OperationStatus.cancelled.value: N_("Cancelled"),
    OperationStatus.reversed.value: N_("Reversed"),
    OperationStatus.on_hold.value: N_("On hold for review"),
}


def type_label(value: str) -> str:
    return gettext(TYPE_LABELS.get(value, value))


def operation_status_label(value: str) -> str:
    return gettext(STATUS_LABELS.get(value, value))


class ProviderEvent(Base):
    """A webhook event already applied: providers resend, we apply each once."""

    __tablename__ = "provider_event"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Usage(Base):
    """What a user moved per operation type and day (Beijing time), in CNY minor units.

    Limits and volume discounts read a handful of these rows instead of summing operations;
    the row is updated in the same transaction as the operation it counts."""

    __tablename__ = "wallet_usage"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)
    op_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    amount_cny: Mapped[int] = mapped_column(BigInteger, default=0)
    count: Mapped[int] = mapped_column(default=0)


class FxQuote(Base):
    """A rate promised to one user for a few minutes: what they send, what arrives, the fee."""

    __tablename__ = "fx_quote"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    source_currency: Mapped[str] = mapped_column(String(3))
    target_currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[str] = mapped_column(String(32))  # target units per source unit, spread included
    source_amount: Mapped[int] = mapped_column(BigInteger)
    target_amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LimitOverride(Base):
    """A higher (or lower) limit for one customer and operation, granted after a review."""

    __tablename__ = "limit_override"
    __table_args__ = (Index("ix_limit_override_user_id_op_type", "user_id", "op_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    op_type: Mapped[str] = mapped_column(String(16))
    per_transaction: Mapped[int | None] = mapped_column(BigInteger)  # CNY minor units
    daily: Mapped[int | None] = mapped_column(BigInteger)
    monthly: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReconciliationException(Base):
    """A provider event that does not match the ledger (paid after cancel, another amount,
    a reference we never issued...): nothing was moved for it; an operator decides."""

    __tablename__ = "reconciliation_exception"
    __table_args__ = (Index("ix_reconciliation_exception_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str | None] = mapped_column(String(80))
    event_type: Mapped[str] = mapped_column(String(40))
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("wallet_operation.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(64))
    operation_status: Mapped[str | None] = mapped_column(String(12))  # when the event came
    expected_amount: Mapped[int | None] = mapped_column(BigInteger)
    expected_currency: Mapped[str | None] = mapped_column(String(3))
    event_amount: Mapped[int | None] = mapped_column(BigInteger)
    event_currency: Mapped[str | None] = mapped_column(String(3))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the event's data
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | resolved
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolution_note: Mapped[str] = mapped_column(Text, default="")


class ReferenceCounter(Base):
    """On SQLite, the last operation reference number handed out (one row; PostgreSQL uses
    the sequence wallet_reference_seq instead, see wallet.references)."""

    __tablename__ = "wallet_reference_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
