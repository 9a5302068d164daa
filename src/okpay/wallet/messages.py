"""What a failed operation tells its user: why, in their language, and what to do next."""

from __future__ import annotations

from okpay.core.i18n import N_, gettext

FAILURES = {
    "insufficient_funds": N_(
        "Your card was declined for insufficient funds. Try a smaller amount or another card."
    ),
    "expired_card": N_("Your card has expired. Please add a current card and try again."),
    "card_not_supported": N_(
        "This card cannot be used with OKPay. Please use Visa, Mastercard or UnionPay."
    ),
    "issuer_limit_reached": N_(
        "Your bank declined the payment because a card limit was reached. Contact your "
        "bank or try another card."
    ),
    "provider_unavailable": N_(
        "We could not reach the card network, and you were not charged. Please try again "
        "in a few minutes."
    ),
    "declined": N_("Your card was declined. Please contact your bank or try another card."),
    "payout_failed": N_(
        "Your bank could not accept the withdrawal. The money is back in your balance; "
        "please check the bank account details."
    ),
    "account_closed": N_(
        "The receiving bank account is closed. The money is back in your balance; please "
        "add another account."
    ),
    "rejected_in_review": N_(
        "Our security team reviewed this payment and did not let it go ahead. The money is "
        "back in your balance. Your request page explains the decision."
    ),
}


DEFAULT_FAILURE = N_("This could not be completed. Please try again or contact support.")


def failure_message(code: str | None) -> str:
    if not code:
        return ""
    return gettext(FAILURES.get(code, DEFAULT_FAILURE))
