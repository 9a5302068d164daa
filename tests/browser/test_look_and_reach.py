"""The site as an app on a phone and on a desk: the tab bar, no page wider than the screen,
the language switch and an ended session keeping what was typed, the web app manifest and
the service worker's offline page (which never stores account data).

Screenshots go to /tmp/shots-look/ (OKPAY_SHOTS to change it)."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from okpay.identity import operators
from okpay.identity.models import Role
from tests.helpers import PASSWORD
from tests.wallet.helpers import fund

SHOTS = Path(os.environ.get("OKPAY_SHOTS", "/tmp/shots-look"))
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 800}
LANG_LABEL = {"zh-CN": "简体中文", "en": "English"}


def make_customer(db, email: str, *, name: str, locale: str = "zh_CN") -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        user = operators.do_create_user(
            s, email=email, password=PASSWORD, role=Role.customer, name=name, locale=locale
        )
        user.verification_level = 1
        return int(user.id)


def new_context(browser: Browser, live_server: str, locale: str, viewport: dict) -> BrowserContext:  # type: ignore[type-arg]
    context = browser.new_context(locale=locale, base_url=live_server, viewport=viewport)
    context.set_default_timeout(10_000)
    return context


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    expect(page.locator("form[action='/login']")).to_have_count(0)


def choose_language(page: Page, locale: str) -> None:
    page.select_option("#lang-select", label=LANG_LABEL[locale])
    expect(page.locator("html")).to_have_attribute("lang", locale)


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen."""
    return int(
        page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - window.innerWidth"
        )
    )


# Elements of the header and tab bar whose text runs over more than one line.
WRAPPED_NAV_ITEMS = """() => {
  const items = document.querySelectorAll(
    '.site-header a, .site-header button, .site-header select, .tabbar a span');
  const out = [];
  for (const el of items) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || el.offsetParent === null) continue;
    const tops = new Set();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) { if (r.width > 0) tops.add(Math.round(r.top)); }
    }
    if (tops.size > 1) out.push(el.textContent.trim());
  }
  return out;
}"""


# Links of the desktop nav that run under the language list and sign-out beside them.
NAV_UNDER_TOOLS = """() => {
  const tools = document.querySelector('.site-nav .nav-tools');
  if (!tools || tools.offsetParent === null) return [];
  const left = tools.getBoundingClientRect().left;
  return [...document.querySelectorAll('.site-nav .nav-links a')]
    .map((a) => [a, Math.ceil(a.getBoundingClientRect().right - left)])
    .filter(([a, over]) => a.offsetParent !== null && over > 0)
    .map(([a, over]) => `${a.textContent.trim()} (${over} px)`);
}"""


