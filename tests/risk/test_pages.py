"""The rules pages (SQLite and PostgreSQL): admins create (an invalid condition is refused at
the field with everything typed kept), edit (a new version; a live rule goes back to
shadow), move between statuses and backtest; agents and supervisors read; customers cannot."""

from __future__ import annotations

import re
from datetime import timedelta

from okpay.identity.models import Role
from tests.casework.test_agent_pages import post_on, staff_client
from tests.helpers import PASSWORD, post_form
from tests.risk.helpers import failed_topups, install_defaults, rule_id
from tests.wallet.helpers import make_user

NEW = {
    "code": "night_owl",
    "description": "Large transfers at night",
    "operations": ["transfer", "withdrawal"],
    "condition": "amount_cny >= 5000 and bogus_feature",
    "score": "40",
    "outcome": "step_up",
    "reason": "unusual_amount",
    "note": "first try",
    "action": "save",
}


def admin(app, db):  # type: ignore[no-untyped-def]
    return staff_client(app, db, "root@okpay.example", Role.admin)


def test_admin_creates_edits_and_moves_a_rule(app, db) -> None:  # type: ignore[no-untyped-def]
    install_defaults(db)
    c = admin(app, db)
    listing = c.get("/agent/risk/rules")
    assert listing.status_code == 200
    assert "card_testing" in listing.text
    assert "Five or more failed card top-ups" in listing.text
    assert 'data-testid="new-rule"' in listing.text

    bad = post_on(c, "/agent/risk/rules/new", "/agent/risk/rules/new", NEW)
    assert bad.status_code == 422
    assert 'data-testid="error-condition"' in bad.text
    assert "unknown feature" in bad.text and "bogus_feature" in bad.text
    assert "Large transfers at night" in bad.text and "first try" in bad.text
    assert re.search(r'value="withdrawal" checked', bad.text)
    assert "new_device_24h" in bad.text  # the catalogue beside the field

    good = post_on(
        c, "/agent/risk/rules/new", "/agent/risk/rules/new",
        {**NEW, "condition": "amount_cny >= 5000 and new_device_24h"},
    )  # fmt: skip
    assert good.status_code == 303, good.text
    rid = rule_id(db, "night_owl")
    page = c.get(f"/agent/risk/rules/{rid}")
    assert "Draft" in page.text and 'data-testid="to-shadow"' in page.text

    for status, version in (("shadow", 1), ("live", 2)):
        moved = post_on(
            c, f"/agent/risk/rules/{rid}", f"/agent/risk/rules/{rid}/status",
            {"status": status, "expected_version": str(version), "note": f"to {status}"},
        )  # fmt: skip
        assert moved.status_code == 303
    page = c.get(f"/agent/risk/rules/{rid}")
    assert 'data-testid="rule-version">3<' in page.text and "Live" in page.text

    stale = post_on(
        c, f"/agent/risk/rules/{rid}", f"/agent/risk/rules/{rid}/status",
        {"status": "paused", "expected_version": "1"},
    )  # fmt: skip
    assert stale.status_code == 409 and "Someone changed this rule" in stale.text

    edit = c.get(f"/agent/risk/rules/{rid}/edit")
    assert "puts it back in shadow" in edit.text
    saved = post_on(
        c, f"/agent/risk/rules/{rid}/edit", f"/agent/risk/rules/{rid}/edit",
        {**NEW, "condition": "amount_cny >= 8000 and new_device_24h", "expected_version": "3",
         "note": "raise the bar"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    page = c.get(f"/agent/risk/rules/{rid}")
    assert 'data-testid="rule-version">4<' in page.text
    assert "Shadow" in page.text
    versions = re.findall(r'data-testid="version" data-version="(\d+)"', page.text)
    assert versions == ["4", "3", "2", "1"]
    assert "raise the bar" in page.text and "amount_cny &gt;= 5000" in page.text  # the diff
    assert "Rule changed" in page.text  # the audit trail
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", page.text)  # never ISO


def test_backtests_from_the_rule_page_and_the_form(app, db, clock) -> None:  # type: ignore[no-untyped-def]
    install_defaults(db)
    uid = make_user(db, "mallory@example.com")
    with db.unit_of_work() as s:
        failed_topups(s, uid, 7, start=clock.now - timedelta(days=1), every=timedelta(minutes=2))
    c = admin(app, db)
    rid = rule_id(db, "card_testing")
    page = c.get(f"/agent/risk/rules/{rid}/backtest?days=7")
    assert page.status_code == 200
    assert re.search(r'data-testid="bt-hits"><strong>2<', page.text)
    assert "m***" in page.text or "@example.com" in page.text
    bad = c.get(f"/agent/risk/rules/{rid}/backtest?days=500")
    assert bad.status_code == 422 and 'data-testid="days-error"' in bad.text
    draft = post_on(
        c, "/agent/risk/rules/new", "/agent/risk/rules/new",
        {**NEW, "operations": ["card_topup"], "outcome": "block",
         "condition": "failed_topups_1h >= 3", "action": "backtest", "days": "7"},
    )  # fmt: skip
    assert draft.status_code == 200
    assert re.search(r'data-testid="bt-hits"><strong>4<', draft.text)
    assert 'value="night_owl"' in draft.text  # still the form, nothing saved


def test_agents_read_customers_cannot(app, db) -> None:  # type: ignore[no-untyped-def]
    install_defaults(db)
    rid = rule_id(db, "velocity")
    agent = staff_client(app, db, "agent@okpay.example", Role.agent)
    page = agent.get(f"/agent/risk/rules/{rid}")
    assert page.status_code == 200
    assert (
        'data-testid="status-form"' not in page.text and 'data-testid="edit-rule"' not in page.text
    )
    assert agent.get("/agent/risk/rules/new").status_code == 403
    assert agent.get(f"/agent/risk/rules/{rid}/backtest?days=3").status_code == 403
    refused = post_on(
        agent, f"/agent/risk/rules/{rid}", f"/agent/risk/rules/{rid}/status",
        {"status": "live", "expected_version": "1"},
    )  # fmt: skip
    assert refused.status_code == 403
    sup = staff_client(app, db, "sup@okpay.example", Role.supervisor)
    assert sup.get(f"/agent/risk/rules/{rid}/backtest?days=3").status_code == 200

    make_user(db, "mei@example.com")
    from starlette.testclient import TestClient

    customer = TestClient(app)
    assert (
        post_form(
            customer, "/login", {"email": "mei@example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    assert customer.get("/agent/risk/rules").status_code in (403, 404)
    assert customer.get(f"/agent/risk/rules/{rid}").status_code in (403, 404)
