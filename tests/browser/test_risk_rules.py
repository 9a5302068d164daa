"""Risk rules in a real browser (zh-CN): an administrator opens the rules list, writes a draft
with a bad condition (sees why, nothing typed is lost), fixes it, backtests it and runs it in
shadow. Screenshots of the list, the editor and a backtest at 1280x800 and 390x844 in zh-CN
and en, with no horizontal overflow and no ISO timestamps."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from okpay.core import clock
from okpay.identity.models import Role
from tests.browser.test_identity_flows import sign_in
from tests.browser.test_wallet_reconciliation import _no_horizontal_overflow
from tests.risk.helpers import failed_topups, install_defaults, rule_id
from tests.support.helpers import make_staff
from tests.wallet.helpers import make_user

SHOTS = Path(os.environ.get("OKPAY_SHOTS_DIR", "/tmp/risk-rules-shots"))
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def _clean(pg: Page) -> None:
    _no_horizontal_overflow(pg)
    assert not ISO.search(pg.locator("main").inner_text()), pg.url


def test_admin_writes_backtests_and_shadows_a_rule(page: Page, zh_page: Page, db) -> None:  # type: ignore[no-untyped-def]
    install_defaults(db)
    uid = make_user(db, "mallory@example.com")
    with db.unit_of_work() as s:
        failed_topups(s, uid, 8, start=clock.now() - timedelta(days=2), every=timedelta(minutes=3))
    make_staff(db, "root@okpay.example", role=Role.admin)
    pg = zh_page
    sign_in(pg, "root@okpay.example")
    pg.goto("/agent/risk/rules")
    expect(pg.get_by_role("heading", name="风控规则")).to_be_visible()
    expect(pg.get_by_test_id("nav-risk-rules")).to_have_attribute("aria-current", "page")
    expect(pg.locator("tr[data-code=card_testing]")).to_contain_text("银行卡充值失败")
    pg.get_by_test_id("new-rule").click()

    pg.fill("#f-code", "card_burst")
    pg.fill("#f-description", "一小时内三次充值失败")
    pg.locator("input[name=operations][value=transfer]").uncheck()
    pg.locator("input[name=operations][value=card_topup]").check()
    pg.fill("#f-condition", "failed_topups_1h >= 3 and card_count > 1")
    pg.select_option("#f-outcome", "block")
    pg.select_option("#f-reason", "card_testing")
    pg.get_by_test_id("save-rule").click()
    expect(pg.get_by_test_id("error-condition")).to_contain_text("未知特征“card_count”")
    expect(pg.locator("#f-description")).to_have_value("一小时内三次充值失败")
    expect(pg.locator("input[name=operations][value=card_topup]")).to_be_checked()
    expect(pg.locator("#f-outcome")).to_have_value("block")

    pg.fill("#f-condition", "failed_topups_1h >= 3")
    pg.get_by_test_id("backtest-draft").click()
    expect(pg.get_by_test_id("bt-hits")).to_have_text("5")
    pg.get_by_test_id("save-rule").click()
    expect(pg.get_by_test_id("rule-status")).to_have_text("草稿")

    form = pg.get_by_test_id("backtest-form")
    form.locator("input[name=days]").fill("7")
    form.get_by_role("button", name="运行").click()
    expect(pg.get_by_test_id("bt-hits")).to_have_text("5")
    expect(pg.get_by_test_id("bt-top")).to_contain_text("5")
    pg.get_by_test_id("to-shadow").click()
    expect(pg.get_by_test_id("rule-status")).to_have_text("影子模式")
    expect(pg.get_by_test_id("version").first).to_contain_text("草稿")

    # Screenshots: list, editor (with an error), backtest; both languages, both sizes.
    rid = rule_id(db, "card_burst")
    sign_in(page, "root@okpay.example")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for p, lang in ((zh_page, "zh-CN"), (page, "en")):
        for name, (w, h) in VIEWPORTS.items():
            p.set_viewport_size({"width": w, "height": h})
            p.goto("/agent/risk/rules")
            p.screenshot(path=str(SHOTS / f"list-{lang}-{name}.png"), full_page=True)
            _clean(p)
            p.goto(f"/agent/risk/rules/{rid}/edit")
            p.fill("#f-condition", "amount >")
            p.get_by_test_id("save-rule").click()
            expect(p.get_by_test_id("error-condition")).to_be_visible()
            p.screenshot(path=str(SHOTS / f"edit-{lang}-{name}.png"), full_page=True)
            _clean(p)
            p.goto(f"/agent/risk/rules/{rid}/backtest?days=30")
            expect(p.get_by_test_id("backtest-result")).to_be_visible()
            p.screenshot(path=str(SHOTS / f"backtest-{lang}-{name}.png"), full_page=True)
            _clean(p)
