"""Payment providers: the interface the wallet talks to, and a sandbox that behaves like a
real acquirer (test cards with documented outcomes, payouts settled later by signed
webhooks). Card numbers pass through tokenize_card() only: they are never stored or logged.

Sandbox test cards (any future expiry, any 3-digit CVC):

| number              | brand      | outcome                |
|---------------------|------------|------------------------|
| 4242 4242 4242 4242 | Visa       | succeeds               |
| 5555 5555 5555 4444 | Mastercard | succeeds               |
| 6212 3456 7890 1232 | UnionPay   | succeeds               |
| 4000 0000 0000 9995 | Visa       | insufficient_funds     |
| 4000 0000 0000 0069 | Visa       | expired_card           |
| 3782 822463 10005   | Amex       | card_not_supported     |
| 4000 0000 0000 6975 | Visa       | issuer_limit_reached   |
| 4000 0000 0000 0119 | Visa       | provider_error         |
| 4000 0000 0000 0341 | Visa       | provider_timeout       |
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from okpay.core.cards import luhn_ok
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_
from okpay.core.ids import random_code
from okpay.core.security import derive_key


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with an error; nothing was charged."""


@dataclass(frozen=True)
class CardToken:
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class ChargeResult:
    ok: bool
    provider_ref: str
    failure_code: str | None = None


@dataclass(frozen=True)
class PayoutResult:
    provider_ref: str


class PaymentProvider(Protocol):
    name: str

    def tokenize_card(self, number: str, exp_month: int, exp_year: int, cvc: str) -> CardToken: ...

    def charge(self, token: str, amount: int, currency: str, reference: str) -> ChargeResult: ...

    def register_bank_account(self, account_number: str) -> str: ...

    def create_payout(
        self, token: str, amount: int, currency: str, reference: str
    ) -> PayoutResult: ...

    def cancel_payout(self, provider_ref: str) -> bool: ...

    def sign(self, body: bytes, timestamp: int) -> str: ...

    def verify_webhook(
        self, body: bytes, signature: str, *, now: float | None = None
    ) -> dict[str, Any]: ...


def clean_card_number(raw: str) -> str:
    """Digits only, 12 to 19 of them, Luhn-valid; ValidationFailed otherwise."""
    digits = "".join(ch for ch in (raw or "") if ch.isdigit())
    well_formed = re.fullmatch(r"[\d -]+", raw or "") is not None
    if not well_formed or len(digits) < 12 or len(digits) > 19 or not luhn_ok(digits):
        raise ValidationFailed(
            N_("That card number is not valid. Please check it."),
            code="card_number_invalid",
            field="card_number",
        )
    return digits


