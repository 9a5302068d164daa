"""Merchant API keys and payment intents: the merchant fixes what an order costs.

A merchant's server, authenticated with a merchant API key, creates a payment intent (order
number, amount, currency, return URL, expiry). The customer's checkout link names only the
intent's unguessable token; paying it moves exactly the intent's amount, once. A stranger can
neither choose an amount nor block an order: only the merchant creates intents, an order may
have several, and only the one that is paid makes the order paid.

Like wallet.operations, every function runs in the caller's unit of work and only flushes."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.core.money import check_currency
from okpay.core.security import hash_token, new_token
from okpay.identity import validation as identity_validation
from okpay.settings import get_settings
from okpay.wallet import merchants, operations
from okpay.wallet.models import (
    IntentStatus,
    Merchant,
    MerchantApiKey,
    Operation,
    PaymentIntent,
)

KEY_PREFIX = "okmk_"
INTENT_PREFIX = "pi_"
DEFAULT_EXPIRY = timedelta(minutes=30)
MAX_EXPIRY = timedelta(days=7)
MAX_ACTIVE_KEYS = 5

# ----------------------------------------------------------------------------------- errors


class MerchantKeyInvalid(DomainError):
    code = "merchant_key_invalid"
    status = 401
    message = N_(
        "Send a valid merchant API key as Authorization: Bearer okmk_…; this one is unknown "
        "or has been revoked."
    )


class MerchantKeyNotFound(NotFound):
    code = "merchant_key_not_found"
    message = N_("We could not find that API key.")


class TooManyKeys(DomainError):
    code = "merchant_key_limit"
    status = 409
    message = N_("A merchant can have at most %(count)s active API keys. Revoke one first.")


class IntentNotFound(NotFound):
    code = "payment_intent_not_found"
    message = N_("We could not find this payment. Please go back to the shop and start again.")


class IntentExpired(DomainError):
    code = "payment_intent_expired"
    status = 409
    message = N_(
        "This payment link has expired. Please go back to the shop and start the payment again."
    )


class IntentCancelled(DomainError):
    code = "payment_intent_cancelled"
    status = 409
    message = N_("The shop has cancelled this payment.")


class IntentAlreadyPaid(DomainError):
    code = "payment_intent_paid"
    status = 409
    message = N_("This payment has already been made.")


class ReturnUrlInvalid(ValidationFailed):
    code = "return_url_invalid"
    message = N_(
        "The return URL must be a full https:// address (http:// only for localhost), "
        "without a user name or password."
    )


class ReturnHostNotAllowed(ValidationFailed):
    code = "return_url_host_not_allowed"
    message = N_("The return URL's host is not one of this merchant's allowed hosts.")


class ExpiryInvalid(ValidationFailed):
    code = "expiry_invalid"
    message = N_("An intent can be valid for 1 minute to 7 days.")


# --------------------------------------------------------------------------------- API keys


def _check_label(label: str) -> str:
    return identity_validation.check_name(label or "", field="label", max_length=60)


def do_create_key(
    session: Session, *, merchant: Merchant, label: str = "", actor_user_id: int | None
) -> tuple[MerchantApiKey, str]:
    """A new API key for ``merchant``: returns the row and the key, which is never shown
    again (only its keyed hash is stored)."""
    active = session.scalars(
        select(MerchantApiKey.id).where(
            MerchantApiKey.merchant_id == merchant.id, MerchantApiKey.revoked_at.is_(None)
        )
    ).all()
    if len(active) >= MAX_ACTIVE_KEYS:
        raise TooManyKeys(count=MAX_ACTIVE_KEYS)
    secret = KEY_PREFIX + new_token(32)
    key = MerchantApiKey(
        merchant_id=merchant.id,
        prefix=secret[:13],
        key_hash=hash_token(secret),
        label=_check_label(label),
        created_by_user_id=actor_user_id,
        created_at=clock.now(),
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        "merchant_key_created",
        actor_user_id=actor_user_id,
        object_type="merchant",
        object_id=merchant.id,
        key_id=key.id,
        prefix=key.prefix,
    )
    return key, secret


def list_keys(session: Session, *, merchant: Merchant) -> list[MerchantApiKey]:
    return list(
        session.scalars(
            select(MerchantApiKey)
            .where(MerchantApiKey.merchant_id == merchant.id)
            .order_by(MerchantApiKey.id)
        )
    )


def get_key(session: Session, *, merchant: Merchant, key_id: int) -> MerchantApiKey:
    key = session.get(MerchantApiKey, key_id)
    if key is None or key.merchant_id != merchant.id:
        raise MerchantKeyNotFound()
    return key


def do_revoke_key(
    session: Session, *, merchant: Merchant, key_id: int, actor_user_id: int | None
) -> MerchantApiKey:
    """Revoke a key at once: requests signed with it are refused from now on."""
    key = get_key(session, merchant=merchant, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        session.flush()
        audit.record(
            session,
            "merchant_key_revoked",
            actor_user_id=actor_user_id,
            object_type="merchant",
            object_id=merchant.id,
            key_id=key.id,
            prefix=key.prefix,
        )
    return key


def do_rotate_key(
    session: Session, *, merchant: Merchant, key_id: int, actor_user_id: int | None
) -> tuple[MerchantApiKey, str]:
    """Replace a key: the old one is revoked and a new one (same label) is returned once."""
    old = get_key(session, merchant=merchant, key_id=key_id)
    if old.revoked_at is not None:
        raise MerchantKeyNotFound()
    do_revoke_key(session, merchant=merchant, key_id=key_id, actor_user_id=actor_user_id)
    return do_create_key(session, merchant=merchant, label=old.label, actor_user_id=actor_user_id)


def authenticate(session: Session, authorization: str | None) -> tuple[Merchant, MerchantApiKey]:
    """The merchant behind an ``Authorization: Bearer okmk_…`` header; MerchantKeyInvalid for
    anything else (missing, malformed, unknown, revoked)."""
    scheme, _, secret = (authorization or "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret.startswith(KEY_PREFIX) or len(secret) > 100:
        raise MerchantKeyInvalid(headers={"WWW-Authenticate": "Bearer"})
    key = session.scalar(
        select(MerchantApiKey).where(MerchantApiKey.key_hash == hash_token(secret))
    )
    merchant = session.get(Merchant, key.merchant_id) if key is not None else None
    if key is None or key.revoked_at is not None or merchant is None:
        raise MerchantKeyInvalid(headers={"WWW-Authenticate": "Bearer"})
    return merchant, key


def merchant_for_owner(session: Session, *, user_id: int, code: str) -> Merchant:
    """A merchant ``user_id`` owns; any other (or none) is NotFound."""
    merchant = merchants.find_merchant(session, code)
    if merchant is None or merchant.owner_user_id != user_id:
        raise merchants.MerchantNotFound(field="merchant")
    return merchant


def do_set_return_hosts(
    session: Session, *, merchant: Merchant, hosts: list[str], actor_user_id: int | None
) -> Merchant:
    """Pin the hosts return URLs may point at (empty: any https host)."""
    cleaned = sorted({h.strip().lower().rstrip(".") for h in hosts if h.strip()})
    for host in cleaned:
        if not host or len(host) > 253 or not all(ch.isalnum() or ch in "-.:" for ch in host):
            raise ValidationFailed(
                N_("This host name is not valid."), code="host_invalid", field="return_hosts"
            )
    merchant.return_hosts = cleaned or None
    session.flush()
    audit.record(
        session,
        "merchant_return_hosts_set",
        actor_user_id=actor_user_id,
        object_type="merchant",
        object_id=merchant.id,
        hosts=cleaned,
    )
    return merchant


# ------------------------------------------------------------------------------ return URLs


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_return_url(merchant: Merchant, url: str) -> str:
    """An absolute https URL (http only for a loopback host, for a merchant's development
    server), no credentials, no control characters or spaces, on one of the merchant's
    allowed hosts when it has pinned some; or a page of OKPay itself."""
    url = (url or "").strip()
    if not url or len(url) > 500 or any(ord(ch) <= 32 or ord(ch) == 127 for ch in url):
        raise ReturnUrlInvalid(field="return_url")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ReturnUrlInvalid(field="return_url") from exc
    own = urlsplit(get_settings().base_url)
    if (parts.scheme, parts.netloc.lower()) == (own.scheme, own.netloc.lower()):
        return url  # back to OKPay itself (the demo merchant returns to the wallet)
    if (
        not host
        or parts.username is not None
        or parts.password is not None
        or "\\" in url
        or parts.scheme not in ("https", "http")
        or (parts.scheme == "http" and not _is_loopback(host))
    ):
        raise ReturnUrlInvalid(field="return_url")
    if merchant.return_hosts and host not in merchant.return_hosts:
        raise ReturnHostNotAllowed(field="return_url")
    return url


# ---------------------------------------------------------------------------------- intents


def status_of(intent: PaymentIntent, now: datetime | None = None) -> str:
    """open, paid, cancelled or expired (an open intent past its expiry)."""
    if intent.status == IntentStatus.open.value and (now or clock.now()) >= intent.expires_at:
        return IntentStatus.expired.value
    return intent.status


def do_create_intent(
    session: Session,
    *,
    merchant: Merchant,
    api_key_id: int | None,
    order_id: str,
    amount: int,
    currency: str,
    return_url: str,
    description: str = "",
    expires_in: timedelta = DEFAULT_EXPIRY,
) -> PaymentIntent:
    """What the customer will pay for an order, fixed here by the merchant. Refused when the
    order is already paid; several open intents for one order are allowed (the first paid
    wins, the others are then refused)."""
    currency = check_currency(currency)
    if amount <= 0:
        raise ValidationFailed(
            N_("The amount must be more than zero."), code="amount_not_positive", field="amount"
        )
    order_id = merchants.check_order_id(order_id)
    description = identity_validation.check_name(
        description or "", field="description", max_length=140
    )
    return_url = check_return_url(merchant, return_url)
    if not timedelta(minutes=1) <= expires_in <= MAX_EXPIRY:
        raise ExpiryInvalid(field="expires_in_minutes")
    if merchants.order_is_paid(session, merchant_id=merchant.id, order_id=order_id):
        raise merchants.OrderAlreadyPaid(field="order_id")
    now = clock.now()
    intent = PaymentIntent(
        token=INTENT_PREFIX + new_token(24),
        merchant_id=merchant.id,
        api_key_id=api_key_id,
        order_id=order_id,
        description=description,
        currency=currency,
        amount=amount,
        return_url=return_url,
        status=IntentStatus.open.value,
        created_at=now,
        expires_at=now + expires_in,
    )
    session.add(intent)
    session.flush()
    return intent


def find_intent(session: Session, token: str) -> PaymentIntent | None:
    token = (token or "").strip()
    if not token.startswith(INTENT_PREFIX) or len(token) > 48:
        return None
    return session.scalar(select(PaymentIntent).where(PaymentIntent.token == token))


def get_intent(session: Session, token: str) -> PaymentIntent:
    """An intent by its token, for the payer (anyone with the link may see what it asks)."""
    intent = find_intent(session, token)
    if intent is None:
        raise IntentNotFound(field="intent")
    return intent


def get_intent_for_merchant(session: Session, *, merchant: Merchant, token: str) -> PaymentIntent:
    """One of ``merchant``'s intents; another merchant's is NotFound."""
    intent = find_intent(session, token)
    if intent is None or intent.merchant_id != merchant.id:
        raise IntentNotFound(field="intent")
    return intent


def _lock_intent(session: Session, token: str) -> PaymentIntent:
    from okpay.db import for_update

    intent = session.scalar(
        select(PaymentIntent)
        .where(PaymentIntent.token == token)
        .with_for_update(**for_update(session.get_bind().dialect.name))
        .execution_options(populate_existing=True)
    )
    if intent is None:
        raise IntentNotFound(field="intent")
    return intent


def do_cancel_intent(session: Session, *, merchant: Merchant, token: str) -> PaymentIntent:
    """The merchant withdraws an unpaid intent; a paid one cannot be cancelled (refund it)."""
    intent = get_intent_for_merchant(session, merchant=merchant, token=token)
    intent = _lock_intent(session, intent.token)
    if intent.status == IntentStatus.paid.value:
        raise IntentAlreadyPaid()
    if intent.status != IntentStatus.cancelled.value:
        intent.status = IntentStatus.cancelled.value
        intent.cancelled_at = clock.now()
        session.flush()
    return intent


def do_pay_intent(session: Session, *, payer_id: int, token: str) -> operations.TransferResult:
    """Pay exactly what the intent asks, once. The intent row is locked first, so of two
    payers at once one pays and the other is told it is already paid."""
    intent = find_intent(session, token)
    if intent is None:
        raise IntentNotFound(field="intent")
    intent = _lock_intent(session, intent.token)
    status = status_of(intent)
    if status == IntentStatus.paid.value:
        raise IntentAlreadyPaid()
    if status == IntentStatus.cancelled.value:
        raise IntentCancelled()
    if status == IntentStatus.expired.value:
        raise IntentExpired()
    merchant = session.get(Merchant, intent.merchant_id)
    assert merchant is not None
    result = merchants.pay_merchant_order(
        session,
        payer_id=payer_id,
        merchant=merchant,
        order_id=intent.order_id,
        amount=intent.amount,
        currency=intent.currency,
    )
    intent.status = IntentStatus.paid.value
    intent.paid_at = clock.now()
    intent.payer_user_id = payer_id
    intent.operation_id = result.operation_id
    session.flush()
    return result


def payment_of(session: Session, intent: PaymentIntent) -> Operation | None:
    return session.get(Operation, intent.operation_id) if intent.operation_id else None
