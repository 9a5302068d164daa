"""Wallet API bodies. Amounts go in as decimal strings in the currency's major unit
("100.50"), parsed exactly; they come out both as that string and as integer minor units."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from okpay.core.dbid import BigDbId, DbId
from okpay.core.errors import DomainError
from okpay.core.i18n import N_
from okpay.core.money import MAX_MINOR_UNITS, to_decimal_string
from okpay.settings import ReceivingAccount
from okpay.wallet.models import Activity, Operation

if TYPE_CHECKING:
    from okpay.wallet.operations import TransferResult


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AmountIn(_Strict):
    amount: str = Field(max_length=32, description='Decimal string in major units, e.g. "100.50"')
    currency: str = Field(max_length=3, description="CNY, USD, EUR, HKD or JPY")


class StepUpIn(_Strict):
    otp: str | None = Field(
        default=None,
        max_length=20,
        description="The second-factor code, when an earlier answer was 403 step_up_required "
        "(or send it in the OKPay-Step-Up-Code header). Not part of the idempotent body.",
    )


class TransferIn(AmountIn, StepUpIn):
    recipient: str = Field(
        max_length=320, description="The recipient's e-mail address or phone number"
    )
    note: str = Field("", max_length=140)
    quote_id: BigDbId | None = Field(None, description="An FX quote, to send into another currency")


class BatchTransferItemIn(AmountIn):
    recipient: str = Field(
        max_length=320, description="The recipient's e-mail address or phone number"
    )
    note: str = Field("", max_length=140)
    client_ref: str | None = Field(
        None, max_length=64, description="Your own reference for this item, echoed in its result"
    )


class BatchTransferIn(StepUpIn):
    transfers: list[BatchTransferItemIn] = Field(
        min_length=1, max_length=1000, description="Up to 1000 same-currency transfers"
    )


class FxQuoteIn(AmountIn):
    target_currency: str = Field(max_length=3, description="The currency the recipient gets")


class FxQuoteOut(BaseModel):
    id: int
    currency: str
    amount: str
    target_currency: str
    target_amount: str
    rate: str
    fee: str
    expires_at: datetime


class CardTopupIn(AmountIn, StepUpIn):
    payment_method_id: DbId


class BankTopupIn(AmountIn):
    pass


class WithdrawalIn(AmountIn, StepUpIn):
    payment_method_id: DbId


class PaymentIn(StepUpIn):
    """The payer names only the merchant's payment intent; its amount was fixed by the
    merchant (an amount, merchant or order id in this body is refused)."""

    intent: str = Field(max_length=48, description="The payment intent's id (pi_…)")


class IntentIn(_Strict):
    order_id: str = Field(max_length=64, description="Your order number")
    amount: str = Field(max_length=32, description='Decimal string in major units, e.g. "32.00"')
    currency: str = Field(max_length=3, description="CNY, USD, EUR, HKD or JPY")
    return_url: str = Field(
        max_length=500,
        description="Where the customer goes back to after paying: https (http only for "
        "localhost), on one of your allowed hosts if you pinned some",
    )
    description: str = Field("", max_length=140, description="Shown to the customer")
    expires_in_minutes: int = Field(30, ge=1, le=10080, description="1 minute to 7 days")


class IntentOut(BaseModel):
    id: str = Field(description="The intent's id; the checkout link names it")
    merchant: str
    merchant_name: str
    order_id: str
    description: str
    amount: str
    amount_minor: int
    currency: str
    status: str = Field(description="open, paid, cancelled or expired")
    checkout_url: str
    return_url: str | None = Field(None, description="Shown to the merchant only")
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None
    payment_reference: str | None = Field(None, description="The payment, once paid")


class ApiKeyIn(_Strict):
    merchant: str = Field(max_length=40, description="The merchant's code")
    label: str = Field("", max_length=60, description="What the key is for, e.g. shop server")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    label: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, store it now")


class ReturnHostsIn(_Strict):
    merchant: str = Field(max_length=40, description="The merchant's code")
    hosts: list[str] = Field(max_length=20, description="Allowed hosts; empty: any https host")


class RefundIn(_Strict):
    amount: str | None = Field(None, max_length=32, description="Omit for the whole amount left")
    reason: str = Field("", max_length=140)


class CardIn(_Strict):
    card_number: str = Field(max_length=30)
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str = Field(max_length=4)
    holder_name: str = Field("", max_length=100)


class BankAccountIn(_Strict):
    account_number: str = Field(max_length=40)
    bank_name: str = Field(max_length=100)
    holder_name: str = Field(max_length=100)


class RestrictIn(_Strict):
    blocked: list[str] = Field(description="Any of topup, withdraw, transfer, pay")
    reason: str = Field(max_length=500, description="Shown to the customer")


class FreezeIn(_Strict):
    reason: str = Field(max_length=500, description="Shown to the customer")


class PaymentMethodOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    bank_name: str
    holder_name: str
    created_at: datetime


class BalanceOut(BaseModel):
    currency: str
    balance: str
    available: str
    held: str
    balance_minor: int
    available_minor: int
    held_minor: int


class OperationOut(BaseModel):
    reference: str
    type: str
    status: str
    direction: str
    currency: str
    amount: str
    amount_minor: int
    fee: str
    fee_minor: int
    counterparty: str
    note: str
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    completed_at: datetime | None


class ReceivingAccountOut(ReceivingAccount):
    """Where to send a bank-transfer top-up in one currency (quote the top-up's reference)."""

    currency: str


class FeeQuoteOut(BaseModel):
    currency: str
    amount: str
    fee: str
    fee_minor: int
    base_fee: str
    discount: str | None
    total: str


class TransferReviewIn(AmountIn):
    recipient: str = Field(
        max_length=320, description="The recipient's e-mail address or phone number"
    )


class TransferReviewOut(BaseModel):
    """What the sender confirms before sending: the recipient's name is masked ("*伟",
    "J*** S.") until the sender has paid them before; the e-mail address always is."""

    recipient: str
    recipient_paid_before: bool
    currency: str
    amount: str
    fee: str
    fee_minor: int
    total: str


def operation_out(
    op: Operation, *, viewer_id: int, activity: Activity | None = None
) -> OperationOut:
    from okpay.wallet.messages import failure_message

    outgoing = op.user_id == viewer_id and op.type in ("transfer", "withdrawal", "payment")
    # The recipient of a cross-currency transfer sees what arrived, in their currency.
    arrived = not outgoing and op.target_currency is not None and op.target_amount is not None
    currency = op.target_currency if arrived and op.target_currency else op.currency
    amount = op.target_amount if arrived and op.target_amount is not None else op.amount
    fee = op.fee if outgoing else 0
    return OperationOut(
        reference=op.reference,
        type=op.type,
        status=op.status,
        direction="out" if outgoing else "in",
        currency=currency,
        amount=to_decimal_string(amount, currency),
        amount_minor=amount,
        fee=to_decimal_string(fee, currency),
        fee_minor=fee,
        counterparty=activity.counterparty if activity is not None else "",
        note=op.note,
        failure_code=op.failure_code,
        failure_message=failure_message(op.failure_code) if op.failure_code else None,
        created_at=op.created_at,
        completed_at=op.completed_at,
    )


class ActivityOut(BaseModel):
    reference: str
    type: str
    status: str
    direction: str
    currency: str
    amount: str
    amount_minor: int
    fee: str
    counterparty: str
    note: str
    created_at: datetime


def activity_out(a: Activity) -> ActivityOut:
    return ActivityOut(
        reference=a.reference,
        type=a.type,
        status=a.status,
        direction=a.direction,
        currency=a.currency,
        amount=to_decimal_string(a.amount, a.currency),
        amount_minor=a.amount,
        fee=to_decimal_string(a.fee, a.currency),
        counterparty=a.counterparty,
        note=a.note,
        created_at=a.created_at,
    )


class HistoryPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None


class ErrorOut(BaseModel):
    code: str
    message: str
    field: str | None = None


class BatchItemOut(BaseModel):
    index: int
    client_ref: str | None
    ok: bool
    reference: str | None = None
    currency: str | None = None
    amount: str | None = None
    amount_minor: int | None = None
    fee: str | None = None
    fee_minor: int | None = None
    error: ErrorOut | None = None


class BatchTransferOut(BaseModel):
    succeeded: int
    failed: int
    results: list[BatchItemOut]


def batch_out(
    client_refs: list[str | None], outcomes: list[TransferResult | DomainError]
) -> BatchTransferOut:
    """Each item's result in order: its reference and amounts, or its error in the
    request's language."""
    results = []
    for index, (client_ref, outcome) in enumerate(zip(client_refs, outcomes, strict=True)):
        if isinstance(outcome, DomainError):
            results.append(
                BatchItemOut(
                    index=index,
                    client_ref=client_ref,
                    ok=False,
                    error=ErrorOut(**outcome.as_json()["error"]),
                )
            )
            continue
        results.append(
            BatchItemOut(
                index=index,
                client_ref=client_ref,
                ok=True,
                reference=outcome.reference,
                currency=outcome.currency,
                amount=to_decimal_string(outcome.amount, outcome.currency),
                amount_minor=outcome.amount,
                fee=to_decimal_string(outcome.fee, outcome.currency),
                fee_minor=outcome.fee,
            )
        )
    succeeded = sum(1 for r in results if r.ok)
    return BatchTransferOut(succeeded=succeeded, failed=len(results) - succeeded, results=results)


# ------------------------------------------------------------------ provider webhooks (in)

# Printable ASCII only: ids and references a provider sends us.
_Token = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
# An integer of minor units, never "abc", "12", 1.5 or true.
_MinorAmount = Annotated[int, Field(gt=0, le=MAX_MINOR_UNITS, strict=True)]
_CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

PAYOUT_EVENTS = frozenset({"payout.processing", "payout.paid", "payout.failed", "payout.cancelled"})
BANK_TRANSFER_EVENT = "bank_transfer.received"


class ProviderEventIn(BaseModel):
    """The envelope of every provider event; ``data`` is checked per type below. Fields we
    do not know are ignored (providers add them)."""

    id: str = Field(min_length=1, max_length=80, pattern=r"^[\x21-\x7e]+$")
    type: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_.]+$")
    data: dict[str, Any] = Field(default_factory=dict)


