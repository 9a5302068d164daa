"""Tickets: numbers, routing, conversation and status, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from okpay.core.errors import DomainError, NotFound
from okpay.support import access, messages, numbers, satisfaction, status, tickets
from tests.support.helpers import load, make_staff, open_ticket, user
from tests.wallet.helpers import make_user


def test_numbers_are_sequential_per_year_and_read_aloud(db, clock) -> None:  # type: ignore[no-untyped-def]
    first = open_ticket(db)
    second = open_ticket(db)
    assert first == "OK-2026-000001"
    assert second == "OK-2026-000002"
    clock.now = datetime(2027, 1, 1, 1, 0, tzinfo=UTC)
    assert open_ticket(db) == "OK-2027-000001"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("OK-2026-000123", "OK-2026-000123"),
        ("ok-2026-123", "OK-2026-000123"),
        ("ＯＫ－２０２６－０００１２３", "OK-2026-000123"),
        ("Re: [OK-2026-000123] Top-up", "OK-2026-000123"),
        ("TX-20261121-7QK3M9", None),
    ],
)
def test_request_numbers_as_people_type_them(typed: str, canonical: str | None) -> None:
    assert numbers.normalise_number(typed) == canonical


def test_opening_acknowledges_with_number_and_due_time(db, mailbox, clock) -> None:  # type: ignore[no-untyped-def]
    number = open_ticket(db)
    ticket = load(db, number)
    assert ticket.status == "new"
    assert ticket.first_reply_due_at is not None and ticket.first_reply_due_at > clock.now
    msg = mailbox.last("lihua@example.com")
    assert number in msg["Subject"]
    assert "/support/requests/OK-2026-000001?key=" in mailbox.text(msg)
    # The promised time to the minute, in the customer's zone, in Chinese (the default).
    assert "中国标准时间" in mailbox.text(msg)
    assert "您的请求编号是 OK-2026-000001" in mailbox.text(msg)


def test_card_numbers_typed_in_are_masked(db) -> None:  # type: ignore[no-untyped-def]
    number = open_ticket(db, body="Charged twice on card 4111 1111 1111 1111, please refund.")
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        body = messages.list_messages(s, ticket, include_internal=True)[0].body
    assert "4111 1111 1111 1111" not in body
    assert "**** **** **** 1111" in body


def test_suspicious_activity_goes_to_security_as_urgent_and_alerts(db, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "sec@okpay.example", team="security")
    number = open_ticket(
        db,
        subject="钱被转走了",
        body="我没有操作，账户里的钱被人转走了，不是我本人转的！",
        category="",
    )
    ticket = load(db, number)
    assert (ticket.team, ticket.priority) == ("security", "urgent")
    assert number in mailbox.last("sec@okpay.example")["Subject"]


def test_restricted_customer_goes_to_compliance(db) -> None:  # type: ignore[no-untyped-def]
    from okpay.identity import operators as identity_operators
    from okpay.identity.models import AccountStatus

    uid = make_user(db, "wang@example.com")
    with db.unit_of_work() as s:
        identity_operators.do_set_status(
            s, user_id=uid, status=AccountStatus.restricted, reason="kyc_review", actor_user_id=None
        )
    with db.unit_of_work() as s:
        ticket = tickets.do_open_ticket(
            s,
            tickets.NewTicket(
                channel="web", subject="Why can't I withdraw?", body="It says restricted.",
                user=user(s, uid), category="withdrawal",
            ),
        )  # fmt: skip
        assert ticket.team == "compliance"


def test_reply_pauses_clock_and_customer_answer_resumes_it(db, mailbox, clock) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    number = open_ticket(db)
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        messages.do_agent_reply(s, ticket=ticket, agent=user(s, agent_id), body="Which bank?")
    ticket = load(db, number)
    assert ticket.status == "pending_customer" and ticket.next_due_at is None
    due_before = ticket.resolution_due_at
    reply = mailbox.last("lihua@example.com")
    assert reply["Subject"].startswith(f"[{number}]")
    assert reply["In-Reply-To"] == ticket.thread_message_id

    clock.advance(hours=5)
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        messages.do_customer_message(s, ticket=ticket, body="ICBC", channel="web")
    ticket = load(db, number)
    assert ticket.status == "open"
    assert due_before is not None and ticket.resolution_due_at is not None
    assert ticket.resolution_due_at > due_before  # the wait did not count against us


def test_resolve_asks_for_rating_and_reply_reopens(db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    number = open_ticket(db)
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        status.do_set_status(s, ticket=ticket, status="resolved", agent=user(s, agent_id))
    assert "/rate?key=" in mailbox.text(mailbox.last("lihua@example.com"))
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        satisfaction.do_rate(s, ticket=ticket, rating=5, comment="Quick!", actor=None)
        with pytest.raises(DomainError) as exc:
            satisfaction.do_rate(s, ticket=ticket, rating=9, comment="", actor=None)
        assert exc.value.code == "rating_invalid"
        messages.do_customer_message(
            s, ticket=ticket, body="Actually, still missing", channel="web"
        )
        assert ticket.status == "open"


def test_customer_sees_only_own_tickets(db) -> None:  # type: ignore[no-untyped-def]
    a = make_user(db, "a@example.com")
    b = make_user(db, "b@example.com")
    with db.unit_of_work() as s:
        number = tickets.do_open_ticket(
            s, tickets.NewTicket(channel="web", subject="Hi", body="Help", user=user(s, a))
        ).number
    with db.unit_of_work(write=False) as s:
        assert access.access_ticket(s, user=user(s, a), number=number).number == number
        with pytest.raises(NotFound):
            access.access_ticket(s, user=user(s, b), number=number)
        with pytest.raises(NotFound):
            access.access_ticket_by_key(s, number=number, key="0" * 32)


def test_bad_input_is_refused_and_nothing_written(db) -> None:  # type: ignore[no-untyped-def]
    for fields, code in [
        ({"name": "Li\r\nBcc: x@evil.example"}, "line_break_not_allowed"),
        ({"subject": "Hi\nthere"}, "line_break_not_allowed"),
        ({"subject": ""}, "subject_required"),
        ({"body": "  "}, "description_required"),
        ({"email": "not-an-address"}, "email_invalid"),
        ({"references": "TX-1"}, "reference_invalid"),
        ({"category": "nonsense"}, "category_invalid"),
    ]:
        with pytest.raises(DomainError) as exc:
            open_ticket(db, **fields)
        assert exc.value.code == code
    with db.unit_of_work(write=False) as s:
        assert access.get_ticket(s, "OK-2026-000001") is None
