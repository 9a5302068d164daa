"""Issue 14 in a real browser: withdraw → review → confirm in Chinese, a refusal shown on
the review (before the confirm button) with its figures, and the withdrawal form, review
and refusal at 1280×800 and 390×844 in Chinese and English: no horizontal overflow, no
one-character-per-line wrapping, no raw codes or ISO timestamps."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from okpay.identity import stepup
from okpay.wallet import flows
from tests.browser.test_identity_flows import sign_in
from tests.wallet.helpers import balance, fund, make_user
from tests.wallet.test_withdraw_review import add_bank, used_today

SHOTS = os.environ.get("OKPAY_SHOTS")  # a folder: screenshots of each page, to look at
SIZES = ((1280, 800), (390, 844))
RAW = re.compile(r"\b(insufficient_funds|limit_exceeded|step_up_required|[a-z]+_[a-z_]+)\b")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

# Elements of <main> with at least four characters laid out narrower than two characters:
# text wrapping one character per line.
NARROW_TEXT = """() => [...document.querySelectorAll('main *')].filter(el => {
  const text = [...el.childNodes].filter(n => n.nodeType === 3)
    .map(n => n.textContent.trim()).join('');
  if (text.length < 4 || el.offsetParent === null) return false;
  const size = parseFloat(getComputedStyle(el).fontSize);
  return el.getBoundingClientRect().width < 2 * size;
}).map(el => el.outerHTML.slice(0, 80))"""


def looks_right(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name}: page is {width}px wide"  # type: ignore[index]
    assert page.evaluate(NARROW_TEXT) == [], name
    text = page.locator("main").inner_text()
    assert not RAW.search(text), f"{name}: raw code {RAW.search(text)}"
    assert not ISO.search(text), f"{name}: ISO timestamp {ISO.search(text)}"


def review(page: Page, amount: str) -> None:
    page.goto("/wallet/withdraw")
    page.fill("#f-amount", amount)
    page.click("form[action='/wallet/withdraw/review'] button[type=submit]")


def test_withdraw_review_confirm_in_chinese_and_a_refusal_before_confirm(zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    page = zh_page
    uid = make_user(db, "mei@example.com")
    fund(db, uid, 2_000_00)
    add_bank(db, uid)
    sign_in(page, "mei@example.com")

    review(page, "5000")  # more than the balance: refused on the review, with the figures
    expect(page.get_by_role("alert")).to_contain_text(
        "可用余额 ¥2,000.00，本次需要 ¥5,004.00 (含手续费 ¥4.00)"
    )
    expect(page.get_by_test_id("confirm-withdraw")).to_have_count(0)
    expect(page.locator("#f-amount")).to_have_value("5000")

    page.fill("#f-amount", "1500")
    page.click("form[action='/wallet/withdraw/review'] button[type=submit]")
    card = page.get_by_test_id("withdraw-review")
    expect(card).to_contain_text("ICBC •••• 3445")
    expect(page.get_by_test_id("withdraw-fee")).to_contain_text("¥0.50")
    expect(page.get_by_test_id("withdraw-fee")).to_contain_text("免费额度")
    expect(page.get_by_test_id("withdraw-arrives")).to_contain_text("¥1,500.00")
    expect(page.get_by_test_id("withdraw-total")).to_contain_text("¥1,500.50")
    expect(page.get_by_test_id("withdraw-arrival")).to_contain_text("1 至 2 个工作日")
    assert balance(db, uid) == (2_000_00, 0)

    page.get_by_test_id("edit-withdraw").click()  # back to edit keeps what was typed
    expect(page.locator("#f-amount")).to_have_value("1500")
    page.click("form[action='/wallet/withdraw/review'] button[type=submit]")
    page.get_by_test_id("confirm-withdraw").click()
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "pending")
    assert balance(db, uid) == (2_000_00, 1_500_50)
    page.go_back()  # the review again, with the same key: confirming again changes nothing
    page.get_by_test_id("confirm-withdraw").click()
    expect(page.get_by_test_id("tx-detail")).to_have_attribute("data-status", "pending")
    assert balance(db, uid) == (2_000_00, 1_500_50)


def test_withdraw_pages_look_right_in_both_languages(  # type: ignore[no-untyped-def]
    page: Page, zh_page: Page, db, clock, monkeypatch
) -> None:
    def needs_code(*args: object, **kwargs: object) -> flows.Answer:
        raise stepup.StepUpRequired(channel="sms", sent_to="138****5678")

    # The confirm asks for a code (what identity.stepup will do): the code form is shown.
    monkeypatch.setattr(flows, "withdrawal", needs_code)
    uid = make_user(db, "lin@example.com", level=0)  # ¥5,000 a day
    fund(db, uid, 3_000_00)
    fund(db, uid, 3_000_00)
    add_bank(db, uid)
    used_today(db, uid, "withdrawal", 4_500_00)
    words = {"zh-CN": ("限额将于", "中国标准时间"), "en": ("resets on", "China Standard Time")}
    for p, lang in ((zh_page, "zh-CN"), (page, "en")):
        sign_in(p, "lin@example.com")
        for width, height in SIZES:
            p.set_viewport_size({"width": width, "height": height})
            p.goto("/wallet/withdraw")
            p.fill("#f-amount", "300")
            looks_right(p, f"withdraw-form-{lang}-{width}")
            p.click("form[action='/wallet/withdraw/review'] button[type=submit]")
            expect(p.get_by_test_id("confirm-withdraw")).to_be_visible()
            looks_right(p, f"withdraw-review-{lang}-{width}")
            review(p, "1000")  # over the daily limit: which limit, what is left, when it resets
            alert = p.get_by_role("alert")
            for word in words[lang]:
                expect(alert).to_contain_text(word)
            expect(alert).not_to_contain_text("—")
            looks_right(p, f"withdraw-refused-{lang}-{width}")
            review(p, "300")
            p.get_by_test_id("confirm-withdraw").click()
            expect(p.get_by_test_id("step-up")).to_contain_text("138****5678")
            expect(p.get_by_test_id("step-up-summary")).to_contain_text("ICBC •••• 3445")
            looks_right(p, f"withdraw-code-{lang}-{width}")
