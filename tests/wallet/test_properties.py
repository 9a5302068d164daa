"""A Hypothesis state machine drives random top-ups, transfers, withdrawals (held, settled,
failed, cancelled), merchant payments, and casework (an emergency freeze, an unfreeze
through a proposal a second staff member approves, a refund of a payment through a
proposal) against a simple model of balances, and checks the invariants after every step:
postings sum to zero per currency, each balance equals its postings, no customer below
zero, a refused operation changes nothing, an idempotency key applies once, a frozen
customer's money does not leave while money sent to them arrives, and no payment is
refunded above what was paid."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from okpay.casework import cases, freeze, intake, proposals
from okpay.casework.models import Proposal
from okpay.core.errors import DomainError
from okpay.identity import users as identity_users
from okpay.identity.models import Role, User
from okpay.wallet import batch as wallet_batch
from okpay.wallet import (
    flows,
    intents,
    ledger,
    merchants,
    methods,
    provider_events,
    topups,
    withdrawals,
)
from okpay.wallet.models import Merchant, Operation, SystemAccount
from tests.support.helpers import make_staff
from tests.wallet.helpers import assert_ledger_consistent, balance, make_user

USERS = 3
Original = aliased(Operation)
# A frozen customer's outgoing money is refused as frozen, or earlier, as it would be for
# anyone, for want of an account in that currency.
FROZEN_REFUSALS = ("account_frozen", "insufficient_funds")
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
            self.frozen: set[int] = set()
            self.payments: list[list[Any]] = []  # [reference, payer, paid, refunded]

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
            # Staff for casework (an agent proposes, a supervisor approves) and a shop.
            self.agent = make_staff(db, f"agent-{tag}@okpay.example", team="compliance")
            self.supervisor = make_staff(
                db, f"sup-{tag}@okpay.example", team="compliance", role=Role.supervisor
            )
            owner = make_user(db, f"owner-{tag}@example.com")
            with db.unit_of_work() as s:
                shop = merchants.do_create_merchant(
                    s, code=f"shop-{tag}", name="Shop", owner_user_id=owner
                )
                self.merchant = shop.id

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
            except DomainError as err:
                assert (balance(db, sender, currency), balance(db, recipient, currency)) == before
                if sender in self.frozen and amount > 0 and (sender, key) not in self.keys:
                    assert err.code in FROZEN_REFUSALS, err.code
                if sender not in self.frozen:
                    assert err.code != "account_frozen", err.code  # incoming still arrives
                return
            if sender in self.frozen:  # only a replay of an answer from before the freeze
                assert (sender, key) in self.keys
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
                if sender in self.frozen:
                    # A line that is invalid in itself (an amount of zero or less) is refused
                    # for that reason before the sender's standing is looked at.
                    allowed = FROZEN_REFUSALS + (("amount_not_positive",) if amount <= 0 else ())
                    assert isinstance(result, DomainError) and result.code in allowed
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
            except DomainError as err:
                if u in self.frozen:
                    assert err.code in FROZEN_REFUSALS, err.code
                return
            assert u not in self.frozen
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

        # ------------------------------------------------------------ merchant payments

        @rule(who=st.integers(0, USERS - 1), amount=st.integers(-5, 60_000))
        def pay_shop(self, who: int, amount: int) -> None:
            u = self.users[who]
            before = balance(db, u, "CNY")
            try:
                with db.unit_of_work() as s:
                    shop = s.get(Merchant, self.merchant)
                    assert shop is not None
                    intent = intents.do_create_intent(
                        s, merchant=shop, api_key_id=None, order_id=uuid.uuid4().hex[:16],
                        amount=amount, currency="CNY", return_url="https://shop.example/done",
                    )  # fmt: skip
                    paid = intents.do_pay_intent(s, payer_id=u, token=intent.token)
            except DomainError as err:
                assert balance(db, u, "CNY") == before
                if u in self.frozen and amount > 0:
                    assert err.code in FROZEN_REFUSALS, err.code
                return
            assert u not in self.frozen
            self.model[(u, "CNY")] -= paid.amount + paid.fee
            self.payments.append([paid.reference, u, paid.amount, 0])

        # ------------------------------------------------------------------- casework

        @rule(who=st.integers(0, USERS - 1))
        def emergency_freeze(self, who: int) -> None:
            """The customer freezes their account: no review, at once."""
            u = self.users[who]
            with db.unit_of_work() as s:
                user = s.get(User, u)
                assert user is not None
                freeze.do_emergency_freeze(s, user=user, source="app")
            self.frozen.add(u)

        @precondition(lambda self: bool(self.frozen))
        @rule(pick=st.integers(0, 100))
        def unfreeze_after_review(self, pick: int) -> None:
            """An agent proposes unfreezing on the freeze case; the agent may not approve it
            (the account stays frozen); a supervisor does."""
            u = sorted(self.frozen)[pick % len(self.frozen)]
            with db.unit_of_work() as s:
                case = cases.open_case_of_type(s, user_id=u, type="freeze")
                assert case is not None
                proposal = proposals.do_propose(
                    s, case=case, agent=s.get(User, self.agent), action="unfreeze", params={},
                    reason="Checked with the customer by phone",
                )  # fmt: skip
                assert proposal.status == "pending"
                pid = proposal.id
            try:
                self._approve(pid, self.agent)
                raise AssertionError("the proposer approved their own proposal")
            except proposals.SelfApproval:
                pass
            assert self._status(u) == "frozen"
            self._approve(pid, self.supervisor)
            assert self._status(u) == "active"
            self.frozen.discard(u)

        @precondition(lambda self: bool(self.payments))
        @rule(
            pick=st.integers(0, 100),
            amount=st.one_of(st.none(), st.integers(1, 70_000)),
        )
        def refund_through_a_case(self, pick: int, amount: int | None) -> None:
            """An agent proposes refunding a payment (in full or in part) on a dispute case;
            above ¥200 a supervisor approves. More than is left is refused, nothing moves."""
            payment = self.payments[pick % len(self.payments)]
            reference, u, paid, refunded = payment
            left = paid - refunded
            before = balance(db, u, "CNY")
            params: dict[str, Any] = {"reference": reference}
            if amount is not None:
                params["amount"] = amount
            try:
                with db.unit_of_work() as s:
                    user = s.get(User, u)
                    case = cases.open_case_of_type(s, user_id=u, type="dispute")
                    if case is None:
                        body = intake.DisputeIn(
                            type="dispute", reference=reference, reason="wrong_amount",
                            statement="The amount is not what I agreed.",
                        )  # fmt: skip
                        checked = intake.check_request(s, body=body, user=user)
                        case = cases.do_open_case(s, checked=checked, user=user)
                    proposal = proposals.do_propose(
                        s, case=case, agent=s.get(User, self.agent), action="refund",
                        params=params, reason="Refund agreed with the shop",
                    )  # fmt: skip
                    pid, status = proposal.id, proposal.status
            except DomainError as err:
                assert err.code == "refund_too_large", err.code
                assert left == 0 or (amount is not None and amount > left)
                assert balance(db, u, "CNY") == before
                return
            wanted = left if amount is None else amount
            assert 0 < wanted <= left
            if status == "pending":
                assert wanted > 200_00
                self._approve(pid, self.supervisor)
            else:
                assert status == "executed" and wanted <= 200_00
            self.model[(u, "CNY")] += wanted
            payment[3] += wanted

        def _approve(self, proposal_id: int, approver: int) -> None:
            with db.unit_of_work() as s:
                proposal = s.get(Proposal, proposal_id)
                assert proposal is not None
                proposals.do_approve(s, proposal=proposal, approver=s.get(User, approver))

        def _status(self, user_id: int) -> str:
            with db.unit_of_work(write=False) as s:
                return identity_users.get_user(s, user_id).status  # type: ignore[union-attr]

        @invariant()
        def refunds_never_above_paid(self) -> None:
            if not self.payments:
                return
            with db.unit_of_work(write=False) as s:
                refunded_by_payment = dict(
                    s.execute(
                        select(Original.reference, func.sum(Operation.amount))
                        .join(Original, Original.id == Operation.original_operation_id)
                        .where(
                            Operation.type == "refund",
                            Original.reference.in_([p[0] for p in self.payments]),
                        )
                        .group_by(Original.reference)
                    ).all()
                )
            for reference, _u, paid, refunded in self.payments:
                assert int(refunded_by_payment.get(reference, 0)) == refunded <= paid

        @invariant()
        def frozen_as_modelled(self) -> None:
            with db.unit_of_work(write=False) as s:
                frozen = set(
                    s.scalars(
                        select(User.id).where(User.id.in_(self.users), User.status == "frozen")
                    )
                )
            assert frozen == self.frozen

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
