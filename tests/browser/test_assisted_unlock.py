"""After support's assisted unlock, in a real browser, in Chinese and English: signing in
leads to a new password, then two-factor set-up, then the wallet, which shows the cooling-off
hold and refuses a withdrawal inside it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from okpay.identity import recovery
from okpay.identity.models import User
from tests.browser.test_identity_flows import make_user, sign_in
from tests.helpers import NEW_PASSWORD, PASSWORD
from tests.wallet.helpers import fund

WORDS = {
    "en": {"why": "recovered with help from support", "hold": "cannot leave"},
    "zh-CN": {"why": "客服协助下找回", "hold": "无法转出"},
}


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_sign_in_new_password_two_factor_then_a_held_wallet(
    browser: Browser, live_server: str, db, tmp_path: Path, lang: str
) -> None:  # type: ignore[no-untyped-def]
    shots = Path(os.environ.get("OKPAY_SHOTS") or tmp_path)
    email = f"recovered-{lang.lower()}@example.com"
    make_user(db, email, locale=lang.replace("-", "_"))
    with db.unit_of_work(write=False) as s:
        uid = int(s.scalar(select(User.id).where(User.email == email)))
    fund(db, uid, 500_00)
    with db.unit_of_work() as s:
        recovery.do_assisted_unlock(s, user_id=uid, actor_user_id=None, reason="Case 12")

    context = browser.new_context(locale=lang, base_url=live_server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, email)
        expect(page).to_have_url(re.compile(r"/account/recovered/password$"))
        expect(page.get_by_test_id("required-password")).to_contain_text(WORDS[lang]["why"])
        page.screenshot(path=str(shots / f"unlock-password-{lang}.png"), full_page=True)
        page.goto("/wallet")  # nothing else opens before the step
        expect(page).to_have_url(re.compile(r"/account/recovered/password$"))

        page.fill("#f-current_password", PASSWORD)
        page.fill("#f-new_password", NEW_PASSWORD)
        page.fill("#f-new_password_again", NEW_PASSWORD)
        page.get_by_test_id("save-new-password").click()
        expect(page).to_have_url(re.compile(r"/account/recovered/two-factor$"))
        expect(page.get_by_test_id("required-two-factor")).to_contain_text(WORDS[lang]["why"])
        page.screenshot(path=str(shots / f"unlock-two-factor-{lang}.png"), full_page=True)

        page.get_by_test_id("start-two-factor").click()
        secret = page.get_by_test_id("totp-secret").get_attribute("data-secret")
        assert secret
        page.screenshot(path=str(shots / f"unlock-two-factor-setup-{lang}.png"), full_page=True)
        page.fill("#f-password", NEW_PASSWORD)
        page.fill("#f-code", pyotp.TOTP(secret).now())
        page.click("form[action='/account/2fa/confirm'] button[type=submit]")
        expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
        page.get_by_test_id("codes-saved").click()

        expect(page).to_have_url(re.compile(r"/wallet$"))
        expect(page.get_by_test_id("balance-CNY")).to_contain_text("500.00")
        expect(page.get_by_test_id("cooling-off")).to_contain_text(WORDS[lang]["hold"])
        page.screenshot(path=str(shots / f"unlock-wallet-{lang}.png"), full_page=True)

        page.goto("/wallet/methods")
        page.fill("#f-account_number", "6222020200112233445")
        page.fill("#f-bank_name", "ICBC")
        page.fill("form[action='/wallet/methods/bank'] #f-holder_name", "Saver")
        page.click("form[action='/wallet/methods/bank'] button[type=submit]")
        page.goto("/wallet/withdraw")
        page.fill("#f-amount", "100")
        page.click("form[action='/wallet/withdraw/review'] button[type=submit]")
        expect(page.locator("main")).to_contain_text(WORDS[lang]["hold"])
        page.screenshot(path=str(shots / f"unlock-withdraw-refused-{lang}.png"), full_page=True)
        page.goto("/wallet")
        expect(page.get_by_test_id("balance-CNY")).to_contain_text("500.00")
    finally:
        context.close()
