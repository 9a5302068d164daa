"""The withdrawal review in the JSON API (POST /api/v1/wallet/withdrawals/review), the
counterpart of /transfers/review: what a withdrawal would cost, what arrives and where,
before anything moves. Its schemas live here with it (wallet.schemas is at its size)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from okpay.core.dbid import DbId
from okpay.core.i18n import gettext
from okpay.core.money import check_currency, parse_amount, to_decimal_string
from okpay.identity.access import CurrentUser
from okpay.wallet import withdrawals
from okpay.wallet.schemas import AmountIn
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/wallet", tags=["wallet"])


class WithdrawalReviewIn(AmountIn):
    payment_method_id: DbId = Field(description="One of your bank accounts")


class WithdrawalReviewBank(BaseModel):
    bank_name: str
    last4: str = Field(description="The account number's last four digits (never shown whole)")


class WithdrawalReviewOut(BaseModel):
    """What the customer confirms before withdrawing: what arrives in the bank, the fee and
    how it was reached (the part inside the monthly free allowance, the discount applied),
    the total taken from the balance and where it goes. Nothing has moved."""

    currency: str
    amount: str = Field(description="What arrives in the bank account")
    amount_minor: int
    fee: str
    fee_minor: int
    fee_before_discount: str = Field(description="The fee on the chargeable part, undiscounted")
    free_amount: str = Field(
        description="The part of the amount inside this month's free allowance (no fee on it)"
    )
    free_allowance_left_cny: str = Field(
        description="This month's free allowance left before this withdrawal, in CNY"
    )
    discount: str | None = Field(None, description="The discount applied, in your language")
    discount_percent: int | None = Field(None, description="Its percentage off the fee")
    total: str = Field(description="Taken from the balance: amount + fee")
    total_minor: int
    available: str = Field(description="The available balance now, before this withdrawal")
    bank_account: WithdrawalReviewBank
    arrival_working_days_min: int = Field(description="Usual arrival, in working days: from")
    arrival_working_days_max: int = Field(description="Usual arrival, in working days: to")


@router.post("/withdrawals/review", response_model=WithdrawalReviewOut)
def withdrawal_review(
    body: WithdrawalReviewIn, user: CurrentUser, db: DbSession
) -> WithdrawalReviewOut:
    """What a withdrawal would cost, what arrives and where, before withdrawing (nothing
    moves; no Idempotency-Key). Refused as POST /withdrawals would refuse it, with the same
    codes: the bank account (404 `payment_method_not_found`), the customer's standing (403),
    limits (422 `limit_exceeded`: the message names the limit, what is left and when it
    resets) or the available balance (422 `insufficient_funds`: the message names what is
    available, what this needs and the fee in it)."""
    currency = check_currency(body.currency)
    amount = parse_amount(body.amount, currency)
    p = withdrawals.preview_withdrawal(
        db,
        user_id=user.id,
        payment_method_id=body.payment_method_id,
        amount=amount,
        currency=currency,
    )
    return WithdrawalReviewOut(
        currency=currency,
        amount=to_decimal_string(amount, currency),
        amount_minor=amount,
        fee=to_decimal_string(p.fee, currency),
        fee_minor=p.fee,
        fee_before_discount=to_decimal_string(p.base_fee, currency),
        free_amount=to_decimal_string(p.free_amount, currency),
        free_allowance_left_cny=to_decimal_string(p.free_left_cny, "CNY"),
        discount=gettext(p.discount.label) if p.discount else None,
        discount_percent=p.discount.percent_off if p.discount else None,
        total=to_decimal_string(p.total, currency),
        total_minor=p.total,
        available=to_decimal_string(p.available, currency),
        bank_account=WithdrawalReviewBank(bank_name=p.bank_name, last4=p.last4),
        arrival_working_days_min=p.arrival_working_days[0],
        arrival_working_days_max=p.arrival_working_days[1],
    )
