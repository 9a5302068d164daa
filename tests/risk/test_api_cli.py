"""The admin risk API and `okpay risk …` (SQLite and PostgreSQL): the same rules as the
pages, specific errors for bad input, audited status changes."""

from __future__ import annotations

from datetime import timedelta

from typer.testing import CliRunner

from okpay.cli import app as cli_app
from okpay.identity.models import Role
from tests.casework.helpers import staff
from tests.risk.helpers import failed_topups, install_defaults
from tests.wallet.helpers import make_user

RULE = {
    "code": "night_owl",
    "description": "Large transfers",
    "operations": ["transfer"],
    "condition": "amount_cny >= 5000 and nope",
    "score": 40,
    "outcome": "step_up",
    "reason": "unusual_amount",
    "note": "first",
}


def test_api_create_update_status_backtest(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    install_defaults(db)
    root = staff(client, db, "root@okpay.example", role=Role.admin)
    agent = staff(client, db, "agent@okpay.example", role=Role.agent)
    bad = client.post("/api/v1/admin/risk/rules", headers=root, json=RULE)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "rule_condition_invalid"
    assert "nope" in str(bad.json())
    made = client.post(
        "/api/v1/admin/risk/rules", headers=root, json={**RULE, "condition": "amount_cny >= 5000"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "draft" and made.json()["version"] == 1
    assert client.post("/api/v1/admin/risk/rules", headers=agent, json=RULE).status_code == 403

    to_live = client.post(
        "/api/v1/admin/risk/rules/night_owl/status", headers=root,
        json={"status": "live", "note": "go", "expected_version": 1},
    )  # fmt: skip
    assert to_live.status_code == 200 and to_live.json()["status"] == "live"
    stale = client.put(
        "/api/v1/admin/risk/rules/night_owl", headers=root,
        json={**RULE, "condition": "amount_cny >= 9000", "expected_version": 1},
    )  # fmt: skip
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "rule_changed"
    changed = client.put(
        "/api/v1/admin/risk/rules/night_owl", headers=root,
        json={**RULE, "condition": "amount_cny >= 9000", "expected_version": 2},
    )  # fmt: skip
    body = changed.json()
    assert body["version"] == 3 and body["status"] == "shadow"
    assert [v["version"] for v in body["versions"]] == [3, 2, 1]
    fields = {c["field"] for c in body["versions"][0]["changes"]}
    assert {"condition", "status"} <= fields
    bad_status = client.post(
        "/api/v1/admin/risk/rules/night_owl/status", headers=root, json={"status": "on"}
    )
    assert bad_status.status_code == 422 and bad_status.json()["error"]["code"] == "rule_invalid"
    assert client.get("/api/v1/admin/risk/rules/nothing", headers=root).status_code == 404

    listed = client.get("/api/v1/admin/risk/rules", headers=agent)
    assert listed.status_code == 200
    assert {r["code"] for r in listed.json()} >= {"night_owl", "card_testing"}

    uid = make_user(db, "mallory@example.com")
    with db.unit_of_work() as s:
        failed_topups(s, uid, 6, start=clock.now - timedelta(hours=2), every=timedelta(minutes=1))
    bt = client.post(
        "/api/v1/admin/risk/rules/card_testing/backtest", headers=root, json={"days": 2}
    )
    assert bt.status_code == 200, bt.text
    assert bt.json()["hits"] == 1 and bt.json()["top_customers"][0]["user_id"] == uid
    assert bt.json()["agreement"]["backtest_only"] == 1
    assert (
        client.post(
            "/api/v1/admin/risk/rules/card_testing/backtest", headers=agent, json={"days": 2}
        ).status_code
        == 403
    )
    too_long = client.post(
        "/api/v1/admin/risk/rules/card_testing/backtest", headers=root, json={"days": 91}
    )
    assert too_long.status_code == 422
    draft = client.post(
        "/api/v1/admin/risk/backtest", headers=root,
        json={"rule": {**RULE, "operations": ["card_topup"], "outcome": "block",
                       "condition": "failed_topups_1h >= 2"}, "days": 1},
    )  # fmt: skip
    assert draft.status_code == 200 and draft.json()["hits"] == 4
    assert draft.json()["agreement"] is None
    decisions = client.get("/api/v1/admin/risk/decisions?rule=card_testing", headers=root)
    assert decisions.status_code == 200 and decisions.json()["items"] == []
    for since in ("2026-01-01T00:00:00", "2026-01-01T00:00:00%2B08:00"):
        found = client.get(f"/api/v1/admin/risk/decisions?since={since}", headers=root)
        assert found.status_code == 200
    assert (
        client.get("/api/v1/admin/risk/decisions?since=yesterday", headers=root).status_code == 422
    )
    openapi = client.get("/openapi.json").json()
    assert "/api/v1/admin/risk/rules/{code}/backtest" in openapi["paths"]


def test_customers_get_no_rules(client, db) -> None:  # type: ignore[no-untyped-def]
    from tests.casework.helpers import customer

    _uid, me = customer(client, db)
    assert client.get("/api/v1/admin/risk/rules", headers=me).status_code == 403
    assert client.get("/api/v1/admin/risk/decisions", headers=me).status_code == 403


def risk(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_app, ["risk", *args])


def test_cli(db) -> None:  # type: ignore[no-untyped-def]
    from tests.support.helpers import make_staff

    installed = risk("install-defaults")
    assert installed.exit_code == 0 and "card_testing" in installed.output
    assert "nothing to install" in risk("install-defaults").output
    listed = risk("rules")
    assert listed.exit_code == 0
    assert any(line.startswith("velocity\tshadow\t1\t") for line in listed.output.splitlines())
    make_staff(db, "root@okpay.example", role=Role.admin)
    make_staff(db, "agent@okpay.example", role=Role.agent)
    refused = risk("set-status", "velocity", "live", "--as", "agent@okpay.example")
    assert refused.exit_code == 1
    moved = risk("set-status", "velocity", "live", "--as", "root@okpay.example", "--note", "ok")
    assert moved.exit_code == 0 and "velocity: live (version 2)" in moved.output
    shown = risk("show", "velocity")
    assert shown.exit_code == 0 and "version 2" in shown.output and "ok" in shown.output
    bt = risk("backtest", "velocity", "--days", "7")
    assert bt.exit_code == 0 and "0 hits" in bt.output
    assert risk("backtest", "velocity", "--days", "500").exit_code == 2
    assert risk("show", "nothing").exit_code == 1
