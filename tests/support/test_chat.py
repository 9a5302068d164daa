"""Live chat: the waiting queue, accepting (one agent only), the transcript on the ticket,
time-outs that turn a chat into a ticket, and the WebSockets with their access checks."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from okpay.core.audit import AuditEvent
from okpay.settings import configure
from okpay.support import access, chat, chat_sockets, pubsub, tasks
from okpay.support import events as ticket_events
from okpay.support import messages as ticket_messages
from okpay.support.chat_models import SupportChat
from okpay.support.models import Ticket, TicketMessage
from tests.conftest import unavailable
from tests.helpers import PASSWORD, post_form
from tests.support.helpers import load, make_staff, user
from tests.wallet.helpers import make_user

ORIGIN = {"Origin": "http://testserver"}


def start_guest_chat(
    db, question: str = "My top-up has not arrived", **extra: str
) -> chat.ChatView:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return chat.do_start_chat(
            s, question=question, user=None, name=extra.get("name", "Li Hua"),
            email=extra.get("email", "lihua@example.com"), locale="en",
        )  # fmt: skip


def accept(db, chat_id: int, agent_id: int) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        chat.do_accept(s, chat_id=chat_id, agent=user(s, agent_id))


def say(
    db, chat_id: int, side: str, body: str, *, user_id: int | None = None, token: str = ""
) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        who = user(s, user_id) if user_id is not None else None
        chat.do_say(s, chat_id=chat_id, side=side, user=who, body=body, token=token)


def chat_row(db, chat_id: int) -> SupportChat:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        row = s.get(SupportChat, chat_id)
        assert row is not None
        return row


def ticket_of(db, chat_id: int) -> Ticket:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        ticket = s.get(Ticket, chat_row(db, chat_id).ticket_id)
        assert ticket is not None
        return ticket


def messages(db, number: str) -> list[TicketMessage]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        return ticket_messages.list_messages(s, ticket, include_internal=True)


# --------------------------------------------------------------------------- service


def test_chat_opens_a_chat_ticket_and_waits_in_line(db, mailbox) -> None:  # type: ignore[no-untyped-def]
    first = start_guest_chat(db)
    second = start_guest_chat(db, "忘记密码了", name="Wang", email="wang@example.com")
    ticket = load(db, first.ticket.number)
    assert (ticket.channel, ticket.status, ticket.tags) == ("chat", "new", ["live-chat"])
    assert ticket.subject == "My top-up has not arrived"
    with db.unit_of_work(write=False) as s:
        assert chat.queue_position(s, chat_row(db, first.chat.id)) == 1
        assert chat.queue_position(s, chat_row(db, second.chat.id)) == 2
        waiting = chat.waiting_chats(s)
    assert [w.name for w in waiting] == ["Li Hua", "Wang"]
    assert waiting[1].question == "忘记密码了"
    assert mailbox.messages == []  # they are on the page: no acknowledgement e-mail
    accept(db, first.chat.id, make_staff(db, "agent@okpay.example"))
    with db.unit_of_work(write=False) as s:
        assert chat.queue_position(s, chat_row(db, second.chat.id)) == 1


def test_transcript_lives_on_the_ticket_without_an_email_per_line(db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    view = start_guest_chat(db)
    number = view.ticket.number
    token = chat.guest_token(view.chat)
    say(db, view.chat.id, "customer", "I paid by ICBC.", token=token)  # while waiting
    accept(db, view.chat.id, agent_id)
    say(db, view.chat.id, "agent", "Let me check that for you.", user_id=agent_id)
    say(db, view.chat.id, "customer", "My card is 4111 1111 1111 1111", token=token)
    with db.unit_of_work() as s:
        chat.do_end(s, chat_id=view.chat.id, side="agent", user=user(s, agent_id))
    with db.unit_of_work() as s:
        chat.do_set_status_after_chat(
            s, chat_id=view.chat.id, agent=user(s, agent_id), status="resolved"
        )

    rows = messages(db, number)
    assert [(m.author_side, m.channel) for m in rows] == [
        ("customer", "chat"), ("customer", "chat"), ("agent", "chat"), ("customer", "chat"),
    ]  # fmt: skip
    assert rows[2].body == "Let me check that for you." and rows[2].kind == "public"
    assert "4111 1111 1111 1111" not in rows[3].body and "1111" in rows[3].body
    ticket = load(db, number)
    assert ticket.assignee_id == agent_id and ticket.first_replied_at is not None
    assert ticket.status == "resolved"
    assert chat_row(db, view.chat.id).ended_by == "agent"
    # One e-mail only: the resolution with its rating link, never one per chat line.
    sent = mailbox.to("lihua@example.com")
    assert len(sent) == 1 and "resolved" in sent[0]["Subject"]
    with db.unit_of_work(write=False) as s:
        actions = set(
            s.scalars(select(AuditEvent.action).where(AuditEvent.actor_user_id == agent_id))
        )
        events = [e.kind for e in ticket_events.list_events(s, load(db, number))]
    assert {"chat_accept", "ticket_reply", "chat_end", "ticket_status"} <= actions
    assert {"chat_started", "chat_accepted", "chat_ended"} <= set(events)


def test_only_the_accepting_agent_talks_and_a_second_accept_loses(db) -> None:  # type: ignore[no-untyped-def]
    first = make_staff(db, "a1@okpay.example")
    second = make_staff(db, "a2@okpay.example")
    view = start_guest_chat(db)
    accept(db, view.chat.id, first)
    with pytest.raises(chat.ChatTaken):
        accept(db, view.chat.id, second)
    with pytest.raises(chat.ChatTaken):
        say(db, view.chat.id, "agent", "Hello", user_id=second)
    customer = make_user(db, "c@example.com")
    with pytest.raises(Exception) as refused:
        accept(db, view.chat.id, customer)
    assert getattr(refused.value, "code", "") == "permission_denied"


@pytest.mark.postgres_only
def test_accept_race_exactly_one_agent_wins(db) -> None:  # type: ignore[no-untyped-def]
    agents = [make_staff(db, f"agent{i}@okpay.example") for i in range(8)]
    view = start_guest_chat(db)
    barrier = threading.Barrier(len(agents))
    outcomes: list[str] = []
    lock = threading.Lock()

    def take(agent_id: int) -> None:
        try:
            with db.unit_of_work() as s:
                agent = user(s, agent_id)
                barrier.wait()
                chat.do_accept(s, chat_id=view.chat.id, agent=agent)
            result = "won"
        except chat.ChatTaken:
            result = "taken"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=take, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["taken"] * 7 + ["won"]
    row = chat_row(db, view.chat.id)
    assert row.status == "active" and row.agent_id in agents
    assert load(db, view.ticket.number).assignee_id == row.agent_id


def test_unaccepted_chat_becomes_a_ticket_and_the_customer_is_emailed(
    db, mailbox, clock, settings
) -> None:  # type: ignore[no-untyped-def]
    view = start_guest_chat(db)
    clock.advance(seconds=settings.chat_accept_seconds - 1)
    with db.unit_of_work() as s:
        assert chat.expire_waiting(s) == []
    clock.advance(seconds=2)
    tasks.expire_chats()  # the periodic job
    row = chat_row(db, view.chat.id)
    assert (row.status, row.ended_by) == ("missed", "timeout")
    ticket = load(db, view.ticket.number)
    assert (ticket.status, ticket.channel) == ("new", "chat")
    notice = messages(db, ticket.number)[-1]
    assert notice.kind == "system" and ticket.number in notice.body
    mail = mailbox.last("lihua@example.com")
    assert ticket.number in mail["Subject"]
    text = mailbox.text(mail)
    assert ticket.number in text and "We will reply by" in text
    assert f"/support/requests/{ticket.number}?key=" in text
    # Too late to accept now; and the sweep does not mail twice.
    agent_id = make_staff(db, "agent@okpay.example")
    with pytest.raises(chat.ChatOver):
        accept(db, view.chat.id, agent_id)
    tasks.expire_chats()
    assert len(mailbox.to("lihua@example.com")) == 1


def test_accepting_an_overdue_chat_that_no_sweep_has_seen_times_it_out(
    db, mailbox, clock, settings
) -> None:  # type: ignore[no-untyped-def]
    view = start_guest_chat(db)
    clock.advance(seconds=settings.chat_accept_seconds + 5)
    with pytest.raises(chat.ChatOver):
        accept(db, view.chat.id, make_staff(db, "agent@okpay.example"))
    assert chat_row(db, view.chat.id).status == "missed"
    assert mailbox.to("lihua@example.com")


@pytest.mark.parametrize(
    ("body", "code"),
    [("", "message_required"), ("   ", "message_required"), ("x" * 2001, "too_long")],
)
def test_bad_lines_are_refused_and_nothing_is_written(db, body: str, code: str) -> None:  # type: ignore[no-untyped-def]
    view = start_guest_chat(db)
    with pytest.raises(Exception) as refused:
        say(db, view.chat.id, "customer", body, token=chat.guest_token(view.chat))
    assert getattr(refused.value, "code", "") == code
    assert len(messages(db, view.ticket.number)) == 1


def test_guest_chat_needs_its_token_and_a_customer_cannot_open_anothers(db) -> None:  # type: ignore[no-untyped-def]
    view = start_guest_chat(db)
    owner = make_user(db, "owner@example.com")
    other = make_user(db, "other@example.com")
    with db.unit_of_work() as s:
        mine = chat.do_start_chat(s, question="Limits?", user=user(s, owner))
    with db.unit_of_work(write=False) as s:
        for who, chat_id, token in [
            (None, view.chat.id, ""),
            (None, view.chat.id, "0" * 32),
            (user(s, other), view.chat.id, ""),
            (user(s, other), mine.chat.id, ""),
            (None, mine.chat.id, chat.guest_token(mine.chat)),  # accounts' chats take no token
        ]:
            with pytest.raises(Exception) as refused:
                chat.access_chat(s, chat_id=chat_id, user=who, token=token)
            assert getattr(refused.value, "code", "") == "not_found"
        assert chat.access_chat(s, chat_id=mine.chat.id, user=user(s, owner), token="")


# --------------------------------------------------------------------------- sockets


def login(client: TestClient, email: str) -> None:
    response = post_form(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text


@pytest.fixture
def agent_client(app, db) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    make_staff(db, "agent@okpay.example")
    with TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        login(c, "agent@okpay.example")
        yield c


def start_on_page(client: TestClient, question: str = "Where is my top-up?") -> tuple[int, str]:
    """Start a guest chat with the form; returns the chat id and the page address."""
    response = post_form(
        client, "/support/chat",
        {"name": "Li Hua", "email": "lihua@example.com", "question": question},
    )  # fmt: skip
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    match = re.fullmatch(r"/support/chat/(\d+)\?token=(\w+)", location)
    assert match, location
    return int(match.group(1)), location


def customer_socket(client: TestClient, chat_id: int, location: str) -> Any:
    token = location.split("token=")[1]
    return client.websocket_connect(f"/support/chat/{chat_id}/ws?token={token}", headers=ORIGIN)


def next_of(ws: Any, kind: str, limit: int = 20, **match: Any) -> dict[str, Any]:
    """The next event of this type (and with these values), skipping others."""
    for _ in range(limit):
        data = ws.receive_json()
        if data["type"] == kind and all(data.get(k) == v for k, v in match.items()):
            return data
    raise AssertionError(f"no {kind} event")


def test_customer_and_agent_talk_over_websockets(client, agent_client, db) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/help").text
    assert 'href="/support/chat"' in page  # "Chat with us" on the help centre
    chat_id, location = start_on_page(client)
    token = location.split("token=")[1]
    html = client.get(location).text
    assert "You are number 1 in the queue" in html
    with client.websocket_connect(
        f"/support/chat/{chat_id}/ws?token={token}", headers=ORIGIN
    ) as cws:
        state = cws.receive_json()
        assert (state["type"], state["status"], state["position"]) == ("state", "waiting", 1)
        assert state["messages"][0]["body"] == "Where is my top-up?"
        with agent_client.websocket_connect("/agent/chats/ws", headers=ORIGIN) as lws:
            listing = lws.receive_json()
            assert [w["id"] for w in listing["waiting"]] == [chat_id]
            accepted = post_form(
                agent_client, f"/agent/chats/{chat_id}/accept", {}, from_page="/agent/chats"
            )
            assert accepted.headers["location"] == f"/agent/chats/{chat_id}"
            assert next_of(lws, "list", waiting=[])["mine"][0]["id"] == chat_id
        assert next_of(cws, "accepted")["agent"] == "Agent"
        with agent_client.websocket_connect(f"/agent/chats/{chat_id}/ws", headers=ORIGIN) as aws:
            assert aws.receive_json()["status"] == "active"
            cws.send_json({"type": "typing"})
            assert next_of(aws, "typing") == {"type": "typing", "side": "customer"}
            cws.send_json({"type": "message", "body": "<script>alert(1)</script> hi"})
            line = next_of(aws, "message")
            assert (line["side"], line["body"]) == ("customer", "<script>alert(1)</script> hi")
            aws.send_json({"type": "typing"})
            assert next_of(cws, "typing")["side"] == "agent"
            aws.send_json({"type": "message", "body": "Found it: it arrives today."})
            assert next_of(cws, "message", body="Found it: it arrives today.")["side"] == "agent"
            assert next_of(aws, "message", side="agent")["body"].startswith("Found it")
            # Shown escaped on both pages.
            for page_html in (
                client.get(location).text,
                agent_client.get(f"/agent/chats/{chat_id}").text,
            ):
                assert "<script>alert(1)</script>" not in page_html
                assert "&lt;script&gt;alert(1)&lt;/script&gt; hi" in page_html
            aws.send_json({"type": "end"})
            assert next_of(cws, "ended")["by"] == "agent"
            assert next_of(aws, "ended")["by"] == "agent"
    ticket = ticket_of(db, chat_id)
    assert ticket.assignee_id is not None
    assert [m.author_side for m in messages(db, ticket.number)] == ["customer", "customer", "agent"]
    page = agent_client.get(f"/agent/chats/{chat_id}").text
    assert f'href="/agent/tickets/{ticket.number}"' in page and 'name="status"' in page


def test_sockets_refuse_strangers(client, agent_client, db) -> None:  # type: ignore[no-untyped-def]
    chat_id, location = start_on_page(client)
    token = location.split("token=")[1]
    refused = [
        (client, f"/support/chat/{chat_id}/ws", ORIGIN),  # no token
        (client, f"/support/chat/{chat_id}/ws?token={'0' * 32}", ORIGIN),
        (client, f"/support/chat/{chat_id}/ws?token={token}", {"Origin": "https://evil.example"}),
        (client, f"/support/chat/{chat_id}/ws?token={token}", {}),  # no Origin at all
        (client, f"/agent/chats/{chat_id}/ws", ORIGIN),  # a guest on the agent socket
        (client, "/agent/chats/ws", ORIGIN),
        (agent_client, f"/agent/chats/{chat_id}/ws", {"Origin": "http://evil.example"}),
        (agent_client, f"/agent/chats/{chat_id + 99}/ws", ORIGIN),
    ]
    for who, path, headers in refused:
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            who.websocket_connect(path, headers=headers),
        ):
            pass
        assert closed.value.code == 1008, path
    assert client.get(f"/support/chat/{chat_id}").status_code == 404
    assert client.get("/agent/chats", follow_redirects=False).status_code == 303


def test_another_customers_chat_is_not_found(app, client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "owner@example.com")
    make_user(db, "other@example.com")
    login(client, "owner@example.com")
    response = post_form(client, "/support/chat", {"question": "Why is my account limited?"})
    chat_id = int(response.headers["location"].rsplit("/", 1)[1])
    with client.websocket_connect(f"/support/chat/{chat_id}/ws", headers=ORIGIN) as ws:
        assert ws.receive_json()["status"] == "waiting"
    with TestClient(app, base_url="http://testserver", headers={"Accept-Language": "en"}) as other:
        login(other, "other@example.com")
        assert other.get(f"/support/chat/{chat_id}").status_code == 404
        with (
            pytest.raises(WebSocketDisconnect),
            other.websocket_connect(f"/support/chat/{chat_id}/ws", headers=ORIGIN),
        ):
            pass
        assert other.get("/agent/chats").status_code == 403


def test_socket_limits_lengths_and_rates(client, db) -> None:  # type: ignore[no-untyped-def]
    chat_id, location = start_on_page(client)
    with customer_socket(client, chat_id, location) as ws:
        ws.receive_json()
        ws.send_json({"type": "message", "body": "x" * 2001})
        assert next_of(ws, "error")["code"] == "too_long"
        # The refused line counted too: every attempt does.
        for i in range(chat_sockets.LINES_PER_MINUTE - 1):
            ws.send_json({"type": "message", "body": f"line {i}"})
            assert next_of(ws, "message")["body"] == f"line {i}"
        ws.send_json({"type": "message", "body": "one too many"})
        assert next_of(ws, "error")["code"] == "rate_limited"
        ws.send_text("not json")
        assert next_of(ws, "error")["code"] == "bad_frame"
        ws.send_bytes(b"\x00binary")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1003
    assert len(messages(db, ticket_of(db, chat_id).number)) == chat_sockets.LINES_PER_MINUTE


def test_customer_page_hears_the_timeout(client, db, clock, settings, mailbox) -> None:  # type: ignore[no-untyped-def]
    chat_id, location = start_on_page(client)
    with customer_socket(client, chat_id, location) as ws:
        ws.receive_json()
        clock.advance(seconds=settings.chat_accept_seconds + 1)
        tasks.expire_chats()
        assert next_of(ws, "missed")["number"] == "OK-2026-000001"
    html = client.get(location).text
    assert "is now request OK-2026-000001" in html and "We will reply by" in html
    assert "/support/requests/OK-2026-000001?key=" in html  # where to follow it from now on


# ---------------------------------------------------------------------- several processes

REDIS_URL = os.environ.get("OKPAY_TEST_CHAT_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis_fanout(settings):  # type: ignore[no-untyped-def]
    """Settings with chat fan-out through Redis (a database number of the chat tests' own)."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    configured = settings.model_copy(update={"redis_url": REDIS_URL})
    configure(configured)
    yield configured
    configure(settings)


def test_a_message_crosses_app_processes_through_redis(db, redis_fanout) -> None:  # type: ignore[no-untyped-def]
    """Two app instances, as two uvicorn workers would be: the customer's socket is served by
    one, the agent's by the other, and each hears what the other side says."""
    from okpay.app import create_app

    make_staff(db, "agent@okpay.example")
    first, second = create_app(redis_fanout), create_app(redis_fanout)
    headers = {"Accept-Language": "en"}
    with (
        TestClient(first, base_url="http://testserver", headers=headers) as customer,
        TestClient(second, base_url="http://testserver", headers=headers) as agent,
    ):
        login(agent, "agent@okpay.example")
        chat_id, location = start_on_page(customer)
        token = location.split("token=")[1]
        with customer.websocket_connect(
            f"/support/chat/{chat_id}/ws?token={token}", headers=ORIGIN
        ) as cws:
            assert cws.receive_json()["status"] == "waiting"
            accepted = post_form(
                agent, f"/agent/chats/{chat_id}/accept", {}, from_page="/agent/chats"
            )
            assert accepted.status_code == 303
            assert next_of(cws, "accepted")["agent"] == "Agent"  # published by the other app
            with agent.websocket_connect(f"/agent/chats/{chat_id}/ws", headers=ORIGIN) as aws:
                aws.receive_json()
                cws.send_json({"type": "message", "body": "Hello from app one"})
                assert next_of(aws, "message")["body"] == "Hello from app one"
                aws.send_json({"type": "message", "body": "Hello from app two"})
                assert next_of(cws, "message", body="Hello from app two")["side"] == "agent"
    assert isinstance(first.state.chat_hub, pubsub.RedisHub)
    assert first.state.chat_hub is not second.state.chat_hub


def test_json_api_start_follow_and_accept(client, db) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import api_token

    started = client.post(
        "/api/v1/support/chats",
        json={"question": "Where is my refund?", "name": "Li", "email": "li@example.com"},
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["status"] == "waiting" and body["socket"].endswith(f"?token={body['token']}")
    state = client.get(f"/api/v1/support/chats/{body['id']}", params={"token": body["token"]})
    assert state.json()["messages"][0]["body"] == "Where is my refund?"
    assert client.get(f"/api/v1/support/chats/{body['id']}").status_code == 404
    bad = client.post("/api/v1/support/chats", json={"question": "<b>x</b>\nhi", "email": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["code"]

    make_staff(db, "a1@okpay.example")
    make_staff(db, "a2@okpay.example")
    first, second = api_token(client, "a1@okpay.example"), api_token(client, "a2@okpay.example")
    listing = client.get("/api/v1/agent/chats", headers=first).json()
    assert [w["id"] for w in listing["waiting"]] == [body["id"]]
    assert client.post(f"/api/v1/agent/chats/{body['id']}/accept", headers=first).status_code == 200
    lost = client.post(f"/api/v1/agent/chats/{body['id']}/accept", headers=second)
    assert (lost.status_code, lost.json()["error"]["code"]) == (409, "chat_taken")
    assert client.get("/api/v1/agent/chats").status_code == 401


def test_customer_leaving_before_an_agent_keeps_the_ticket(db, mailbox) -> None:  # type: ignore[no-untyped-def]
    view = start_guest_chat(db)
    token = chat.guest_token(view.chat)
    with db.unit_of_work() as s:
        chat.do_end(s, chat_id=view.chat.id, side="customer", user=None, token=token)
    with db.unit_of_work() as s:  # again: harmless
        chat.do_end(s, chat_id=view.chat.id, side="customer", user=None, token=token)
    row = chat_row(db, view.chat.id)
    assert (row.status, row.ended_by) == ("ended", "customer")
    assert load(db, view.ticket.number).status == "new"  # answered by e-mail from the queue
    with pytest.raises(chat.ChatOver):
        say(db, view.chat.id, "customer", "one more thing", token=token)
    with pytest.raises(chat.ChatOver):
        accept(db, view.chat.id, make_staff(db, "agent@okpay.example"))


def test_the_time_out_runs_every_minute() -> None:
    from okpay import jobs

    assert "okpay.support.tasks.expire_chats" in jobs._periodic
