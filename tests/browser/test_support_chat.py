"""Live chat in two browsers: a guest asks from the help centre, an agent accepts from the
waiting list, both see the other typing and each other's messages, and the transcript ends
up on the chat's ticket."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from okpay.helpcenter import triage
from okpay.support import access, messages
from okpay.support.models import Ticket
from tests.browser.test_identity_flows import sign_in
from tests.support.helpers import make_staff


def test_customer_and_agent_chat_in_real_time(page: Page, browser, live_server: str, db) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "agent@okpay.example")
    triage.current_model()  # trained on first use: do it before the clock of any click runs
    agent_context = browser.new_context(locale="en-US", base_url=live_server)
    agent_context.set_default_timeout(10_000)
    agent = agent_context.new_page()
    try:
        sign_in(agent, "agent@okpay.example")
        agent.goto("/agent/chats")
        expect(agent.get_by_test_id("chat-waiting")).to_contain_text("Nobody is waiting")

        # The customer starts from the help centre's "Chat with us".
        page.goto("/help")
        page.get_by_test_id("chat-with-us").click()
        page.get_by_test_id("chat-name").fill("Li <b>Hua</b>")
        page.get_by_test_id("chat-email").fill("lihua@example.com")
        page.get_by_test_id("chat-question").fill("My top-up has not arrived")
        page.get_by_test_id("chat-start").click()
        expect(page.get_by_test_id("chat-status")).to_contain_text("number 1 in the queue")

        # It appears on the agent's list without a reload; the name is shown as text.
        waiting = agent.get_by_test_id("chat-waiting")
        expect(waiting).to_contain_text("Li <b>Hua</b>")
        expect(waiting).to_contain_text("My top-up has not arrived")
        agent.get_by_test_id("chat-accept").first.click()
        expect(agent).to_have_url(re.compile(r"/agent/chats/\d+$"))
        expect(page.get_by_test_id("chat-status")).to_contain_text("You are chatting with Agent")

        # Typing is seen on the other side, then the message, both ways (once both are connected).
        expect(agent.locator("[data-chat-room][data-live]")).to_have_count(1)
        expect(page.locator("[data-chat-room][data-live]")).to_have_count(1)
        page.get_by_test_id("chat-input").press_sequentially("Bank transfer")
        expect(agent.get_by_test_id("chat-typing")).to_be_visible()
        page.get_by_test_id("chat-input").press("Enter")
        expect(agent.get_by_test_id("chat-log")).to_contain_text("Bank transfer")
        agent.get_by_test_id("chat-input").press_sequentially("It arrives <today>")
        expect(page.get_by_test_id("chat-typing")).to_be_visible()
        agent.get_by_test_id("chat-send").click()
        expect(page.get_by_test_id("chat-log")).to_contain_text("It arrives <today>")
        expect(agent.get_by_test_id("chat-log")).to_contain_text("It arrives <today>")

        # The agent ends the chat; both pages say so; the agent sets the ticket's status.
        agent.get_by_test_id("chat-end").click()
        expect(page.get_by_test_id("chat-status")).to_contain_text("The chat has ended")
        expect(agent.get_by_test_id("chat-ticket-status")).to_be_visible()
        agent.get_by_test_id("chat-ticket-status").select_option("resolved")
        agent.get_by_test_id("chat-save-status").click()
        expect(agent.locator(".flash-success")).to_be_visible()
        number = agent.get_by_test_id("chat-number").inner_text()
    finally:
        agent_context.close()

    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert isinstance(ticket, Ticket)
        assert (ticket.channel, ticket.status) == ("chat", "resolved")
        lines = [
            (m.author_side, m.body)
            for m in messages.list_messages(s, ticket, include_internal=True)
        ]
    assert lines == [
        ("customer", "My top-up has not arrived"),
        ("customer", "Bank transfer"),
        ("agent", "It arrives <today>"),
    ]
