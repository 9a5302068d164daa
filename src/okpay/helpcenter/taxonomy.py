"""Request categories and priorities, shared by articles, triage and (later) tickets."""

from __future__ import annotations

from okpay.core.i18n import N_, gettext

CATEGORIES: dict[str, str] = {
    "login_password": N_("Sign-in and password"),
    "account_locked": N_("Account locked"),
    "account_restricted": N_("Account restricted"),
    "limit_increase": N_("Limits"),
    "fees": N_("Fees"),
    "payment_methods": N_("Cards and bank accounts"),
    "topup": N_("Top-up"),
    "withdrawal": N_("Withdrawal"),
    "transfer_payment": N_("Transfers and payments"),
    "duplicate_charge": N_("Duplicate charge"),
    "transaction_history": N_("Transaction history"),
    "personal_info": N_("Personal information"),
    "account_security": N_("Account security"),
    "suspicious_activity": N_("Suspicious activity"),
    "contact_support": N_("Contacting support"),
    "feedback_complaint": N_("Feedback and complaints"),
    "other": N_("Other"),
}

PRIORITIES: dict[str, str] = {
    "urgent": N_("Urgent"),
    "high": N_("High"),
    "normal": N_("Normal"),
    "low": N_("Low"),
}


def category_label(code: str) -> str:
    return gettext(CATEGORIES.get(code, CATEGORIES["other"]))


def priority_label(code: str) -> str:
    return gettext(PRIORITIES.get(code, PRIORITIES["normal"]))
