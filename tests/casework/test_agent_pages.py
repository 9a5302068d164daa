"""Casework on the agent console pages: the case panel on the ticket, preview then propose,
approval by a second person from the page, the approval queue, the policy page, evidence
rules (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from starlette.testclient import TestClient

from okpay.core.audit import AuditEvent
from okpay.identity.models import Role
from okpay.wallet import standing
from tests.casework.helpers import customer, transfer
from tests.helpers import PASSWORD, csrf_from, post_form
from tests.support.helpers import make_staff, pdf
from tests.wallet.helpers import make_user


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


def restricted_appeal(client, db, statement: str = "These were payments to my family."):  # type: ignore[no-untyped-def]
    uid, me = customer(client, db)
    make_user(db, "friend@example.com")
    with db.unit_of_work() as s:
        standing.do_restrict(
            s, user_id=uid, blocked=["transfer", "withdraw"],
            reason="Unusual activity under review", actor_user_id=None,
        )  # fmt: skip
    made = client.post(
        "/api/v1/support/cases", headers=me, json={"type": "appeal", "statement": statement}
    )
    assert made.status_code == 201, made.text
    return uid, me, made.json()["id"], made.json()["number"]


def staff_client(app, db, email: str, role: Role, team: str = "compliance") -> TestClient:  # type: ignore[no-untyped-def]
    """A signed-in staff member in a browser of their own, reading English."""
    make_staff(db, email, team=team, role=role)
    c = TestClient(app)
    sign_in(c, email)
    post_on(c, "/agent", "/language", {"locale": "en", "next": "/agent"})
    return c


def post_on(client, page: str, path: str, data: dict[str, str], **kw):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False, **kw)


def audit_count(db, action: str) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0)


LIFT = {"action": "lift_restriction", "reason": "Checked with the customer"}


def test_case_panel_preview_propose_and_approve(app, client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    _uid, me, case_id, number = restricted_appeal(client, db)
    agent = staff_client(app, db, "agent@okpay.example", Role.agent)
    sup = staff_client(app, db, "sup@okpay.example", Role.supervisor)
    page = f"/agent/tickets/{number}"

    html = agent.get(page).text
    assert 'data-testid="case-panel"' in html
    assert "Appeal a restriction" in html and "These were payments to my family." in html
    assert "Unusual activity under review" in html  # the restriction and why
    assert 'data-testid="customer-panel"' in html  # the customer panel still beside it
    assert 'data-testid="checklist"' in html

    preview = post_on(
        agent, page, f"/agent/cases/{case_id}/preview", LIFT, headers={"HX-Request": "true"}
    )
    assert preview.status_code == 200
    assert "Restricted" in preview.text and "Active" in preview.text
    assert 'data-testid="propose-form"' in preview.text
    # Nothing changed by a preview.
    assert transfer(client, me, "friend@example.com").status_code == 403

    proposed = post_on(agent, page, f"/agent/cases/{case_id}/propose", LIFT)
    assert proposed.status_code == 303
    html = agent.get(page).text
    assert 'data-status="pending"' in html and 'data-testid="waiting-second"' in html
    pid = int(re.search(r'data-proposal-id="(\d+)"', html).group(1))  # type: ignore[union-attr]

    # The proposer cannot approve: the message says why, in the page.
    own = post_on(agent, page, f"/agent/proposals/{pid}/approve", {"next": page})
    assert own.status_code == 303
    assert "someone else must approve it" in agent.get(page).text
    assert transfer(client, me, "friend@example.com").status_code == 403

    queue = sup.get("/agent/approvals").text
    assert f'data-proposal-id="{pid}"' in queue and number in queue
    done = post_on(
        sup, "/agent/approvals", f"/agent/proposals/{pid}/approve", {"next": "/agent/approvals"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/agent/approvals"
    assert transfer(client, me, "friend@example.com").status_code == 201
    html = sup.get(page).text
    assert 'data-status="executed"' in html
    assert 'data-testid="ticket-status">Resolved' in html or "resolved" in html.lower()
    assert audit_count(db, "case_proposal_executed") == 1


def test_self_approval_message_and_agent_role_refused(app, client, db) -> None:  # type: ignore[no-untyped-def]
    _uid, _me, case_id, number = restricted_appeal(client, db)
    agent = staff_client(app, db, "agent@okpay.example", Role.agent)
    agent2 = staff_client(app, db, "agent2@okpay.example", Role.agent)
    page = f"/agent/tickets/{number}"
    post_on(agent, page, f"/agent/cases/{case_id}/propose", LIFT)
    html = agent.get(page).text
    pid = int(re.search(r'data-proposal-id="(\d+)"', html).group(1))  # type: ignore[union-attr]

    post_on(agent, page, f"/agent/proposals/{pid}/approve", {"next": page})
    shown = agent.get(page).text
    assert "flash-error" in shown and 'data-status="pending"' in shown

    # Another agent (the policy says supervisors) sees no buttons, and the POST is refused.
    html2 = agent2.get(page).text
    assert f'data-testid="approve-{pid}"' not in html2 and "Supervisors" in html2
    post_on(agent2, page, f"/agent/proposals/{pid}/approve", {"next": page})
    after = agent2.get(page).text
    assert "flash-error" in after and 'data-status="pending"' in after
    assert audit_count(db, "case_proposal_executed") == 0


def test_errors_in_the_agents_language(app, client, db) -> None:  # type: ignore[no-untyped-def]
    _uid, _me, case_id, number = restricted_appeal(client, db)
    agent = staff_client(app, db, "agent@okpay.example", Role.agent)
    page = f"/agent/tickets/{number}"
    post_on(agent, page, "/language", {"locale": "zh_CN", "next": page})
    refused = post_on(agent, page, f"/agent/cases/{case_id}/propose", {**LIFT, "reason": ""})
    assert refused.status_code == 422
    assert 'data-testid="case-panel"' in refused.text
    assert re.search(r"[\u4e00-\u9fff]", refused.text)


def test_script_in_case_text_is_escaped(app, client, db) -> None:  # type: ignore[no-untyped-def]
    evil = "<script>alert(1)</script> please lift it now"
    _uid, _me, case_id, number = restricted_appeal(client, db, statement=evil)
    agent = staff_client(app, db, "agent@okpay.example", Role.agent)
    page = f"/agent/tickets/{number}"
    html = agent.get(page).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    reason = "<img src=x onerror=alert(2)> reason"
    post_on(agent, page, f"/agent/cases/{case_id}/propose", {**LIFT, "reason": reason})
    sup = staff_client(app, db, "sup@okpay.example", Role.supervisor)
    for path in (page, "/agent/approvals", "/agent/cases"):
        shown = sup.get(path).text
        assert "<img src=x onerror" not in shown


def test_evidence_route_audited_and_refused_to_another_team(app, client, db) -> None:  # type: ignore[no-untyped-def]
    _uid, me, case_id, number = restricted_appeal(client, db)
    files = {"files": ("statement.pdf", pdf(), "application/pdf")}
    added = client.post(
        f"/api/v1/support/cases/{case_id}/evidence",
        headers=me, files=files, data={"kind": "other", "body": "My bank statement"},
    )  # fmt: skip
    assert added.status_code in (200, 201), added.text
    reviewer = staff_client(app, db, "agent@okpay.example", Role.agent, team="compliance")
    other = staff_client(app, db, "front@okpay.example", Role.agent, team="frontline")
    page = f"/agent/tickets/{number}"

    html = reviewer.get(page).text
    found = re.search(rf"/agent/cases/{case_id}/evidence/(\d+)", html)
    assert found, "the reviewer sees the document"
    url = found.group(0)
    opened = reviewer.get(url + "?inline=1")
    assert opened.status_code == 200 and opened.content.startswith(b"%PDF")
    assert opened.headers["content-disposition"].startswith("inline")
    # Opened in a tab of its own: the browser's PDF viewer may run, nothing else.
    assert "script-src 'none'" in opened.headers["content-security-policy"]
    assert audit_count(db, "case_evidence_viewed") == 1

    html2 = other.get(page).text
    assert url not in html2 and 'data-testid="evidence-hidden"' in html2
    assert other.get(url + "?inline=1").status_code == 403
    # The ticket's own download route does not bypass the evidence rules.
    ids = re.findall(rf"/agent/tickets/{number}/files/(\d+)", html2)
    assert ids
    plain = other.get(f"/agent/tickets/{number}/files/{ids[0]}", follow_redirects=True)
    assert plain.status_code == 403
    assert audit_count(db, "case_evidence_viewed") == 1
    via_ticket = reviewer.get(f"/agent/tickets/{number}/files/{ids[0]}", follow_redirects=True)
    assert via_ticket.status_code == 200 and audit_count(db, "case_evidence_viewed") == 2


def test_policy_page_and_cases_list(app, client, db) -> None:  # type: ignore[no-untyped-def]
    _uid, _me, _case_id, number = restricted_appeal(client, db)
    admin = staff_client(app, db, "admin@okpay.example", Role.admin)
    agent = staff_client(app, db, "agent@okpay.example", Role.agent)
    assert number in agent.get("/agent/cases").text
    assert number not in agent.get("/agent/cases?status=done").text
    assert number in agent.get("/agent/cases?type=appeal").text
    assert number not in agent.get("/agent/cases?type=dispute").text

    html = admin.get("/agent/case-policy").text
    assert 'data-action="refund"' in html and "200.00" in html
    saved = post_on(
        admin, "/agent/case-policy", "/agent/case-policy/refund",
        {"approval_required": "1", "single_limit": "50.00", "approver_roles": "supervisor"},
    )  # fmt: skip
    assert saved.status_code == 303
    assert audit_count(db, "case_policy_changed") == 1
    assert "50.00" in admin.get("/agent/case-policy").text
    # An agent sees the policy but cannot change it.
    assert 'data-testid="policy-form-refund"' not in agent.get("/agent/case-policy").text
    refused = post_on(
        agent, "/agent/case-policy", "/agent/case-policy/refund",
        {"approval_required": "", "single_limit": "", "approver_roles": "agent"},
    )  # fmt: skip
    assert refused.status_code == 403
    assert audit_count(db, "case_policy_changed") == 1


def test_a_stale_approval_from_the_page_marks_the_proposal_stale(app, client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _me, case_id, number = restricted_appeal(client, db)
    agent = staff_client(app, db, "agent@okpay.example", Role.agent)
    sup = staff_client(app, db, "sup@okpay.example", Role.supervisor)
    page = f"/agent/tickets/{number}"
    post_on(agent, page, f"/agent/cases/{case_id}/propose", LIFT)
    pid = int(re.search(r'data-proposal-id="(\d+)"', agent.get(page).text).group(1))  # type: ignore[union-attr]
    with db.unit_of_work() as s:
        standing.do_restrict(s, user_id=uid, blocked=["pay"], reason="More", actor_user_id=None)
    post_on(sup, page, f"/agent/proposals/{pid}/approve", {"next": page})
    shown = sup.get(page).text
    assert "flash-error" in shown and 'data-status="stale"' in shown  # recorded, as by the API
    assert audit_count(db, "case_proposal_stale") == 1
    assert audit_count(db, "case_proposal_executed") == 0