def brand_of(digits: str) -> str:
    if digits.startswith("4"):
        return "Visa"
    if digits[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(digits[:4]) <= 2720:
        return "Mastercard"
    if digits.startswith("62"):
        return "UnionPay"
    if digits[:2] in {"34", "37"}:
        return "Amex"
    if digits.startswith("35"):
        return "JCB"
    return "Card"


SANDBOX_OUTCOMES = {
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "378282246310005": "card_not_supported",
    "4000000000006975": "issuer_limit_reached",
    "4000000000000119": "provider_error",
    "4000000000000341": "provider_timeout",
}

WEBHOOK_TOLERANCE_SECONDS = 300


class SandboxProvider:
    """A provider that runs in-process with deterministic test cards. Tokens carry the test
    card's outcome (a real provider keeps that in its vault); payouts and incoming bank
    transfers complete when a signed webhook arrives (see /dev/sandbox and the CLI)."""

    name = "sandbox"

    def tokenize_card(self, number: str, exp_month: int, exp_year: int, cvc: str) -> CardToken:
        digits = clean_card_number(number)
        if not (1 <= exp_month <= 12) or exp_year < 2000 or exp_year > 2100:
            raise ValidationFailed(
                N_("Please enter the expiry date as shown on the card."),
                code="card_expiry_invalid",
                field="expiry",
            )
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            raise ValidationFailed(
                N_("The security code is the 3 or 4 digits on the back of the card."),
                code="card_cvc_invalid",
                field="cvc",
            )
        outcome = SANDBOX_OUTCOMES.get(digits, "ok")
        return CardToken(
            token=f"tok_sbx_{outcome}_{random_code(12).lower()}",
            brand=brand_of(digits),
            last4=digits[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
        )

    def charge(self, token: str, amount: int, currency: str, reference: str) -> ChargeResult:
        outcome = self._outcome(token)
        if outcome == "provider_timeout":
            raise ProviderUnavailable("sandbox: the issuer did not answer in time")
        if outcome == "provider_error":
            raise ProviderUnavailable("sandbox: processing error")
        ref = f"ch_{random_code(14).lower()}"
        if outcome == "ok":
            return ChargeResult(ok=True, provider_ref=ref)
        return ChargeResult(ok=False, provider_ref=ref, failure_code=outcome)

    def register_bank_account(self, account_number: str) -> str:
        return f"ba_sbx_{random_code(12).lower()}"

    def __init__(self) -> None:
        # Where each payout is at the "bank": created -> in_flight -> paid | failed, or
        # cancelled while still created. Kept in memory: after a restart the sandbox treats
        # a payout it does not know as created (it only ever moves on by a webhook).
        self._payouts: dict[str, str] = {}
        self._lock = threading.Lock()

    def create_payout(self, token: str, amount: int, currency: str, reference: str) -> PayoutResult:
        ref = f"po_{random_code(14).lower()}"
        with self._lock:
            self._payouts[ref] = "created"
        return PayoutResult(provider_ref=ref)

    def cancel_payout(self, provider_ref: str) -> bool:
        """True once the payout is cancelled (again: True); False when it is already with
        the bank or paid, so it can no longer be stopped."""
        with self._lock:
            state = self._payouts.get(provider_ref, "created")
            if state in ("created", "cancelled"):
                self._payouts[provider_ref] = "cancelled"
                return True
            return False

    def advance_payout(self, provider_ref: str, state: str) -> None:
        """Sandbox only: the bank moved the payout on (in_flight, paid, failed); the dev
        sandbox page and tests call this before sending the matching webhook."""
        with self._lock:
            self._payouts[provider_ref] = state

    @staticmethod
    def _outcome(token: str) -> str:
        parts = token.split("_")
        if len(parts) < 4 or parts[0] != "tok" or parts[1] != "sbx":
            return "card_not_supported"
        return "_".join(parts[2:-1])

    # Webhooks: OKPay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">
    def sign(self, body: bytes, timestamp: int) -> str:
        mac = hmac.new(_webhook_key(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={mac}"

    def verify_webhook(
        self, body: bytes, signature: str, *, now: float | None = None
    ) -> dict[str, Any]:
        timestamp, mac = parse_signature(signature)
        if abs((now or time.time()) - timestamp) > WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookRejected(
                N_("The webhook signature is too old or from the future."),
                code="signature_expired",
            )
        expected = self.sign(body, timestamp).split("v1=", 1)[1].encode("ascii")
        if not hmac.compare_digest(expected, mac):  # bytes: constant time, never a TypeError
            raise WebhookRejected()
        return parse_event_json(body)


class WebhookRejected(DomainError):
    """A webhook whose signature or body we cannot accept: 400, and nothing is applied."""

    code = "signature_invalid"
    status = 400
    message = N_("The webhook signature does not match.")


_SIGNATURE_MAX = 512
_HEX_MAC = re.compile(r"[0-9a-f]{64}")


def parse_signature(header: str) -> tuple[int, bytes]:
    """(timestamp, MAC as ASCII bytes) from ``t=<unix seconds>,v1=<64 hex digits>``.

    Anything else, including a non-ASCII byte (Starlette hands header bytes over as
    Latin-1), is refused with WebhookRejected before any comparison."""
    malformed = WebhookRejected(
        N_("The webhook signature header is missing or malformed."), code="signature_malformed"
    )
    if not header or len(header) > _SIGNATURE_MAX or not header.isascii():
        raise malformed
    parts: dict[str, str] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, value)
    stamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not (stamp.isdigit() and len(stamp) <= 12) or not _HEX_MAC.fullmatch(mac):
        raise malformed
    return int(stamp), mac.encode("ascii")


def parse_event_json(body: bytes) -> dict[str, Any]:
    """A signed body as a JSON object; its fields are checked against the event schemas
    (wallet.schemas) by the caller."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WebhookRejected(
            N_("The webhook body is not valid JSON."), code="webhook_body_invalid"
        ) from exc
    if not isinstance(event, dict):
        raise WebhookRejected(
            N_("The webhook body must be a JSON object."), code="webhook_body_invalid"
        )
    return event


def _webhook_key() -> bytes:
    return derive_key(b"okpay sandbox webhook")


_provider: PaymentProvider = SandboxProvider()


def get_provider() -> PaymentProvider:
    return _provider