# Tab bar labels cut short (an ellipsis in place of their end).
CUT_TAB_LABELS = """() => [...document.querySelectorAll('.tabbar a span')]
  .filter((el) => el.offsetParent !== null && el.scrollWidth > el.clientWidth)
  .map((el) => el.textContent.trim())"""


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_pages_fit_the_phone_with_a_tab_bar_and_the_desk_with_a_nav(  # type: ignore[no-untyped-def]
    browser, live_server: str, db, locale: str
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    email = f"look-{locale.lower()}@example.com"
    user_id = make_customer(
        db,
        email,
        name="张小明" if locale == "zh-CN" else "Alex Chen",
        locale=locale.replace("-", "_"),
    )
    fund(db, user_id, 1_258_000, "CNY")
    fund(db, user_id, 39_155, "USD")
    for label, viewport in (("390", PHONE), ("1280", DESK)):
        context = new_context(browser, live_server, locale, viewport)
        page = context.new_page()
        for name, path in (("home", "/"), ("login", "/login"), ("help", "/help")):
            page.goto(path)
            assert overflow(page) <= 0, f"{path} signed out at {label} px is wider than the screen"
            assert page.evaluate(WRAPPED_NAV_ITEMS) == [], f"{path}: a nav item wraps"
            page.screenshot(path=str(SHOTS / f"{name}-out-{locale}-{label}.png"), full_page=True)
        sign_in(page, email)
        for name, path in (
            ("wallet", "/wallet"),
            ("help", "/help"),
            ("requests", "/support/requests"),
            ("account", "/account"),
        ):
            page.goto(path)
            assert overflow(page) <= 0, f"{path} at {label} px is wider than the screen"
            assert page.evaluate(WRAPPED_NAV_ITEMS) == [], f"{path}: a nav item wraps"
            tabbar = page.get_by_test_id("tabbar")
            if viewport is PHONE:
                expect(tabbar).to_be_visible()
                expect(tabbar.locator("a[aria-current=page]")).to_have_count(1)
                assert page.evaluate(CUT_TAB_LABELS) == [], f"{path}: a tab label is cut"
                # No floating button covers the page: feedback is offered in the footer.
                expect(page.get_by_test_id("feedback-button")).to_be_hidden()
                expect(page.get_by_test_id("footer-feedback")).to_be_attached()
                # Language and sign-out stay in reach.
                expect(page.locator("#lang-select")).to_be_visible()
                expect(page.get_by_test_id("logout")).to_be_visible()
            else:
                expect(tabbar).to_be_hidden()
                expect(page.locator(".nav-links a[aria-current=page]")).to_have_count(1)
                assert page.evaluate(NAV_UNDER_TOOLS) == [], f"{path}: a nav link is covered"
            page.screenshot(path=str(SHOTS / f"{name}-in-{locale}-{label}.png"), full_page=True)
        page.goto("/wallet")
        expect(page.get_by_test_id("balance-CNY")).to_contain_text("12,580.00")
        expect(page.get_by_test_id("balance-USD")).to_contain_text("391.55")
        # The total is in yuan at the reference rates: 12,580.00 + 391.55 × 7.10.
        expect(page.get_by_test_id("wallet-total")).to_contain_text("15,360.01")
        context.close()


@pytest.mark.parametrize(("start", "switch_to"), [("zh-CN", "en"), ("en", "zh-CN")])
def test_language_switch_on_the_transfer_review_keeps_the_page_and_what_was_typed(  # type: ignore[no-untyped-def]
    browser, live_server: str, db, start: str, switch_to: str
) -> None:
    sender = make_customer(
        db, f"sender-{start}@example.com", name="Sender", locale=start.replace("-", "_")
    )
    make_customer(db, f"payee-{start}@example.com", name="Payee")
    fund(db, sender, 50_000)
    context = new_context(browser, live_server, start, DESK)
    page = context.new_page()
    sign_in(page, f"sender-{start}@example.com")
    page.goto("/wallet/send")
    page.fill("#f-recipient", f"payee-{start}@example.com")
    page.fill("#f-amount", "12.34")
    page.fill("#f-note", "晚饭 dinner")
    page.click("form[action='/wallet/send/review'] button[type=submit]")
    expect(page.get_by_test_id("send-review")).to_contain_text("12.34")

    choose_language(page, switch_to)
    expect(page).to_have_url(re.compile(r"/wallet/send$"))
    expect(page.locator("[data-error-code]")).to_have_count(0)
    expect(page.locator("#f-recipient")).to_have_value(f"payee-{start}@example.com")
    expect(page.locator("#f-amount")).to_have_value("12.34")
    expect(page.locator("#f-note")).to_have_value("晚饭 dinner")
    heading = {"en": "Send money", "zh-CN": "转账"}[switch_to]
    expect(page.locator("h1")).to_contain_text(heading)
    # And on from there, in the new language.
    page.click("form[action='/wallet/send/review'] button[type=submit]")
    expect(page.get_by_test_id("send-review")).to_contain_text("12.34")

    # A GET page keeps what was typed too, and the text is not offered again later.
    page.goto("/wallet/send")
    page.fill("#f-note", "kept")
    choose_language(page, start)
    expect(page.locator("#f-note")).to_have_value("kept")
    page.goto("/wallet")
    page.goto("/wallet/send")
    expect(page.locator("#f-note")).to_have_value("")
    context.close()


def test_an_ended_session_keeps_the_text_and_offers_sign_in(  # type: ignore[no-untyped-def]
    browser, live_server: str, db
) -> None:
    make_customer(db, "sleepy@example.com", name="瞌睡", locale="zh_CN")
    context = new_context(browser, live_server, "zh-CN", PHONE)
    page = context.new_page()
    sign_in(page, "sleepy@example.com")
    page.goto("/wallet/send")
    page.fill("#f-recipient", "friend@example.com")
    page.fill("#f-amount", "88.80")
    page.fill("#f-note", "房租 五月")
    context.clear_cookies(name="okpay_session")
    page.click("form[action='/wallet/send/review'] button[type=submit]")

    ended = page.get_by_test_id("session-ended")
    expect(ended).to_be_visible()
    expect(ended).to_contain_text("登录")
    assert "无权访问" not in page.inner_text("body")
    page.get_by_test_id("sign-in-again").click()
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)wallet(%2F|/)send$"))
    page.fill("#f-email", "sleepy@example.com")
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/wallet/send$"))
    expect(page.locator("#f-recipient")).to_have_value("friend@example.com")
    expect(page.locator("#f-amount")).to_have_value("88.80")
    expect(page.locator("#f-note")).to_have_value("房租 五月")
    # Used once: a later visit starts empty.
    page.goto("/wallet")
    page.goto("/wallet/send")
    expect(page.locator("#f-note")).to_have_value("")
    context.close()


