"""A Hypothesis state machine drives random top-ups, transfers, withdrawals (held, settled,
failed, cancelled) against a simple model of balances, and checks the invariants after
every step: postings sum to zero per currency, each balance equals its postings, no
customer below zero, a refused operation changes nothing, an idempotency key applies once."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from okpay.core.errors import DomainError
from okpay.identity import users as identity_users
from okpay.wallet import batch as wallet_batch
from okpay.wallet import flows, ledger, methods, provider_events, topups, withdrawals
from okpay.wallet.models import Operation, SystemAccount
from tests.wallet.helpers import assert_ledger_consistent, balance, make_user

USERS = 3
CURRENCIES = ("CNY", "JPY")


@pytest.fixture
def machine_db(db):  # type: ignore[no-untyped-def]
    return db


def test_ledger_state_machine(machine_db) -> None:  # type: ignore[no-untyped-def]
    db = machine_db

    class Ledger(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.users: list[int] = []
            self.model: dict[tuple[int, str], int] = {}
            self.held: dict[tuple[int, str], int] = {}
            self.pending: list[tuple[str, int, str, int]] = []  # reference, user, currency, held
            self.keys: dict[tuple[int, str], tuple[int, int, str]] = {}  # keys are per user

        @initialize()
        def people(self) -> None:
            tag = uuid.uuid4().hex[:8]
            self.users = [make_user(db, f"u{i}-{tag}@example.com", level=2) for i in range(USERS)]
            for u in self.users:
                for c in CURRENCIES:
                    self.model[(u, c)] = 0
                    self.held[(u, c)] = 0
            self.method: dict[int, int] = {}
            for u in self.users:
                with db.unit_of_work() as s:
                    m = methods.do_add_bank_account(
                        s,
                        user_id=u,
                        provider_token="ba_sbx_x",
                        account_number="62220202001122",
                        bank_name="Bank",
                        holder_name="X",
                    )
                    self.method[u] = m.id

        @rule(
            who=st.integers(0, USERS - 1),
            amount=st.integers(1, 50_000),
            currency=st.sampled_from(CURRENCIES),
        )
        def top_up(self, who: int, amount: int, currency: str) -> None:
            u = self.users[who]
            with db.unit_of_work() as s:
                op = topups.do_begin_bank_topup(s, user_id=u, amount=amount, currency=currency)
                topups.do_complete_topup(
                    s, operation_id=op.id, external_ref="x", clearing=SystemAccount.bank_clearing
                )
            self.model[(u, currency)] += amount

        @rule(
            a=st.integers(0, USERS - 1),
            b=st.integers(0, USERS - 1),
            amount=st.integers(-5, 60_000),
            currency=st.sampled_from(CURRENCIES),
            reuse=st.booleans(),
        )
        def transfer(self, a: int, b: int, amount: int, currency: str, reuse: bool) -> None:
            sender, recipient = self.users[a], self.users[b]
            mine = [k for (owner, k) in self.keys if owner == sender]
            key = mine[0] if reuse and mine else uuid.uuid4().hex
            idem = flows.Idempotency(
                sender,
                key,
                "transfer",
                flows.idempotency(
                    sender,
                    key,
                    "transfer",
                    {"to": recipient, "amount": amount, "currency": currency},
                ).request_hash,
            )
            before = balance(db, sender, currency), balance(db, recipient, currency)
            try:
                if amount <= 0:
                    raise DomainError(code="amount_not_positive")
                flows.transfer(
                    idem,
                    sender_id=sender,
                    recipient=f"u{b}-" + self._tag(recipient),
                    amount=amount,
                    currency=currency,
                    note="",
                )
            except DomainError:
                assert (balance(db, sender, currency), balance(db, recipient, currency)) == before
                return
            if (sender, key) in self.keys:  # replay of the first answer: nothing moves again
                assert (balance(db, sender, currency), balance(db, recipient, currency)) == before
                return
            self.keys[(sender, key)] = (recipient, amount, currency)
            self.model[(sender, currency)] -= amount
            self.model[(recipient, currency)] += amount

        @rule(
            a=st.integers(0, USERS - 1),
            items=st.lists(
                st.tuples(
                    st.integers(0, USERS - 1),
                    st.integers(-5, 40_000),
                    st.sampled_from(CURRENCIES),
                ),
                min_size=1,
                max_size=4,
            ),
        )
        def transfer_batch(self, a: int, items: list[tuple[int, int, str]]) -> None:
            """Each item settles or is refused on its own; the settled ones move exactly
            their amounts, in order."""
            sender = self.users[a]
            batch = [
                wallet_batch.BatchItem(f"u{b}-" + self._tag(self.users[b]), amount, currency)
                for b, amount, currency in items
            ]
            with db.unit_of_work() as s:
                outcome = wallet_batch.do_transfer_batch(s, sender_id=sender, items=batch)
            for (b, amount, currency), result in zip(items, outcome, strict=True):
                if isinstance(result, DomainError):
                    continue
                assert result.amount == amount and result.fee == 0
                self.model[(sender, currency)] -= amount
                self.model[(self.users[b], currency)] += amount

        def _tag(self, user_id: int) -> str:
            with db.unit_of_work(write=False) as s:
                email = identity_users.get_user(s, user_id).email  # type: ignore[union-attr]
            return email.split("-", 1)[1]

        @rule(
            who=st.integers(0, USERS - 1),
            amount=st.integers(1, 40_000),
            currency=st.sampled_from(CURRENCIES),
        )
        def withdraw(self, who: int, amount: int, currency: str) -> None:
            u = self.users[who]
            try:
                with db.unit_of_work() as s:
                    op_id, reference, _token = withdrawals.do_begin_withdrawal(
                        s,
                        user_id=u,
                        payment_method_id=self.method[u],
                        amount=amount,
                        currency=currency,
                    )
                    fee = s.get(Operation, op_id).fee  # type: ignore[union-attr]
            except DomainError:
                return
            self.held[(u, currency)] += amount + fee
            self.pending.append((reference, u, currency, amount + fee))

        @precondition(lambda self: bool(self.pending))
        @rule(outcome=st.sampled_from(["paid", "failed", "cancelled"]), pick=st.integers(0, 100))
        def finish_withdrawal(self, outcome: str, pick: int) -> None:
            reference, u, currency, total = self.pending.pop(pick % len(self.pending))
            with db.unit_of_work() as s:
                op = provider_events.find_by_reference(s, reference)
                assert op is not None
                if outcome == "paid":
                    withdrawals.do_settle_withdrawal(s, operation_id=op.id)
                elif outcome == "failed":
                    topups.do_fail_operation(s, operation_id=op.id, failure_code="payout_failed")
                else:
                    withdrawals.do_cancel_withdrawal(s, user_id=u, reference=reference)
            self.held[(u, currency)] -= total
            if outcome == "paid":
                self.model[(u, currency)] -= total

        @invariant()
        def matches_model(self) -> None:
            for (u, c), expected in self.model.items():
                assert balance(db, u, c) == (expected, self.held[(u, c)])

        @invariant()
        def ledger_consistent(self) -> None:
            if self.users:
                assert_ledger_consistent(db)

    Ledger.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    ledger.forget_system_accounts()
    Ledger.TestCase().runTest()
