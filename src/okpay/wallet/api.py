"""Wallet JSON API under /api/v1/wallet (merchant, staff and webhook endpoints: merchant_api,
admin_api, webhook_api). Every POST that moves money takes an Idempotency-Key header."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi import Path as PathParam
from starlette.responses import JSONResponse, Response

from okpay.core.dbid import DbId
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.core.money import check_currency, parse_amount, to_decimal_string
from okpay.identity.access import CurrentUser, require_role
from okpay.identity.models import Role
from okpay.settings import get_settings
from okpay.wallet import (
    batch,
    fees,
    flows,
    fx_transfers,
    intents,
    ledger,
    methods,
    topups,
    transfers,
    usage,
)
from okpay.wallet import history as wallet_history
from okpay.wallet import schemas as s
from okpay.wallet.models import Merchant, PaymentIntent
from okpay.wallet.providers import get_provider
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/wallet", tags=["wallet"])


IdemKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Unique per money-moving request")
]
StepUpCode = Annotated[
    str | None,
    Header(
        alias="OKPay-Step-Up-Code",
        max_length=20,
        description="The second-factor code after a 403 step_up_required (or `otp` in the body)",
    ),
]


def _idem(user_id: int, key: str | None, scope: str, body: s.StepUpIn) -> flows.Idempotency:
    """The request's idempotency, its body without the step-up code: the retry that carries
    the code is the same request."""
    return flows.idempotency(user_id, key, scope, body.model_dump(exclude={"otp"}))


def _otp(body: s.StepUpIn, header: str | None) -> str | None:
    return (body.otp or header or "").strip() or None


require_staff = require_role(Role.supervisor, Role.admin)


def json_answer(answer: flows.Answer) -> JSONResponse:
    """A flows answer (body and status, possibly replayed) as a JSON response."""
    return JSONResponse(answer.body, status_code=answer.status)


@router.get("/balances", response_model=list[s.BalanceOut])
def balances(user: CurrentUser, db: DbSession) -> list[s.BalanceOut]:
    return [
        s.BalanceOut(
            currency=a.currency,
            balance=to_decimal_string(a.balance, a.currency),
            available=to_decimal_string(a.balance - a.held, a.currency),
            held=to_decimal_string(a.held, a.currency),
            balance_minor=a.balance,
            available_minor=a.balance - a.held,
            held_minor=a.held,
        )
        for a in ledger.balances(db, user_id=user.id)
    ]


@router.get("/payment-methods", response_model=list[s.PaymentMethodOut])
def payment_methods(user: CurrentUser, db: DbSession) -> list[s.PaymentMethodOut]:
    return [
        s.PaymentMethodOut.model_validate(m)
        for m in methods.list_payment_methods(db, user_id=user.id)
    ]


@router.post("/payment-methods/cards", response_model=s.PaymentMethodOut, status_code=201)
def add_card(body: s.CardIn, user: CurrentUser, db: DbSession) -> s.PaymentMethodOut:
    """Tokenise a card with the provider; only the token, brand, expiry and last four are kept."""
    token = get_provider().tokenize_card(body.card_number, body.exp_month, body.exp_year, body.cvc)
    method = methods.do_add_card(db, user_id=user.id, token=token, holder_name=body.holder_name)
    return s.PaymentMethodOut.model_validate(method)


@router.post("/payment-methods/bank-accounts", response_model=s.PaymentMethodOut, status_code=201)
def add_bank_account(body: s.BankAccountIn, user: CurrentUser, db: DbSession) -> s.PaymentMethodOut:
    token = get_provider().register_bank_account(body.account_number)
    method = methods.do_add_bank_account(
        db,
        user_id=user.id,
        provider_token=token,
        account_number=body.account_number,
        bank_name=body.bank_name,
        holder_name=body.holder_name,
    )
    return s.PaymentMethodOut.model_validate(method)


@router.delete("/payment-methods/{method_id}", status_code=204)
def remove_payment_method(method_id: DbId, user: CurrentUser, db: DbSession) -> Response:
    methods.do_remove_payment_method(db, user_id=user.id, method_id=method_id)
    return Response(status_code=204)


def _amount(body: s.AmountIn) -> tuple[int, str]:
    currency = check_currency(body.currency)
    return parse_amount(body.amount, currency), currency


@router.post("/transfers", response_model=s.OperationOut, status_code=201)
def transfer(
    body: s.TransferIn,
    user: CurrentUser,
    idempotency_key: IdemKey = None,
    step_up_code: StepUpCode = None,
) -> JSONResponse:
    """Send money to another OKPay user (same currency, settles at once)."""
    amount, currency = _amount(body)
    idem = _idem(user.id, idempotency_key, "transfer", body)
    if body.quote_id is not None:
        return json_answer(
            flows.fx_transfer(
                idem,
                sender_id=user.id,
                recipient=body.recipient,
                quote_id=body.quote_id,
                note=body.note,
                otp=_otp(body, step_up_code),
            )
        )
    return json_answer(
        flows.transfer(
            idem,
            sender_id=user.id,
            recipient=body.recipient,
            amount=amount,
            currency=currency,
            note=body.note,
            otp=_otp(body, step_up_code),
        )
    )


@router.post("/transfers/batch", response_model=s.BatchTransferOut)
def transfer_batch(
    body: s.BatchTransferIn,
    user: CurrentUser,
    idempotency_key: IdemKey = None,
    step_up_code: StepUpCode = None,
) -> JSONResponse:
    """Send up to 1000 same-currency transfers at once. Each item settles or is refused on
    its own (the others go ahead); the answer lists, in order, each item's reference or its
    error. One Idempotency-Key covers the whole batch."""
    idem = _idem(user.id, idempotency_key, "transfer_batch", body)
    items = [
        batch.BatchItem(
            recipient=i.recipient,
            amount=i.amount,
            currency=i.currency,
            note=i.note,
            client_ref=i.client_ref,
        )
        for i in body.transfers
    ]
    return json_answer(
        flows.transfer_batch(idem, sender_id=user.id, items=items, otp=_otp(body, step_up_code))
    )


@router.post("/transfers/review", response_model=s.TransferReviewOut)
def transfer_review(
    body: s.TransferReviewIn, user: CurrentUser, db: DbSession
) -> s.TransferReviewOut:
    """What a transfer would cost and who would get it, before sending (nothing moves).
    Refusals for the sender's standing, limits or balance come first; looking up someone
    not paid before uses the sender's recipient-lookup budget (429 when spent), and their
    name comes back masked."""
    amount, currency = _amount(body)
    preview = transfers.preview_transfer(db, sender_id=user.id, amount=amount, currency=currency)
    _target, label, known = transfers.review_recipient(
        db, sender_id=user.id, recipient=body.recipient
    )
    return s.TransferReviewOut(
        recipient=label,
        recipient_paid_before=known,
        currency=currency,
        amount=to_decimal_string(amount, currency),
        fee=to_decimal_string(preview.fee, currency),
        fee_minor=preview.fee,
        total=to_decimal_string(amount + preview.fee, currency),
    )


@router.post("/fx/quotes", response_model=s.FxQuoteOut, status_code=201)
def fx_quote(body: s.FxQuoteIn, user: CurrentUser, db: DbSession) -> s.FxQuoteOut:
    """Quote a transfer into another currency; send its id as `quote_id` to /transfers
    within its validity (the transfer then moves exactly the quoted amounts)."""
    amount, currency = _amount(body)
    q = fx_transfers.do_quote_fx(
        db,
        user_id=user.id,
        source_currency=currency,
        target_currency=body.target_currency,
        amount=amount,
    )
    return s.FxQuoteOut(
        id=q.id,
        currency=q.source_currency,
        amount=to_decimal_string(q.source_amount, q.source_currency),
        target_currency=q.target_currency,
        target_amount=to_decimal_string(q.target_amount, q.target_currency),
        rate=q.rate,
        fee=to_decimal_string(q.fee, q.source_currency),
        expires_at=q.expires_at,
    )


@router.post("/payments", response_model=s.OperationOut, status_code=201)
def pay_merchant(
    body: s.PaymentIn,
    user: CurrentUser,
    idempotency_key: IdemKey = None,
    step_up_code: StepUpCode = None,
) -> JSONResponse:
    """Pay a merchant's payment intent: exactly the amount the merchant set, once. There is
    no way to pay a merchant an amount of your own choosing."""
    idem = _idem(user.id, idempotency_key, "payment", body)
    return json_answer(
        flows.payment(idem, payer_id=user.id, intent=body.intent, otp=_otp(body, step_up_code))
    )


@router.get("/payment-intents/{intent_id}", response_model=s.IntentOut)
def payment_intent(intent_id: str, user: CurrentUser, db: DbSession) -> s.IntentOut:
    """What a merchant's payment intent asks you to pay (before you pay it)."""
    return intent_out(db, intents.get_intent(db, intent_id), for_merchant=False)


