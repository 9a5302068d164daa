"""Every proposal, rejection, approval and execution leaves an audit row saying who, what,
before → after, why, when and from where."""

from __future__ import annotations

from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.identity.models import User
from tests.casework.helpers import customer, shop_payments, team
from tests.casework.test_api import open_case, propose, restrict


def staff_id(db, email: str) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        found = s.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return found


def rows(db, proposal_id: int) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        found = list(
            s.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.object_type == "case_proposal",
                    AuditEvent.object_id == str(proposal_id),
                )
                .order_by(AuditEvent.id)
            )
        )
        s.expunge_all()
        return found


def test_a_full_flow_is_audited_who_what_before_after_why_when_where(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    people = team(client, db)
    agent, sup, sup2 = (staff_id(db, f"{n}@okpay.example") for n in ("agent", "sup", "sup2"))
    uid, me = customer(client, db)
    restrict(db, uid)
    case_id = open_case(client, me, type="appeal", statement="These were payments to my family.")
    case_id = case_id.json()["id"]
    where = {"X-Forwarded-For": "203.0.113.7"}

    # 1. Proposed, then rejected by a supervisor.
    first = propose(client, {**people["agent"], **where}, case_id, "lift_restriction",
                    reason="Family payments, documents match")  # fmt: skip
    first_id = first.json()["id"]
    clock.advance(minutes=5)
    no = client.post(
        f"/api/v1/agent/proposals/{first_id}/reject",
        headers=people["sup"],
        json={"reason": "Ask for the bank statement first"},
    )
    assert no.status_code == 200, no.text
    made, rejected = rows(db, first_id)
    assert made.action == "case_proposal_made"
    assert (made.actor_user_id, made.subject_user_id) == (agent, uid)
    assert made.data["proposed_action"] == "lift_restriction"
    assert made.data["case_id"] == case_id
    assert made.data["before"]["status"] == "restricted"
    assert made.data["after"]["status"] == "active"
    assert made.data["reason"] == "Family payments, documents match"
    assert made.at is not None and made.ip and made.channel
    assert rejected.action == "case_proposal_rejected"
    assert (rejected.actor_user_id, rejected.subject_user_id) == (sup, uid)
    assert rejected.data["reason"] == "Ask for the bank statement first"
    assert rejected.data["before"] == made.data["before"]
    assert rejected.data["after"] == made.data["after"]
    assert rejected.data["proposed_by"] == agent
    assert rejected.at > made.at and rejected.ip

    # 2. Proposed again and approved by the other supervisor: carried out.
    second_id = propose(client, people["agent"], case_id, "lift_restriction",
                        reason="Bank statement received and matches").json()["id"]  # fmt: skip
    clock.advance(minutes=5)
    yes = client.post(
        f"/api/v1/agent/proposals/{second_id}/approve",
        headers={**people["sup2"], **where},
        json={"note": "Statement checked"},
    )
    assert yes.status_code == 200, yes.text
    made2, executed = rows(db, second_id)
    assert made2.action == "case_proposal_made"
    assert executed.action == "case_proposal_executed"
    assert (executed.actor_user_id, executed.subject_user_id) == (sup2, uid)
    data = executed.data
    assert (data["proposed_by"], data["approved_by"]) == (agent, sup2)
    assert data["proposed_action"] == "lift_restriction" and data["case_id"] == case_id
    assert data["before"]["status"] == "restricted" and data["after"]["status"] == "active"
    assert data["reason"] == "Bank statement received and matches"
    assert data["note"] == "Statement checked"
    assert executed.at > made2.at and executed.ip

    # The wallet's own row for the change and the case's decision are there as well.
    with db.unit_of_work(write=False) as s:
        actions = [
            (e.action, e.actor_user_id)
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.subject_user_id == uid).order_by(AuditEvent.id)
            )
        ]
    assert ("account_released", sup2) in actions
    assert ("case_decided", sup2) in actions


def test_a_one_person_action_is_audited_as_made_and_executed_by_the_same_person(client, db) -> None:  # type: ignore[no-untyped-def]
    people = team(client, db)
    agent = staff_id(db, "agent@okpay.example")
    uid, me = customer(client, db)
    frozen = client.post("/api/v1/me/emergency-freeze", headers=me)
    case_id = frozen.json()["case_id"]
    # The customer's own freeze is audited with the customer as actor.
    with db.unit_of_work(write=False) as s:
        freeze_row = s.scalar(select(AuditEvent).where(AuditEvent.action == "emergency_freeze"))
        assert freeze_row is not None and freeze_row.actor_user_id == uid and freeze_row.ip
    pid = propose(client, people["agent"], case_id, "unfreeze", reason="Customer called back")
    assert pid.json()["status"] == "pending"
    (made,) = rows(db, pid.json()["id"])
    assert made.actor_user_id == agent and made.data["after"]["status"] == "active"
    assert made.data["needs_approval"] is True

    # A small refund runs at once: made and executed by the agent, no approver.
    other, other_h = customer(client, db, "lin@example.com")
    (ref,) = shop_payments(db, other, 150_00, count=1)
    dispute = open_case(client, other_h, type="dispute", reference=ref, reason="not_received",
                        statement="The coffee never arrived.")  # fmt: skip
    small = propose(client, people["agent"], dispute.json()["id"], "refund", reference=ref)
    assert small.json()["status"] == "executed", small.text
    made, executed = rows(db, small.json()["id"])
    assert (made.action, executed.action) == ("case_proposal_made", "case_proposal_executed")
    assert executed.actor_user_id == agent and executed.subject_user_id == other
    assert executed.data["approved_by"] is None and executed.data["proposed_by"] == agent
    assert executed.data["before"]["refunded"] == 0
    assert executed.data["after"]["refunded"] == 150_00
    assert executed.data["result"]["refund_reference"]
