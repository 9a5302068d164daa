"""The wallet in a real browser: add a card, top up, send money, follow it in history,
withdraw and cancel, and see why a declined card failed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from okpay.wallet.models import PaymentIntent
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
    page.click("form[action='/wallet/withdraw/review'] button[type=submit]")
    page.get_by_test_id("confirm-withdraw").click()
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "pending")
    page.click("form[action$='/cancel'] button")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "cancelled")
    expect(page).to_have_url(re.compile(r"/wallet/tx/TX-"))


def test_cross_currency_send_checkout_statement_and_limits(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    from okpay.wallet import intents, merchants
    from tests.wallet.helpers import fund

    with db.unit_of_work() as s:
        from okpay.identity import operators as identity_operators
        from okpay.identity.models import Role

        payer = identity_operators.do_create_user(
            s,
            email="traveller@example.com",
            password="correct horse battery",
            role=Role.customer,
            name="Traveller",
            locale="en",
        )
        payer.verification_level = 1
        payer_id = payer.id
        identity_operators.do_create_user(
            s,
            email="friend@example.com",
            password="correct horse battery",
            role=Role.customer,
            name="Friend",
            locale="en",
        )
        tea = merchants.do_create_merchant(
            s, code="tea-house", name="Tea House", owner_user_id=None
        )
        oolong = intents.do_create_intent(
            s,
            merchant=tea,
            api_key_id=None,
            order_id="T-1",
            amount=28_00,
            currency="CNY",
            return_url="https://tea.example/thanks",
            description="Oolong",
        ).token
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

    page.goto(f"/pay/i/{oolong}")
    expect(page.get_by_test_id("checkout-amount")).to_contain_text("28.00")
    page.get_by_test_id("checkout-pay").click()
    expect(page.get_by_test_id("checkout")).to_have_attribute("data-status", "paid")

    page.goto("/wallet/statement")
    expect(page.get_by_test_id("statement-CNY")).to_contain_text("1,000.00")  # money in
    page.goto("/wallet/limits")
    expect(page.get_by_test_id("limit-transfer")).to_contain_text("100.00")  # used today


SHOTS = Path("/tmp/intents-shots")


def _checkout_fits(page: Page) -> None:
    """Nothing in the checkout is wider than the screen (the site header is checked by the
    page tests of its own)."""
    assert page.evaluate(
        "[...document.querySelectorAll('[data-testid=checkout], [data-testid=checkout] *')]"
        ".every(e => e.getBoundingClientRect().right <= document.documentElement.clientWidth)"
    )


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_checkout_of_a_payment_intent(request, db, live_server, lang, viewport) -> None:  # type: ignore[no-untyped-def]
    """The checkout names the merchant, the order and the merchant's amount; the payer
    confirms once and goes back to the shop; an expired link says so and has no button."""
    from datetime import timedelta

    from okpay.core import clock
    from okpay.identity.models import User
    from okpay.wallet import intents, merchants
    from tests.wallet.helpers import fund
    from tests.wallet.helpers import make_user as make_wallet_user

    page: Page = request.getfixturevalue("zh_page" if lang == "zh" else "page")
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    payer = make_wallet_user(db, "buyer@example.com")
    fund(db, payer, 200_00)
    with db.unit_of_work() as s:
        buyer = s.get(User, payer)
        assert buyer is not None
        buyer.preferred_locale = "zh_CN" if lang == "zh" else "en"
        shop = merchants.do_create_merchant(
            s, code="demo-coffee", name="Demo Coffee 演示咖啡店", owner_user_id=None
        )

        def intent(order: str, minutes: int) -> str:
            return intents.do_create_intent(
                s,
                merchant=shop,
                api_key_id=None,
                order_id=order,
                amount=32_00,
                currency="CNY",
                return_url=f"{live_server}/wallet",
                description="Latte 拿铁",
                expires_in=timedelta(minutes=minutes),
            ).token

        open_token, late_token = intent("A-1001", 30), intent("A-1002", 1)
        late = s.scalar(select(PaymentIntent).where(PaymentIntent.token == late_token))
        assert late is not None
        late.expires_at = clock.now() - timedelta(seconds=1)
    sign_in(page, "buyer@example.com")
    tag = f"{lang}-{viewport[0]}"
    SHOTS.mkdir(exist_ok=True)

    page.goto(f"/pay/i/{open_token}")
    expect(page.get_by_test_id("checkout-amount")).to_contain_text("32.00")
    expect(page.get_by_test_id("checkout-order")).to_have_text("A-1001")
    expect(page.get_by_test_id("checkout-merchant")).to_contain_text("Demo Coffee")
    expect(page.locator("input[name=amount]")).to_have_count(0)
    _checkout_fits(page)
    page.screenshot(path=str(SHOTS / f"checkout-{tag}.png"), full_page=True)
    page.get_by_test_id("checkout-pay").click()
    expect(page.get_by_test_id("checkout")).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("checkout-status")).to_have_text(
        "已支付" if lang == "zh" else "Paid"
    )
    _checkout_fits(page)
    page.screenshot(path=str(SHOTS / f"checkout-paid-{tag}.png"), full_page=True)
    page.get_by_test_id("checkout-return").click()
    expect(page).to_have_url(re.compile(r"/wallet$"))
    expect(page.get_by_test_id("balance-CNY")).to_contain_text("168.00")

    page.goto(f"/pay/i/{late_token}")
    expect(page.get_by_test_id("checkout")).to_have_attribute("data-status", "expired")
    expect(page.get_by_test_id("checkout-pay")).to_have_count(0)
    _checkout_fits(page)
    page.screenshot(path=str(SHOTS / f"checkout-expired-{tag}.png"), full_page=True)


def test_sandbox_demo_shop_creates_a_checkout(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    """In development the sandbox plays the demo merchant's server: it creates an intent and
    the checkout pays exactly that amount."""
    from okpay.wallet import merchants
    from tests.wallet.helpers import fund
    from tests.wallet.helpers import make_user as make_wallet_user

    payer = make_wallet_user(db, "tester@example.com")
    fund(db, payer, 100_00)
    with db.unit_of_work() as s:
        merchants.do_create_merchant(s, code="demo-coffee", name="Demo Coffee", owner_user_id=None)
    sign_in(page, "tester@example.com")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/dev/sandbox")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "sandbox-shop-en-390.png"), full_page=True)
    page.fill("#f-shop-amount", "12.30")
    page.get_by_test_id("sandbox-checkout").click()
    expect(page).to_have_url(re.compile(r"/pay/i/pi_"))
    expect(page.get_by_test_id("checkout-amount")).to_contain_text("12.30")
    page.get_by_test_id("checkout-pay").click()
    expect(page.get_by_test_id("checkout")).to_have_attribute("data-status", "paid")
    page.goto("/wallet")
    expect(page.get_by_test_id("balance-CNY")).to_contain_text("87.70")


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