def intent_out(db: DbSession, intent: PaymentIntent, *, for_merchant: bool) -> s.IntentOut:
    merchant_row = db.get(Merchant, intent.merchant_id)
    assert merchant_row is not None
    payment = intents.payment_of(db, intent)
    return s.IntentOut(
        id=intent.token,
        merchant=merchant_row.code,
        merchant_name=merchant_row.name,
        order_id=intent.order_id,
        description=intent.description,
        amount=to_decimal_string(intent.amount, intent.currency),
        amount_minor=intent.amount,
        currency=intent.currency,
        status=intents.status_of(intent),
        checkout_url=f"{get_settings().base_url}/pay/i/{intent.token}",
        return_url=intent.return_url if for_merchant else None,
        created_at=intent.created_at,
        expires_at=intent.expires_at,
        paid_at=intent.paid_at,
        payment_reference=payment.reference if payment is not None else None,
    )


KeyId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]


@router.post("/topups/card", response_model=s.OperationOut, status_code=201)
def card_topup(
    body: s.CardTopupIn,
    user: CurrentUser,
    idempotency_key: IdemKey = None,
    step_up_code: StepUpCode = None,
) -> JSONResponse:
    """Charge a saved card. A declined card answers 201 with status failed and the reason."""
    amount, currency = _amount(body)
    idem = _idem(user.id, idempotency_key, "topup_card", body)
    return json_answer(
        flows.card_topup(
            idem,
            user_id=user.id,
            payment_method_id=body.payment_method_id,
            amount=amount,
            currency=currency,
            otp=_otp(body, step_up_code),
        )
    )


