"""Password reset by a texted code in a real browser, in Chinese (issue 14, seed 003):
forgot → phone number → the code from the dev SMS outbox → new password → sign in."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from okpay.identity import operators
from okpay.identity.models import Role
from okpay.identity.validation import normalise_phone
from tests.helpers import PASSWORD

EMAIL = "wangfang@example.com"
NEW = "我的新密码很长很安全"
SHOTS = Path(os.environ.get("OKPAY_SCREENSHOTS", "var/screenshots"))


def make_user_with_phone(db) -> None:  # type: ignore[no-untyped-def]
    from okpay.core import clock

    with db.unit_of_work() as s:
        user = operators.do_create_user(
            s, email=EMAIL, password=PASSWORD, role=Role.customer, name="王芳", locale="zh-CN"
        )
        user.phone = normalise_phone("13712345678")
        user.phone_verified_at = clock.now()


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.click("form[action='/login'] button[type=submit]")


def texted_code(page: Page) -> str:
    page.goto("/dev/mail")
    body = page.get_by_test_id("sms-row").first.inner_text()
    assert "重置密码" in body and "+8613712345678" in body
    match = re.search(r"\b(\d{6})\b", body)
    assert match, body
    return match.group(1)


def no_horizontal_overflow(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not overflow


def test_reset_password_by_texted_code_in_chinese(zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    page = zh_page
    make_user_with_phone(db)
    page.goto("/login")
    page.click("a[href='/password/forgot'] >> nth=0")
    expect(page.locator("label[for=f-account]")).to_contain_text("手机号或邮箱")
    page.fill("#f-account", "137 1234 5678")
    page.click("form[action='/password/forgot'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/password/reset/sms$"))
    expect(page.get_by_test_id("reset-code")).to_contain_text("+86 137****5678")

    code = texted_code(page)
    page.goto("/password/reset/sms")
    page.fill("#f-code", "000000" if code != "000000" else "111111")
    page.fill("#f-password", NEW)
    page.fill("#f-password_again", NEW)
    page.click("form[action='/password/reset/sms'] button[type=submit]")
    expect(page.locator("#err-code")).to_contain_text("验证码错误")  # a wrong guess

    page.fill("#f-code", code)
    page.fill("#f-password", NEW)
    page.fill("#f-password_again", NEW)
    page.click("form[action='/password/reset/sms'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flash-success")).to_be_visible()
    sign_in(page, EMAIL, PASSWORD)  # the old password no longer works
    expect(page.locator(".flash-error")).to_be_visible()
    sign_in(page, EMAIL, NEW)
    expect(page).to_have_url(re.compile(r"/wallet$"))  # signed in: a customer's wallet
    expect(page.get_by_test_id("logout")).to_be_visible()


def test_forgot_and_code_pages_fit_phones_and_desktops(page: Page, zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for lang, pg in (("zh", zh_page), ("en", page)):
        for width, height in ((1280, 800), (390, 844)):
            pg.set_viewport_size({"width": width, "height": height})
            pg.goto("/password/forgot")
            no_horizontal_overflow(pg)
            pg.screenshot(path=str(SHOTS / f"forgot-{lang}-{width}.png"), full_page=True)
            pg.fill("#f-account", "13800000000")
            pg.click("form[action='/password/forgot'] button[type=submit]")
            expect(pg.get_by_test_id("reset-code")).to_be_visible()
            no_horizontal_overflow(pg)
            pg.screenshot(path=str(SHOTS / f"reset-code-{lang}-{width}.png"), full_page=True)
