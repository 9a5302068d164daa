"""Wallet JSON API under /api/v1/wallet (and the provider webhook). Every POST that moves
money takes an Idempotency-Key header."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi import Path as PathParam
from starlette.responses import JSONResponse, Response

from okpay.core.dbid import DbId, parse_id
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.core.money import check_currency, parse_amount, to_decimal_string
from okpay.identity.access import CurrentUser, require_role
from okpay.identity.models import Role, User
from okpay.settings import get_settings
from okpay.wallet import (
    batch,
    fees,
    flows,
    fx_transfers,
    intents,
    ledger,
    merchants,
    methods,
    overrides,
    reconciliation,
    standing,
    statements,
    transfers,
    usage,
)
from okpay.wallet import history as wallet_history
from okpay.wallet import schemas as s
from okpay.wallet.models import Merchant, PaymentIntent
from okpay.wallet.providers import get_provider
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/wallet", tags=["wallet"])
webhooks = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
admin = APIRouter(prefix="/api/v1/admin", tags=["admin"])
merchant = APIRouter(prefix="/api/v1/merchant", tags=["merchant"])

IdemKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Unique per money-moving request")
]
require_staff = require_role(Role.supervisor, Role.admin)
Staff = Annotated[User, Depends(require_staff)]


def _answer(answer: flows.Answer) -> JSONResponse:
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
    body: s.TransferIn, user: CurrentUser, idempotency_key: IdemKey = None
) -> JSONResponse:
    """Send money to another OKPay user (same currency, settles at once)."""
    amount, currency = _amount(body)
    idem = flows.idempotency(user.id, idempotency_key, "transfer", body.model_dump())
    if body.quote_id is not None:
        return _answer(
            flows.fx_transfer(
                idem,
                sender_id=user.id,
                recipient=body.recipient,
                quote_id=body.quote_id,
                note=body.note,
            )
        )
    return _answer(
        flows.transfer(
            idem,
            sender_id=user.id,
            recipient=body.recipient,
            amount=amount,
            currency=currency,
            note=body.note,
        )
    )


@router.post("/transfers/batch", response_model=s.BatchTransferOut)
def transfer_batch(
    body: s.BatchTransferIn, user: CurrentUser, idempotency_key: IdemKey = None
) -> JSONResponse:
    """Send up to 1000 same-currency transfers at once. Each item settles or is refused on
    its own (the others go ahead); the answer lists, in order, each item's reference or its
    error. One Idempotency-Key covers the whole batch."""
    idem = flows.idempotency(user.id, idempotency_key, "transfer_batch", body.model_dump())
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
    return _answer(flows.transfer_batch(idem, sender_id=user.id, items=items))


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
    body: s.PaymentIn, user: CurrentUser, idempotency_key: IdemKey = None
) -> JSONResponse:
    """Pay a merchant's payment intent: exactly the amount the merchant set, once. There is
    no way to pay a merchant an amount of your own choosing."""
    idem = flows.idempotency(user.id, idempotency_key, "payment", body.model_dump())
    return _answer(flows.payment(idem, payer_id=user.id, intent=body.intent))


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


def merchant_from_key(
    db: DbSession,
    authorization: Annotated[str | None, Header(description="Bearer okmk_… (merchant key)")] = None,
) -> tuple[Merchant, int]:
    merchant_row, key = intents.authenticate(db, authorization)
    return merchant_row, key.id


MerchantByKey = Annotated[tuple[Merchant, int], Depends(merchant_from_key)]


@merchant.post("/intents", response_model=s.IntentOut, status_code=201)
def create_intent(body: s.IntentIn, caller: MerchantByKey, db: DbSession) -> s.IntentOut:
    """Create a payment intent (merchant API key): the amount your customer will pay for an
    order. Send the customer to `checkout_url`; they come back to `return_url` after paying.
    Check the outcome with `GET /api/v1/merchant/intents/{id}`."""
    merchant_row, key_id = caller
    currency = check_currency(body.currency)
    intent = intents.do_create_intent(
        db,
        merchant=merchant_row,
        api_key_id=key_id,
        order_id=body.order_id,
        amount=parse_amount(body.amount, currency),
        currency=currency,
        return_url=body.return_url,
        description=body.description,
        expires_in=timedelta(minutes=body.expires_in_minutes),
    )
    return intent_out(db, intent, for_merchant=True)


@merchant.get("/intents/{intent_id}", response_model=s.IntentOut)
def get_intent(intent_id: str, caller: MerchantByKey, db: DbSession) -> s.IntentOut:
    """An intent's status (open, paid, cancelled, expired) and, once paid, its payment."""
    intent = intents.get_intent_for_merchant(db, merchant=caller[0], token=intent_id)
    return intent_out(db, intent, for_merchant=True)