@router.post("/topups/bank", response_model=s.OperationOut, status_code=201)
def bank_topup(
    body: s.BankTopupIn, user: CurrentUser, idempotency_key: IdemKey = None
) -> JSONResponse:
    """Announce a bank transfer: quote the returned reference in the transfer's memo."""
    amount, currency = _amount(body)
    idem = flows.idempotency(user.id, idempotency_key, "topup_bank", body.model_dump())
    return json_answer(flows.bank_topup(idem, user_id=user.id, amount=amount, currency=currency))


@router.get("/topups/bank/receiving-accounts", response_model=list[s.ReceivingAccountOut])
def bank_receiving_accounts(user: CurrentUser) -> list[s.ReceivingAccountOut]:
    """OKPay's bank accounts that take bank-transfer top-ups, one per currency: send the
    exact amount there and write the top-up's reference in the transfer's memo."""
    return [
        s.ReceivingAccountOut(currency=currency, **account.model_dump())
        for currency, account in sorted(topups.receiving_accounts().items())
    ]


@router.post("/withdrawals", response_model=s.OperationOut, status_code=201)
def withdraw(
    body: s.WithdrawalIn,
    user: CurrentUser,
    idempotency_key: IdemKey = None,
    step_up_code: StepUpCode = None,
) -> JSONResponse:
    """Hold the amount and fee and pay out to a saved bank account (settled by webhook)."""
    amount, currency = _amount(body)
    idem = _idem(user.id, idempotency_key, "withdrawal", body)
    return json_answer(
        flows.withdrawal(
            idem,
            user_id=user.id,
            payment_method_id=body.payment_method_id,
            amount=amount,
            currency=currency,
            otp=_otp(body, step_up_code),
        )
    )


@router.post("/withdrawals/{reference}/cancel", response_model=s.OperationOut)
def cancel_withdrawal(reference: str, user: CurrentUser) -> JSONResponse:
    """Cancel a pending withdrawal. The provider is asked first: once the payout is with
    the bank the answer is 409 `payout_in_flight` and the money stays set aside."""
    return JSONResponse(flows.cancel_withdrawal(user_id=user.id, reference=reference))


@router.get("/operations/{reference}", response_model=s.OperationOut)
def operation(reference: str, user: CurrentUser, db: DbSession) -> s.OperationOut:
    op = wallet_history.get_operation_for_user(db, user_id=user.id, reference=reference)
    return s.operation_out(
        op,
        viewer_id=user.id,
        activity=wallet_history.activity_for(db, user_id=user.id, operation_id=op.id),
    )


@router.get("/fees/quote", response_model=s.FeeQuoteOut)
def fee_quote(
    user: CurrentUser,
    db: DbSession,
    operation: str,
    amount: str,
    currency: str,
    method: str = "wallet",
) -> s.FeeQuoteOut:
    """The fee you would pay now, with the best discount you qualify for."""
    if operation not in ("topup", "withdrawal", "transfer", "payment"):
        raise ValidationFailed(
            N_("Unknown operation."), code="operation_invalid", field="operation"
        )
    currency = check_currency(currency)
    minor = parse_amount(amount, currency)
    q = fees.quote_fee(
        db, user_id=user.id, operation=operation, method=method, amount=minor, currency=currency
    )
    return s.FeeQuoteOut(
        currency=currency,
        amount=to_decimal_string(minor, currency),
        fee=to_decimal_string(q.fee, currency),
        fee_minor=q.fee,
        base_fee=to_decimal_string(q.base_fee, currency),
        discount=q.discount.code if q.discount else None,
        total=to_decimal_string(minor + q.fee, currency),
    )


@router.get("/limits")
def limits(user: CurrentUser, db: DbSession) -> list[dict[str, Any]]:
    """Per-transaction, daily and monthly limits in CNY, with what is used and when it resets."""
    out = []
    for op_type in ("topup", "withdrawal", "transfer", "payment"):
        u = usage.limit_usage(db, user_id=user.id, op_type=op_type, level=user.verification_level)
        out.append(
            {
                "operation": op_type,
                "currency": "CNY",
                "per_transaction": to_decimal_string(u.per_transaction, "CNY"),
                "daily": to_decimal_string(u.daily, "CNY"),
                "daily_used": to_decimal_string(u.daily_used, "CNY"),
                "daily_resets_at": u.daily_resets_at,
                "monthly": to_decimal_string(u.monthly, "CNY"),
                "monthly_used": to_decimal_string(u.monthly_used, "CNY"),
                "monthly_resets_at": u.monthly_resets_at,
            }
        )
    return out
