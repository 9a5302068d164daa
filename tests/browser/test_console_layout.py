"""The agent console as agents see it all day (issue 15): the ticket page in three panes that
fit a 1440×900 screen without scrolling the page, nothing wider than the window at 1280 and
on a phone, a queue whose headers and buttons never wrap, a history in sentences, keyboard
shortcuts, canned text at the cursor, live chat beside the customer's wallet, and agents
landing on /agent while customers land on their wallet. Screenshots go to
``$OKPAY_SCREENSHOTS`` (default /tmp/shots-console)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from okpay.identity import users as identity_users
from okpay.support import access, assignment, chat, status
from okpay.support.models import CannedResponse
from tests.browser.test_casework_agent import _open_appeal
from tests.browser.test_identity_flows import sign_in
from tests.support.helpers import make_staff
from tests.wallet.helpers import fund, make_user

SHOTS = Path(os.environ.get("OKPAY_SCREENSHOTS", "/tmp/shots-console"))
AGENT = "agent@okpay.example"
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
DUMP = re.compile(r"\b[a-z_]+=\S")


def _console(client, db) -> str:  # type: ignore[no-untyped-def]
    """An agent, a restricted customer with money in two currencies and an appeal case, a
    few changes in the ticket's history; the case ticket's number."""
    agent_id = make_staff(db, AGENT)
    _case_id, number = _open_appeal(client, db)
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        uid = ticket.requester_user_id
        agent = identity_users.get_user(s, agent_id)
        assert agent is not None
        assignment.do_update(s, ticket=ticket, agent=agent, priority="urgent", tags=["vip"])
        status.do_set_status(s, ticket=ticket, status="open", agent=agent)
        for locale in ("en", "zh_CN"):
            s.add(
                CannedResponse(
                    locale=locale, title="Thanks", body="Thank you, {name}, for {number}."
                )
            )
    assert uid is not None
    for amount in (49_876_54, 40_000_00):  # a long amount must never be cut ("-¥3…")
        fund(db, uid, amount)
    fund(db, uid, 300_00, "USD")
    return number


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _no_sideways_scroll(page: Page, where: str) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"{where}: the page scrolls sideways by {wide}px"


def _no_wrapped_labels(page: Page, where: str) -> None:
    """No table header or button wraps (the queue had 团/队, 处/理/人, a four-line 分配给我)."""
    wrapped = page.evaluate(
        """() => [...document.querySelectorAll('th, button, [role=button]')].filter(el => {
          const text = (el.innerText || '').trim();
          const box = el.getBoundingClientRect();
          if (text.length < 2 || box.width === 0 || box.height === 0) return false;
          const style = getComputedStyle(el);
          let line = parseFloat(style.lineHeight);
          if (!line) line = parseFloat(style.fontSize) * 1.5;
          const pad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom)
            + parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
          return box.height - pad > 1.8 * line;
        }).map(el => el.tagName + ':' + el.innerText.trim())"""
    )
    assert not wrapped, f"{where}: labels wrap onto more lines: {wrapped}"


def _pane_boxes(page: Page) -> dict[str, dict[str, float]]:
    return page.evaluate(
        """() => Object.fromEntries(['pane-conversation', 'pane-case', 'pane-customer'].map(id => {
          const el = document.querySelector(`[data-testid=${id}]`);
          const r = el.getBoundingClientRect();
          return [id, {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                       width: r.width, sideways: el.scrollWidth - el.clientWidth}];
        }))"""
    )


def _amounts_whole(page: Page) -> None:
    """Every amount on the customer pane lies inside it, none cut."""
    cut = page.evaluate(
        """() => { const pane = document.querySelector('[data-testid=customer-panel]');
          const box = pane.getBoundingClientRect();
          return [...pane.querySelectorAll('.tx-amount, .balance-list strong, .limit-figure')]
            .filter(el => { const r = el.getBoundingClientRect();
              return r.right > box.right + 1 || el.scrollWidth > el.clientWidth + 1; })
            .map(el => el.innerText); }"""
    )
    assert not cut, f"amounts cut off: {cut}"
    hidden = page.evaluate(
        """() => [...document.querySelectorAll('.pane .table-wrap')]
          .filter(el => el.scrollWidth > el.clientWidth + 1)
          .map(el => el.querySelector('table')?.dataset.testid)"""
    )
    assert not hidden, f"tables in a pane scroll sideways: {hidden}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_ticket_page_fits_in_three_panes_and_reads_as_sentences(
    request, client, db, browser, live_server: str, lang: str
) -> None:  # type: ignore[no-untyped-def]
    number = _console(client, db)
    context = browser.new_context(
        locale="zh-CN" if lang == "zh" else "en-US", base_url=live_server,
        viewport={"width": 1440, "height": 900},
    )  # fmt: skip
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, AGENT)
        expect(page).to_have_url(re.compile(r"/agent$"))
        path = f"/agent/tickets/{number}"
        page.goto(path)

        # 1440×900: the three panes side by side, all on screen, the page itself not scrolling.
        height = page.evaluate("document.documentElement.scrollHeight - window.innerHeight")
        assert height <= 2, f"the ticket page scrolls by {height}px at 1440×900"
        _no_sideways_scroll(page, "ticket 1440")
        boxes = _pane_boxes(page)
        lefts = sorted(b["left"] for b in boxes.values())
        assert lefts[0] < lefts[1] < lefts[2], boxes  # three columns
        for name, b in boxes.items():
            assert b["width"] >= 280 and b["top"] < 300 and b["bottom"] <= 902, (name, b)
            assert b["sideways"] <= 1, (name, b)
        expect(page.get_by_test_id("customer-panel")).to_be_visible()
        expect(page.get_by_test_id("balances")).to_be_in_viewport()
        expect(page.get_by_test_id("reply-body")).to_be_in_viewport()
        expect(page.get_by_test_id("case-panel")).to_be_visible()
        _amounts_whole(page)
        _shot(page, f"ticket-{lang}-1440")

        # The history: sentences in the agent's language, no codes, no ISO times.
        history = page.get_by_test_id("events").inner_text()
        assert not ISO.search(history), history
        assert not DUMP.search(history), history
        if lang == "zh":
            assert "创建了请求" in history and "紧急" in history and "Agent" in history
        else:
            assert "opened the request via" in history and "Urgent" in history

        # 1280×800 and a phone: nothing wider than the window; labels on one line.
        for width, height_px in ((1280, 800), (390, 844)):
            page.set_viewport_size({"width": width, "height": height_px})
            page.goto(path)
            _no_sideways_scroll(page, f"ticket {width}")
            _no_wrapped_labels(page, f"ticket {width}")
            _amounts_whole(page)
            _shot(page, f"ticket-{lang}-{width}")
        boxes = _pane_boxes(page)  # on the phone they stack
        assert boxes["pane-case"]["top"] >= boxes["pane-conversation"]["bottom"] - 1
        assert boxes["pane-customer"]["top"] >= boxes["pane-case"]["bottom"] - 1

        for width, height_px in ((1440, 900), (1280, 800), (390, 844)):
            page.set_viewport_size({"width": width, "height": height_px})
            page.goto("/agent")
            _no_sideways_scroll(page, f"queue {width}")
            _no_wrapped_labels(page, f"queue {width}")
            _shot(page, f"queue-{lang}-{width}")
    finally:
        context.close()


def test_keyboard_shortcuts_and_canned_text_at_the_cursor(page: Page, client, db) -> None:  # type: ignore[no-untyped-def]
    number = _console(client, db)
    make_user(db, "second@example.com")
    sign_in(page, AGENT)
    expect(page).to_have_url(re.compile(r"/agent$"))
    rows = page.locator("tr[data-queue-row]")
    expect(rows.first).to_be_visible()
    first = rows.nth(0).get_attribute("data-number")

    # "?" shows the shortcuts; Esc closes them.
    page.keyboard.press("?")
    expect(page.locator("dialog[data-shortcut-help]")).to_be_visible()
    expect(page.locator("dialog[data-shortcut-help]")).to_contain_text("Assign to me")
    page.keyboard.press("Escape")
    expect(page.locator("dialog[data-shortcut-help]")).to_be_hidden()

    # "/" searches; typing there is not a shortcut.
    page.keyboard.press("/")
    expect(page.get_by_test_id("queue-search")).to_be_focused()
    page.keyboard.type("jk")
    expect(page.locator("tr.row-current")).to_have_count(0)
    expect(page.get_by_test_id("queue-search")).to_have_value("jk")
    page.get_by_test_id("queue-search").fill("")
    page.evaluate("document.activeElement.blur()")

    # j/k move through the rows; Enter opens the highlighted one.
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile("row-current"))
    if rows.count() > 1:
        page.keyboard.press("j")
        expect(rows.nth(1)).to_have_class(re.compile("row-current"))
        page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile("row-current"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/agent/tickets/{first}$"))

    page.goto(f"/agent/tickets/{number}")
    # r: the reply box; n: the internal note (opened); a: assign to me.
    page.keyboard.press("r")
    expect(page.get_by_test_id("reply-body")).to_be_focused()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("n")
    expect(page.get_by_test_id("note-body")).to_be_focused()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("a")
    expect(page.locator(".flash-success")).to_contain_text("Assignment saved.")
    expect(page.get_by_test_id("assign-me")).to_have_count(0)

    # The canned response goes where the cursor is, placeholders filled.
    box = page.get_by_test_id("reply-body")
    box.fill("Hello. Regards")
    box.evaluate("el => { el.focus(); el.setSelectionRange(6, 6); }")
    page.get_by_test_id("canned-select").select_option(label="Thanks")
    expect(box).to_have_value(re.compile(rf"^Hello\. Thank you, Mei, for {number}\. Regards$"))


def test_live_chat_has_the_wallet_panel_canned_replies_and_a_quiet_end_button(
    page: Page, db
) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, AGENT)
    uid = make_user(db, "chatter@example.com")
    fund(db, uid, 1_234_00)
    with db.unit_of_work() as s:
        s.add(CannedResponse(locale="en", title="Hello", body="Hello {name}!"))
        customer = identity_users.get_user(s, uid)
        agent = identity_users.get_user(s, agent_id)
        assert customer is not None and agent is not None
        view = chat.do_start_chat(s, question="Where is my top-up?", user=customer, locale="en")
        chat_id = view.chat.id
    with db.unit_of_work() as s:
        agent = identity_users.get_user(s, agent_id)
        assert agent is not None
        chat.do_accept(s, chat_id=chat_id, agent=agent)
    sign_in(page, AGENT)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/agent/chats/{chat_id}")
    panel = page.get_by_test_id("chat-customer")
    expect(panel.get_by_test_id("customer-panel")).to_be_visible()
    expect(panel.get_by_test_id("balances")).to_contain_text("1,234.00")
    reveal = panel.get_by_test_id("reveal-email-form")  # the panel's forms name the chat's ticket
    expect(reveal).to_have_attribute("action", re.compile(r"^/agent/tickets/OK-\d{4}-\d+/reveal$"))
    send, end = page.get_by_test_id("chat-send"), page.get_by_test_id("chat-end")
    expect(end).to_have_class(re.compile("outline"))
    assert "outline" not in (send.get_attribute("class") or "")
    send_box, end_box = send.bounding_box(), end.bounding_box()
    assert send_box and end_box and end_box["width"] < send_box["width"]
    assert send_box["x"] - (end_box["x"] + end_box["width"]) > 40  # apart, not side by side
    box = page.get_by_test_id("chat-input")
    box.fill("Hi. How can I help?")
    box.evaluate("el => { el.focus(); el.setSelectionRange(3, 3); }")
    page.get_by_test_id("chat-canned").select_option(label="Hello")
    expect(box).to_have_value("Hi. Hello Chatter! How can I help?")
    _no_sideways_scroll(page, "chat 1280")
    _no_wrapped_labels(page, "chat 1280")
    _shot(page, "chat-en-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/agent/chats/{chat_id}")
    _no_sideways_scroll(page, "chat 390")
    _shot(page, "chat-en-390")


def test_agents_land_on_the_console_and_customers_on_their_wallet(
    page: Page, browser, live_server: str, db
) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, AGENT)
    make_user(db, "walleter@example.com")
    sign_in(page, AGENT)
    expect(page).to_have_url(re.compile(r"/agent$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/agent$"))
    other = browser.new_context(locale="zh-CN", base_url=live_server)
    try:
        customer = other.new_page()
        sign_in(customer, "walleter@example.com")
        expect(customer).to_have_url(re.compile(r"/wallet$"))
        customer.goto("/")
        expect(customer).to_have_url(re.compile(r"/wallet$"))
    finally:
        other.close()
