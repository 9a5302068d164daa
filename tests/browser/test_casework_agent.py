"""Casework staff pages in a real browser: an agent previews and proposes lifting a
restriction from the case ticket; a supervisor in a separate browser approves it from the
approval queue; the ticket shows resolved. Screenshots of the pages at desktop and phone
widths in both languages, checked for horizontal overflow."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect

from okpay.identity.models import Role
from okpay.wallet import standing
from tests.browser.test_identity_flows import sign_in
from tests.casework.helpers import customer
from tests.support.helpers import make_staff
from tests.wallet.helpers import make_user

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
SHOTS = Path(os.environ.get("OKPAY_SCREENSHOTS", "var/screenshots"))


def _open_appeal(client, db) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    uid, me = customer(client, db)
    make_user(db, "friend@example.com")
    with db.unit_of_work() as s:
        standing.do_restrict(
            s, user_id=uid, blocked=["transfer", "withdraw"],
            reason="Unusual activity under review", actor_user_id=None,
        )  # fmt: skip
    made = client.post(
        "/api/v1/support/cases",
        headers=me,
        json={"type": "appeal", "statement": "These were payments to my family for rent."},
    )
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["number"]


def _no_overflow(page: Page) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    # The elements sticking out past the window (not those only inside one that does).
    culprit = page.evaluate(
        """() => { const w = window.innerWidth; const out = [];
        for (const el of document.querySelectorAll('body *')) {
          const r = el.getBoundingClientRect();
          const parent = el.parentElement.getBoundingClientRect();
          if (r.right > w + 1 && parent.right <= w + 1) out.push(el.tagName + '.' + el.className);
        } return out.slice(0, 8).join(' | '); }"""
    )
    assert wide <= 1, f"the page scrolls sideways by {wide}px: {culprit}"


def _shots(page: Page, path: str, name: str, lang: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.goto(path)
        _no_overflow(page)
        page.screenshot(path=str(SHOTS / f"casework-{name}-{lang}-{size}.png"), full_page=True)


def test_agent_proposes_supervisor_approves_in_another_browser(  # type: ignore[no-untyped-def]
    page: Page, zh_page: Page, browser, live_server, client, db
) -> None:
    make_staff(db, "agent@okpay.example", team="compliance", role=Role.agent)
    make_staff(db, "sup@okpay.example", team="compliance", role=Role.supervisor)
    make_staff(db, "admin@okpay.example", team="compliance", role=Role.admin)
    case_id, number = _open_appeal(client, db)

    sign_in(page, "agent@okpay.example")
    page.goto(f"/agent/tickets/{number}")
    panel = page.get_by_test_id("case-panel")
    expect(panel).to_contain_text("Appeal a restriction")
    expect(panel).to_contain_text("Unusual activity under review")
    _shots(page, f"/agent/tickets/{number}", "ticket", "en")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/agent/tickets/{number}")

    page.get_by_test_id("action-lift_restriction").click()
    page.get_by_test_id("reason-lift_restriction").fill("Payments were to family; checked by phone")
    page.get_by_test_id("preview-lift_restriction").click()
    preview = page.locator("#preview-lift_restriction")
    expect(preview.get_by_test_id("change-lines")).to_contain_text("Restricted")
    expect(preview.get_by_test_id("change-lines")).to_contain_text("Active")
    page.screenshot(path=str(SHOTS / "casework-preview-en-desktop.png"), full_page=True)
    preview.get_by_test_id("propose").click()
    expect(page.locator(".flash-success")).to_contain_text("second person")
    expect(page.get_by_test_id("waiting-second")).to_be_visible()

    # The supervisor, in a browser of their own (Chinese), approves from the queue.
    sign_in(zh_page, "sup@okpay.example")
    zh_page.goto("/agent/approvals")
    row = zh_page.get_by_test_id("approval-row")
    expect(row).to_contain_text(number)
    _shots(zh_page, "/agent/approvals", "approvals", "zh")
    _shots(zh_page, f"/agent/tickets/{number}", "ticket", "zh")
    zh_page.set_viewport_size({"width": 1280, "height": 800})
    zh_page.goto("/agent/approvals")
    zh_page.locator("[data-testid^=approve-]").first.click()
    expect(zh_page.locator(".flash-success")).to_be_visible()
    expect(zh_page.get_by_test_id("approvals-empty")).to_be_visible()

    page.goto(f"/agent/tickets/{number}")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Resolved")
    expect(page.get_by_test_id("case-status")).to_have_text("Approved")
    expect(page.locator("[data-testid=proposal][data-status=executed]")).to_have_count(1)

    # The admin's policy page, both languages, both widths.
    context = browser.new_context(locale="en-US", base_url=live_server)
    admin = context.new_page()
    sign_in(admin, "admin@okpay.example")
    _shots(admin, "/agent/case-policy", "policy", "en")
    _shots(admin, "/agent/approvals", "approvals", "en")
    context.close()
    zh_context = browser.new_context(locale="zh-CN", base_url=live_server)
    zh_admin = zh_context.new_page()
    sign_in(zh_admin, "admin@okpay.example")
    _shots(zh_admin, "/agent/case-policy", "policy", "zh")
    zh_context.close()
    assert case_id
