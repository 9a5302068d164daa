"""Risk review cases: an operation the risk controls hold opens a security case (24 calendar
hours) and e-mails the customer; a reviewer releases or rejects it through four eyes; a
blocked card-testing attack opens one case; customers never see the rules' internals."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from okpay.casework.models import Case, Proposal
from okpay.identity.models import Role
from okpay.risk import rules
from okpay.risk.models import RuleStatus
from okpay.support.models import Ticket
from okpay.wallet import flows
from okpay.wallet.models import Operation, PaymentMethod
from tests.casework.helpers import customer, staff
from tests.helpers import PASSWORD, post_form
from tests.wallet.helpers import assert_ledger_consistent, balance, make_user

HOLD_CODE = "hold_large_test"


def install_hold_rule(db, operations: list[str], condition: str = "amount_cny >= 100") -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        rules.do_create_rule(
            s,
            spec=rules.RuleSpec(
                HOLD_CODE, "Large amounts are held (test)", operations, condition, 70, "hold",
                "unusual_amount",
            ),
            actor_id=None,
            status=RuleStatus.live,
        )  # fmt: skip


def security(client, db):  # type: ignore[no-untyped-def]
    return {
        "agent": staff(client, db, "agent@okpay.example", role=Role.agent, team="security"),
        "agent2": staff(client, db, "agent2@okpay.example", role=Role.agent, team="security"),
        "sup": staff(client, db, "sup@okpay.example", role=Role.supervisor, team="security"),
    }


def send(uid: int, recipient: str, amount: int):  # type: ignore[no-untyped-def]
    body = {"recipient": recipient, "amount": amount, "currency": "CNY"}
    idem = flows.idempotency(uid, uuid.uuid4().hex, "transfer", body)
    return flows.transfer(
        idem, sender_id=uid, recipient=recipient, amount=amount, currency="CNY", note=""
    )


def add_bank(client, headers) -> int:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/wallet/payment-methods/bank-accounts",
        headers=headers,
        json={"account_number": "6222020200112233445", "bank_name": "中国工商银行",
              "holder_name": "李梅"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def withdraw(uid: int, method_id: int, amount: int):  # type: ignore[no-untyped-def]
    body = {"payment_method_id": method_id, "amount": amount, "currency": "CNY"}
    idem = flows.idempotency(uid, uuid.uuid4().hex, "withdrawal", body)
    return flows.withdrawal(
        idem, user_id=uid, payment_method_id=method_id, amount=amount, currency="CNY"
    )


def the_case(db, uid: int) -> Case:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        found = s.query(Case).filter_by(user_id=uid, type="risk_review").one()
        s.expunge(found)
        return found


def propose(
    client,
    headers,
    case_id: int,
    action: str,
    reference: str,
    reason: str = "Checked with the customer",
):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/agent/cases/{case_id}/proposals",
        headers=headers,
        json={"action": action, "params": {"reference": reference}, "reason": reason},
    )


def approve(client, headers, pid: int):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=headers)


def op_of(db, reference: str) -> Operation:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        op = s.query(Operation).filter_by(reference=reference).one()
        s.expunge(op)
        return op


def test_held_transfer_opens_case_and_is_released_by_a_supervisor(
    client, db, mailbox, clock
) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["transfer"])
    uid, _headers = customer(client, db)
    li = make_user(db, "li@example.com")
    answer = send(uid, "li@example.com", 150_00)
    assert answer.status == 202 and answer.body["status"] == "on_hold"
    reference = answer.body["reference"]
    case = the_case(db, uid)
    assert case.due_at is not None and case.due_at - case.created_at == timedelta(hours=24)
    assert case.details["held"][0]["reference"] == reference
    with db.unit_of_work(write=False) as s:
        ticket = s.get(Ticket, case.ticket_id)
        assert ticket.team == "security" and ticket.priority == "urgent"
        number = ticket.number
    mail = mailbox.text(mailbox.last("mei@example.com"))
    assert reference in mail and number in mail and "/support/requests/" in mail
    assert HOLD_CODE not in mail and "amount_cny" not in mail
    # A second held transfer joins the same case.
    second = send(uid, "li@example.com", 120_00)
    assert second.status == 202
    case = the_case(db, uid)
    assert [h["reference"] for h in case.details["held"]] == [reference, second.body["reference"]]

    team = security(client, db)
    made = propose(client, team["agent"], case.id, "release_held", reference)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "pending" and body["needs_approval"]
    changes = {c["label"]: (c["before"], c["after"]) for c in body["changes"]}
    assert changes["Payment status"] == ("On hold for review", "Completed")
    assert changes["Recipient"][0] == changes["Recipient"][1] != "—"
    # The proposer cannot approve, and an agent may not approve a release.
    assert approve(client, team["agent"], body["id"]).json()["error"]["code"] == "self_approval"
    refused = approve(client, team["agent2"], body["id"])
    assert refused.json()["error"]["code"] == "approval_not_allowed"
    done = approve(client, team["sup"], body["id"])
    assert done.status_code == 200 and done.json()["status"] == "executed", done.text
    assert op_of(db, reference).status == "completed"
    assert balance(db, li)[0] == 150_00
    # One payment is still held: the case stays open; the customer hears of this one.
    assert the_case(db, uid).status == "in_review"
    update = mailbox.text(mailbox.last("mei@example.com"))
    assert reference in update and HOLD_CODE not in update
    rejected = propose(client, team["agent"], case.id, "reject_held", second.body["reference"],
                       reason="The customer did not recognise it")  # fmt: skip
    assert rejected.status_code == 201, rejected.text
    done = approve(client, team["agent2"], rejected.json()["id"])  # another agent may approve
    assert done.json()["status"] == "executed", done.text
    op = op_of(db, second.body["reference"])
    assert op.status == "cancelled" and op.failure_code == "rejected_in_review"
    final = the_case(db, uid)
    assert (
        final.status == "rejected" and final.decision_reason == "The customer did not recognise it"
    )
    assert balance(db, uid)[1] == 0
    assert_ledger_consistent(db)


def test_held_withdrawal_release_asks_for_payout(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["withdrawal"])
    uid, headers = customer(client, db)
    method_id = add_bank(client, headers)
    answer = withdraw(uid, method_id, 200_00)
    assert answer.status == 202 and answer.body["status"] == "on_hold"
    reference = answer.body["reference"]
    assert balance(db, uid)[1] > 0
    case = the_case(db, uid)
    team = security(client, db)
    made = propose(client, team["agent"], case.id, "release_held", reference).json()
    changes = {c["label"]: (c["before"], c["after"]) for c in made["changes"]}
    assert changes["Payment status"] == ("On hold for review", "Pending")
    assert "3445" in changes["Bank account"][0]
    done = approve(client, team["sup"], made["id"])
    assert done.json()["status"] == "executed", done.text
    op = op_of(db, reference)
    assert op.status == "pending" and op.external_ref  # the payout was asked for
    assert the_case(db, uid).status == "approved"
    mail = mailbox.text(mailbox.last("mei@example.com"))
    assert reference in mail and "amount_cny" not in mail
    assert_ledger_consistent(db)


def test_reject_releases_funds_and_stale_proposal_is_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["withdrawal"])
    uid, headers = customer(client, db)
    method_id = add_bank(client, headers)
    before = balance(db, uid)
    reference = withdraw(uid, method_id, 300_00).body["reference"]
    case = the_case(db, uid)
    team = security(client, db)
    release = propose(client, team["agent"], case.id, "release_held", reference).json()
    reject = propose(client, team["agent"], case.id, "reject_held", reference,
                     reason="Payee looks like a money mule").json()  # fmt: skip
    done = approve(client, team["agent2"], reject["id"])
    assert done.json()["status"] == "executed", done.text
    assert balance(db, uid) == before
    op = op_of(db, reference)
    assert op.status == "cancelled"
    # The case was decided: the pending release was withdrawn, never run.
    with db.unit_of_work(write=False) as s:
        assert s.get(Proposal, release["id"]).status == "withdrawn"
    assert approve(client, team["sup"], release["id"]).json()["error"]["code"] == (
        "proposal_not_pending"
    )
    assert_ledger_consistent(db)


def test_stale_release_is_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["withdrawal"])
    uid, headers = customer(client, db)
    method_id = add_bank(client, headers)
    reference = withdraw(uid, method_id, 300_00).body["reference"]
    case = the_case(db, uid)
    team = security(client, db)
    release = propose(client, team["agent"], case.id, "release_held", reference).json()
    # The operation changes behind the proposal (rejected outside casework).
    from okpay.wallet import held

    with db.unit_of_work() as s:
        held.do_reject(s, operation_id=op_of(db, reference).id, actor_user_id=None)
    refused = approve(client, team["sup"], release["id"])
    assert refused.json()["error"]["code"] == "proposal_stale"
    with db.unit_of_work(write=False) as s:
        assert s.get(Proposal, release["id"]).status == "stale"
    assert op_of(db, reference).status == "cancelled"


def test_customer_sees_no_rule_internals(client, db) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["transfer"])
    uid, headers = customer(client, db)
    make_user(db, "li@example.com")
    reference = send(uid, "li@example.com", 150_00).body["reference"]
    shown = client.get(f"/api/v1/wallet/operations/{reference}", headers=headers)
    assert shown.status_code == 200 and shown.json()["status"] == "on_hold"
    cases = client.get("/api/v1/support/cases", headers=headers).text
    for text in (shown.text, cases):
        assert HOLD_CODE not in text and "amount_cny" not in text and "features" not in text


@pytest.mark.parametrize("attempts", [6])
def test_card_testing_blocks_and_opens_one_case(client, db, mailbox, attempts) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        rules.do_create_rule(
            s,
            spec=rules.RuleSpec("card_testing_t", "Card testing (test)", ["card_topup"],
                                "failed_topups_1h >= 5", 90, "block", "card_testing"),
            actor_id=None, status=RuleStatus.live,
        )  # fmt: skip
    uid, headers = customer(client, db, amount=0)
    card = client.post(
        "/api/v1/wallet/payment-methods/cards",
        headers=headers,
        json={"card_number": "4000 0000 0000 9995", "exp_month": 12, "exp_year": 2030,
              "cvc": "123"},
    )  # fmt: skip
    assert card.status_code == 201, card.text
    method_id = card.json()["id"]
    codes = []
    for _ in range(attempts + 1):
        response = client.post(
            "/api/v1/wallet/topups/card",
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            json={"payment_method_id": method_id, "amount": "10", "currency": "CNY"},
        )
        codes.append(response.status_code)
        last = response
    assert last.status_code == 403 and last.json()["error"]["code"] == "risk_blocked"
    case = the_case(db, uid)
    assert len(case.details["blocked"]) == codes.count(403) >= 2
    with db.unit_of_work(write=False) as s:
        assert s.get(Ticket, case.ticket_id).team == "security"
        assert s.query(PaymentMethod).count() == 1
    # One e-mail for the case, not one per blocked attempt.
    assert len(mailbox.to("mei@example.com")) == 1


def test_customer_pages_show_hold_in_plain_words(client, db) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["transfer"])
    uid, headers = customer(client, db)
    client.patch("/api/v1/me", json={"preferred_locale": "zh_CN"}, headers=headers)
    make_user(db, "li@example.com")
    reference = send(uid, "li@example.com", 150_00).body["reference"]
    case = the_case(db, uid)
    assert (
        post_form(client, "/login", {"email": "mei@example.com", "password": PASSWORD}).status_code
        == 303
    )
    page = client.get(f"/wallet/tx/{reference}")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-testid="tx-on-hold"' in html and "审核中" in html
    assert "这笔金额远高于您平常的付款" in html and f"/support/cases/{case.id}" in html
    assert HOLD_CODE not in html and "amount_cny" not in html
    listed = client.get("/wallet/history").text
    assert reference in listed and "审核中" in listed
    shown = client.get(f"/support/cases/{case.id}").text
    assert reference in shown and HOLD_CODE not in shown and "amount_cny" not in shown
    # Rejected: the failure message, still no internals.
    with db.unit_of_work() as s:
        from okpay.wallet import held

        held.do_reject(s, operation_id=op_of(db, reference).id, actor_user_id=None)
    html = client.get(f"/wallet/tx/{reference}").text
    assert 'data-testid="tx-failure"' in html and "未放行这笔交易" in html


def test_a_held_payment_is_not_released_from_an_account_frozen_since(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    """The customer froze their account after the hold ("this wasn't me"): an approved
    release must not send the money anyway. The approval is refused, the money stays held,
    and rejecting it still works."""
    from okpay.wallet import standing

    install_hold_rule(db, ["transfer"])
    uid, _headers = customer(client, db)
    li = make_user(db, "li@example.com")
    reference = send(uid, "li@example.com", 150_00).body["reference"]
    held_before = balance(db, uid)
    with db.unit_of_work() as s:
        standing.do_freeze(s, user_id=uid, reason="Customer reported fraud", actor_user_id=None)
    case = the_case(db, uid)
    team = security(client, db)
    made = propose(client, team["agent"], case.id, "release_held", reference)
    assert made.status_code == 201, made.text
    refused = approve(client, team["sup"], made.json()["id"])
    assert refused.json()["error"]["code"] == "account_frozen", refused.text
    assert op_of(db, reference).status == "on_hold"
    assert balance(db, uid) == held_before and balance(db, li) == (0, 0)
    rejected = propose(client, team["agent"], case.id, "reject_held", reference, reason="Fraud")
    assert approve(client, team["agent2"], rejected.json()["id"]).json()["status"] == "executed"
    assert op_of(db, reference).status == "cancelled"
    assert balance(db, uid)[1] == 0