def test_manifest_is_valid_and_its_icons_load(page: Page) -> None:
    answer = page.request.get("/manifest.webmanifest")
    assert answer.ok
    assert answer.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(answer.text())
    assert manifest["name"] == "OKPay" and manifest["start_url"] == "/wallet"
    assert manifest["display"] == "standalone" and manifest["theme_color"] == "#0f766e"
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = page.request.get(icon["src"])
        assert image.ok and image.headers["content-type"] == icon["type"], icon
    page.goto("/")
    assert page.locator("link[rel=manifest]").get_attribute("href") == "/manifest.webmanifest"
    assert page.locator("meta[name=theme-color]").get_attribute("content") == "#0f766e"
    touch = page.locator("link[rel=apple-touch-icon]").get_attribute("href")
    assert touch and page.request.get(touch).ok


CACHED_URLS = """async () => {
  const out = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const req of await cache.keys()) out.push(new URL(req.url).pathname);
  }
  return out;
}"""


def test_service_worker_shows_the_offline_page_and_never_stores_account_data(  # type: ignore[no-untyped-def]
    browser, live_server: str, db
) -> None:
    user_id = make_customer(db, "traveller@example.com", name="旅行者", locale="zh_CN")
    fund(db, user_id, 10_000)
    context = new_context(browser, live_server, "zh-CN", PHONE)
    page = context.new_page()
    answer = page.request.get("/sw.js")
    assert answer.ok and "javascript" in answer.headers["content-type"]
    sign_in(page, "traveller@example.com")
    page.goto("/wallet")
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now controlled by the worker
    expect(page.get_by_test_id("balance-CNY")).to_be_visible()
    assert page.evaluate("() => !!navigator.serviceWorker.controller")
    page.goto("/wallet/history")
    page.request.get("/api/v1/wallet/balances")

    cached = page.evaluate(CACHED_URLS)
    assert "/offline" in cached and "/static/css/app.css" in cached
    assert not [u for u in cached if u.startswith(("/wallet", "/api", "/account", "/support"))]
    assert set(cached) <= {
        "/offline",
        "/static/vendor/pico/pico.min.css",
        "/static/css/app.css",
        "/static/js/app.js",
        "/static/js/offline.js",
        "/static/img/mark.svg",
        "/static/img/icon-192.png",
    }

    context.set_offline(True)
    try:
        page.goto("/wallet")
        expect(page.get_by_test_id("offline")).to_be_visible()
        expect(page.locator("[data-offline-lang=zh-CN]")).to_be_visible()
        expect(page.locator("[data-offline-lang=zh-CN] h1")).to_have_text("您已离线")
        page.screenshot(path=str(SHOTS / "offline-zh-CN-390.png"))
        assert "100.00" not in page.inner_text("body")
    finally:
        context.set_offline(False)
    # Back online: the real wallet, from the server (the offline page may reload itself on
    # the "online" event at the same moment; either way the page ends on the wallet).
    with contextlib.suppress(PlaywrightError):
        page.goto("/wallet")
    expect(page.get_by_test_id("balance-CNY")).to_contain_text("100.00")
    assert "/wallet" not in page.evaluate(CACHED_URLS)
    context.close()


def test_staff_reach_the_console_from_the_nav_and_the_tab_bar(
    browser, live_server: str, db
) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        for email, name, locale in (
            ("desk@example.com", "客服小李", "zh_CN"),
            ("desk-en@example.com", "Sam Lee", "en"),
        ):
            operators.do_create_user(
                s, email=email, password=PASSWORD, role=Role.agent, name=name, locale=locale
            )
    for locale, label, viewport in (
        ("zh-CN", "1280", DESK),
        ("zh-CN", "390", PHONE),
        ("en", "1280", DESK),
        ("en", "390", PHONE),
    ):
        context = new_context(browser, live_server, locale, viewport)
        page = context.new_page()
        sign_in(page, "desk@example.com" if locale == "zh-CN" else "desk-en@example.com")
        page.goto("/help")
        if viewport is DESK:
            expect(page.get_by_test_id("nav-console")).to_be_visible()
            assert page.evaluate(NAV_UNDER_TOOLS) == [], "the console link is covered"
        else:
            console = page.get_by_test_id("tabbar").locator("a[href='/agent']")
            expect(console).to_be_visible()
            assert overflow(page) <= 0
            assert page.evaluate(WRAPPED_NAV_ITEMS) == []
            # Six tabs for staff: every label whole, in either language.
            assert page.evaluate(CUT_TAB_LABELS) == [], f"cut tab labels in {locale}"
        page.screenshot(path=str(SHOTS / f"staff-help-{locale}-{label}.png"))
        context.close()
