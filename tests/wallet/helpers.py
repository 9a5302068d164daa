"""Shortcuts for wallet tests: users with money, and ledger invariants to assert."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from okpay.identity import operators as identity_operators
from okpay.identity import validation as identity_validation
from okpay.identity.models import Role
from okpay.wallet import ledger, topups
from okpay.wallet.models import Posting, SystemAccount, WalletAccount
from tests.helpers import PASSWORD


def make_user(db, email: str, *, phone: str | None = None, level: int = 1) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        user = identity_operators.do_create_user(
            s, email=email, password=PASSWORD, role=Role.customer, name=email.split("@")[0].title()
        )
        user.verification_level = level
        if phone:
            user.phone = identity_validation.normalise_phone(phone)
        return user.id


def fund(db, user_id: int, amount: int, currency: str = "CNY") -> None:  # type: ignore[no-untyped-def]
    """Credit a completed bank top-up (as the provider's webhook would)."""
    with db.unit_of_work() as s:
        op = topups.do_begin_bank_topup(s, user_id=user_id, amount=amount, currency=currency)
        topups.do_complete_topup(
            s,
            operation_id=op.id,
            external_ref=f"tr_{uuid.uuid4().hex[:10]}",
            clearing=SystemAccount.bank_clearing,
        )


def balance(db, user_id: int, currency: str = "CNY") -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        row = s.execute(
            select(WalletAccount.balance, WalletAccount.held).where(
                WalletAccount.user_id == user_id, WalletAccount.currency == currency
            )
        ).first()
        return (int(row[0]), int(row[1])) if row else (0, 0)


def assert_ledger_consistent(db) -> None:  # type: ignore[no-untyped-def]
    """Postings sum to zero per currency; every stored balance equals its postings' sum;
    no customer account below zero or holding more than it has."""
    with db.unit_of_work(write=False) as s:
        per_currency = s.execute(
            select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency)
        ).all()
        assert all(total == 0 for _c, total in per_currency), per_currency
        sums = dict(
            s.execute(
                select(Posting.account_id, func.sum(Posting.amount)).group_by(Posting.account_id)
            ).all()
        )
        for account in s.scalars(select(WalletAccount)):
            assert account.balance == int(sums.get(account.id, 0)), (account.id, account.balance)
            if account.kind != "system":
                assert 0 <= account.held <= account.balance, (
                    account.id,
                    account.held,
                    account.balance,
                )


def system_total(db, code: SystemAccount, currency: str = "CNY") -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return ledger.system_balance(s, code, currency)
