"""Merchant API under /api/v1/merchant: payment intents (authenticated with a merchant API
key), the merchant's API keys and return hosts, and refunds."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from starlette.responses import JSONResponse

from okpay.core.money import check_currency, parse_amount
from okpay.identity.access import CurrentUser
from okpay.wallet import api, flows, intents, merchants
from okpay.wallet import schemas as s
from okpay.wallet.models import Merchant
from okpay.web.deps import DbSession

merchant = APIRouter(prefix="/api/v1/merchant", tags=["merchant"])


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
    return api.intent_out(db, intent, for_merchant=True)


@merchant.get("/intents/{intent_id}", response_model=s.IntentOut)
def get_intent(intent_id: str, caller: MerchantByKey, db: DbSession) -> s.IntentOut:
    """An intent's status (open, paid, cancelled, expired) and, once paid, its payment."""
    intent = intents.get_intent_for_merchant(db, merchant=caller[0], token=intent_id)
    return api.intent_out(db, intent, for_merchant=True)


@merchant.post("/intents/{intent_id}/cancel", response_model=s.IntentOut)
def cancel_intent(intent_id: str, caller: MerchantByKey, db: DbSession) -> s.IntentOut:
    """Cancel an unpaid intent (a paid one is refunded instead)."""
    intent = intents.do_cancel_intent(db, merchant=caller[0], token=intent_id)
    return api.intent_out(db, intent, for_merchant=True)


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
    key_id: api.KeyId,
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
    key_id: api.KeyId,
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
    idempotency_key: api.IdemKey = None,
) -> JSONResponse:
    """Refund a payment to your merchant, in full or in part (never more than was paid)."""
    payment = merchants.merchant_for_owner(db, user_id=user.id, payment_reference=reference)
    amount = parse_amount(body.amount, payment.currency) if body.amount else None
    db.rollback()
    idem = flows.idempotency(
        user.id, idempotency_key, "refund", {"ref": reference, **body.model_dump()}
    )
    return api.json_answer(
        flows.refund(
            idem, actor_id=user.id, payment_reference=reference, amount=amount, reason=body.reason
        )
    )
