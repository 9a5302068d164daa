"""The wallet as a customer meets it (issue 15): a bank top-up says where to send the money
and e-mails when it arrives; failed lines never read as money in (page and CSV); the
checkout works signed out and for an order already paid; the wallet's pages fit a phone
and a laptop in both languages. Screenshots go to /tmp/shots-wallet/."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from okpay.identity.models import User
from okpay.settings import SANDBOX_RECEIVING_ACCOUNTS
from okpay.wallet import intents, merchants, topups
from tests.browser.test_identity_flows import sign_in
from tests.browser.test_wallet_flows import add_card
from tests.helpers import PASSWORD
from tests.wallet.helpers import fund
from tests.wallet.helpers import make_user as make_wallet_user

SHOTS = Path("/tmp/shots-wallet")
SIZES = [(1280, 800), (390, 844)]


def _page(request: pytest.FixtureRequest, lang: str) -> Page:
    page: Page = request.getfixturevalue("zh_page" if lang == "zh" else "page")
    return page


def _customer(db, email: str, lang: str) -> int:  # type: ignore[no-untyped-def]
    user_id = make_wallet_user(db, email)
    with db.unit_of_work() as s:
        user = s.get(User, user_id)
        assert user is not None
        user.preferred_locale = "zh_CN" if lang == "zh" else "en"
    return user_id


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fits(page: Page) -> None:
    """Nothing in the page's main part is wider than the screen (the site header and nav
    are checked by the site-wide page test)."""
    wide = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const hidden = e => {  // inside something visually hidden (1px, clipped)
            for (let a = e; a; a = a.parentElement) {
              if (a.getBoundingClientRect().width <= 1
                  && getComputedStyle(a).overflow === 'hidden') return true;
            }
            return false;
          };
          return [...document.querySelectorAll('main, main *')]
            .filter(e => e.getBoundingClientRect().right > width + 1 && !hidden(e))
            .map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 40));
        }"""
    )
    assert wide == [], (page.url, wide)
    assert page.evaluate(
        "document.querySelector('main').scrollWidth <= document.documentElement.clientWidth"
    )


def _no_raw_text(page: Page, lang: str) -> None:
    """No status codes or ISO timestamps in what the page says (in Chinese, not even the
    English words the codes are made of)."""
    text = page.locator("main").inner_text()
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", text), text
    codes = ["on_hold", "rejected_in_review", "card_declined", "order_paid"]
    if lang == "zh":
        codes += ["restricted", "failed", "cancelled", "pending", "completed", "expired"]
    for code in codes:
        assert not re.search(rf"\b{code}\b", text, re.IGNORECASE), (code, text)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_bank_topup_says_where_to_send_and_mails_when_it_arrives(  # type: ignore[no-untyped-def]
    request, db, mailbox, lang
) -> None:
    page = _page(request, lang)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    email = f"bank-{lang}@example.com"
    _customer(db, email, lang)
    sign_in(page, email)
    page.goto("/wallet/topup")
    page.check("input[value=bank]")
    page.fill("#f-amount", "500")
    page.click("form[action='/wallet/topup'] button[type=submit]")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "pending")
    reference = page.get_by_test_id("tx-reference").inner_text()

    account = SANDBOX_RECEIVING_ACCOUNTS["CNY"]
    box = page.get_by_test_id("bank-instructions")
    expect(box.get_by_test_id("bank-bank-value")).to_have_text(account.bank_name)
    expect(box.get_by_test_id("bank-account-name-value")).to_have_text(account.account_name)
    expect(box.get_by_test_id("bank-account-number-value")).to_have_text(account.account_number)
    expect(box.get_by_test_id("bank-amount-value")).to_contain_text("500.00")
    expect(box.get_by_test_id("bank-reference-value")).to_have_text(reference)
    expect(box.get_by_test_id("bank-sandbox")).to_be_visible()
    expect(box.get_by_test_id("copy-amount")).to_have_attribute("data-copy", "500.00")

    copy = box.get_by_test_id("copy-reference")
    expect(copy).to_be_visible()
    copy.click()
    expect(copy).to_have_text("已复制" if lang == "zh" else "Copied")
    assert page.evaluate("navigator.clipboard.readText()") == reference
    box.get_by_test_id("copy-account-number").click()
    assert page.evaluate("navigator.clipboard.readText()") == account.account_number
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        _fits(page)
        _shot(page, f"bank-topup-{lang}-{w}")
    _no_raw_text(page, lang)

    # Until it arrives, the top-up page lists it with a way back to the instructions.
    page.goto("/wallet/topup")
    expect(page.get_by_test_id("pending-bank-topup")).to_contain_text(reference)
    _shot(page, f"topup-pending-{lang}-390")

    mailbox.clear()
    page.goto("/dev/sandbox")
    page.locator(f"tr[data-reference='{reference}'] button").click()
    page.goto(f"/wallet/tx/{reference}")
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("bank-instructions")).to_have_count(0)
    mail = mailbox.last(email)
    body = mailbox.text(mail)
    assert "500.00" in str(mail["Subject"]) and reference in body
    assert ("已到账" if lang == "zh" else "has arrived") in str(mail["Subject"])
    assert f"/wallet/tx/{reference}" in body


