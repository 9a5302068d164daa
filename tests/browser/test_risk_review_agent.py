"""A held withdrawal in a real browser: the security agent reads "why was this held?" on the
case ticket and proposes releasing it; a supervisor in another browser approves; the
withdrawal goes ahead and asks for its payout. Screenshots of the case panel at desktop and
phone widths in both languages, checked for horizontal overflow."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from okpay.identity.models import Role
from okpay.support.models import Ticket
from tests.browser.test_casework_agent import SHOTS, SIZES, _no_overflow
from tests.browser.test_identity_flows import sign_in
from tests.casework.helpers import customer
from tests.casework.test_risk_review import add_bank, install_hold_rule, op_of, the_case, withdraw
from tests.support.helpers import make_staff


def _why_shots(page: Page, path: str, lang: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.goto(path)
        why = page.get_by_test_id("risk-why")
        why.locator("details.risk-features summary").first.click()
        _no_overflow(page)
        why.scroll_into_view_if_needed()
        why.screenshot(path=str(SHOTS / f"risk-why-{lang}-{size}.png"))
        page.screenshot(path=str(SHOTS / f"risk-ticket-{lang}-{size}.png"), full_page=True)


def test_agent_releases_a_held_withdrawal_supervisor_approves(  # type: ignore[no-untyped-def]
    page: Page, zh_page: Page, live_server, client, db
) -> None:
    make_staff(db, "agent@okpay.example", team="security", role=Role.agent)
    make_staff(db, "sup@okpay.example", team="security", role=Role.supervisor)
    install_hold_rule(db, ["withdrawal"])
    uid, me = customer(client, db)
    method_id = add_bank(client, me)
    reference = withdraw(uid, method_id, 250_00).body["reference"]
    case = the_case(db, uid)
    with db.unit_of_work(write=False) as s:
        number = s.get(Ticket, case.ticket_id).number
    path = f"/agent/tickets/{number}"

    sign_in(page, "agent@okpay.example")
    page.goto(path)
    why = page.get_by_test_id("risk-why")
    expect(why).to_contain_text(reference)
    expect(why).to_contain_text("hold_large_test")
    expect(why.get_by_test_id("risk-held-counterparty")).to_contain_text("3445")
    _why_shots(page, path, "en")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(path)
    page.get_by_test_id("action-release_held").click()
    page.get_by_test_id("reason-release_held").fill("Customer confirmed the withdrawal by phone")
    page.get_by_test_id("preview-release_held").click()
    preview = page.locator("#preview-release_held")
    expect(preview.get_by_test_id("change-lines")).to_contain_text("On hold for review")
    expect(preview.get_by_test_id("change-lines")).to_contain_text("Pending")
    page.screenshot(path=str(SHOTS / "risk-preview-en-desktop.png"), full_page=True)
    preview.get_by_test_id("propose").click()
    expect(page.get_by_test_id("waiting-second")).to_be_visible()

    sign_in(zh_page, "sup@okpay.example")
    _why_shots(zh_page, path, "zh")
    zh_page.set_viewport_size({"width": 1280, "height": 800})
    zh_page.goto("/agent/approvals")
    expect(zh_page.get_by_test_id("approval-row")).to_contain_text(number)
    zh_page.locator("[data-testid^=approve-]").first.click()
    expect(zh_page.locator(".flash-success")).to_be_visible()

    op = op_of(db, reference)
    assert op.status == "pending" and op.external_ref
    page.goto(path)
    expect(page.get_by_test_id("case-status")).to_have_text("Approved")
    expect(page.get_by_test_id("risk-held-status")).to_have_text("Pending")


def test_customer_sees_the_hold_in_plain_words(page: Page, zh_page: Page, client, db) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["withdrawal"])
    uid, me = customer(client, db)
    method_id = add_bank(client, me)
    reference = withdraw(uid, method_id, 250_00).body["reference"]
    for lang, pg in (("en", page), ("zh", zh_page)):
        sign_in(pg, "mei@example.com")
        for size, (w, h) in SIZES.items():
            pg.set_viewport_size({"width": w, "height": h})
            pg.goto(f"/wallet/tx/{reference}")
            held = pg.get_by_test_id("tx-on-hold")
            expect(held).to_be_visible()
            expect(pg.locator("body")).not_to_contain_text("hold_large_test")
            _no_overflow(pg)
            pg.screenshot(path=str(SHOTS / f"risk-customer-tx-{lang}-{size}.png"), full_page=True)
        pg.get_by_test_id("tx-review-link").click()
        expect(pg.get_by_test_id("case-details")).to_contain_text(reference)
        pg.screenshot(path=str(SHOTS / f"risk-customer-case-{lang}-phone.png"), full_page=True)
