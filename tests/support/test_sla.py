"""SLA clocks with a controlled clock: business hours across evenings, weekends and holidays,
the pause while waiting for the customer, warnings and breaches from the sweep, and the
timers agents see. The service centre here opens Monday to Friday, 9:00 to 18:00 Beijing
time (the defaults are every day, 8:00 to 22:00)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from okpay import settings as settings_module
from okpay.support import access, assignment, follow_up, messages, sla
from okpay.support.console import timers
from okpay.support.models import SupportHoliday, TicketEvent
from tests.conftest import Mailbox, install_settings
from tests.helpers import PASSWORD, post_form
from tests.support.helpers import load, make_staff, open_ticket, user

BEIJING = ZoneInfo("Asia/Shanghai")


def bj(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in November 2026, Beijing time (the 20th is a Friday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, smtp_listener: Mailbox
) -> Iterator[settings_module.Settings]:
    yield from install_settings(
        database_url,
        tmp_path,
        smtp_listener,
        support_weekdays=[0, 1, 2, 3, 4],
        support_open_hour=9,
        support_close_hour=18,
    )


def office(holidays: tuple[date, ...] = ()) -> sla.Calendar:
    return sla.Calendar.every(
        zone=BEIJING, weekdays=range(5), opens=time(9), closes=time(18), holidays=holidays
    )


# ------------------------------------------------------------------ the calendar itself


def test_hours_after_closing_time_start_next_morning() -> None:
    cal = office()
    # Wednesday 20:00: closed; one business hour later is Thursday 10:00.
    assert cal.add(bj(18, 20), 3600) == bj(19, 10)
    # Wednesday 17:30 plus one hour: half an hour today, half tomorrow.
    assert cal.add(bj(18, 17, 30), 3600) == bj(19, 9, 30)
    # Before opening counts from opening.
    assert cal.add(bj(19, 6), 1800) == bj(19, 9, 30)


def test_weekends_and_holidays_do_not_count() -> None:
    # Friday 17:00 plus two hours: Friday's last hour, then Monday 9:00 to 10:00.
    assert office().add(bj(20, 17), 2 * 3600) == bj(23, 10)
    # With Monday a holiday, it is Tuesday.
    assert office((date(2026, 11, 23),)).add(bj(20, 17), 2 * 3600) == bj(24, 10)
    # Friday 17:00 to Monday 10:00 holds two business hours.
    assert office().between(bj(20, 17), bj(23, 10)) == 2 * 3600
    assert office().is_open(bj(23, 9)) and not office().is_open(bj(21, 12))


def test_calendar_from_settings_follows_the_configured_hours(settings) -> None:  # type: ignore[no-untyped-def]
    cal = sla.Calendar.from_settings([date(2026, 11, 23)])
    assert cal.add(bj(20, 17), 2 * 3600) == bj(24, 10)


# ---------------------------------------------------------------------- tickets' clocks


def _low(db, number: str, agent_id: int) -> None:  # type: ignore[no-untyped-def]
    """Pin a ticket at low priority (targets: first reply 24 h, resolution 120 h)."""
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        assignment.do_update(s, ticket=ticket, agent=user(s, agent_id), priority="low")


def test_first_reply_target_skips_evenings_and_the_weekend(db, clock) -> None:  # type: ignore[no-untyped-def]
    agent = make_staff(db, "a@okpay.example")
    clock.now = bj(20, 17, 30)  # Friday evening
    number = open_ticket(db)
    _low(db, number, agent)
    ticket = load(db, number)
    # 24 business hours: Fri 0.5 + Mon 9 + Tue 9 + Wed 5.5 -> Wednesday 14:30.
    assert ticket.first_reply_due_at == bj(25, 14, 30)
    assert ticket.next_due_at == ticket.first_reply_due_at
    targets = sla.targets_for(priority="low", category=ticket.category)
    assert ticket.resolution_due_at == office().add(bj(20, 17, 30), targets.resolution_hours * 3600)


def test_holidays_move_the_due_time(db, clock) -> None:  # type: ignore[no-untyped-def]
    agent = make_staff(db, "a@okpay.example")
    with db.unit_of_work() as s:
        s.add(SupportHoliday(day=date(2026, 11, 23), name="Test holiday"))
    clock.now = bj(20, 17, 30)
    number = open_ticket(db)
    _low(db, number, agent)
    assert load(db, number).first_reply_due_at == bj(26, 14, 30)


def test_clock_pauses_while_pending_customer(db, clock) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "a@okpay.example")
    clock.now = bj(20, 17, 30)
    number = open_ticket(db)
    _low(db, number, agent_id)
    clock.now = bj(23, 10)  # Monday 10:00: the agent asks a question
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        messages.do_agent_reply(s, ticket=ticket, agent=user(s, agent_id), body="Which bank?")
    waiting = load(db, number)
    assert waiting.status == "pending_customer" and waiting.next_due_at is None
    assert waiting.paused_at == bj(23, 10)
    before = waiting.resolution_due_at
    assert before is not None
    clock.now = bj(25, 12)  # Wednesday noon: the customer answers
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        messages.do_customer_message(s, ticket=ticket, body="ICBC", channel="web")
    running = load(db, number)
    # Paused: Mon 10-18 (8 h) + Tue 9 h + Wed 9-12 (3 h) = 20 business hours.
    assert running.status == "open" and running.paused_at is None
    assert running.resolution_due_at == office().add(before, 20 * 3600)
    assert running.next_due_at == running.resolution_due_at


def test_sweep_warns_before_and_records_breaches_once(db, clock, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "a@okpay.example")
    clock.now = bj(23, 9)  # Monday opening
    number = open_ticket(db)
    paused = open_ticket(db, email="waits@example.com")
    _low(db, number, agent_id)
    _low(db, paused, agent_id)
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, paused)
        assert ticket is not None
        messages.do_agent_reply(s, ticket=ticket, agent=user(s, agent_id), body="Receipt?")
    due = load(db, number).first_reply_due_at
    assert due == bj(25, 15)  # 24 business hours: Mon, Tue, then Wed 9-15
    clock.now = bj(25, 12)  # three hours before: nothing yet
    with db.unit_of_work() as s:
        assert follow_up.sweep(s)["warned"] == 0
    clock.now = bj(25, 13, 30)  # within the two-hour warning window
    with db.unit_of_work() as s:
        assert follow_up.sweep(s) == {"warned": 1, "breached": 0, "closed": 0}
    with db.unit_of_work() as s:
        assert follow_up.sweep(s)["warned"] == 0  # warned once
    clock.now = bj(25, 15, 1)
    with db.unit_of_work() as s:
        assert follow_up.sweep(s)["breached"] == 1
    with db.unit_of_work() as s:
        assert follow_up.sweep(s)["breached"] == 0
    ticket = load(db, number)
    assert ticket.first_reply_breached_at == bj(25, 15, 1)
    with db.unit_of_work(write=False) as s:
        from sqlalchemy import select

        kinds = s.scalars(
            select(TicketEvent.kind)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id)
        ).all()
        waiting = access.get_ticket(s, paused)
        assert waiting is not None
        waiting_kinds = s.scalars(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == waiting.id)
        ).all()
    assert kinds.count("sla_warning") == 1 and kinds.count("sla_breach") == 1
    assert "sla_warning" not in waiting_kinds and "sla_breach" not in waiting_kinds


def test_timers_in_the_console(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "a@okpay.example")
    clock.now = bj(23, 9)
    number = open_ticket(db)
    _low(db, number, agent_id)
    assert (
        post_form(client, "/login", {"email": "a@okpay.example", "password": PASSWORD}).status_code
        == 303
    )
    clock.now = bj(25, 13)  # two hours of wall clock before Wednesday 15:00
    queue = client.get("/agent").text
    assert "due in 2 hr" in queue and "timer-soon" in queue
    clock.now = bj(25, 15, 30)
    with db.unit_of_work() as s:
        follow_up.sweep(s)
    queue = client.get("/agent").text
    assert "overdue by 30 min" in queue and "timer-overdue" in queue
    page = client.get(f"/agent/tickets/{number}").text
    assert "overdue by 30 min" in page and "Target missed" in page
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        messages.do_agent_reply(s, ticket=ticket, agent=user(s, agent_id), body="On it")
    page = client.get(f"/agent/tickets/{number}").text
    assert "paused, waiting for the customer" in page


def test_timer_words() -> None:
    from okpay.core.i18n import use_locale

    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    with use_locale("en"):
        due = timers.due_timer(now + timedelta(hours=5), now)
        assert due is not None and (due.state, due.text) == ("due", "due in 5 hr")
        late = timers.due_timer(now - timedelta(minutes=30), now)
        assert late is not None and (late.state, late.text) == ("overdue", "overdue by 30 min")
        assert timers.due_timer(None, now) is None
