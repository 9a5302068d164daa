"""Issue 13's five journeys end to end in real browsers: the customer, the agent and the
supervisor each in a browser context of their own (the supervisor in Chinese), acting only
through the pages, with the wallet checked after each decision."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pyotp
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from okpay.casework.models import Case
from okpay.identity.models import Role, User
from okpay.wallet import standing
from tests.browser.test_identity_flows import sign_in
from tests.casework.helpers import shop_payments
from tests.helpers import NEW_PASSWORD, PASSWORD, api_token
from tests.support.helpers import make_staff
from tests.wallet.helpers import balance, fund, make_user


def png(name: str, size: tuple[int, int] = (480, 300)) -> dict[str, object]:
    out = io.BytesIO()
    Image.new("RGB", size, (40, 110, 190)).save(out, "PNG")
    return {"name": name, "mimeType": "image/png", "buffer": out.getvalue()}


@pytest.fixture
def staff(browser: Browser, live_server: str, db) -> Iterator[tuple[Page, Page]]:  # type: ignore[no-untyped-def]
    """An agent (English) and a supervisor (Chinese), each signed in in a browser of their own."""
    contexts: list[BrowserContext] = []
    pages = []
    for email, role, locale in (
        ("agent@okpay.example", Role.agent, "en-US"),
        ("sup@okpay.example", Role.supervisor, "zh-CN"),
    ):
        make_staff(db, email, team="compliance", role=role)
        context = browser.new_context(locale=locale, base_url=live_server)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, email)
        pages.append(page)
    yield pages[0], pages[1]
    for context in contexts:
        context.close()


def propose(agent: Page, number: str, action: str, reason: str) -> None:
    """The agent previews the action on the case ticket, then proposes it."""
    agent.goto(f"/agent/tickets/{number}")
    agent.get_by_test_id(f"action-{action}").click()
    agent.get_by_test_id(f"reason-{action}").fill(reason)
    agent.get_by_test_id(f"preview-{action}").click()
    preview = agent.locator(f"#preview-{action}")
    expect(preview.get_by_test_id("change-lines")).to_be_visible()
    preview.get_by_test_id("propose").click()
    expect(agent.get_by_test_id("waiting-second")).to_be_visible()


def approve(supervisor: Page, number: str) -> None:
    """The supervisor approves the proposal on this ticket's case from the approval queue."""
    supervisor.goto("/agent/approvals")
    row = supervisor.get_by_test_id("approval-row").filter(has_text=number)
    expect(row).to_have_count(1)
    row.locator("[data-testid^=approve-]").click()
    expect(supervisor.locator(".flash-success")).to_be_visible()


def case_number(db, user_id: int, type: str) -> str:  # type: ignore[no-untyped-def]
    from okpay.support.models import Ticket

    with db.unit_of_work(write=False) as s:
        return str(
            s.scalar(
                select(Ticket.number)
                .join(Case, Case.ticket_id == Ticket.id)
                .where(Case.user_id == user_id, Case.type == type)
                .order_by(Case.id.desc())
            )
        )


def send(page: Page, to: str, amount: str) -> None:
    """Review and confirm a transfer (whatever the answer)."""
    page.goto("/wallet/send")
    page.fill("#f-recipient", to)
    page.fill("#f-amount", amount)
    page.click("form[action='/wallet/send/review'] button[type=submit]")
    confirm = page.get_by_test_id("confirm-send")
    if confirm.count():
        confirm.click()


