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
import time
from dataclasses import dataclass
from typing import Any, Protocol

from okpay.core.cards import luhn_ok
from okpay.core.errors import ValidationFailed
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

    def create_payout(self, token: str, amount: int, currency: str, reference: str) -> PayoutResult:
        return PayoutResult(provider_ref=f"po_{random_code(14).lower()}")

    def cancel_payout(self, provider_ref: str) -> bool:
        return True  # sandbox payouts wait for a webhook, so they can always be cancelled

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
        parts = dict(p.split("=", 1) for p in (signature or "").split(",") if "=" in p)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError as exc:
            raise WebhookRejected("bad signature header") from exc
        if abs((now or time.time()) - timestamp) > WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookRejected("signature too old")
        expected = self.sign(body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise WebhookRejected("signature mismatch")
        event = json.loads(body)
        if not isinstance(event, dict) or "id" not in event or "type" not in event:
            raise WebhookRejected("malformed event")
        return event


class WebhookRejected(Exception):
    pass


def _webhook_key() -> bytes:
    return derive_key(b"okpay sandbox webhook")


_provider: PaymentProvider = SandboxProvider()


def get_provider() -> PaymentProvider:
    return _provider
