"""Casework through its JSON API: a customer's request becomes a case on a ticket; staff act
on the wallet only through proposals a second person approves; every refusal leaves the
wallet as it was."""

from __future__ import annotations

from sqlalchemy import func, select

from okpay.casework.models import Case, Proposal
from okpay.core.audit import AuditEvent
from okpay.identity.models import User
from okpay.support.models import Ticket
from okpay.wallet import standing
from tests.casework.helpers import customer, shop_payments, team, transfer
from tests.wallet.helpers import assert_ledger_consistent, balance, make_user


def restrict(db, uid: int) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        standing.do_restrict(
            s, user_id=uid, blocked=["transfer", "withdraw"],
            reason="Unusual activity under review", actor_user_id=None,
        )  # fmt: skip


def open_case(client, headers, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/support/cases", headers=headers, json=body)


def propose(
    client, headers, case_id: int, action: str, reason: str = "Checked with the customer", **params
):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/agent/cases/{case_id}/proposals",
        headers=headers,
        json={"action": action, "params": params, "reason": reason},
    )


def approve(client, headers, pid: int):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=headers)


def audit_count(db, action: str) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0)


def test_appeal_lift_under_four_eyes(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    make_user(db, "friend@example.com")
    restrict(db, uid)
    refused = transfer(client, me, "friend@example.com")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_restricted"

    made = open_case(client, me, type="appeal", statement="These were payments to my family.")
    assert made.status_code == 201, made.text
    case_id, number = made.json()["id"], made.json()["number"]
    assert made.json()["status"] == "submitted"
    assert "Appeal" in mailbox.text(mailbox.last("mei@example.com"))

    listed = client.get("/api/v1/agent/cases?status=open", headers=staff["agent"]).json()
    row = next(i for i in listed["items"] if i["id"] == case_id)
    assert row["type"] == "appeal" and row["ticket_number"] == number and row["user_id"] == uid

    proposal = propose(client, staff["agent"], case_id, "lift_restriction")
    assert proposal.status_code == 201, proposal.text
    assert proposal.json()["status"] == "pending"
    changes = {c["label"]: (c["before"], c["after"]) for c in proposal.json()["changes"]}
    assert changes["Account status"] == ("Restricted", "Active")
    pid = proposal.json()["id"]
    # Nothing changes before approval.
    assert transfer(client, me, "friend@example.com").status_code == 403

    own = client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=staff["agent"])
    assert own.status_code == 403 and own.json()["error"]["code"] == "self_approval"
    approved = client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=staff["sup"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "executed"

    assert transfer(client, me, "friend@example.com").status_code == 201
    mine = client.get(f"/api/v1/support/cases/{case_id}", headers=me).json()
    assert mine["status"] == "approved" and mine["decision_reason"] == "Checked with the customer"
    with db.unit_of_work(write=False) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None and ticket.status == "resolved"
    last = mailbox.text(mailbox.last("mei@example.com"))
    assert "approved" in last and "/rate" in last
    assert audit_count(db, "case_proposal_made") == 1
    assert audit_count(db, "case_proposal_executed") == 1
    # A decided proposal cannot be approved again.
    again = client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=staff["sup2"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "proposal_not_pending"


def test_agent_role_may_not_approve_and_customer_may_not_use_staff_api(client, db) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    restrict(db, uid)
    case_id = open_case(client, me, type="appeal", statement="Please review my account").json()[
        "id"
    ]
    pid = propose(client, staff["sup"], case_id, "lift_restriction").json()["id"]
    by_agent = client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=staff["agent"])
    assert by_agent.status_code == 403
    assert by_agent.json()["error"]["code"] == "approval_not_allowed"
    for path in (
        "/api/v1/agent/cases",
        f"/api/v1/agent/cases/{case_id}",
    ):
        assert client.get(path, headers=me).status_code == 403
    assert client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=me).status_code == 403
    assert propose(client, me, case_id, "lift_restriction").status_code == 403
    with db.unit_of_work(write=False) as s:
        assert s.get(User, uid).status == "restricted"  # type: ignore[union-attr]
        assert s.get(Proposal, pid).status == "pending"  # type: ignore[union-attr]


