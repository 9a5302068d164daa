"""A proposal's change as people read it: before → after, field by field, in the reader's
language (the case panel, the approval queue, the API's ``changes``, the customer's e-mail)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from okpay.casework.models import Proposal
from okpay.core.i18n import N_, format_money, gettext
from okpay.identity.models import status_label, status_reason_label
from okpay.wallet.models import operation_status_label

FIELD_LABELS = {
    "status": N_("Account status"),
    "status_reason": N_("Reason"),
    "blocked": N_("Blocked operations"),
    "level": N_("Verification level"),
    "two_factor": N_("Two-factor authentication"),
    "password_change_required": N_("New password required at sign-in"),
    "two_factor_enrolment_required": N_("Two-factor set-up required at sign-in"),
    "cooling_off_hours": N_("Outgoing money held for (hours)"),
    "operation": N_("Operation"),
    "per_transaction": N_("Per transaction"),
    "daily": N_("Per day"),
    "monthly": N_("Per month"),
    "days": N_("For (days)"),
    "reference": N_("Payment"),
    "paid": N_("Paid"),
    "refunded": N_("Refunded"),
    "currency": N_("Currency"),
    "amount": N_("Amount"),
    "fee": N_("Fee"),
    "recipient": N_("Recipient"),
    "bank_account": N_("Bank account"),
    "op_status": N_("Payment status"),
    "set_aside": N_("Set aside on the balance"),
}
OPERATION_LABELS = {
    "topup": N_("Top-up"),
    "withdrawal": N_("Withdrawal"),
    "transfer": N_("Transfer"),
    "payment": N_("Payment"),
}
BLOCKED_LABELS = {
    "topup": N_("Top-up"),
    "withdraw": N_("Withdrawal"),
    "transfer": N_("Transfer"),
    "pay": N_("Payment"),
}


@dataclass(frozen=True)
class ChangeLine:
    label: str
    before: str
    after: str
    changed: bool


def _show(key: str, value: Any, currency: str) -> str:
    if value is None or value == []:
        return "—"
    if key == "status":
        return status_label(str(value))
    if key == "status_reason":
        return status_reason_label(str(value))
    if key == "blocked":
        return "、".join(gettext(BLOCKED_LABELS.get(v, v)) for v in value)
    if key == "operation":
        return gettext(OPERATION_LABELS.get(str(value), str(value)))
    if key in ("per_transaction", "daily", "monthly"):
        return format_money(int(value), "CNY")
    if key in ("paid", "refunded", "amount", "fee", "set_aside"):
        return format_money(int(value), currency)
    if key == "op_status":
        return operation_status_label(str(value))
    if isinstance(value, bool):
        return gettext(N_("Yes")) if value else gettext(N_("No"))
    return str(value)


def change_lines(proposal: Proposal) -> list[ChangeLine]:
    """The proposal's before → after, field by field, in the reader's language."""
    before, after = proposal.before or {}, proposal.after or {}
    currency = str(after.get("currency") or before.get("currency") or "CNY")
    keys = [k for k in FIELD_LABELS if k in before or k in after]
    return [
        ChangeLine(
            gettext(FIELD_LABELS[k]),
            _show(k, before.get(k), currency) if k in before else "—",
            _show(k, after.get(k), currency),
            before.get(k) != after.get(k),
        )
        for k in keys
        if k != "currency"
    ]