@merchant.post("/intents/{intent_id}/cancel", response_model=s.IntentOut)
def cancel_intent(intent_id: str, caller: MerchantByKey, db: DbSession) -> s.IntentOut:
    """Cancel an unpaid intent (a paid one is refunded instead)."""
    intent = intents.do_cancel_intent(db, merchant=caller[0], token=intent_id)
    return intent_out(db, intent, for_merchant=True)


KeyId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]


@merchant.get("/keys", response_model=list[s.ApiKeyOut])
def list_keys(
    merchant_code: Annotated[str, Query(alias="merchant", max_length=40)],
    user: CurrentUser,
    db: DbSession,
) -> list[s.ApiKeyOut]:
    """Your merchant's API keys (never the keys themselves)."""
    owned = intents.merchant_for_owner(db, user_id=user.id, code=merchant_code)
    return [s.ApiKeyOut.model_validate(k) for k in intents.list_keys(db, merchant=owned)]


@merchant.post("/keys", response_model=s.ApiKeyCreatedOut, status_code=201)
def create_key(body: s.ApiKeyIn, user: CurrentUser, db: DbSession) -> s.ApiKeyCreatedOut:
    """A new API key for a merchant you own. The key is in this answer only: store it."""
    owned = intents.merchant_for_owner(db, user_id=user.id, code=body.merchant)
    key, secret = intents.do_create_key(db, merchant=owned, label=body.label, actor_user_id=user.id)
    return s.ApiKeyCreatedOut(**s.ApiKeyOut.model_validate(key).model_dump(), key=secret)


@merchant.post("/keys/{key_id}/rotate", response_model=s.ApiKeyCreatedOut, status_code=201)
def rotate_key(
    key_id: KeyId,
    merchant_code: Annotated[str, Query(alias="merchant", max_length=40)],
    user: CurrentUser,
    db: DbSession,
) -> s.ApiKeyCreatedOut:
    """Revoke a key and create its replacement (shown once)."""
    owned = intents.merchant_for_owner(db, user_id=user.id, code=merchant_code)
    key, secret = intents.do_rotate_key(db, merchant=owned, key_id=key_id, actor_user_id=user.id)
    return s.ApiKeyCreatedOut(**s.ApiKeyOut.model_validate(key).model_dump(), key=secret)


@merchant.post("/keys/{key_id}/revoke", response_model=s.ApiKeyOut)
def revoke_key(
    key_id: KeyId,
    merchant_code: Annotated[str, Query(alias="merchant", max_length=40)],
    user: CurrentUser,
    db: DbSession,
) -> s.ApiKeyOut:
    """Revoke a key at once: requests made with it are refused from now on."""
    owned = intents.merchant_for_owner(db, user_id=user.id, code=merchant_code)
    key = intents.do_revoke_key(db, merchant=owned, key_id=key_id, actor_user_id=user.id)
    return s.ApiKeyOut.model_validate(key)


@merchant.put("/return-hosts", response_model=list[str])
def set_return_hosts(body: s.ReturnHostsIn, user: CurrentUser, db: DbSession) -> list[str]:
    """Pin the hosts your intents' return URLs may point at (empty list: any https host)."""
    owned = intents.merchant_for_owner(db, user_id=user.id, code=body.merchant)
    intents.do_set_return_hosts(db, merchant=owned, hosts=body.hosts, actor_user_id=user.id)
    return list(owned.return_hosts or [])


@merchant.post("/payments/{reference}/refunds", response_model=s.OperationOut, status_code=201)
def refund_payment(
    reference: str,
    body: s.RefundIn,
    user: CurrentUser,
    db: DbSession,
    idempotency_key: IdemKey = None,
) -> JSONResponse:
    """Refund a payment to your merchant, in full or in part (never more than was paid)."""
    payment = merchants.merchant_for_owner(db, user_id=user.id, payment_reference=reference)
    amount = parse_amount(body.amount, payment.currency) if body.amount else None
    db.rollback()
    idem = flows.idempotency(
        user.id, idempotency_key, "refund", {"ref": reference, **body.model_dump()}
    )
    return _answer(
        flows.refund(
            idem, actor_id=user.id, payment_reference=reference, amount=amount, reason=body.reason
        )
    )