def test_appeal_lift_and_transfer_again(page: Page, staff, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent, supervisor = staff
    uid = make_user(db, "mei@example.com")
    make_user(db, "friend@example.com")
    fund(db, uid, 500_00)
    with db.unit_of_work() as s:
        standing.do_restrict(
            s, user_id=uid, blocked=["transfer"], reason="Unusual activity under review",
            actor_user_id=None,
        )  # fmt: skip
    sign_in(page, "mei@example.com")
    send(page, "friend@example.com", "20.00")
    expect(page.get_by_test_id("refusal-appeal")).to_be_visible()
    page.goto("/wallet")
    page.get_by_test_id("status-banner").get_by_test_id("appeal-button").click()
    page.get_by_test_id("case-statement").fill("These were payments to my family for rent.")
    page.get_by_test_id("case-file-other").set_input_files([png("rent-receipt.png")])
    page.get_by_test_id("case-send").click()
    expect(page.get_by_test_id("case-page")).to_have_attribute("data-status", "submitted")
    number = case_number(db, uid, "appeal")

    propose(agent, number, "lift_restriction", "Rent to family, receipts match")
    approve(supervisor, number)

    page.goto("/support/requests")
    page.reload()
    send(page, "friend@example.com", "20.00")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")
    assert "approved" in mailbox.text(mailbox.last("mei@example.com"))
    agent.goto(f"/agent/tickets/{number}")
    expect(agent.get_by_test_id("ticket-status")).to_have_text("Resolved")


def test_level_upgrade_with_documents(page: Page, staff, db) -> None:  # type: ignore[no-untyped-def]
    agent, supervisor = staff
    uid = make_user(db, "mei@example.com", level=0)
    sign_in(page, "mei@example.com")
    page.goto("/wallet/limits")
    expect(page.get_by_test_id("level-now")).to_contain_text("Not verified")
    page.get_by_test_id("verify-button").click()
    page.get_by_test_id("case-level-1").check()
    page.get_by_test_id("case-file-passport").set_input_files([png("passport.png")])
    page.get_by_test_id("case-file-address").set_input_files([png("utility-bill.png")])
    page.get_by_test_id("case-send").click()
    expect(page.get_by_test_id("case-page")).to_have_attribute("data-status", "submitted")
    number = case_number(db, uid, "verification")

    # The reviewer sees the documents in the page (watermarked images).
    supervisor.goto(f"/agent/tickets/{number}")
    expect(supervisor.get_by_test_id("evidence").locator("img")).to_have_count(2)
    propose(agent, number, "set_verification_level", "Passport and address checked")
    approve(supervisor, number)

    page.goto("/wallet/limits")
    expect(page.get_by_test_id("level-now")).not_to_contain_text("Not verified")
    expect(page.get_by_test_id("limit-transfer")).to_contain_text("50,000.00")
    with db.unit_of_work(write=False) as s:
        assert s.get(User, uid).verification_level == 1  # type: ignore[union-attr]


def test_duplicate_charge_refunded(page: Page, staff, db) -> None:  # type: ignore[no-untyped-def]
    agent, supervisor = staff
    uid = make_user(db, "mei@example.com")
    fund(db, uid, 1_000_00)
    first, second = shop_payments(db, uid, 350_00)
    before = balance(db, uid)[0]
    sign_in(page, "mei@example.com")
    page.goto(f"/wallet/tx/{second}")
    page.get_by_test_id("tx-dispute").click()
    page.get_by_test_id("case-reason-charged_twice").check()
    page.get_by_test_id(f"case-duplicate-{first}").check()
    page.get_by_test_id("case-send").click()
    expect(page.get_by_test_id("case-page")).to_have_attribute("data-status", "submitted")
    number = case_number(db, uid, "dispute")

    propose(agent, number, "refund", "The same coffee was charged twice")
    approve(supervisor, number)

    assert balance(db, uid)[0] == before + 350_00
    page.goto("/wallet")
    expect(page.get_by_test_id("balance-CNY")).to_contain_text(f"{(before + 350_00) / 100:,.2f}")
    page.goto("/wallet/history")
    expect(page.get_by_test_id("activity-row").filter(has_text="350.00")).to_have_count(3)
    page.goto("/wallet/statement")
    expect(page.locator("main")).to_contain_text("Refund")


def test_emergency_freeze_then_reviewed_unfreeze(page: Page, staff, client, db) -> None:  # type: ignore[no-untyped-def]
    agent, supervisor = staff
    uid = make_user(db, "mei@example.com")
    friend = make_user(db, "friend@example.com")
    fund(db, uid, 500_00)
    fund(db, friend, 500_00)
    sign_in(page, "mei@example.com")
    page.goto("/account/security")
    page.get_by_test_id("freeze-button").click()
    page.get_by_test_id("freeze-confirm-box").check()
    page.get_by_test_id("freeze-submit").click()
    expect(page.get_by_test_id("freeze-number")).to_have_text(re.compile(r"OK-\d{4}-\d{6}"))
    number = page.get_by_test_id("freeze-number").inner_text()

    sign_in(page, "mei@example.com")  # every session ended; money still visible
    send(page, "friend@example.com", "20.00")
    expect(page.locator("main")).to_contain_text("frozen")
    incoming = client.post(
        "/api/v1/wallet/transfers",
        headers={**api_token(client, "friend@example.com"), "Idempotency-Key": "in-1"},
        json={"amount": "30.00", "currency": "CNY", "recipient": "mei@example.com"},
    )
    assert incoming.status_code == 201, incoming.text
    page.goto("/wallet")
    expect(page.get_by_test_id("balance-CNY")).to_contain_text("530.00")

    propose(agent, number, "unfreeze", "Customer confirmed by phone, device replaced")
    approve(supervisor, number)
    send(page, "friend@example.com", "20.00")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")


def test_assisted_unlock_new_password_two_factor_and_held_withdrawal(  # type: ignore[no-untyped-def]
    page: Page, staff, db
) -> None:
    agent, supervisor = staff
    uid = make_user(db, "mei@example.com")
    fund(db, uid, 500_00)
    with db.unit_of_work() as s:
        s.get(User, uid).status = "locked"  # type: ignore[union-attr]
    page.goto("/support/cases/new/unlock")
    page.get_by_test_id("case-account_email").fill("mei@example.com")
    page.get_by_test_id("case-name").fill("Mei Lin")
    page.get_by_test_id("case-lost-authenticator").check()
    page.get_by_test_id("case-recent_transactions").fill("A bank top-up of 500 yuan this week")
    page.get_by_test_id("case-file-passport").set_input_files([png("passport.png")])
    page.get_by_test_id("case-send").click()
    number = case_number(db, uid, "unlock")
    assert number.startswith("OK-")
    expect(page.locator("main")).to_contain_text(number)

    propose(agent, number, "unlock", "Passport and the top-up match the account")
    approve(supervisor, number)

    sign_in(page, "mei@example.com")
    expect(page).to_have_url(re.compile(r"/account/recovered/password$"))
    page.fill("#f-current_password", PASSWORD)
    page.fill("#f-new_password", NEW_PASSWORD)
    page.fill("#f-new_password_again", NEW_PASSWORD)
    page.get_by_test_id("save-new-password").click()
    expect(page.get_by_test_id("required-two-factor")).to_be_visible()
    page.get_by_test_id("start-two-factor").click()
    secret = page.get_by_test_id("totp-secret").get_attribute("data-secret")
    assert secret
    page.fill("#f-password", NEW_PASSWORD)
    page.fill("#f-code", pyotp.TOTP(secret).now())
    page.click("form[action='/account/2fa/confirm'] button[type=submit]")
    page.get_by_test_id("codes-saved").click()
    expect(page.get_by_test_id("cooling-off")).to_be_visible()

    page.goto("/wallet/methods")
    page.fill("#f-account_number", "6222020200112233445")
    page.fill("#f-bank_name", "ICBC")
    page.fill("form[action='/wallet/methods/bank'] #f-holder_name", "Mei Lin")
    page.click("form[action='/wallet/methods/bank'] button[type=submit]")
    page.goto("/wallet/withdraw")
    page.fill("#f-amount", "100")
    page.click("form[action='/wallet/withdraw/review'] button[type=submit]")
    expect(page.locator("main")).to_contain_text("cannot leave")
    assert balance(db, uid) == (500_00, 0)
