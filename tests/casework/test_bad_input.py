"""Casework under bad input: each refusal answers with its own code and leaves balances,
statuses, proposals, operations, evidence and audit rows as they were."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from okpay.casework.models import Case, CaseEvidence, Proposal
from okpay.core.audit import AuditEvent
from okpay.identity.models import Role, User
from okpay.support.models import TicketAttachment
from okpay.wallet import merchants
from okpay.wallet.models import Operation
from tests.casework.helpers import customer, shop_payments, staff, team
from tests.casework.test_api import open_case, propose, restrict
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, make_user

HUGE = 2**70
SCRIPTS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def snapshot(db, uid: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What a refusal must not change."""
    with db.unit_of_work(write=False) as s:

        def count(model, *where) -> int:  # type: ignore[no-untyped-def]
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        user = s.get(User, uid)
        assert user is not None
        return {
            "balance": balance(db, uid),
            "status": user.status,
            "level": user.verification_level,
            "cases": sorted((c.id, c.status) for c in s.scalars(select(Case))),
            "proposals": sorted((p.id, p.status) for p in s.scalars(select(Proposal))),
            "operations": count(Operation),
            "evidence": count(CaseEvidence),
            "attachments": count(TicketAttachment),
            "executed": count(AuditEvent, AuditEvent.action == "case_proposal_executed"),
            "made": count(AuditEvent, AuditEvent.action == "case_proposal_made"),
        }


def appeal(client, db):  # type: ignore[no-untyped-def]
    """A restricted customer's appeal and the staff; (uid, headers, case id, staff)."""
    people = team(client, db)
    uid, me = customer(client, db)
    restrict(db, uid)
    made = open_case(client, me, type="appeal", statement="These were payments to my family.")
    assert made.status_code == 201, made.text
    return uid, me, made.json()["id"], people


