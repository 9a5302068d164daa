"""What a new user does in a real browser: sign up and confirm from the dev mailbox, turn on
two-factor authentication, reset a forgotten password, get locked out and unlock, switch
language. Chinese first, as most of our users are."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
from playwright.sync_api import Page, expect

from okpay.identity import operators
from okpay.identity.models import Role
from tests.helpers import PASSWORD


def make_user(db, email: str, locale: str = "en") -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        operators.do_create_user(
            s, email=email, password=PASSWORD, role=Role.customer, name="Test User", locale=locale
        )


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.click("form[action='/login'] button[type=submit]")


def open_newest_mail(page: Page, to: str) -> None:
    page.goto("/dev/mail")
    page.locator(f"tr[data-to='{to}'] a").first.click()


def test_register_verify_and_sign_in_in_chinese(zh_page: Page) -> None:
    page = zh_page
    email = "xiaoming@example.com"
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.click("a[href='/register'] >> nth=0")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.fill("#f-name", "小明")
    page.click("form[action='/register'] button[type=submit]")
    expect(page.get_by_test_id("check-email")).to_contain_text(email)

    open_newest_mail(page, email)
    expect(page.get_by_test_id("mail-subject")).to_contain_text("确认")
    page.get_by_test_id("mail-text").locator("a").first.click()
    page.click("form[action='/verify-email'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flash-success")).to_be_visible()

    sign_in(page, email)
    # A customer lands on their wallet (issue 15), signed in.
    expect(page).to_have_url(re.compile(r"/wallet$"))
    expect(page.get_by_test_id("logout")).to_be_visible()


def test_enable_2fa_then_sign_in_with_a_code(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    email = "twofactor@example.com"
    make_user(db, email)
    sign_in(page, email)
    page.goto("/account/security")
    page.get_by_test_id("enable-2fa").click()
    secret = page.get_by_test_id("totp-secret").get_attribute("data-secret")
    assert secret
    expect(page.locator(".qr img")).to_be_visible()
    page.fill("#f-password", PASSWORD)
    page.fill("#f-code", pyotp.TOTP(secret).now())
    page.click("form[action='/account/2fa/confirm'] button[type=submit]")
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    page.goto("/account/security")
    expect(page.get_by_test_id("2fa-on")).to_be_visible()

    page.get_by_test_id("logout").click()
    sign_in(page, email)
    expect(page).to_have_url(re.compile(r"/login/2fa$"))
    # The enrolment code's time step is used up; the next step's code is still accepted.
    next_code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    page.fill("#f-code", next_code)
    page.click("form[action='/login/2fa'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/wallet$"))  # a customer lands on their wallet
    expect(page.get_by_test_id("logout")).to_be_visible()


def test_forgot_password_reset_by_link_then_sign_in(page: Page, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    email = "forgetful@example.com"
    make_user(db, email)
    page.goto("/login")
    page.click("a[href='/password/forgot'] >> nth=0")
    page.fill("#f-account", email)
    page.click("form[action='/password/forgot'] button[type=submit]")
    expect(page.get_by_test_id("reset-sent")).to_be_visible()

    reset_link = mailbox.link(email, "/password/reset")
    page.goto(reset_link)
    page.fill("#f-password", "my new long passphrase")
    page.fill("#f-password_again", "my new long passphrase")
    page.click("form[action='/password/reset'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/login$"))
    sign_in(page, email, "my new long passphrase")
    expect(page).to_have_url(re.compile(r"/wallet$"))  # a customer lands on their wallet
    expect(page.get_by_test_id("logout")).to_be_visible()

    # The link was single use: it now says so and offers a new one.
    page.goto(reset_link)
    expect(page.locator("[data-error-code=link_used]")).to_be_visible()


def test_lockout_after_failures_then_unlock_by_email(page: Page, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    email = "locked@example.com"
    make_user(db, email)
    for _ in range(3):
        sign_in(page, email, "wrong password!")
        expect(page.locator(".flash-error")).to_be_visible()
    sign_in(page, email)
    expect(page.locator("[data-error-code=account_locked]")).to_be_visible()

    page.goto(mailbox.link(email, "/unlock"))
    page.click("form[action='/unlock'] button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    sign_in(page, email)
    expect(page).to_have_url(re.compile(r"/wallet$"))  # a customer lands on their wallet
    expect(page.get_by_test_id("logout")).to_be_visible()


def test_language_switcher(zh_page: Page) -> None:
    page = zh_page
    page.goto("/login")
    expect(page.locator("h1")).to_have_text("登录 OKPay")
    page.select_option("#lang-select", "en")
    expect(page.locator("h1")).to_have_text("Sign in to OKPay")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/register")
    expect(page.locator("html")).to_have_attribute("lang", "en")
