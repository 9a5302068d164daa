"""Casework as a customer meets it in a real browser: a restricted customer appeals from the
banner with a file and sees it submitted; the limits page explains the levels and leads to
identity verification with documents. Every casework page is looked at in zh-CN and en, on a
desktop and a phone: no horizontal overflow, no raw codes, no ISO timestamps."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from okpay.casework import cases
from okpay.casework.models import Case
from okpay.identity.models import User
from okpay.wallet import overrides, standing
from tests.browser.test_identity_flows import sign_in
from tests.casework.helpers import shop_payments
from tests.support.helpers import make_staff
from tests.wallet.helpers import fund, make_user

SHOTS = os.environ.get("OKPAY_SHOTS")  # a folder: screenshots of each page, to look at
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
RAW = re.compile(
    r"\b(info_requested|in_review|limit_increase|id_front|id_back|charged_twice|not_received|"
    r"account_restricted|account_frozen|emergency_freeze|per_transaction|restricted\.)\b"
)
ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def png_file(name: str, color: tuple[int, int, int] = (30, 90, 200)) -> dict[str, object]:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), color).save(out, "PNG")
    return {"name": name, "mimeType": "image/png", "buffer": out.getvalue()}


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def looks_right(page: Page, name: str) -> None:
    """No horizontal overflow, no raw codes or ISO timestamps in what the page shows."""
    shot(page, name)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name}: page is {width}px wide"  # type: ignore[index]
    text = page.locator("body").inner_text()
    assert not RAW.search(text), f"{name}: raw code {RAW.search(text)}"
    assert not ISO.search(text), f"{name}: ISO timestamp {ISO.search(text)}"


def restrict(db, uid: int) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        standing.do_restrict(
            s, user_id=uid, blocked=["transfer", "withdraw"],
            reason="Unusual activity under review", actor_user_id=None,
        )  # fmt: skip


def test_restricted_customer_appeals_from_the_banner(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "mei@example.com")
    fund(db, uid, 50_000)
    restrict(db, uid)
    sign_in(page, "mei@example.com")
    page.goto("/wallet")
    banner = page.get_by_test_id("status-banner")
    expect(banner).to_contain_text("Restricted")
    expect(banner).to_contain_text("Unusual activity under review")
    banner.get_by_test_id("appeal-button").click()
    expect(page.get_by_test_id("case-form-appeal")).to_be_visible()
    page.get_by_test_id("case-statement").fill("These were payments to my family for rent.")
    page.get_by_test_id("case-file-other").set_input_files([png_file("rent-receipt.png")])
    page.get_by_test_id("case-send").click()
    expect(page.get_by_test_id("case-page")).to_have_attribute("data-status", "submitted")
    expect(page.locator(".case-steps [aria-current=step]")).to_have_text("Submitted")
    expect(page.get_by_test_id("case-evidence")).to_contain_text("rent-receipt.png")
    expect(page.get_by_test_id("case-due")).to_contain_text("We will decide by")
    looks_right(page, "flow-appeal-case")
    page.goto("/support/requests")
    expect(page.get_by_test_id("request-case")).to_be_visible()


def test_limits_page_leads_to_verification_with_documents(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "lan@example.com", level=0)
    sign_in(page, "lan@example.com")
    page.goto("/wallet/limits")
    expect(page.get_by_test_id("level-now")).to_contain_text("Not verified")
    expect(page.get_by_test_id("level-table")).to_contain_text("Level 2")
    page.get_by_test_id("verify-button").click()
    page.get_by_test_id("case-level-1").check()
    # First without the proof of address: the form says so and keeps the passport.
    page.get_by_test_id("case-file-passport").set_input_files([png_file("passport.png")])
    page.get_by_test_id("case-send").click()
    expect(page.locator("[data-error-for=address]")).to_contain_text("proof of address")
    expect(page.get_by_test_id("kept-passport")).to_contain_text("passport.png")
    page.get_by_test_id("case-file-address").set_input_files([png_file("bill.png", (1, 2, 3))])
    page.get_by_test_id("case-send").click()
    expect(page.get_by_test_id("case-page")).to_have_attribute("data-status", "submitted")
    evidence = page.get_by_test_id("case-evidence")
    expect(evidence).to_contain_text("passport.png")
    expect(evidence).to_contain_text("bill.png")
    expect(evidence).to_contain_text("Proof of address")


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_casework_pages_look_right(  # type: ignore[no-untyped-def]
    page: Page, zh_page: Page, db, lang: str, size: str
) -> None:
    pg = zh_page if lang == "zh" else page
    pg.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))  # type: ignore[arg-type]
    tag = f"{lang}-{size}"
    uid = make_user(db, "mei@example.com")
    fund(db, uid, 100_000)
    first, second = shop_payments(db, uid, 3_500)
    with db.unit_of_work() as s:
        overrides.do_grant_limit_override(
            s, user_id=uid, op_type="transfer", reason="Buying a car", actor_user_id=None,
            daily=8_000_000, days=30,
        )  # fmt: skip
    restrict(db, uid)
    agent_id = make_staff(db, "agent@okpay.example", team="compliance")
    sign_in(pg, "mei@example.com")

    pg.goto("/wallet/limits")
    looks_right(pg, f"limits-{tag}")
    for kind in ("appeal", "verification", "limit_increase"):
        pg.goto(f"/support/cases/new/{kind}")
        looks_right(pg, f"form-{kind}-{tag}")
    pg.goto(f"/wallet/tx/{second}")
    pg.get_by_test_id("tx-dispute").click()
    expect(pg.get_by_test_id(f"case-duplicate-{first}")).to_be_visible()
    looks_right(pg, f"form-dispute-{tag}")
    # A refused form: the errors by their fields.
    pg.get_by_test_id("case-send").click()
    expect(pg.locator("[data-error-for=reason]")).to_be_visible()
    looks_right(pg, f"form-dispute-errors-{tag}")

    pg.goto("/support/cases/new/appeal")
    pg.get_by_test_id("case-statement").fill("These were payments to my family for rent.")
    pg.get_by_test_id("case-file-other").set_input_files([png_file("rent-receipt.png")])
    pg.get_by_test_id("case-send").click()
    expect(pg.get_by_test_id("case-page")).to_be_visible()
    with db.unit_of_work() as s:
        case = s.query(Case).one()
        agent = s.get(User, agent_id)
        cases.do_request_info(
            s, case=case, agent=agent, message="Please add a bank statement for March."
        )
    pg.reload()
    expect(pg.get_by_test_id("case-info-request")).to_be_visible()
    looks_right(pg, f"case-info-requested-{tag}")

    pg.goto("/account/emergency-freeze?source=security")
    looks_right(pg, f"freeze-confirm-{tag}")
    pg.get_by_test_id("freeze-confirm-box").check()
    pg.get_by_test_id("freeze-submit").click()
    expect(pg.get_by_test_id("freeze-number")).to_have_text(re.compile(r"OK-\d{4}-\d{6}"))
    looks_right(pg, f"freeze-done-{tag}")

    pg.goto("/support/cases/new/unlock")  # signed out now
    looks_right(pg, f"form-unlock-{tag}")


def test_suspicious_activity_form_leads_to_the_freeze(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "mei@example.com")
    sign_in(page, "mei@example.com")
    page.goto("/help/contact")
    option = page.get_by_test_id("contact-freeze-option")
    expect(option).to_be_hidden()
    page.get_by_test_id("contact-category").select_option("suspicious_activity")
    expect(option).to_be_visible()
    page.get_by_test_id("contact-subject").fill("Strange sign-in")
    page.get_by_test_id("contact-description").fill("Someone signed in from another city.")
    page.get_by_test_id("contact-freeze").check()
    page.get_by_test_id("contact-send").click()
    expect(page.get_by_test_id("freeze-effects")).to_contain_text("Money sent to you still arrives")
    page.get_by_test_id("freeze-confirm-box").check()
    page.get_by_test_id("freeze-submit").click()
    expect(page.get_by_test_id("freeze-number")).to_have_text(re.compile(r"OK-\d{4}-\d{6}"))
    with db.unit_of_work(write=False) as s:
        assert s.query(User).filter(User.email == "mei@example.com").one().status == "frozen"