def error(answer, status: int, code: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code, answer.text


def approve(client, pid: int, headers, **body):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/agent/proposals/{pid}/approve", headers=headers, json=body)


def reject(client, pid: int, headers, reason: str = "Not enough evidence"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/agent/proposals/{pid}/reject", headers=headers, json={"reason": reason}
    )


# ------------------------------------------------------------------------- four eyes


def test_self_approval_and_self_rejection_change_nothing(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _me, case_id, people = appeal(client, db)
    pid = propose(client, people["sup"], case_id, "lift_restriction").json()["id"]
    before = snapshot(db, uid)
    error(approve(client, pid, people["sup"]), 403, "self_approval")
    error(reject(client, pid, people["sup"]), 403, "self_approval")
    assert snapshot(db, uid) == before
    assert before["status"] == "restricted" and (pid, "pending") in before["proposals"]


def test_a_role_the_policy_does_not_allow_changes_nothing(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _me, case_id, people = appeal(client, db)
    other_agent = staff(client, db, "agent2@okpay.example", role=Role.agent)
    pid = propose(client, people["agent"], case_id, "lift_restriction").json()["id"]
    before = snapshot(db, uid)
    error(approve(client, pid, other_agent), 403, "approval_not_allowed")
    error(reject(client, pid, other_agent), 403, "approval_not_allowed")
    assert snapshot(db, uid) == before


def test_an_expired_proposal_is_refused_and_marked_expired(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    uid, _me, case_id, people = appeal(client, db)
    pid = propose(client, people["agent"], case_id, "lift_restriction").json()["id"]
    clock.advance(hours=71, minutes=59)
    people = {k: api_token(client, f"{k}@okpay.example") for k in ("sup", "sup2")}
    queue = client.get("/api/v1/agent/proposals", headers=people["sup"]).json()
    assert [row["proposal"]["id"] for row in queue] == [pid]
    clock.advance(minutes=2)
    assert client.get("/api/v1/agent/proposals", headers=people["sup"]).json() == []
    before = snapshot(db, uid)
    error(approve(client, pid, people["sup"]), 409, "proposal_expired")
    after = snapshot(db, uid)
    assert after["proposals"] == [(pid, "expired")]
    assert {k: v for k, v in after.items() if k != "proposals"} == {
        k: v for k, v in before.items() if k != "proposals"
    }
    assert after["status"] == "restricted"
    # Expired is final: neither approval nor rejection revives it.
    error(approve(client, pid, people["sup2"]), 409, "proposal_not_pending")
    error(reject(client, pid, people["sup2"]), 409, "proposal_not_pending")


# --------------------------------------------------------------------------- refunds


def dispute(client, db, amount: int = 350_00):  # type: ignore[no-untyped-def]
    people = team(client, db)
    uid, me = customer(client, db)
    first, second = shop_payments(db, uid, amount)
    made = open_case(
        client, me, type="dispute", reference=second, reason="charged_twice", duplicate_of=first
    )
    assert made.status_code == 201, made.text
    return uid, me, made.json()["id"], people, second


def test_a_refund_above_what_is_left_is_refused_before_and_after_a_partial_refund(
    client, db
) -> None:  # type: ignore[no-untyped-def]
    uid, _me, case_id, people, ref = dispute(client, db)
    before = snapshot(db, uid)
    for amount in (350_01, 10**15, 0, -1):
        answer = propose(client, people["agent"], case_id, "refund", reference=ref, amount=amount)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] in ("refund_too_large", "params_invalid")
    assert snapshot(db, uid) == before

    # A partial refund of ¥100 by the shop leaves ¥250.
    with db.unit_of_work() as s:
        merchants.do_refund(s, payment_reference=ref, amount=100_00, actor_user_id=None)
    after_part = snapshot(db, uid)
    assert after_part["balance"][0] == before["balance"][0] + 100_00
    too_much = propose(client, people["agent"], case_id, "refund", reference=ref, amount=250_01)
    error(too_much, 422, "refund_too_large")
    assert snapshot(db, uid) == after_part

    # A proposal for the ¥250 left; the shop refunds ¥10 more before it is approved: it
    # would now refund more than is left, so it is stale and nothing moves.
    a = propose(client, people["agent"], case_id, "refund", reference=ref, amount=250_00)
    b = propose(client, people["agent"], case_id, "refund", reference=ref, amount=210_00)
    assert a.json()["status"] == b.json()["status"] == "pending", (a.text, b.text)
    with db.unit_of_work() as s:
        merchants.do_refund(s, payment_reference=ref, amount=10_00, actor_user_id=None)
    shop_refunded = snapshot(db, uid)
    error(approve(client, a.json()["id"], people["sup"]), 409, "proposal_stale")
    stale = snapshot(db, uid)
    assert (a.json()["id"], "stale") in stale["proposals"]
    assert {k: v for k, v in stale.items() if k != "proposals"} == {
        k: v for k, v in shop_refunded.items() if k != "proposals"
    }
    # Made again against the account as it is now, it runs; the case is decided and the
    # other pending proposal withdrawn.
    c = propose(client, people["agent"], case_id, "refund", reference=ref, amount=240_00)
    error(approve(client, c.json()["id"], people["sup"]), 200)
    done = snapshot(db, uid)
    assert done["balance"][0] == before["balance"][0] + 350_00
    assert (b.json()["id"], "withdrawn") in done["proposals"]
    error(approve(client, b.json()["id"], people["sup2"]), 409, "proposal_not_pending")
    assert snapshot(db, uid) == done
    # The case is decided now; a further proposal needs a new case.
    error(propose(client, people["agent"], case_id, "refund", reference=ref), 409, "case_not_open")
    assert_ledger_consistent(db)


def test_a_proposal_naming_another_customers_payment_changes_nothing(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _me, case_id, people, _ref = dispute(client, db)
    other, _h = customer(client, db, "other@example.com")
    (theirs,) = shop_payments(db, other, 50_00, count=1)
    before, theirs_before = snapshot(db, uid), snapshot(db, other)
    for params in ({"reference": theirs}, {"reference": theirs, "amount": 10_00}):
        answer = propose(client, people["agent"], case_id, "refund", **params)
        error(answer, 404, "transaction_not_found")
    assert snapshot(db, uid) == before
    assert snapshot(db, other) == theirs_before


# ---------------------------------------------------------------------- who may call


def staff_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every staff casework endpoint (method, path), read from the app so none is missed."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith(
            ("/api/v1/agent/cases", "/api/v1/agent/proposals", "/api/v1/agent/case-policy")
        ):
            found += [(method.upper(), path) for method in sorted(operations)]
    return found


def fill(path: str, **ids: int | str) -> str:
    return (
        path.replace("{case_id}", str(ids["case_id"]))
        .replace("{proposal_id}", str(ids["proposal_id"]))
        .replace("{evidence_id}", str(ids["evidence_id"]))
        .replace("{action}", str(ids["action"]))
    )


BODIES = {
    "request-info": {"message": "Please send a clearer photo"},
    "decline": {"reason": "Not enough evidence"},
    "proposals": {"action": "lift_restriction", "params": {}, "reason": "Checked documents"},
    "approve": {"note": "ok"},
    "reject": {"reason": "Not enough evidence"},
    "case-policy": {"approval_required": False, "single_limit_cny": None, "approver_roles": []},
}


def body_for(path: str) -> dict[str, Any]:
    for key, body in BODIES.items():
        if key in path.rsplit("/", 2)[-2:] or path.rstrip("/").split("/")[-1] == key:
            return body
    if "/case-policy/" in path:
        return BODIES["case-policy"]
    return {}


def test_customers_and_strangers_reach_no_staff_endpoint(client, app, db) -> None:  # type: ignore[no-untyped-def]
    uid, me, case_id, people = appeal(client, db)
    pid = propose(client, people["agent"], case_id, "lift_restriction").json()["id"]
    routes = staff_routes(app)
    assert len(routes) >= 12, routes
    before = snapshot(db, uid)
    ids = {"case_id": case_id, "proposal_id": pid, "evidence_id": 1, "action": "lift_restriction"}
    with TestClient(app, headers={"Accept-Language": "en"}) as stranger:
        for method, template in routes:
            path = fill(template, **ids)
            body = body_for(path) if method in ("POST", "PUT") else None
            as_customer = client.request(method, path, headers=me, json=body)
            assert as_customer.status_code == 403, (method, path, as_customer.text)
            as_stranger = stranger.request(method, path, json=body)
            assert as_stranger.status_code == 401, (method, path, as_stranger.text)
    assert snapshot(db, uid) == before


def test_ids_beyond_range_are_refused_never_500(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, me, case_id, people = appeal(client, db)
    before = snapshot(db, uid)
    for big in (HUGE, -HUGE, 2**63, "1e9", "abc"):
        asks = [
            client.get(f"/api/v1/support/cases/{big}", headers=me),
            client.post(
                f"/api/v1/support/cases/{big}/evidence",
                headers=me,
                files=[("files", ("a.txt", b"hello", "text/plain"))],
            ),
            client.get(f"/api/v1/agent/cases/{big}", headers=people["agent"]),
            client.post(f"/api/v1/agent/cases/{big}/review", headers=people["agent"]),
            client.post(
                f"/api/v1/agent/cases/{big}/proposals",
                headers=people["agent"],
                json=BODIES["proposals"],
            ),
            client.post(f"/api/v1/agent/proposals/{big}/approve", headers=people["sup"]),
            client.post(
                f"/api/v1/agent/proposals/{big}/reject",
                headers=people["sup"],
                json=BODIES["reject"],
            ),
            client.get(f"/api/v1/agent/cases/{case_id}/evidence/{big}", headers=people["sup"]),
            client.get(f"/api/v1/agent/cases/{big}/evidence/1", headers=people["sup"]),
        ]
        for answer in asks:
            assert answer.status_code in (404, 422), (big, answer.request.url, answer.text)
    big_ref = propose(client, people["agent"], case_id, "refund", reference="9" * 40, amount=1)
    assert big_ref.status_code in (404, 422), big_ref.text
    assert snapshot(db, uid) == before


# ------------------------------------------------------------------------ extra fields


def test_extra_fields_in_every_body_are_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, me, case_id, people = appeal(client, db)
    admin = staff(client, db, "admin@okpay.example", role=Role.admin)
    pid = propose(client, people["agent"], case_id, "lift_restriction").json()["id"]
    (ref,) = shop_payments(db, uid, 20_00, count=1)
    before = snapshot(db, uid)
    customer_bodies = [
        {"type": "appeal", "statement": "Please look at my account"},
        {"type": "verification", "level": 1},
        {
            "type": "limit_increase",
            "operation": "transfer",
            "period": "daily",
            "amount": "80000.00",
        },
        {"type": "dispute", "reference": ref, "reason": "wrong_amount", "statement": "Wrong sum"},
        {
            "type": "unlock",
            "account_email": "mei@example.com",
            "lost": "both",
            "recent_transactions": "Coffee 20 yuan yesterday",
        },
    ]
    for body in customer_bodies:
        for extra in ({"status": "approved"}, {"user_id": 1}, {"verification_level": 3}):
            answer = client.post("/api/v1/support/cases", headers=me, json={**body, **extra})
            assert answer.status_code == 422, (body, extra, answer.text)
    freeze = client.post("/api/v1/me/emergency-freeze", headers=me, json={"note": "x", "a": 1})
    assert freeze.status_code == 422, freeze.text
    staff_calls = [
        (f"/api/v1/agent/cases/{case_id}/request-info", "post", people["agent"], "request-info"),
        (f"/api/v1/agent/cases/{case_id}/decline", "post", people["agent"], "decline"),
        (f"/api/v1/agent/cases/{case_id}/proposals", "post", people["agent"], "proposals"),
        (f"/api/v1/agent/proposals/{pid}/approve", "post", people["sup"], "approve"),
        (f"/api/v1/agent/proposals/{pid}/reject", "post", people["sup"], "reject"),
        ("/api/v1/agent/case-policy/refund", "put", admin, "case-policy"),
    ]
    for path, method, headers, key in staff_calls:
        for extra in ({"execute_now": True}, {"status": "executed"}, {"approved_by": 1}):
            answer = client.request(
                method.upper(), path, headers=headers, json={**BODIES[key], **extra}
            )
            assert answer.status_code == 422, (path, extra, answer.text)
    assert snapshot(db, uid) == before
    with db.unit_of_work(write=False) as s:
        assert s.get(User, uid).status == "restricted"  # type: ignore[union-attr]
        assert s.get(Case, case_id).info_request is None  # type: ignore[union-attr]
    assert (
        client.get("/api/v1/agent/case-policy", headers=admin).json()
        == client.get("/api/v1/agent/case-policy", headers=people["sup"]).json()
    )
    rules = {r["action"]: r for r in client.get("/api/v1/agent/case-policy", headers=admin).json()}
    assert rules["refund"]["single_limit_cny"] == 200_00


# -------------------------------------------------------------------------- evidence


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.mark.parametrize(
    ("name", "data", "ctype"),
    [
        ("passport.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200, "image/png"),
        (
            "statement.pdf",
            b"<!DOCTYPE html><html><script>alert(1)</script></html>",
            "application/pdf",
        ),
        ("id.pdf", PNG, "application/pdf"),
        ("id.jpg", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", "image/jpeg"),
        (
            "evil.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "image/svg+xml",
        ),
    ],
)
def test_disguised_evidence_is_refused_and_nothing_is_stored(
    client, db, name: str, data: bytes, ctype: str
) -> None:  # type: ignore[no-untyped-def]
    uid, me, case_id, _people = appeal(client, db)
    before = snapshot(db, uid)
    answer = client.post(
        f"/api/v1/support/cases/{case_id}/evidence",
        headers=me,
        data={"kind": "id_front"},
        files=[("files", (name, data, ctype))],
    )
    error(answer, 422, "upload_rejected")
    assert snapshot(db, uid) == before


def test_oversized_evidence_is_refused_and_nothing_is_stored(client, db, settings) -> None:  # type: ignore[no-untyped-def]
    uid, me, case_id, _people = appeal(client, db)
    before = snapshot(db, uid)
    big = PNG + b"\x00" * (settings.upload_max_bytes + 1 - len(PNG))
    answer = client.post(
        f"/api/v1/support/cases/{case_id}/evidence",
        headers=me,
        data={"kind": "passport"},
        files=[("files", ("ok.png", PNG, "image/png")), ("files", ("big.png", big, "image/png"))],
    )
    assert answer.status_code in (413, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["error"]["code"] == "upload_rejected"
    assert snapshot(db, uid) == before
    # A good file alone is accepted (the refusal above was about the big one).
    good = client.post(
        f"/api/v1/support/cases/{case_id}/evidence",
        headers=me,
        data={"kind": "passport"},
        files=[("files", ("ok.png", PNG, "image/png"))],
    )
    assert good.status_code == 201, good.text
    assert snapshot(db, uid)["evidence"] == before["evidence"] + 1
    bad_kind = client.post(
        f"/api/v1/support/cases/{case_id}/evidence",
        headers=me,
        data={"kind": "selfie<script>"},
        files=[("files", ("ok.png", PNG, "image/png"))],
    )
    assert bad_kind.status_code == 422
    assert snapshot(db, uid)["evidence"] == before["evidence"] + 1


# ---------------------------------------------------------------------------- script


def html_of(msg) -> str:  # type: ignore[no-untyped-def]
    part = msg.get_body(preferencelist=("html",))
    assert part is not None, "the e-mail has no HTML part"
    return str(part.get_content())


def assert_escaped_in_mail(mailbox, address: str, script: str, *, shown: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The newest e-mail's HTML part never carries the script as markup; where the field is
    shown (``shown``), it is there as escaped text."""
    html = html_of(mailbox.last(address))
    assert script not in html, html
    assert "<script>alert" not in html and "<img src=x" not in html
    if shown:
        assert "&lt;script&gt;" in html or "&lt;img src=x" in html, html


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_in_every_text_field_is_kept_as_text(client, db, mailbox, script: str) -> None:  # type: ignore[no-untyped-def]
    uid, me, case_id, people = appeal(client, db)
    people_sup = people["sup"]
    # A second customer whose appeal statement is the script.
    other, other_h = customer(client, db, "lin@example.com")
    restrict(db, other)
    made = open_case(client, other_h, type="appeal", statement=f"Statement {script}")
    assert made.status_code == 201, made.text
    assert made.json()["statement"] == f"Statement {script}"
    assert_escaped_in_mail(mailbox, "lin@example.com", script, shown=False)
    other_case = made.json()["id"]

    # The agent's request for information.
    asked = client.post(
        f"/api/v1/agent/cases/{other_case}/request-info",
        headers=people["agent"],
        json={"message": f"Please send {script}"},
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["info_request"] == f"Please send {script}"
    assert_escaped_in_mail(mailbox, "lin@example.com", script)

    # The decline reason.
    declined = client.post(
        f"/api/v1/agent/cases/{other_case}/decline",
        headers=people["agent"],
        json={"reason": f"Declined {script}"},
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["decision_reason"] == f"Declined {script}"
    assert_escaped_in_mail(mailbox, "lin@example.com", script)

    # The proposal's reason (the customer's decision reason) and the approval note.
    made = propose(client, people["agent"], case_id, "lift_restriction", reason=f"Lift {script}")
    assert made.status_code == 201, made.text
    assert made.json()["reason"] == f"Lift {script}"
    done = approve(client, made.json()["id"], people_sup, note=f"Note {script}")
    assert done.status_code == 200, done.text
    assert done.json()["decision_note"] == f"Note {script}"
    mine = client.get(f"/api/v1/support/cases/{case_id}", headers=me).json()
    assert mine["decision_reason"] == f"Lift {script}"
    assert_escaped_in_mail(mailbox, "mei@example.com", script)
    assert f"Note {script}" not in mailbox.text(mailbox.last("mei@example.com"))

    # A signed-out unlock request: recent transactions and statement.
    with TestClient(client.app, headers={"Accept-Language": "en"}) as guest:
        unlock = guest.post(
            "/api/v1/support/cases",
            json={
                "type": "unlock",
                "account_email": "lin@example.com",
                "lost": "authenticator",
                "recent_transactions": f"Coffee {script}",
                "statement": f"Lost phone {script}",
            },
        )
    assert unlock.status_code == 201, unlock.text
    assert unlock.json()["statement"] == f"Lost phone {script}"
    assert_escaped_in_mail(mailbox, "lin@example.com", script, shown=False)
    detail = client.get(f"/api/v1/agent/cases/{unlock.json()['id']}", headers=people["agent"])
    assert detail.json()["details"]["recent_transactions"] == f"Coffee {script}"
    assert uid != other


# ----------------------------------------------------------------------------- guests


def test_guests_may_only_ask_for_an_unlock_and_learn_nothing_about_addresses(app, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "known@example.com")
    unlock = {
        "type": "unlock",
        "lost": "both",
        "recent_transactions": "Paid 20 yuan for coffee yesterday",
        "statement": "I lost my phone and my e-mail password",
    }
    with TestClient(app, headers={"Accept-Language": "en"}) as guest:
        for body in (
            {"type": "appeal", "statement": "Please look at my account"},
            {"type": "verification", "level": 1},
            {
                "type": "dispute",
                "reference": "OP-1",
                "reason": "wrong_amount",
                "statement": "x" * 12,
            },
        ):
            answer = guest.post("/api/v1/support/cases", json=body)
            assert answer.status_code in (401, 422), answer.text
        assert guest.get("/api/v1/support/cases").status_code == 401
        assert guest.get("/api/v1/support/cases/1").status_code == 401
        assert guest.post("/api/v1/me/emergency-freeze").status_code == 401
        known, unknown = (
            guest.post("/api/v1/support/cases", json={**unlock, "account_email": address})
            for address in ("known@example.com", "nobody@example.com")
        )
    assert known.status_code == unknown.status_code == 201, (known.text, unknown.text)
    assert sorted(known.json()) == sorted(unknown.json())
    assert sorted(known.json()["details"]) == sorted(unknown.json()["details"])
    for key in ("type", "status", "status_label", "type_label", "evidence", "decision_reason"):
        assert known.json()[key] == unknown.json()[key], key
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 2