class PayoutEventData(BaseModel):
    """payout.processing / .paid / .failed / .cancelled. Amount and currency, when the
    provider sends them, must match the withdrawal."""

    payout: _Token
    amount: _MinorAmount | None = None
    currency: _CurrencyCode | None = None
    reason: str | None = Field(None, max_length=40, pattern=r"^[a-z0-9_]+$")
    reference: str | None = Field(None, max_length=64, pattern=r"^[\x21-\x7e]+$")


class BankTransferEventData(BaseModel):
    """bank_transfer.received: money arrived quoting one of our top-up references."""

    reference: str = Field(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")
    amount: _MinorAmount
    currency: _CurrencyCode
    transfer: _Token


class ProviderEvent(BaseModel):
    """A verified event whose data matched its type's schema."""

    id: str
    type: str
    payout: PayoutEventData | None = None
    bank_transfer: BankTransferEventData | None = None
    raw_data: dict[str, Any] = Field(default_factory=dict)


def parse_provider_event(raw: dict[str, Any]) -> ProviderEvent:
    """Check a signed event against its schema; WebhookRejected (400) names the bad field."""
    from pydantic import ValidationError

    prefix = ""
    try:
        envelope = ProviderEventIn.model_validate(raw)
        event = ProviderEvent(id=envelope.id, type=envelope.type, raw_data=envelope.data)
        prefix = "data."
        if envelope.type in PAYOUT_EVENTS:
            event.payout = PayoutEventData.model_validate(envelope.data)
        elif envelope.type == BANK_TRANSFER_EVENT:
            event.bank_transfer = BankTransferEventData.model_validate(envelope.data)
    except ValidationError as exc:
        raise _body_invalid(exc, prefix) from None
    return event


def _body_invalid(exc: Any, prefix: str) -> Exception:
    from okpay.wallet.providers import WebhookRejected

    first = exc.errors()[0]
    location = prefix + ".".join(str(p) for p in first.get("loc", ()))
    location = location.rstrip(".") or "body"
    return WebhookRejected(
        N_("The webhook body is not valid: %(location)s: %(problem)s"),
        code="webhook_body_invalid",
        field=location,
        location=location,
        problem=first.get("msg", ""),
    )


# ------------------------------------------------------------ reconciliation (operators)


class ReconciliationExceptionOut(BaseModel):
    id: int
    kind: str
    kind_label: str
    status: str
    provider: str
    event_id: str | None
    event_type: str
    operation_reference: str | None
    operation_status: str | None
    external_ref: str | None
    expected_amount: str | None
    expected_currency: str | None
    event_amount: str | None
    event_currency: str | None
    data: dict[str, Any]
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: int | None
    resolution_note: str


class ReconciliationListOut(BaseModel):
    items: list[ReconciliationExceptionOut]
    open_count: int
    next_before: int | None


class ReconciliationResolveIn(_Strict):
    note: str = Field(min_length=1, max_length=2000, description="What was decided and done")