@router.post("/topups/card", response_model=s.OperationOut, status_code=201)
def card_topup(
    body: s.CardTopupIn, user: CurrentUser, idempotency_key: IdemKey = None
) -> JSONResponse:
    """Charge a saved card. A declined card answers 201 with status failed and the reason."""
    amount, currency = _amount(body)
    idem = flows.idempotency(user.id, idempotency_key, "topup_card", body.model_dump())
    return _answer(
        flows.card_topup(
            idem,
            user_id=user.id,
            payment_method_id=body.payment_method_id,
            amount=amount,
            currency=currency,
        )
    )


@router.post("/topups/bank", response_model=s.OperationOut, status_code=201)
def bank_topup(
    body: s.BankTopupIn, user: CurrentUser, idempotency_key: IdemKey = None
) -> JSONResponse:
    """Announce a bank transfer: quote the returned reference in the transfer's memo."""
    amount, currency = _amount(body)
    idem = flows.idempotency(user.id, idempotency_key, "topup_bank", body.model_dump())
    return _answer(flows.bank_topup(idem, user_id=user.id, amount=amount, currency=currency))


@router.post("/withdrawals", response_model=s.OperationOut, status_code=201)
def withdraw(
    body: s.WithdrawalIn, user: CurrentUser, idempotency_key: IdemKey = None
) -> JSONResponse:
    """Hold the amount and fee and pay out to a saved bank account (settled by webhook)."""
    amount, currency = _amount(body)
    idem = flows.idempotency(user.id, idempotency_key, "withdrawal", body.model_dump())
    return _answer(
        flows.withdrawal(
            idem,
            user_id=user.id,
            payment_method_id=body.payment_method_id,
            amount=amount,
            currency=currency,
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


def encode_cursor(created_at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        at, _, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        created_at, activity_id = datetime.fromisoformat(at), parse_id(row_id, big=True)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            N_("This page link is not valid."), code="cursor_invalid", field="cursor"
        ) from exc
    # A cursor we made carries a UTC time and a row id; anything else was edited by hand
    # (a time without zone, or an id no column can hold, would only fail in the database).
    if created_at.tzinfo is None or activity_id is None:
        raise ValidationFailed(
            N_("This page link is not valid."), code="cursor_invalid", field="cursor"
        )
    return created_at, activity_id


@dataclass
class HistoryQuery:
    """The history filters as query parameters, shared by the API, the page and both exports."""

    start: date | None = None
    end: date | None = None
    type: str | None = None
    status: str | None = None
    currency: str | None = None
    min_amount: str | None = None
    max_amount: str | None = None
    q: str | None = None

    def filters(self) -> wallet_history.HistoryFilter:
        """Checked filters; amounts are read in the chosen currency (CNY when none is)."""
        cur = check_currency(self.currency) if self.currency else None
        amount_currency = cur or "CNY"

        def amount(value: str | None, field: str) -> int | None:
            return parse_amount(value, amount_currency, field=field) if value else None

        return wallet_history.HistoryFilter(
            start=self.start,
            end=self.end,
            type=self.type or None,
            status=self.status or None,
            currency=cur,
            min_amount=amount(self.min_amount, "min_amount"),
            max_amount=amount(self.max_amount, "max_amount"),
            text=(self.q or "").strip()[:100] or None,
        )

    def params(self) -> dict[str, Any]:
        return asdict(self)


HistoryParams = Annotated[HistoryQuery, Depends()]


@router.get("/history", response_model=s.HistoryPage)
def history(
    user: CurrentUser,
    db: DbSession,
    query: HistoryParams,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> s.HistoryPage:
    """Your transaction history, newest first, with filters and keyset pagination."""
    filters = query.filters()
    rows = wallet_history.history(
        db, user_id=user.id, filters=filters, limit=limit + 1, before=decode_cursor(cursor)
    )
    page, more = rows[:limit], len(rows) > limit
    return s.HistoryPage(
        items=[s.activity_out(a) for a in page],
        next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more and page else None,
    )


@router.get(
    "/history/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def history_export(user: CurrentUser, db: DbSession, query: HistoryParams) -> Response:
    """The filtered history as CSV (text cells that could run as formulas are neutralised)."""
    return csv_response(statements.export_csv(db, user_id=user.id, filters=query.filters()))


def csv_response(body: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="okpay-transactions.csv"'},
    )


@webhooks.post(
    "/sandbox",
    include_in_schema=True,
    openapi_extra={
        "parameters": [
            {
                "name": "OKPay-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "maxLength": 512},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of 't.body'>",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": s.ProviderEventIn.model_json_schema()}},
        },
    },
    responses={400: {"description": "bad signature header or body (a specific error code)"}},
)
async def sandbox_webhook(request: Request) -> JSONResponse:
    """Events from the payment provider, signed with `OKPay-Signature: t=…,v1=…`. A bad
    signature header or a body that does not fit the event's schema is a 400 with a
    specific code; an event that does not match the ledger is answered
    `reconciliation_exception` and recorded for operators, never applied."""
    from starlette.concurrency import run_in_threadpool

    body = await request.body()
    raw = get_provider().verify_webhook(body, request.headers.get("okpay-signature", ""))
    event = s.parse_provider_event(raw)
    outcome = await run_in_threadpool(flows.handle_provider_event, event)
    return JSONResponse(outcome.as_json())


@admin.post("/users/{user_id}/restrict", status_code=204)
def admin_restrict(user_id: DbId, body: s.RestrictIn, staff: Staff, db: DbSession) -> Response:
    """Block some operations for compliance; the customer sees the reason."""
    standing.do_restrict(
        db, user_id=user_id, blocked=body.blocked, reason=body.reason, actor_user_id=staff.id
    )
    return Response(status_code=204)


@admin.post("/users/{user_id}/freeze", status_code=204)
def admin_freeze(user_id: DbId, body: s.FreezeIn, staff: Staff, db: DbSession) -> Response:
    """Fraud: nothing leaves the account until released."""
    standing.do_freeze(db, user_id=user_id, reason=body.reason, actor_user_id=staff.id)
    return Response(status_code=204)


@admin.post("/users/{user_id}/release", status_code=204)
def admin_release(user_id: DbId, staff: Staff, db: DbSession) -> Response:
    """Lift a freeze and every restriction."""
    standing.do_release(db, user_id=user_id, actor_user_id=staff.id)
    return Response(status_code=204)


@admin.post("/users/{user_id}/limits", status_code=204)
def admin_limit_override(
    user_id: DbId, body: s.LimitOverrideIn, staff: Staff, db: DbSession
) -> Response:
    """Set a customer's limits for one operation after a review (amounts in CNY)."""

    def cny(value: str | None, field: str) -> int | None:
        return parse_amount(value, "CNY", field=field) if value else None

    overrides.do_grant_limit_override(
        db,
        user_id=user_id,
        op_type=body.op_type,
        reason=body.reason,
        actor_user_id=staff.id,
        per_transaction=cny(body.per_transaction, "per_transaction"),
        daily=cny(body.daily, "daily"),
        monthly=cny(body.monthly, "monthly"),
        days=body.days,
    )
    return Response(status_code=204)


@admin.get("/reconciliation", response_model=s.ReconciliationListOut)
def reconciliation_list(
    staff: Staff,
    db: DbSession,
    status: Annotated[str, Query(max_length=10, description="open, resolved or all")] = "open",
    before: Annotated[int | None, Query(ge=1, le=2**53, description="Page: ids below")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> s.ReconciliationListOut:
    """Provider events that did not match the ledger, newest first (supervisors, admins)."""
    rows, next_before = reconciliation.list_exceptions(
        db, status=status, before=before, limit=limit
    )
    refs = reconciliation.operation_references(db, rows)
    return s.ReconciliationListOut(
        items=[reconciliation.exception_out(r, refs.get(r.operation_id or 0)) for r in rows],
        open_count=reconciliation.open_count(db),
        next_before=next_before,
    )


@admin.get("/reconciliation/{exception_id}", response_model=s.ReconciliationExceptionOut)
def reconciliation_detail(
    exception_id: Annotated[int, Path(ge=1, le=2**53)], staff: Staff, db: DbSession
) -> s.ReconciliationExceptionOut:
    row = reconciliation.get_exception(db, exception_id)
    refs = reconciliation.operation_references(db, [row])
    return reconciliation.exception_out(row, refs.get(row.operation_id or 0))


@admin.post("/reconciliation/{exception_id}/resolve", response_model=s.ReconciliationExceptionOut)
def reconciliation_resolve(
    exception_id: Annotated[int, Path(ge=1, le=2**53)],
    body: s.ReconciliationResolveIn,
    staff: Staff,
    db: DbSession,
) -> s.ReconciliationExceptionOut:
    """Close an exception with a note saying what was decided and done (audited). Moving
    money for it is a separate, reviewed proposal."""
    row = reconciliation.do_resolve(
        db, exception_id=exception_id, note=body.note, actor_user_id=staff.id
    )
    refs = reconciliation.operation_references(db, [row])
    return reconciliation.exception_out(row, refs.get(row.operation_id or 0))
