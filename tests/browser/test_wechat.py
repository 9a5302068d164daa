"""WeChat end to end in a real browser: the dev sandbox sends a signed text message as a
follower, it becomes a ticket, the agent answers in the console, and the sandbox shows the
reply in the follower's chat."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from okpay.support.models import Ticket
from tests.browser.test_identity_flows import sign_in
from tests.support.helpers import make_staff

SHOTS = Path("/tmp/shots-wechat")


def test_sandbox_message_becomes_ticket_and_agent_reply_reaches_follower(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(exist_ok=True)
    make_staff(db, "agent@okpay.example")
    page.goto("/dev/sandbox/wechat")
    page.locator("#sandbox-openid").fill("oBrowserFollower01")
    page.locator("#sandbox-content").fill("我的提现三天了还没到账")
    page.get_by_test_id("sandbox-send").click()
    chat = page.get_by_test_id("sandbox-chat")
    expect(chat.locator("[data-side=follower]")).to_contain_text("我的提现三天了还没到账")

    with db.unit_of_work(write=False) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.channel == "wechat"))
        assert ticket is not None
        number = ticket.number

    sign_in(page, "agent@okpay.example")
    page.goto(f"/agent/tickets/{number}")
    panel = page.get_by_test_id("wechat-panel")
    expect(panel).to_contain_text("oBro…er01")
    expect(page.get_by_test_id("wechat-window")).to_contain_text("47 h")
    page.screenshot(path=str(SHOTS / "agent-ticket-en-1280.png"), full_page=True)
    page.locator("#reply-form textarea[name=body]").fill("您好，我们正在为您查询这笔提现。")
    page.locator("#reply-form").get_by_role("button", name="Send reply").click()
    expect(page.locator(".flash-success")).to_contain_text("Your reply was sent.")

    page.goto("/dev/sandbox/wechat?openid=oBrowserFollower01")
    expect(page.get_by_test_id("sandbox-chat").locator("[data-side=account]")).to_contain_text(
        "您好，我们正在为您查询这笔提现。"
    )
    page.screenshot(path=str(SHOTS / "sandbox-en-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "sandbox-en-390.png"), full_page=True)


def test_customer_binds_wechat_with_a_code_in_chinese(zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    from okpay.identity import operators
    from okpay.identity.models import Role
    from tests.helpers import PASSWORD

    page = zh_page
    SHOTS.mkdir(exist_ok=True)
    with db.unit_of_work() as s:
        operators.do_create_user(
            s, email="wang@example.com", password=PASSWORD, role=Role.customer, name="王芳"
        )
    page.goto("/dev/sandbox/wechat")
    page.locator("#sandbox-openid").fill("oBindingFollower01")
    page.locator("#sandbox-content").fill("你好，我想查一笔转账")
    page.get_by_test_id("sandbox-send").click()

    sign_in(page, "wang@example.com")
    page.goto("/account")
    page.get_by_test_id("link-wechat").click()
    page.get_by_test_id("wechat-code-new").click()
    code = page.get_by_test_id("wechat-code").inner_text()
    page.screenshot(path=str(SHOTS / "bind-zh-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "bind-zh-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto("/dev/sandbox/wechat?openid=oBindingFollower01")
    page.locator("#sandbox-content").fill(code)
    page.get_by_test_id("sandbox-send").click()
    chat = page.get_by_test_id("sandbox-chat")
    expect(chat.locator("[data-side=account]").last).to_contain_text("已成功绑定")
    page.screenshot(path=str(SHOTS / "sandbox-zh-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "sandbox-zh-390.png"), full_page=True)

    with db.unit_of_work(write=False) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.channel == "wechat"))
        assert ticket is not None and ticket.requester_email == "wang@example.com"
    page.goto("/account/wechat")
    expect(page.get_by_test_id("wechat-bound")).to_contain_text("oBin…er01")

    # The agent sees the bound account on the ticket, in Chinese.
    make_staff(db, "agent@okpay.example")
    page.context.clear_cookies()
    sign_in(page, "agent@okpay.example")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/agent/tickets/{ticket.number}")
    expect(page.get_by_test_id("wechat-bound")).to_contain_text("王芳")
    expect(page.get_by_test_id("wechat-window")).to_contain_text("剩余")
    page.screenshot(path=str(SHOTS / "agent-ticket-zh-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / "agent-ticket-zh-390.png"), full_page=True)
