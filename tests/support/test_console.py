"""The agent console: who may open it, queues, bulk actions, the ticket page, the customer
panel, phone calls, reports and the agent API (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.identity import users as identity_users
from okpay.support import access, assignment, messages, satisfaction, status, tickets
from okpay.support.console import reports
from okpay.support.models import CannedResponse
from tests.helpers import PASSWORD, api_token, csrf_from, post_form
from tests.support.helpers import load, make_staff, open_ticket, user
from tests.wallet.helpers import fund, make_user

AGENT = "agent@okpay.example"


def sign_in(client, email: str = AGENT) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


def agent_client(client, db, team: str = "frontline") -> int:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, AGENT, team=team)
    sign_in(client)
    return agent_id


def post_on(client, page: str, path: str, data: dict[str, str], **kw):  # type: ignore[no-untyped-def]
    """POST a form of ``page`` (its CSRF token) to ``path``."""
    token = csrf_from(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False, **kw)


AGENT_PAGES = [
    ("GET", "/agent"),
    ("GET", "/agent/tickets/{n}"),
    ("GET", "/agent/tickets/{n}/files/1"),
    ("GET", "/agent/phone"),
    ("GET", "/agent/reports"),
    ("GET", "/agent/reports/by_day.csv"),
    ("POST", "/agent/tickets/{n}/reply"),
    ("POST", "/agent/tickets/{n}/note"),
    ("POST", "/agent/tickets/{n}/take"),
    ("POST", "/agent/tickets/{n}/status"),
    ("POST", "/agent/tickets/{n}/assign"),
    ("POST", "/agent/tickets/{n}/escalate"),
    ("POST", "/agent/tickets/{n}/update"),
    ("POST", "/agent/tickets/{n}/canned"),
    ("GET", "/agent/tickets/{n}/canned-text?canned_id=1"),
    ("POST", "/agent/tickets/{n}/reveal"),
    ("POST", "/agent/bulk"),
    ("POST", "/agent/phone"),
]
AGENT_API = [
    ("GET", "/api/v1/agent/queue", None),
    ("GET", "/api/v1/agent/tickets/{n}", None),
    ("PATCH", "/api/v1/agent/tickets/{n}", {"priority": "urgent"}),
    ("GET", "/api/v1/agent/tickets/{n}/customer", None),
    ("POST", "/api/v1/agent/tickets/{n}/reply", {"body": "hi"}),
    ("POST", "/api/v1/agent/tickets/{n}/note", {"body": "hi"}),
    ("POST", "/api/v1/agent/tickets/{n}/status", {"status": "resolved"}),
    ("POST", "/api/v1/agent/tickets/{n}/assign", {"me": True}),
    ("POST", "/api/v1/agent/tickets/{n}/escalate", {"team": "security", "note": "x"}),
    ("POST", "/api/v1/agent/tickets/{n}/reveal", {"field": "email", "reason": "checking"}),
    ("POST", "/api/v1/agent/bulk", {"numbers": ["{n}"], "action": "status", "value": "closed"}),
    ("POST", "/api/v1/agent/phone-calls", {"body": "x", "number": "{n}"}),
]


def test_customers_never_reach_the_console_or_its_api(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "cust@example.com")
    with db.unit_of_work() as s:
        number = tickets.do_open_ticket(
            s,
            tickets.NewTicket(
                channel="web",
                subject="Help",
                body="My own ticket",
                user=identity_users.get_user_by_email(s, "cust@example.com"),
            ),
        ).number
    # Signed out: pages send to sign-in, the API answers 401.
    assert client.get("/agent", follow_redirects=False).status_code in (302, 303)
    assert client.get("/api/v1/agent/queue").status_code == 401
    sign_in(client, "cust@example.com")
    token = csrf_from(client.get("/account").text)
    for method, path in AGENT_PAGES:
        url = path.format(n=number)
        data = {"csrf_token": token} if method == "POST" else None
        response = client.request(method, url, data=data, follow_redirects=False)
        assert response.status_code in (403, 404), (method, url, response.status_code)
        assert "My own ticket" not in response.text
    headers = api_token(client, "cust@example.com")
    for method, path, body in AGENT_API:
        url = path.format(n=number)
        payload = None
        if body is not None:
            payload = {
                k: ([number] if v == ["{n}"] else (number if v == "{n}" else v))
                for k, v in body.items()
            }
        response = client.request(method, url, json=payload, headers=headers)
        assert response.status_code in (403, 404), (method, url, response.status_code)
    ticket = load(db, number)
    assert ticket.status == "new" and ticket.priority != "urgent" and ticket.assignee_id is None
    with db.unit_of_work(write=False) as s:
        assert (
            s.scalar(select(AuditEvent.id).where(AuditEvent.action == "customer_data_revealed"))
            is None
        )


def test_queue_puts_overdue_first_with_timers_and_pages_by_cursor(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    agent_id = agent_client(client, db)
    numbers = []
    for i in range(4):
        numbers.append(open_ticket(db, subject=f"Top-up {i}", email=f"c{i}@example.com"))
        clock.advance(hours=1)
    # A question (low priority, a 24-hour target) that is still within its target below.
    question = "How much is the fee to top up by card?"
    numbers.append(
        open_ticket(db, subject="Fees", body=question, category="fees", email="c4@example.com")
    )
    assert load(db, numbers[-1]).priority in {"low", "normal"}
    clock.advance(hours=1)
    # The third one waits for the customer: its clock is paused and it goes last.
    with db.unit_of_work() as s:
        t = access.get_ticket(s, numbers[2])
        assert t is not None
        messages.do_agent_reply(s, ticket=t, agent=user(s, agent_id), body="Which bank?")
    clock.advance(hours=20)  # the first ones are now past their 24-hour first-reply target
    html = client.get("/agent").text
    order = re.findall(r'data-number="(OK-\d{4}-\d{6})"', html)
    running = sorted((load(db, n).next_due_at, n) for n in numbers if n != numbers[2])
    assert order == [n for _due, n in running] + [numbers[2]]
    assert load(db, order[0]).next_due_at < clock.now  # overdue ones first
    assert "overdue by" in html and "due in" in html and "paused, waiting for the customer" in html
    # Keyset pages of two through the API cover every ticket once, in the same order.
    headers = api_token(client, AGENT)
    seen: list[str] = []
    after = ""
    while True:
        body = client.get(
            "/api/v1/agent/queue", params={"limit": 2, "after": after}, headers=headers
        ).json()
        seen += [item["number"] for item in body["items"]]
        if not body["next_cursor"]:
            break
        after = body["next_cursor"]
    assert seen == order
    assert body["counts"]["frontline"] == 5
    assert (
        client.get("/api/v1/agent/queue", params={"after": "garbage!"}, headers=headers).json()[
            "error"
        ]["code"]
        == "cursor_invalid"
    )


def test_queue_filters_and_search(client, db) -> None:  # type: ignore[no-untyped-def]
    agent_id = agent_client(client, db)
    a = open_ticket(
        db, subject="Withdrawal failed", email="wang@example.com", category="withdrawal"
    )
    b = open_ticket(
        db, subject="Limit question", email="zhao@example.com", category="limit_increase"
    )
    with db.unit_of_work() as s:
        t = access.get_ticket(s, a)
        assert t is not None
        assignment.do_assign(s, ticket=t, assignee=user(s, agent_id), agent=user(s, agent_id))
    headers = api_token(client, AGENT)

    def numbers(**params: str) -> list[str]:
        response = client.get("/api/v1/agent/queue", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [i["number"] for i in response.json()["items"]]

    assert numbers(assignee="mine") == [a]
    assert numbers(assignee="unassigned") == [b]
    assert numbers(team="compliance") == [b]
    assert numbers(q=b.lower().replace("-", " ")) == [b]
    assert numbers(q="ZHAO@example.com") == [b]
    assert numbers(q="withdrawal") == [a]
    assert numbers(q="100%_") == []
    assert (
        client.get("/api/v1/agent/queue", params={"team": "x"}, headers=headers).json()["error"][
            "code"
        ]
        == "team_invalid"
    )
    page = client.get("/agent", params={"team": "compliance"}).text
    assert b in page and a not in page


def test_assign_to_me_and_bulk_actions(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_id = agent_client(client, db)
    first, second, third = (open_ticket(db, email=f"b{i}@example.com") for i in range(3))
    response = post_on(client, "/agent", f"/agent/tickets/{first}/take", {})
    assert response.status_code == 303
    assert load(db, first).assignee_id == agent_id
    with db.unit_of_work() as s:
        t = access.get_ticket(s, third)
        assert t is not None
        status.do_set_status(s, ticket=t, status="closed", agent=user(s, agent_id))
    token = csrf_from(client.get("/agent").text)
    response = client.post(
        "/agent/bulk",
        data={
            "csrf_token": token,
            "action": "priority",
            "value_priority": "low",
            "numbers": [first, second, third],
        },
        follow_redirects=True,
    )
    assert "Changed 2 requests." in response.text
    assert f"{third} (ticket_closed)" in response.text
    assert load(db, first).priority == "low" and load(db, second).priority == "low"
    assert load(db, third).priority != "low"
    mailbox.clear()
    headers = api_token(client, AGENT)
    result = client.post(
        "/api/v1/agent/bulk",
        json={
            "numbers": [first, second],
            "action": "team",
            "value": "technical",
            "note": "App bug",
        },
        headers=headers,
    ).json()
    assert result == {"changed": [first, second], "skipped": {}}
    assert load(db, second).team == "technical"
    assert "技术团队" in str(mailbox.last("b1@example.com")["Subject"])  # the ticket's language
    result = client.post(
        "/api/v1/agent/bulk",
        json={"numbers": [first, second], "action": "assign", "value": "me"},
        headers=headers,
    ).json()
    assert result["changed"] == [first, second] and load(db, second).assignee_id == agent_id
    bad = client.post(
        "/api/v1/agent/bulk",
        json={"numbers": [first], "action": "status", "value": "gone"},
        headers=headers,
    )
    assert bad.json()["error"]["code"] == "status_invalid"


def test_escalation_tells_the_customer_the_new_expected_time(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_client(client, db)
    number = open_ticket(db, locale="en")
    mailbox.clear()
    page = f"/agent/tickets/{number}"
    response = post_on(client, page, f"{page}/escalate", {"team": "technical", "note": "Bank API"})
    assert response.status_code == 303
    ticket = load(db, number)
    assert ticket.team == "technical" and ticket.assignee_id is None
    msg = mailbox.last("lihua@example.com")
    assert number in msg["Subject"]
    assert "expect an answer by" in mailbox.text(msg)
    html = client.get(page).text
    assert "Bank API" in html and "message-internal" in html
    # The same team again is refused with its reason, and nothing changes.
    again = post_on(client, page, f"{page}/escalate", {"team": "technical", "note": "again"})
    assert again.status_code == 409 and "already with that team" in again.text


def test_reply_with_a_canned_response_and_placeholders(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_client(client, db)
    with db.unit_of_work() as s:
        s.add(
            CannedResponse(
                locale="en", title="Hello", body="Hi {name}, about {number} — {agent}. {unknown}"
            )
        )
    number = open_ticket(db, locale="en", name="<b>Li</b>")
    page = f"/agent/tickets/{number}"
    html = client.get(page).text
    canned_id = re.search(r'<option value="(\d+)">Hello</option>', html)
    assert canned_id
    filled = post_on(
        client, page, f"{page}/canned", {"canned_id": canned_id.group(1), "body": "Thanks."}
    )
    assert filled.status_code == 200
    assert (
        f"Thanks.\n\nHi &lt;b&gt;Li&lt;/b&gt;, about {number} — Agent. {{unknown}}" in filled.text
    )
    body = f"Hi Li, about {number}."
    response = post_on(client, page, f"{page}/reply", {"body": body, "then_status": "resolved"})
    assert response.status_code == 303
    assert load(db, number).status == "resolved"
    assert body in mailbox.text(mailbox.to("lihua@example.com")[-2])
    # An empty reply is refused in place, naming the field.
    ticket_page = client.get(page).text
    assert "Hi Li, about" in ticket_page
    # The text alone, for the page's script to put where the cursor is (issue 15).
    text = client.get(f"{page}/canned-text", params={"canned_id": canned_id.group(1)})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert text.text == f"Hi <b>Li</b>, about {number} — Agent. {{unknown}}"
    assert client.get(f"{page}/canned-text", params={"canned_id": "999"}).status_code == 404


def test_notes_are_internal_and_never_mailed(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_client(client, db)
    number = open_ticket(db)
    mailbox.clear()
    page = f"/agent/tickets/{number}"
    assert (
        post_on(client, page, f"{page}/note", {"body": "Checked the bank file"}).status_code == 303
    )
    assert mailbox.to("lihua@example.com") == []
    with db.unit_of_work(write=False) as s:
        t = access.get_ticket(s, number)
        assert t is not None
        kinds = [m.kind for m in messages.list_messages(s, t, include_internal=True)]
    assert kinds == ["public", "internal"]
    refused = post_on(client, page, f"{page}/reply", {"body": "  ", "then_status": "open"})
    assert refused.status_code == 422 and "describe" in refused.text


def test_script_in_every_field_is_shown_escaped(client, db) -> None:  # type: ignore[no-untyped-def]
    agent_id = agent_client(client, db)
    script = "<script>alert(1)</script>"
    number = open_ticket(db, subject=f"Hi {script}", name=f"Eve {script}", body=f"Body {script}")
    with db.unit_of_work() as s:
        t = access.get_ticket(s, number)
        assert t is not None
        agent = user(s, agent_id)
        assignment.do_update(s, ticket=t, agent=agent, tags=[f"x{script}"])
        messages.do_agent_reply(s, ticket=t, agent=agent, body=f"Note {script}", internal=True)
    for path in ("/agent", f"/agent/tickets/{number}", "/agent?q=" + script):
        html = client.get(path).text
        assert "<script>alert" not in html, path
    html = client.get(f"/agent/tickets/{number}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_field_asks_for_a_password_or_code(client, db) -> None:  # type: ignore[no-untyped-def]
    agent_client(client, db)
    make_user(db, "panel@example.com", phone="13800138000")
    with db.unit_of_work() as s:
        customer = identity_users.get_user_by_email(s, "panel@example.com")
        number = tickets.do_open_ticket(
            s, tickets.NewTicket(channel="web", subject="Q", body="Question", user=customer)
        ).number
    for path in ("/agent", f"/agent/tickets/{number}", "/agent/phone", "/agent/reports"):
        html = client.get(path).text
        tokens = re.findall(r'name="csrf_token" value="([^"]*)"', html)
        assert len(tokens) > 1 and all(tokens), path  # every form carries its token
        inputs = re.findall(r"<(?:input|textarea|select)[^>]*>", html)
        for tag in inputs:
            assert 'type="password"' not in tag, (path, tag)
            name = re.search(r'name="([^"]+)"', tag)
            assert not (name and re.search(r"pass|otp|code|cvc|pin", name.group(1))), (path, tag)


def test_customer_panel_masks_and_reveal_is_audited(client, db) -> None:  # type: ignore[no-untyped-def]
    agent_id = agent_client(client, db)
    uid = make_user(db, "zhang.san@example.com", phone="13800138000")
    fund(db, uid, 250_00)
    other = make_user(db, "other@example.com")
    fund(db, other, 10_00)
    with db.unit_of_work(write=False) as s:
        from okpay.wallet import history as wallet_history

        mine = wallet_history.history(s, user_id=uid, filters=wallet_history.HistoryFilter())[0]
        theirs = wallet_history.history(s, user_id=other, filters=wallet_history.HistoryFilter())[0]
    with db.unit_of_work() as s:
        customer = user(s, uid)
        number = tickets.do_open_ticket(
            s,
            tickets.NewTicket(
                channel="web",
                subject="Top-up",
                body="Where is it?",
                user=customer,
                references=[mine.reference, theirs.reference],
            ),
        ).number
    page = f"/agent/tickets/{number}"
    html = client.get(page).text
    assert "z***@example.com" in html and "zhang.san@example.com" not in html
    assert "13800138000" not in html and "****8000" in html
    assert re.search(rf'data-reference="{mine.reference}"\s+data-linked="1"', html)
    assert theirs.reference in html.split('data-testid="missing-references"')[1]
    assert "250.00" in html
    # No reason: refused, nothing revealed, nothing audited.
    refused = post_on(client, page, f"{page}/reveal", {"field": "email", "reason": ""})
    assert refused.status_code == 422 and "zhang.san@" not in refused.text
    shown = post_on(
        client, page, f"{page}/reveal", {"field": "phone", "reason": "Caller verification"}
    )
    assert shown.status_code == 200 and "+8613800138000" in shown.text
    assert "13800138000" not in client.get(page).text  # only in that one answer
    with db.unit_of_work(write=False) as s:
        rows = list(
            s.scalars(select(AuditEvent).where(AuditEvent.action == "customer_data_revealed"))
        )
    assert len(rows) == 1
    assert rows[0].actor_user_id == agent_id and rows[0].subject_user_id == uid
    assert rows[0].data == {"field": "phone", "reason": "Caller verification"}
    api = client.get(f"/api/v1/agent/tickets/{number}/customer", headers=api_token(client, AGENT))
    assert (
        api.json()["email"] == "z***@example.com" and api.json()["balances"][0]["balance"] == 25000
    )


def test_guest_ticket_says_whether_an_account_matches_without_linking(client, db) -> None:  # type: ignore[no-untyped-def]
    agent_client(client, db)
    make_user(db, "lihua@example.com")
    number = open_ticket(db)
    html = client.get(f"/agent/tickets/{number}").text
    assert "lihua@example.com" in html and "An OKPay account uses this e-mail address" in html
    assert load(db, number).requester_user_id is None
    other = open_ticket(db, email="nobody@example.com")
    assert "No OKPay account uses" in client.get(f"/agent/tickets/{other}").text


def test_phone_calls_become_tickets_or_messages(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_id = agent_client(client, db)
    uid = make_user(db, "caller@example.com", phone="13900139000")
    found = client.get("/agent/phone", params={"lookup": "139 0013 9000"}).text
    assert "c***@example.com" in found and f'name="customer_id" value="{uid}"' in found
    mailbox.clear()
    response = post_on(
        client,
        "/agent/phone",
        "/agent/phone",
        {"customer_id": str(uid), "subject": "Card declined", "body": "Card declined at top-up."},
    )
    assert response.status_code == 303
    number = response.headers["location"].rsplit("/", 1)[1]
    ticket = load(db, number)
    assert (ticket.channel, ticket.requester_user_id) == ("phone", uid)
    assert mailbox.to("caller@example.com") == []  # not acknowledged unless chosen
    guest = post_on(
        client,
        "/agent/phone",
        "/agent/phone",
        {
            "name": "Zhou",
            "email": "zhou@example.com",
            "subject": "Fees",
            "body": "Asked about fees",
            "acknowledge": "1",
        },
    )
    guest_number = guest.headers["location"].rsplit("/", 1)[1]
    assert guest_number in mailbox.last("zhou@example.com")["Subject"]
    added = post_on(
        client, "/agent/phone", "/agent/phone", {"number": number, "body": "Called again"}
    )
    assert added.status_code == 303
    with db.unit_of_work(write=False) as s:
        t = access.get_ticket(s, number)
        assert t is not None
        last = messages.list_messages(s, t, include_internal=True)[-1]
        logged = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "ticket_phone_logged")
        ).all()
    assert (last.channel, last.body) == ("phone", "Called again")
    assert {row.actor_user_id for row in logged} == {agent_id} and len(logged) == 3
    bad = post_on(
        client,
        "/agent/phone",
        "/agent/phone",
        {"name": "X", "email": "bad", "subject": "S", "body": "B"},
    )
    assert bad.status_code == 422 and "valid e-mail" in bad.text


def test_agent_api_round_trip(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, AGENT)
    make_staff(db, "second@okpay.example", team="technical")
    number = open_ticket(db)
    headers = api_token(client, AGENT)
    base = f"/api/v1/agent/tickets/{number}"
    body = client.post(f"{base}/note", json={"body": "looking"}, headers=headers).json()
    assert [m["kind"] for m in body["messages"]] == ["public", "internal"]
    body = client.post(
        f"{base}/reply",
        json={"body": "Please send the receipt", "then_status": "pending_customer"},
        headers=headers,
    ).json()
    assert body["status"] == "pending_customer" and body["sla"]["paused"] is True
    assert body["assignee_id"] == agent_id
    assert "Please send the receipt" in mailbox.text(mailbox.last("lihua@example.com"))
    body = client.patch(
        base,
        json={"priority": "high", "tags": ["bank"], "references": ["TX-20261121-7QK3M9"]},
        headers=headers,
    ).json()
    assert (body["priority"], body["tags"], body["references"]) == (
        "high",
        ["bank"],
        ["TX-20261121-7QK3M9"],
    )
    bad = client.patch(base, json={"references": ["nope"]}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "reference_invalid"
    with db.unit_of_work(write=False) as s:
        second = identity_users.get_user_by_email(s, "second@okpay.example")
        assert second is not None
        second_id = second.id
    body = client.post(f"{base}/assign", json={"assignee_id": second_id}, headers=headers).json()
    assert body["assignee_id"] == second_id
    customer = make_user(db, "notstaff@example.com")
    refused = client.post(f"{base}/assign", json={"assignee_id": customer}, headers=headers)
    assert refused.json()["error"]["code"] == "assignee_invalid"
    body = client.post(f"{base}/status", json={"status": "resolved"}, headers=headers).json()
    assert body["status"] == "resolved" and body["sla"]["resolved_at"]
    assert client.get("/api/v1/agent/tickets/OK-2026-999999", headers=headers).status_code == 404
    assert any(
        e["kind"] == "escalated"
        for e in client.post(
            f"{base}/escalate", json={"team": "security", "note": "fraud?"}, headers=headers
        ).json()["events"]
    )


def test_reports_figures_and_formula_safe_csv(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    agent_id = agent_client(client, db)
    numbers = [open_ticket(db, email=f"r{i}@example.com") for i in range(3)]
    clock.advance(hours=2)
    with db.unit_of_work() as s:
        agent = user(s, agent_id)
        for n in numbers[:2]:
            t = access.get_ticket(s, n)
            assert t is not None
            messages.do_agent_reply(s, ticket=t, agent=agent, body="Done", then_status="resolved")
        t = access.get_ticket(s, numbers[0])
        assert t is not None
        satisfaction.do_rate(s, ticket=t, rating=4, comment="", actor=None)
    day = clock.now.date().isoformat()
    html = client.get("/agent/reports", params={"start": day, "end": day}).text
    assert "<svg" in html and 'data-testid="report-by_day"' in html
    result = reports.report
    with db.unit_of_work(write=False) as s:
        figures = result(s, start=clock.now.date(), end=clock.now.date())
    assert (figures.created, figures.resolved) == (3, 2)
    assert figures.first_reply.median_hours == pytest.approx(2.0)
    assert figures.first_reply_attained == 1.0
    assert figures.rating_average == 4.0 and figures.rating_rate == 0.5
    assert figures.tables["backlog"].rows[0][1:] == [1, 0, 0, 0]
    csv_text = client.get("/agent/reports/by_day.csv", params={"start": day, "end": day})
    assert csv_text.headers["content-type"].startswith("text/csv")
    assert f"{day},3,2" in csv_text.text
    table = reports.Table("t", "T", ["=cmd", "n"], [["+1", 1], ["-2", 2], ["@x", 3], ["ok", 4]])
    out = reports.table_csv(table)
    assert "'=cmd" in out and "'+1" in out and "'-2" in out and "'@x" in out and "\nok," in out
    assert client.get("/agent/reports/nothing.csv").status_code == 404
    bad = client.get("/agent/reports", params={"start": "2026-13-01"}).text
    assert "Dates look like" in bad
