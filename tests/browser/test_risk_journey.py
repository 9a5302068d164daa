"""Issue 14's whole journey in real browsers: a customer signs in on a second (new) device
and withdraws ¥12,000 in Chinese: review → SMS code → held for review (审核中, the reason in
plain words). A security agent proposes releasing it, a supervisor approves in another
browser, the payout is asked for, the bank pays it, and the customer sees it completed."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from okpay.identity.models import Role, User
from okpay.mail.models import OutboundSms
from okpay.risk import defaults
from okpay.support.models import Ticket
from tests.browser.test_identity_flows import sign_in
from tests.casework.test_risk_review import op_of, the_case
from tests.support.helpers import make_staff
from tests.wallet.helpers import balance, fund, make_user
from tests.wallet.test_withdraw_review import add_bank

SHOTS = os.environ.get("OKPAY_SHOTS")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sms_code(db) -> str:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        body = s.scalars(select(OutboundSms.body).order_by(OutboundSms.id.desc())).first()
    match = re.search(r"\b(\d{6})\b", body or "")
    assert match, body
    return match.group(1)


def test_new_device_withdrawal_code_hold_release_and_paid(  # type: ignore[no-untyped-def]
    browser, live_server, page: Page, zh_page: Page, db
) -> None:
    with db.unit_of_work() as s:
        defaults.install(s)
    uid = make_user(db, "mei@example.com", phone="+86 138 0013 8000", level=2)
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        user.phone_verified_at = user.created_at
        user.preferred_locale = "zh-CN"
    fund(db, uid, 20_000_00)
    add_bank(db, uid)
    make_staff(db, "agent@okpay.example", team="security", role=Role.agent)
    make_staff(db, "sup@okpay.example", team="security", role=Role.supervisor)

    # The customer's usual phone signs in first; then a new device (this browser).
    usual = browser.new_context(locale="zh-CN", base_url=live_server)
    sign_in(usual.new_page(), "mei@example.com")
    usual.close()
    sign_in(zh_page, "mei@example.com")

    zh_page.goto("/wallet/withdraw")
    zh_page.fill("#f-amount", "12000")
    zh_page.click("form[action='/wallet/withdraw/review'] button[type=submit]")
    zh_page.get_by_test_id("confirm-withdraw").click()
    step_up = zh_page.get_by_test_id("step-up")
    expect(step_up).to_contain_text("+86 138****8000")
    shot(zh_page, "journey-code-zh")
    assert balance(db, uid) == (20_000_00, 0)  # nothing held before the code
    zh_page.fill("#f-otp", "000000" if sms_code(db) != "000000" else "111111")
    zh_page.get_by_test_id("confirm-step-up").click()
    expect(zh_page.locator("#err-otp")).to_be_visible()  # a wrong code: the same step again
    zh_page.fill("#f-otp", sms_code(db))
    zh_page.get_by_test_id("confirm-step-up").click()

    detail = zh_page.get_by_test_id("tx-detail")
    expect(detail).to_have_attribute("data-status", "on_hold")
    expect(zh_page.get_by_test_id("tx-on-hold")).to_contain_text("您最近在新设备上登录过")
    expect(zh_page.locator("body")).not_to_contain_text("new_device_large_withdrawal")
    shot(zh_page, "journey-held-zh")
    reference = zh_page.get_by_test_id("tx-reference").inner_text()
    held = op_of(db, reference)
    assert held.status == "on_hold" and held.external_ref is None
    assert balance(db, uid) == (20_000_00, 12_000_00 + held.fee)

    case = the_case(db, uid)
    with db.unit_of_work(write=False) as s:
        ticket = s.get(Ticket, case.ticket_id)
        assert ticket is not None
        path = f"/agent/tickets/{ticket.number}"
    sign_in(page, "agent@okpay.example")
    page.goto(path)
    expect(page.get_by_test_id("risk-why")).to_contain_text("new_device_large_withdrawal")
    page.get_by_test_id("action-release_held").click()
    page.get_by_test_id("reason-release_held").fill("Called the customer back on her known number")
    page.get_by_test_id("preview-release_held").click()
    page.locator("#preview-release_held").get_by_test_id("propose").click()
    expect(page.get_by_test_id("waiting-second")).to_be_visible()

    supervisor = browser.new_context(locale="zh-CN", base_url=live_server)
    sup = supervisor.new_page()
    sign_in(sup, "sup@okpay.example")
    sup.goto("/agent/approvals")
    sup.locator("[data-testid^=approve-]").first.click()
    expect(sup.locator(".flash-success")).to_be_visible()
    released = op_of(db, reference)
    assert released.status == "pending" and released.external_ref  # the payout was asked for

    sup.goto("/dev/sandbox")  # the bank pays it out
    sup.locator(f"tr[data-reference='{reference}'] form[action$='/paid'] button").click()
    supervisor.close()
    zh_page.goto(f"/wallet/tx/{reference}")
    expect(zh_page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")
    shot(zh_page, "journey-paid-zh")
    assert balance(db, uid) == (20_000_00 - 12_000_00 - held.fee, 0)


def test_checkout_asks_for_the_authenticator_code_of_a_large_payment(  # type: ignore[no-untyped-def]
    page: Page, zh_page: Page, db, clock
) -> None:
    """A payment of ¥50,000 or more asks for a second factor at checkout (the authenticator
    app here), in place, at both sizes and in both languages; the right code pays once."""
    import pyotp

    from okpay.core.security import encrypt_secret
    from okpay.wallet import intents, merchants
    from tests.browser.test_withdraw_review import looks_right

    secret = pyotp.random_base32()
    with db.unit_of_work() as s:
        defaults.install(s)
    uid = make_user(db, "mei@example.com", level=2)
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        user.totp_secret = encrypt_secret(secret)
        user.totp_enabled_at = clock.now
        shop = merchants.do_create_merchant(s, code="piano", name="琴行", owner_user_id=None)
        token = intents.do_create_intent(
            s,
            merchant=shop,
            api_key_id=None,
            order_id="P-1",
            amount=58_000_00,
            currency="CNY",
            return_url="https://piano.example/thanks",
            description="Upright piano",
        ).token
    fund(db, uid, 60_000_00)
    for lang, pg in (("en", page), ("zh", zh_page)):
        pg.goto("/login")
        pg.fill("#f-email", "mei@example.com")
        pg.fill("#f-password", "correct horse battery")
        pg.click("form[action='/login'] button[type=submit]")
        pg.fill("#f-code", pyotp.TOTP(secret).at(clock.now))
        pg.click("form[action='/login/2fa'] button[type=submit]")
        for w, h in ((1280, 800), (390, 844)):
            pg.set_viewport_size({"width": w, "height": h})
            pg.goto(f"/pay/i/{token}")
            pg.get_by_test_id("checkout-pay").click()
            expect(pg.get_by_test_id("step-up")).to_be_visible()
            looks_right(pg, f"checkout-code-{lang}-{w}")
        clock.advance(seconds=31)
    zh_page.fill("#f-otp", pyotp.TOTP(secret).at(clock.now))
    zh_page.get_by_test_id("confirm-step-up").click()
    expect(zh_page.get_by_test_id("checkout")).to_have_attribute("data-status", "paid")
    assert balance(db, uid) == (2_000_00, 0)
