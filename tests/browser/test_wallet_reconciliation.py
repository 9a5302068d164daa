"""Issue 11 item 1 in a real browser: a withdrawal the bank has accepted can no longer be
cancelled, and a supervisor finds the provider event that did not match the ledger on the
reconciliation page (zh-CN and en, desktop and phone) and resolves it with a note."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from okpay.identity.models import Role
from okpay.wallet import flows, methods, provider_events, schemas, withdrawals
from okpay.wallet.models import Operation
from tests.browser.test_identity_flows import sign_in
from tests.support.helpers import make_staff
from tests.wallet.helpers import fund, make_user

SHOTS = Path(os.environ.get("OKPAY_SHOTS_DIR", "/tmp/payouts-shots"))
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


def _withdrawal(db, user_id: int, amount: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A pending withdrawal with its payout created at the provider: (reference, payout)."""
    from okpay.wallet.providers import get_provider

    with db.unit_of_work() as s:
        method = methods.do_add_bank_account(
            s,
            user_id=user_id,
            provider_token=get_provider().register_bank_account("6222020200112233445"),
            account_number="6222020200112233445",
            bank_name="中国工商银行",
            holder_name="李梅",
        )
        op_id, reference, token = withdrawals.do_begin_withdrawal(
            s, user_id=user_id, payment_method_id=method.id, amount=amount, currency="CNY"
        )
    payout = get_provider().create_payout(token, amount, "CNY", reference).provider_ref
    with db.unit_of_work() as s:
        provider_events.set_external_ref(s, operation_id=op_id, external_ref=payout)
    return reference, payout


def _event(kind: str, payout: str, **data: object) -> schemas.ProviderEvent:
    raw = {"id": f"evt_{uuid.uuid4().hex[:10]}", "type": kind, "data": {"payout": payout, **data}}
    return schemas.parse_provider_event(raw)


def _no_horizontal_overflow(page: Page) -> None:
    """Nothing in the page's main part reaches past the viewport (wide tables scroll inside
    their .table-wrap). The site header's own wrapping is the layout's business."""
    outside = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
        .filter(e => !e.closest('.table-wrap'))
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .map(e => e.tagName + '.' + e.className)"""
    )
    assert outside == [], (page.url, outside)


def test_in_flight_withdrawal_and_reconciliation_page(page: Page, zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "mei@example.com")
    fund(db, uid, 2000_00)
    # The bank accepted this one: the customer sees why it cannot be cancelled.
    sent_ref, sent_payout = _withdrawal(db, uid, 300_00)
    assert (
        flows.handle_provider_event(_event("payout.processing", sent_payout)).outcome == "applied"
    )
    # This one is cancelled, then paid anyway: an exception for the supervisor.
    late_ref, late_payout = _withdrawal(db, uid, 120_00)
    flows.cancel_withdrawal(user_id=uid, reference=late_ref)
    late = flows.handle_provider_event(
        _event("payout.paid", late_payout, amount=120_00, currency="CNY")
    )
    assert late.outcome == "reconciliation_exception"
    flows.handle_provider_event(_event("payout.paid", "po_unknown_123", amount=99_00))

    SHOTS.mkdir(parents=True, exist_ok=True)
    for pg, lang in ((zh_page, "zh-CN"), (page, "en")):
        sign_in(pg, "mei@example.com")
        pg.goto(f"/wallet/tx/{sent_ref}")
        expect(pg.get_by_test_id("payout-in-flight")).to_be_visible()
        expect(pg.locator("form[action$='/cancel']")).to_have_count(0)
        pg.screenshot(path=str(SHOTS / f"in-flight-{lang}.png"), full_page=True)

    make_staff(db, "boss@okpay.example", role=Role.supervisor)
    for pg, lang in ((zh_page, "zh-CN"), (page, "en")):
        pg.context.clear_cookies()
        sign_in(pg, "boss@okpay.example")
        for name, (w, h) in VIEWPORTS.items():
            pg.set_viewport_size({"width": w, "height": h})
            pg.goto("/agent/reconciliation")
            expect(pg.get_by_test_id("reconciliation-row")).to_have_count(2)
            expect(pg.get_by_test_id("nav-reconciliation")).to_have_attribute(
                "aria-current", "page"
            )
            pg.screenshot(path=str(SHOTS / f"list-{lang}-{name}.png"), full_page=True)
            _no_horizontal_overflow(pg)
            pg.goto(f"/agent/reconciliation/{late.exception_id}")
            pg.screenshot(path=str(SHOTS / f"detail-{lang}-{name}.png"), full_page=True)
            _no_horizontal_overflow(pg)

    zh_page.get_by_test_id("reconciliation-detail").locator("textarea").fill(
        "已与支付机构核实：款项已付出，已发起追回审批。"
    )
    zh_page.get_by_test_id("resolve").click()
    expect(zh_page.get_by_test_id("resolution-note")).to_contain_text("已发起追回审批")
    zh_page.screenshot(path=str(SHOTS / "resolved-zh-CN-phone.png"), full_page=True)
    page.goto("/agent/reconciliation")
    expect(page.get_by_test_id("reconciliation-row")).to_have_count(1)
    expect(page.get_by_test_id("open-count")).to_contain_text("1")
    with db.unit_of_work(write=False) as s:
        assert s.query(Operation).filter_by(reference=late_ref).one().status == "cancelled"
