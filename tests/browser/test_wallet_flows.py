"""The wallet in a real browser: add a card, top up, send money, follow it in history,
withdraw and cancel, and see why a declined card failed."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.test_identity_flows import make_user, sign_in


def add_card(page: Page, number: str) -> None:
    page.goto("/wallet/methods")
    page.fill("#f-card_number", number)
    page.fill("#f-expiry", "12/30")
    page.fill("#f-cvc", "123")
    page.click("form[action='/wallet/methods/card'] button[type=submit]")


def test_top_up_send_and_history(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "payer@example.com")
    make_user(db, "payee@example.com")
    sign_in(page, "payer@example.com")
    add_card(page, "4242 4242 4242 4242")
    expect(page.get_by_test_id("method-row")).to_contain_text("4242")

    page.goto("/wallet/topup")
    page.fill("#f-amount", "200")
    page.click("form[action='/wallet/topup'] button[type=submit]")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")

    page.goto("/wallet/send")
    page.fill("#f-recipient", "payee@example.com")
    page.fill("#f-amount", "35.50")
    page.fill("#f-note", "Dinner")
    page.click("form[action='/wallet/send/review'] button[type=submit]")
    expect(page.get_by_test_id("send-review")).to_contain_text("35.50")
    page.get_by_test_id("confirm-send").click()
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")

    page.goto("/wallet")
    expect(page.get_by_test_id("balance-CNY")).to_contain_text("164.50")
    page.goto("/wallet/history?q=Dinner")
    expect(page.get_by_test_id("activity-row")).to_have_count(1)


def test_declined_card_says_why(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "declined@example.com")
    sign_in(page, "declined@example.com")
    add_card(page, "4000 0000 0000 9995")
    page.goto("/wallet/topup")
    page.fill("#f-amount", "50")
    page.click("form[action='/wallet/topup'] button[type=submit]")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "failed")
    expect(page.get_by_test_id("tx-failure")).to_contain_text("insufficient funds")


def test_withdraw_then_cancel_and_bank_topup_in_sandbox(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "saver@example.com")
    sign_in(page, "saver@example.com")
    page.goto("/wallet/topup")
    page.check("input[value=bank]")
    page.fill("#f-amount", "500")
    page.click("form[action='/wallet/topup'] button[type=submit]")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "pending")
    reference = page.get_by_test_id("tx-reference").inner_text()
    page.goto("/dev/sandbox")
    page.locator(f"tr[data-reference='{reference}'] button").click()
    page.goto("/wallet")
    expect(page.get_by_test_id("balance-CNY")).to_contain_text("500.00")

    page.goto("/wallet/methods")
    page.fill("#f-account_number", "6222020200112233445")
    page.fill("#f-bank_name", "ICBC")
    page.fill("form[action='/wallet/methods/bank'] #f-holder_name", "Saver")
    page.click("form[action='/wallet/methods/bank'] button[type=submit]")
    page.goto("/wallet/withdraw")
    page.fill("#f-amount", "100")
    page.click("form[action='/wallet/withdraw'] button[type=submit]")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "pending")
    page.click("form[action$='/cancel'] button")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "cancelled")
    expect(page).to_have_url(re.compile(r"/wallet/tx/TX-"))


def test_cross_currency_send_checkout_statement_and_limits(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    from okpay.wallet import service
    from tests.wallet.helpers import fund

    with db.unit_of_work() as s:
        from okpay.identity import service as identity_service
        from okpay.identity.models import Role

        payer = identity_service.do_create_user(
            s,
            email="traveller@example.com",
            password="correct horse battery",
            role=Role.customer,
            name="Traveller",
            locale="en",
        )
        payer.verification_level = 1
        payer_id = payer.id
        identity_service.do_create_user(
            s,
            email="friend@example.com",
            password="correct horse battery",
            role=Role.customer,
            name="Friend",
            locale="en",
        )
        service.do_create_merchant(s, code="tea-house", name="Tea House", owner_user_id=None)
    fund(db, payer_id, 1_000_00)
    sign_in(page, "traveller@example.com")

    page.goto("/wallet/send")
    page.fill("#f-recipient", "friend@example.com")
    page.fill("#f-amount", "100")
    page.select_option("#f-target_currency", "USD")
    page.click("form[action='/wallet/send/review'] button[type=submit]")
    expect(page.get_by_test_id("send-arrives")).to_contain_text("14.01")
    page.get_by_test_id("confirm-send").click()
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")

    page.goto("/pay/tea-house?order_id=T-1&amount=28&currency=CNY&description=Oolong")
    expect(page.get_by_test_id("checkout-amount")).to_contain_text("28.00")
    page.get_by_test_id("checkout-pay").click()
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")

    page.goto("/wallet/statement")
    expect(page.get_by_test_id("statement-CNY")).to_contain_text("1,000.00")  # money in
    page.goto("/wallet/limits")
    expect(page.get_by_test_id("limit-transfer")).to_contain_text("100.00")  # used today


def test_i11_item6_send_review_masks_a_new_recipients_name(page: Page, zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    """The send review shows "*伟" and a masked address for someone never paid before, in
    Chinese and English, on a desktop and a phone, without horizontal overflow."""
    import os
    import uuid

    from sqlalchemy import update

    from okpay.identity.models import User
    from tests.wallet.helpers import fund
    from tests.wallet.helpers import make_user as make_wallet_user

    payer = make_wallet_user(db, "payer@example.com")
    make_wallet_user(db, "zhangwei@example.com")
    with db.unit_of_work() as s:
        s.execute(update(User).where(User.email == "zhangwei@example.com").values(name="张伟"))
    fund(db, payer, 500_00)
    shots = os.environ.get("OKPAY_TEST_SHOTS")
    for p, lang in ((zh_page, "zh-CN"), (page, "en")):
        sign_in(p, "payer@example.com")
        for width, height in ((1280, 800), (390, 844)):
            p.set_viewport_size({"width": width, "height": height})
            p.goto("/wallet/send")
            p.fill("#f-recipient", "zhangwei@example.com")
            p.fill("#f-amount", "35.50")
            p.click("form[action='/wallet/send/review'] button[type=submit]")
            review = p.get_by_test_id("send-review")
            expect(review).to_contain_text("*伟")
            expect(review).not_to_contain_text("张伟")
            expect(review).to_contain_text("35.50")
            assert p.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            if shots:
                os.makedirs(shots, exist_ok=True)
                p.screenshot(path=f"{shots}/send-review-{lang}-{width}-{uuid.uuid4().hex[:4]}.png")