def test_failed_and_cancelled_lines_never_read_as_money_in(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    user_id = _customer(db, "history@example.com", "en")
    fund(db, user_id, 120_00)
    with db.unit_of_work() as s:
        failed = topups.do_begin_bank_topup(s, user_id=user_id, amount=500_00, currency="CNY")
        failed_ref = failed.reference
        topups.do_fail_operation(s, operation_id=failed.id, failure_code="card_declined")
    sign_in(page, "history@example.com")
    page.goto("/wallet/history")
    # The list comes first; the filters are folded below it.
    assert page.evaluate(
        "document.querySelector('table.activity').compareDocumentPosition("
        "document.querySelector('[data-testid=history-filters]'))"
        " & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    expect(page.get_by_test_id("history-filters")).not_to_have_attribute("open", "")
    row = page.locator(f"[data-testid=activity-row][data-status=failed]:has-text('{failed_ref}')")
    amount = row.get_by_test_id("activity-amount")
    expect(amount).to_have_text(re.compile(r"^[^+\-]*500\.00$"))
    expect(row.get_by_test_id("activity-note")).to_contain_text("no money moved")
    colour = amount.evaluate("e => getComputedStyle(e).color")
    assert colour != "rgb(27, 127, 59)", colour  # --okpay-ok
    done = page.locator("[data-testid=activity-row][data-status=completed]")
    expect(done.get_by_test_id("activity-amount")).to_have_text(re.compile(r"^\+.*120\.00$"))
    _shot(page, "history-failed-en-1280")

    page.goto("/wallet/history?status=failed")
    expect(page.get_by_test_id("history-filters")).to_have_attribute("open", "")
    expect(page.get_by_test_id("activity-row")).to_have_count(1)

    answer = page.request.get("/wallet/history.csv")
    rows = list(csv.DictReader(io.StringIO(answer.text().lstrip("\ufeff"))))
    line = next(r for r in rows if r["reference"] == failed_ref)
    assert line["status"] == "failed" and line["money_moved"] == "no"
    assert line["amount"] == "0.00" and line["requested_amount"] == "500.00"
    assert "did not complete" in line["status_text"]
    funded = next(r for r in rows if r["status"] == "completed")
    assert funded["money_moved"] == "yes" and funded["amount"] == "120.00"

    page.goto("/wallet/statement")
    expect(page.get_by_test_id("statement-not-completed")).to_be_visible()
    expect(page.get_by_test_id("statement-CNY")).to_contain_text("120.00")
    expect(page.get_by_test_id("statement-CNY")).not_to_contain_text("620.00")
    page.goto("/wallet")
    expect(page.get_by_test_id("balance-chart")).to_have_attribute("data-last", "12000")


def _shop(db, live_server: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A merchant with two links for order A-1 and one for A-2 (all 32.00 CNY)."""
    with db.unit_of_work() as s:
        shop = merchants.do_create_merchant(
            s, code="demo-coffee", name="Demo Coffee 演示咖啡店", owner_user_id=None
        )

        def link(order: str) -> str:
            return intents.do_create_intent(
                s,
                merchant=shop,
                api_key_id=None,
                order_id=order,
                amount=32_00,
                currency="CNY",
                return_url=f"{live_server}/help",
                description="Latte 拿铁",
                expires_in=timedelta(minutes=30),
            ).token

        return {"first": link("A-1"), "second": link("A-1"), "other": link("A-2")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_checkout_signed_out_already_paid_and_short_of_money(  # type: ignore[no-untyped-def]
    request, db, live_server, lang
) -> None:
    page = _page(request, lang)
    links = _shop(db, live_server)
    payer = _customer(db, f"payer-{lang}@example.com", lang)
    fund(db, payer, 100_00)
    _customer(db, f"broke-{lang}@example.com", lang)

    # Signed out: what is asked, with sign-in in place of the pay button.
    page.goto(f"/pay/i/{links['first']}")
    expect(page.get_by_test_id("checkout-merchant")).to_contain_text("Demo Coffee")
    expect(page.get_by_test_id("checkout-order")).to_have_text("A-1")
    expect(page.get_by_test_id("checkout-amount")).to_contain_text("32.00")
    expect(page.get_by_test_id("checkout-pay")).to_have_count(0)
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        _fits(page)
        _shot(page, f"checkout-signed-out-{lang}-{w}")
    page.get_by_test_id("checkout-sign-in-button").click()
    page.fill("#f-email", f"payer-{lang}@example.com")
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/pay/i/{links['first']}$"))
    page.get_by_test_id("checkout-pay").click()
    expect(page.get_by_test_id("checkout")).to_have_attribute("data-status", "paid")

    # The same order through its other link: already paid, the way back, no pay button.
    page.goto(f"/pay/i/{links['second']}")
    expect(page.get_by_test_id("checkout")).to_have_attribute("data-status", "order_paid")
    expect(page.get_by_test_id("checkout-already-paid")).to_be_visible()
    expect(page.get_by_test_id("checkout-pay")).to_have_count(0)
    expect(page.get_by_test_id("checkout-return")).to_have_attribute("href", f"{live_server}/help")
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        _fits(page)
        _shot(page, f"checkout-already-paid-{lang}-{w}")
    _no_raw_text(page, lang)

    # No CNY balance: a top-up link for what is missing and a disabled pay button.
    page.context.clear_cookies()
    sign_in(page, f"broke-{lang}@example.com")
    page.goto(f"/pay/i/{links['other']}")
    expect(page.get_by_test_id("checkout-pay")).to_be_disabled()
    topup = page.get_by_test_id("checkout-topup")
    expect(topup).to_have_attribute(
        "href", re.compile(r"/wallet/topup\?amount=32\.00&currency=CNY")
    )
    _shot(page, f"checkout-no-balance-{lang}-390")
    topup.click()
    expect(page.locator("#f-amount")).to_have_value("32.00")


WALLET_PAGES = [
    "/wallet/topup",
    "/wallet/withdraw",
    "/wallet/send",
    "/wallet/history",
    "/wallet/statement",
    "/fees",
    "/wallet/limits",
    "/wallet/methods",
]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_wallet_pages_fit_and_speak_the_language(request, db, live_server, lang) -> None:  # type: ignore[no-untyped-def]
    """Every wallet page at a phone and a laptop size: nothing wider than the screen, no raw
    codes or ISO timestamps; the withdrawal form and /fees show the free allowance and the
    promotion's dates; a cross-currency receipt shows the rate and what arrived."""
    from okpay.wallet import fx_transfers

    page = _page(request, lang)
    email = f"walk-{lang}@example.com"
    user_id = _customer(db, email, lang)
    other = _customer(db, f"friend-{lang}@example.com", lang)
    fund(db, user_id, 2_000_00)
    with db.unit_of_work() as s:
        failed = topups.do_begin_bank_topup(s, user_id=user_id, amount=500_00, currency="CNY")
        topups.do_fail_operation(s, operation_id=failed.id, failure_code="card_declined")
        failed_ref = failed.reference
        waiting_ref = topups.do_begin_bank_topup(
            s, user_id=user_id, amount=80_00, currency="CNY"
        ).reference
        quote = fx_transfers.do_quote_fx(
            s, user_id=user_id, source_currency="CNY", target_currency="USD", amount=100_00
        )
        fx_op = fx_transfers.do_transfer_fx(
            s, sender_id=user_id, recipient=f"friend-{lang}@example.com", quote_id=quote.id
        )
    assert other
    links = _shop(db, live_server)
    sign_in(page, email)
    add_card(page, "4242 4242 4242 4242")  # the top-up page lists it beside its expiry
    pages = [
        *WALLET_PAGES,
        f"/wallet/tx/{fx_op.reference}",
        f"/wallet/tx/{failed_ref}",
        f"/wallet/tx/{waiting_ref}",
        f"/pay/i/{links['first']}",
    ]
    for path in pages:
        page.goto(path)
        for w, h in SIZES:
            page.set_viewport_size({"width": w, "height": h})
            _fits(page)
            name = path.strip("/").replace("/", "-").split("?")[0][:40]
            _shot(page, f"page-{name}-{lang}-{w}")
        _no_raw_text(page, lang)

    page.goto("/wallet/withdraw")
    allowance = page.get_by_test_id("withdraw-allowance")
    expect(allowance).to_contain_text("1,000.00")
    page.goto("/fees")
    expect(page.get_by_test_id("fees-allowance")).to_contain_text("1,000.00")
    expect(page.get_by_test_id("fees-allowance-left")).to_contain_text("1,000.00")
    expect(page.get_by_test_id("promotion-spring_2027")).to_contain_text("2027")
    page.goto(f"/wallet/tx/{fx_op.reference}")
    expect(page.get_by_test_id("tx-rate")).to_contain_text("1 CNY = ")
    expect(page.get_by_test_id("tx-arrived")).to_contain_text("$")


def test_a_restricted_account_is_told_in_its_language(zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    """The status, the reason and what is blocked read as words, never codes."""
    from okpay.wallet import standing

    page = zh_page
    user_id = _customer(db, "restricted@example.com", "zh")
    fund(db, user_id, 50_00)
    with db.unit_of_work() as s:
        standing.do_restrict(
            s,
            user_id=user_id,
            blocked=["withdraw", "transfer"],
            reason="近期交易异常，等待核实资金来源",
            actor_user_id=None,
        )
    sign_in(page, "restricted@example.com")
    for path in ("/wallet/limits", "/wallet/send", "/wallet/history"):
        page.goto(path)
        banner = page.get_by_test_id("status-banner")
        expect(banner).to_contain_text("受限")
        expect(banner).to_contain_text("近期交易异常")
        assert "restricted" not in page.locator("body").inner_text().lower()
    page.goto("/wallet/send")
    page.fill("#f-recipient", "someone@example.com")
    page.fill("#f-amount", "10")
    page.click("form[action='/wallet/send/review'] button[type=submit]")
    body = page.locator("main").inner_text()
    assert "近期交易异常" in body and "restricted" not in body.lower(), body
    _shot(page, "restricted-send-zh-390")