def test_stale_proposal_is_refused_and_marked(client, db) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    restrict(db, uid)
    case_id = open_case(client, me, type="appeal", statement="Please review my account").json()[
        "id"
    ]
    pid = propose(client, staff["agent"], case_id, "lift_restriction").json()["id"]
    # The account changes after the proposal: a second restriction.
    with db.unit_of_work() as s:
        standing.do_restrict(s, user_id=uid, blocked=["pay"], reason="More", actor_user_id=None)
    stale = client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=staff["sup"])
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "proposal_stale"
    with db.unit_of_work(write=False) as s:
        assert s.get(Proposal, pid).status == "stale"  # type: ignore[union-attr]
        assert s.get(User, uid).status == "restricted"  # type: ignore[union-attr]
        assert s.get(Case, case_id).status == "in_review"  # type: ignore[union-attr]


def test_extra_fields_and_bad_requests_are_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    restrict(db, uid)
    extra = open_case(client, me, type="appeal", statement="Please review", status="approved")
    assert extra.status_code == 422
    short = open_case(client, me, type="appeal", statement="no")
    assert short.status_code == 422 and short.json()["error"]["code"] == "statement_required"
    case_id = open_case(client, me, type="appeal", statement="Please review my account").json()[
        "id"
    ]
    twice = open_case(client, me, type="appeal", statement="Please review my account again")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "case_already_open"
    bad_params = propose(client, staff["agent"], case_id, "lift_restriction", role="admin")
    assert bad_params.status_code == 422 and bad_params.json()["error"]["code"] == "params_invalid"
    body_extra = client.post(
        f"/api/v1/agent/cases/{case_id}/proposals",
        headers=staff["agent"],
        json={"action": "freeze", "params": {}, "reason": "x" * 10, "execute_now": True},
    )
    assert body_extra.status_code == 422
    unknown = propose(client, staff["agent"], case_id, "delete_account")
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "action_invalid"
    no_reason = propose(client, staff["agent"], case_id, "lift_restriction", reason="")
    assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "reason_required"
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Proposal)) == 0
        assert s.get(User, uid).status == "restricted"  # type: ignore[union-attr]


