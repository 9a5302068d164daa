"""Why a wallet operation is refused: the errors shared by the wallet's modules."""

from __future__ import annotations

from okpay.core.errors import DomainError, NotFound
from okpay.core.i18n import N_, format_money


class LazyMoney:
    """An amount formatted in the current language when the message is rendered."""

    def __init__(self, minor: int, currency: str) -> None:
        self.minor, self.currency = minor, currency

    def __str__(self) -> str:
        return format_money(self.minor, self.currency)


class AccountFrozen(DomainError):
    code = "account_frozen"
    status = 403
    message = N_("Your account is frozen, so money cannot leave it. Please contact support.")


class CoolingOff(DomainError):
    code = "cooling_off"
    status = 403
    message = N_(
        "Your account was recently recovered with help from support. For your safety, money "
        "cannot leave it until %(until)s. Money sent to you still arrives."
    )


class AccountNotActive(DomainError):
    code = "account_not_active"
    status = 403
    message = N_(
        "Your account cannot do this right now (status: %(account_status)s). "
        "Please contact support."
    )


class OperationBlocked(DomainError):
    code = "account_restricted"
    status = 403
    message = N_("This is not available on your account at the moment: %(reason)s")


class LimitExceeded(DomainError):
    """Over a daily or monthly limit: which one, its amount, what is left and when it resets
    (a per-transaction limit never resets: :class:`TransactionLimitExceeded`)."""

    code = "limit_exceeded"
    status = 422
    message = N_(
        "This is over your %(period)s limit of %(limit)s. You can still use %(remaining)s; "
        "the limit resets on %(resets)s."
    )


class TransactionLimitExceeded(LimitExceeded):
    message = N_(
        "This is over your per-transaction limit of %(limit)s: this one is %(amount)s, and "
        "each one can be at most %(limit)s. Your limits page shows how to raise it."
    )


class RecipientNotFound(DomainError):
    code = "recipient_not_found"
    status = 404
    message = N_("We could not find an OKPay user with that e-mail address or phone number.")


class TransferToSelf(DomainError):
    code = "transfer_to_self"
    status = 422
    message = N_("You cannot send money to yourself.")


class RecipientCannotReceive(DomainError):
    code = "recipient_cannot_receive"
    status = 422
    message = N_("That account cannot receive money at the moment.")


class PaymentMethodNotFound(NotFound):
    code = "payment_method_not_found"
    message = N_("We could not find that card or bank account.")


class CardExpired(DomainError):
    code = "card_expired"
    status = 422
    message = N_("This card has expired. Please add a current card.")


class OperationNotCancellable(DomainError):
    code = "not_cancellable"
    status = 409
    message = N_("This can no longer be cancelled.")


class PayoutInFlight(DomainError):
    code = "payout_in_flight"
    status = 409
    message = N_(
        "The money is already on its way to your bank, so this withdrawal can no longer be "
        "cancelled. It stays set aside until the bank confirms the payment."
    )


class PayoutNotReady(DomainError):
    code = "payout_not_ready"
    status = 409
    message = N_(
        "We are still handing this withdrawal to the bank. Please try cancelling again in a minute."
    )


class CancelUnavailable(DomainError):
    code = "cancel_unavailable"
    status = 503
    message = N_(
        "We could not reach the bank to stop this withdrawal, so it has not been cancelled "
        "and the money stays set aside. Please try again in a few minutes."
    )


class RiskBlocked(DomainError):
    """Refused by a risk control (403 ``risk_blocked``): the reason in plain words and what to
    do; never the rule, its score or the figures it read."""

    code = "risk_blocked"
    status = 403
    message = N_("For your security, we did not make this payment. %(reason)s %(next_step)s")
    persist = True  # raised before anything changed: the decision behind it is kept


class RiskReviewInBatch(DomainError):
    code = "risk_review_required"
    status = 403
    message = N_(
        "This transfer needs a review by our security team, which a batch cannot wait for. "
        "Send it on its own: it will be held until the review. %(reason)s"
    )


class OperationNotHeld(DomainError):
    code = "operation_not_held"
    status = 409
    message = N_("This operation is no longer on hold for review.")


class BankTopupUnavailable(DomainError):
    """No receiving bank account is configured for the currency (OKPAY_BANK_RECEIVING_ACCOUNTS)."""

    code = "bank_topup_unavailable"
    status = 422
    message = N_(
        "Top-up by bank transfer is not available in %(currency)s. Please top up by card or "
        "choose another currency."
    )
