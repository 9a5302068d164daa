"""Four eyes under races, on PostgreSQL with real parallel connections: two supervisors
approving one proposal at the same moment give exactly one execution, and an approval racing
a change of the wallet never carries out a proposal made against the old state."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from okpay.casework import cases, intake, proposals
from okpay.casework.models import Proposal
from okpay.core.audit import AuditEvent
from okpay.core.errors import DomainError
from okpay.identity.models import Role, User
from okpay.wallet import standing
from okpay.wallet.models import Operation
from tests.casework.helpers import customer, shop_payments, team
from tests.casework.test_api import open_case, propose, restrict
from tests.support.helpers import make_staff
from tests.wallet.helpers import assert_ledger_consistent, balance, make_user

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def pg(db):  # type: ignore[no-untyped-def]
    assert db.dialect == "postgresql"
    return db


def _count(pg, model, *where) -> int:  # type: ignore[no-untyped-def]
    with pg.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_two_supervisors_approving_one_refund_at_once_execute_it_once(client, pg, mailbox) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, pg)
    uid, me = customer(client, pg)
    first, second = shop_payments(pg, uid, 350_00)
    case_id = open_case(
        client, me, type="dispute", reference=second, reason="charged_twice", duplicate_of=first
    ).json()["id"]
    made = propose(client, staff["agent"], case_id, "refund", reference=second)
    assert made.status_code == 201 and made.json()["status"] == "pending", made.text
    pid = made.json()["id"]
    before = balance(pg, uid)[0]
    refunds_before = _count(pg, Operation, Operation.type == "refund")
    start = threading.Barrier(2)

    def approve(who: str):  # type: ignore[no-untyped-def]
        start.wait()
        return client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=staff[who])

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(approve, ["sup", "sup2"]))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.json()["error"]["code"] == "proposal_not_pending"
    assert balance(pg, uid)[0] == before + 350_00  # credited once
    assert _count(pg, Operation, Operation.type == "refund") == refunds_before + 1
    assert _count(pg, AuditEvent, AuditEvent.action == "case_proposal_executed") == 1
    with pg.unit_of_work(write=False) as s:
        row = s.get(Proposal, pid)
        assert row is not None and row.status == "executed"
        winner = next(a for a in answers if a.status_code == 200)
        assert row.result == winner.json()["result"]
    assert_ledger_consistent(pg)


def test_many_approvers_at_once_on_a_lift_execute_once(pg) -> None:  # type: ignore[no-untyped-def]
    """Service level, eight supervisors each in their own unit of work."""
    agent_id = make_staff(pg, "agent@okpay.example", team="compliance", role=Role.agent)
    sups = [
        make_staff(pg, f"sup{i}@okpay.example", team="compliance", role=Role.supervisor)
        for i in range(8)
    ]
    uid = make_user(pg, "mei@example.com")
    restrict(pg, uid)
    with pg.unit_of_work() as s:
        user = s.get(User, uid)
        body = intake.AppealIn(type="appeal", statement="These were payments to my family.")
        case = cases.do_open_case(
            s, checked=intake.check_request(s, body=body, user=user), user=user
        )
        agent = s.get(User, agent_id)
        pid = proposals.do_propose(
            s, case=case, agent=agent, action="lift_restriction", params={}, reason="Checked docs"
        ).id
    start = threading.Barrier(len(sups))

    def approve(sup_id: int) -> str:
        start.wait()
        try:
            with pg.unit_of_work() as s:
                proposal = proposals.get_proposal(s, agent=s.get(User, sup_id), proposal_id=pid)
                proposals.do_approve(s, proposal=proposal, approver=s.get(User, sup_id))
            return "ok"
        except DomainError as err:
            return err.code

    with ThreadPoolExecutor(max_workers=len(sups)) as pool:
        results = list(pool.map(approve, sups))
    assert results.count("ok") == 1, results
    assert set(results) - {"ok"} == {"proposal_not_pending"}
    assert _count(pg, AuditEvent, AuditEvent.action == "account_released") == 1
    assert _count(pg, AuditEvent, AuditEvent.action == "case_proposal_executed") == 1
    with pg.unit_of_work(write=False) as s:
        assert s.get(User, uid).status == "active"  # type: ignore[union-attr]


def _wait_until_blocked(pg, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    from tests.wallet.test_concurrency import _wait_until_blocked as wait

    wait(pg, timeout)


def test_an_approval_waiting_behind_a_release_finds_its_proposal_stale(client, pg) -> None:  # type: ignore[no-untyped-def]
    """Another transaction releases the restriction while the approval waits for its locks:
    once that commits, the approval sees the account changed and carries out nothing."""
    staff = team(client, pg)
    uid, me = customer(client, pg)
    restrict(pg, uid)
    case_id = open_case(client, me, type="appeal", statement="Please review my account").json()[
        "id"
    ]
    pid = propose(client, staff["agent"], case_id, "lift_restriction").json()["id"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        with pg.unit_of_work() as s:
            standing.do_release(s, user_id=uid, actor_user_id=None, note="operator")
            pending = pool.submit(
                client.post, f"/api/v1/agent/proposals/{pid}/approve", headers=staff["sup"]
            )
            _wait_until_blocked(pg)
        answer = pending.result(timeout=30)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "proposal_stale"
    assert _count(pg, AuditEvent, AuditEvent.action == "account_released") == 1
    assert _count(pg, AuditEvent, AuditEvent.action == "case_proposal_executed") == 0
    with pg.unit_of_work(write=False) as s:
        assert s.get(Proposal, pid).status == "stale"  # type: ignore[union-attr]
        assert s.get(User, uid).status == "active"  # type: ignore[union-attr]


def test_an_approval_and_a_release_at_once_never_both_act(client, pg) -> None:  # type: ignore[no-untyped-def]
    """Whichever comes first wins; the other finds the account changed."""
    staff = team(client, pg)
    uid, me = customer(client, pg)
    restrict(pg, uid)
    case_id = open_case(client, me, type="appeal", statement="Please review my account").json()[
        "id"
    ]
    pid = propose(client, staff["agent"], case_id, "lift_restriction").json()["id"]
    start = threading.Barrier(2)

    def approve() -> int:
        start.wait()
        return client.post(
            f"/api/v1/agent/proposals/{pid}/approve", headers=staff["sup"]
        ).status_code

    def restrict_more() -> str:
        start.wait()
        with pg.unit_of_work() as s:
            standing.do_restrict(s, user_id=uid, blocked=["pay"], reason="More", actor_user_id=None)
        return "ok"

    with ThreadPoolExecutor(max_workers=2) as pool:
        approved = pool.submit(approve)
        restricted = pool.submit(restrict_more)
        status, _ = approved.result(timeout=30), restricted.result(timeout=30)
    with pg.unit_of_work(write=False) as s:
        row = s.get(Proposal, pid)
        user = s.get(User, uid)
        assert row is not None and user is not None
        # Either the lift ran first and the new restriction applies after it, or the new
        # restriction came first and the proposal is stale: the account is restricted.
        assert user.status == "restricted"
        if status == 200:
            assert row.status == "executed"
        else:
            assert status == 409 and row.status == "stale"


def test_a_refund_approval_waiting_behind_the_shops_refund_is_stale(client, pg) -> None:  # type: ignore[no-untyped-def]
    """The shop refunds part of the payment while the approval waits for the payment's lock:
    the proposal (the whole ¥350) would now refund more than is left, so nothing moves."""
    from okpay.wallet import merchants

    staff = team(client, pg)
    uid, me = customer(client, pg)
    first, second = shop_payments(pg, uid, 350_00)
    case_id = open_case(
        client, me, type="dispute", reference=second, reason="charged_twice", duplicate_of=first
    ).json()["id"]
    pid = propose(client, staff["agent"], case_id, "refund", reference=second).json()["id"]
    before = balance(pg, uid)[0]
    with ThreadPoolExecutor(max_workers=1) as pool:
        with pg.unit_of_work() as s:
            merchants.do_refund(s, payment_reference=second, amount=50_00, actor_user_id=None)
            pending = pool.submit(
                client.post, f"/api/v1/agent/proposals/{pid}/approve", headers=staff["sup"]
            )
            _wait_until_blocked(pg)
        answer = pending.result(timeout=30)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "proposal_stale"
    assert balance(pg, uid)[0] == before + 50_00  # the shop's refund only
    assert _count(pg, Operation, Operation.type == "refund") == 1
    with pg.unit_of_work(write=False) as s:
        assert s.get(Proposal, pid).status == "stale"  # type: ignore[union-attr]
    assert_ledger_consistent(pg)