def test_duplicate_charge_refund(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    first, second = shop_payments(db, uid, 350_00)
    before = balance(db, uid)[0]
    made = open_case(
        client, me, type="dispute", reference=second, reason="charged_twice", duplicate_of=first
    )
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    detail = client.get(f"/api/v1/agent/cases/{case_id}", headers=staff["agent"]).json()
    assert detail["details"]["duplicate_of"] == first

    too_much = propose(client, staff["agent"], case_id, "refund", reference=second, amount=350_01)
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "refund_too_large"
    proposal = propose(client, staff["agent"], case_id, "refund", reference=second)
    assert proposal.status_code == 201 and proposal.json()["status"] == "pending"  # ¥350 > ¥200
    approved = client.post(
        f"/api/v1/agent/proposals/{proposal.json()['id']}/approve", headers=staff["sup"]
    )
    assert approved.status_code == 200, approved.text
    refund_ref = approved.json()["result"]["refund_reference"]
    assert balance(db, uid)[0] == before + 350_00
    history = client.get("/api/v1/wallet/history", headers=me).json()
    assert any(item["reference"] == refund_ref for item in history["items"])
    assert_ledger_consistent(db)


def test_small_refund_by_one_agent_and_others_transactions(client, db) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    other, _other_h = customer(client, db, "other@example.com")
    (mine,) = shop_payments(db, uid, 150_00, count=1)
    (theirs,) = shop_payments(db, other, 150_00, count=1)
    stranger = open_case(client, me, type="dispute", reference=theirs, reason="wrong_amount",
                         statement="The amount is not what I agreed to pay.")  # fmt: skip
    assert stranger.status_code == 404
    assert stranger.json()["error"]["code"] == "transaction_not_found"
    case_id = open_case(
        client, me, type="dispute", reference=mine, reason="not_received",
        statement="The coffee never arrived at my table.",
    ).json()["id"]  # fmt: skip
    naming_other = propose(client, staff["agent"], case_id, "refund", reference=theirs)
    assert naming_other.status_code == 404
    before = balance(db, uid)[0]
    now = propose(client, staff["agent"], case_id, "refund", reference=mine)
    assert now.status_code == 201 and now.json()["status"] == "executed"  # ¥150 ≤ ¥200
    assert balance(db, uid)[0] == before + 150_00
    assert balance(db, other)[0] == 1_000_00 - 150_00
    assert_ledger_consistent(db)


def test_emergency_freeze_and_reviewed_unfreeze(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    _friend, friend_h = customer(client, db, "friend@example.com")
    frozen = client.post("/api/v1/me/emergency-freeze", headers=me)
    assert frozen.status_code == 200, frozen.text
    case_id = frozen.json()["case_id"]
    # Every session ended: the old token no longer works.
    assert client.get("/api/v1/me", headers=me).status_code == 401
    from tests.helpers import api_token

    me = api_token(client, "mei@example.com")
    out = transfer(client, me, "friend@example.com")
    assert out.status_code == 403 and out.json()["error"]["code"] == "account_frozen"
    before = balance(db, uid)[0]
    assert transfer(client, friend_h, "mei@example.com", "5.00").status_code == 201
    assert balance(db, uid)[0] == before + 5_00
    detail = client.get(f"/api/v1/agent/cases/{case_id}", headers=staff["agent"]).json()
    assert detail["type"] == "freeze" and detail["priority"] == "urgent"
    assert detail["team"] == "security"
    reason = "Customer confirmed by phone"
    pid = propose(client, staff["agent"], case_id, "unfreeze", reason=reason).json()["id"]
    assert transfer(client, me, "friend@example.com").status_code == 403
    assert approve(client, staff["sup"], pid).status_code == 200
    assert transfer(client, me, "friend@example.com").status_code == 201
    assert audit_count(db, "emergency_freeze") == 1


def test_verification_level_and_limit_override(client, db) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    with db.unit_of_work() as s:
        s.get(User, uid).verification_level = 0  # type: ignore[union-attr]
    made = open_case(client, me, type="verification", level=1)
    assert made.status_code == 201, made.text
    case_id = made.json()["id"]
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 400), (230, 230, 230)).save(buf, "PNG")
    png = buf.getvalue()
    added = client.post(
        f"/api/v1/support/cases/{case_id}/evidence",
        headers=me,
        data={"kind": "passport"},
        files=[("files", ("passport.png", png, "image/png"))],
    )
    assert added.status_code == 201, added.text
    evidence_id = added.json()["evidence"][0]["id"]
    assert added.json()["evidence"][0]["kind"] == "passport"
    # The reviewer opens it: watermarked (not the bytes the customer sent), and audited.
    seen = client.get(f"/api/v1/agent/cases/{case_id}/evidence/{evidence_id}", headers=staff["sup"])
    assert seen.status_code == 200 and seen.content != png
    assert audit_count(db, "case_evidence_viewed") == 1
    # An agent of another team may not.
    from okpay.identity.models import Role
    from tests.casework.helpers import staff as make_staff_member

    other = make_staff_member(client, db, "front@okpay.example", role=Role.agent, team="frontline")
    url = f"/api/v1/agent/cases/{case_id}/evidence/{evidence_id}"
    assert client.get(url, headers=other).status_code == 403

    pid = propose(client, staff["agent"], case_id, "set_verification_level", level=1).json()["id"]
    assert approve(client, staff["sup"], pid).status_code == 200
    with db.unit_of_work(write=False) as s:
        assert s.get(User, uid).verification_level == 1  # type: ignore[union-attr]
        assert s.get(Case, case_id).status == "approved"  # type: ignore[union-attr]

    asked = open_case(
        client, me, type="limit_increase", operation="transfer", period="daily",
        amount="200000.00", days=30, statement="Buying a car next month.",
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    pid = propose(
        client, staff["agent"], asked.json()["id"], "grant_limit_override",
        operation="transfer", daily=200_000_00, days=30,
    ).json()["id"]  # fmt: skip
    assert approve(client, staff["sup"], pid).status_code == 200
    from okpay.wallet import overrides

    with db.unit_of_work(write=False) as s:
        limit = overrides.effective_limits(s, user_id=uid, op_type="transfer", level=1)
        assert limit.daily == 200_000_00


def test_assisted_unlock_for_a_signed_out_customer(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, _me = customer(client, db)
    make_user(db, "friend@example.com")
    with db.unit_of_work() as s:
        s.get(User, uid).status = "locked"  # type: ignore[union-attr]
    body = {
        "type": "unlock", "account_email": "mei@example.com", "lost": "authenticator",
        "recent_transactions": "Topped up 1000 yuan by bank transfer this week.",
        "contact_email": "mei.new@example.com", "name": "Mei",
    }  # fmt: skip
    made = client.post("/api/v1/support/cases", json=body)
    assert made.status_code == 201, made.text
    unknown = client.post(
        "/api/v1/support/cases", json=body | {"account_email": "nobody@example.com"}
    )
    assert unknown.status_code == 201 and set(unknown.json()) == set(made.json())
    assert mailbox.to("mei.new@example.com")
    case_id = made.json()["id"]
    detail = client.get(f"/api/v1/agent/cases/{case_id}", headers=staff["agent"]).json()
    assert detail["user_id"] == uid and detail["team"] == "security"
    reason = "ID and transactions match"
    pid = propose(client, staff["agent"], case_id, "unlock", reason=reason).json()["id"]
    assert approve(client, staff["sup"], pid).status_code == 200
    with db.unit_of_work(write=False) as s:
        user = s.get(User, uid)
        assert user is not None and user.status == "active"
        assert user.password_change_required and user.totp_enrolment_required
        assert user.outgoing_hold_until is not None


def test_not_me_opens_a_security_case_and_money_stays_frozen_after_reset(
    client, db, mailbox
) -> None:  # type: ignore[no-untyped-def]
    from okpay.identity import recovery, tokens

    uid, _me = customer(client, db)
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        token = tokens.issue_token(s, user, "not_me")
    with db.unit_of_work() as s:
        recovery.do_report_not_me(s, token=token)
    with db.unit_of_work(write=False) as s:
        case = s.scalar(select(Case).where(Case.user_id == uid))
        assert case is not None and case.type == "freeze" and case.details["source"] == "not_me"
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        reset = tokens.issue_token(s, user, "reset_password")
    with db.unit_of_work() as s:
        recovery.do_reset_password(s, token=reset, new_password="a brand new passphrase")
    with db.unit_of_work(write=False) as s:
        user = s.get(User, uid)
        assert user is not None and user.status == "frozen"
    from tests.helpers import api_token

    headers = api_token(client, "mei@example.com", password="a brand new passphrase")
    make_user(db, "friend@example.com")
    refused = transfer(client, headers, "friend@example.com")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_frozen"


def test_unlock_keeps_a_freeze_in_force(client, db) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    freeze_case = client.post("/api/v1/me/emergency-freeze", headers=me).json()["case_id"]
    body = {
        "type": "unlock", "account_email": "mei@example.com", "lost": "authenticator",
        "recent_transactions": "Topped up 1000 yuan by bank transfer this week.",
    }  # fmt: skip
    case_id = client.post("/api/v1/support/cases", json=body).json()["id"]
    assert case_id != freeze_case
    made = propose(client, staff["agent"], case_id, "unlock", reason="ID and answers match")
    changes = {c["label"]: (c["before"], c["after"]) for c in made.json()["changes"]}
    assert changes["Account status"] == ("Frozen", "Frozen")
    assert approve(client, staff["sup"], made.json()["id"]).status_code == 200
    with db.unit_of_work(write=False) as s:
        user = s.get(User, uid)
        assert user is not None and user.status == "frozen" and user.password_change_required


def test_a_payment_not_made_by_me_goes_to_security_as_urgent(client, db) -> None:  # type: ignore[no-untyped-def]
    staff = team(client, db)
    uid, me = customer(client, db)
    (ref,) = shop_payments(db, uid, 80_00, count=1)
    made = open_case(client, me, type="dispute", reference=ref, reason="not_made_by_me",
                     statement="I never bought anything at this shop.")  # fmt: skip
    assert made.status_code == 201, made.text
    detail = client.get(f"/api/v1/agent/cases/{made.json()['id']}", headers=staff["agent"])
    assert detail.json()["team"] == "security" and detail.json()["priority"] == "urgent"
