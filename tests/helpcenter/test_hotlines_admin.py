"""Operators configure hotlines: the console page (/agent/hotlines: agents read, supervisors
and admins change, CSRF on every form) and the `okpay support hotlines` commands."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from okpay.core.audit import AuditEvent
from okpay.helpcenter import hotlines
from okpay.helpcenter.hotline_models import Hotline
from okpay.identity.models import Role
from tests.helpcenter.hotline_helpers import add_hotline
from tests.helpers import PASSWORD, csrf_from, post_form
from tests.support.helpers import make_staff
from tests.wallet.helpers import make_user

SCRIPT = "<script>alert(1)</script>"


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


def post(client, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/agent/hotlines").text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def test_strangers_and_customers_are_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    assert client.get("/agent/hotlines", follow_redirects=False).status_code in (303, 401)
    make_user(db, "c@example.com")
    sign_in(client, "c@example.com")
    assert client.get("/agent/hotlines", follow_redirects=False).status_code == 403


def test_an_agent_reads_but_cannot_change(client, db) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    make_staff(db, "agent@example.com")
    sign_in(client, "agent@example.com")
    page = client.get("/agent/hotlines").text
    assert "+852 2123 4567" in page and 'data-testid="hotline-add-form"' not in page
    refused = post(client, "/agent/hotlines/HK/remove", {})
    assert refused.status_code == 403
    with db.unit_of_work(write=False) as s:
        assert hotlines.get_hotline(s, "HK") is not None


def test_a_supervisor_adds_sets_hours_and_holidays(client, db) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "sup@example.com", role=Role.supervisor)
    sign_in(client, "sup@example.com")
    form = {"region": "mo", "number": "2821 2345", "timezone": "Asia/Macau",
            "languages": "zh-HK, yue, pt"}  # fmt: skip
    assert post(client, "/agent/hotlines", form).status_code == 303
    response = post(
        client, "/agent/hotlines/MO/hours",
        {"weekdays": ["0", "1", "2", "3", "4"], "opens": "09:00", "closes": "18:00"},
    )  # fmt: skip
    assert response.status_code == 303
    assert (
        post(
            client, "/agent/hotlines/MO/holidays", {"day": "2026-12-20", "name": SCRIPT}
        ).status_code
        == 303
    )
    page = client.get("/agent/hotlines").text
    assert "+853 2821 2345" in page and SCRIPT not in page and "&lt;script&gt;" in page
    with db.unit_of_work(write=False) as s:
        line = hotlines.get_hotline(s, "MO")
        assert line is not None and line.hours["0"] == ["09:00", "18:00"] and "5" not in line.hours
        actions = set(s.scalars(select(AuditEvent.action)))
        assert {"hotline_added", "hotline_hours_set", "hotline_holiday_added"} <= actions


def test_bad_forms_and_forged_csrf_store_nothing(client, db) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "admin@example.com", role=Role.admin)
    sign_in(client, "admin@example.com")
    form = {"region": "HK", "number": SCRIPT, "timezone": "Asia/Hong_Kong", "languages": "en"}
    bad = post(client, "/agent/hotlines", form)
    assert bad.status_code == 422 and SCRIPT not in bad.text
    forged = client.post(
        "/agent/hotlines",
        data={"region": "HK", "number": "+85221234567", "timezone": "Asia/Hong_Kong",
              "languages": "en", "csrf_token": "forged"},
    )  # fmt: skip
    assert forged.status_code == 403
    assert post(client, "/agent/hotlines/XX/remove", {}).status_code == 404
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Hotline)) == 0


def test_cli_configures_a_hotline(db, settings) -> None:  # type: ignore[no-untyped-def]
    from okpay.cli import app

    runner = CliRunner()
    base = ["support", "hotlines"]
    result = runner.invoke(
        app,
        [
            *base,
            "add",
            "SG",
            "6123 4567",
            "--timezone",
            "Asia/Singapore",
            "--languages",
            "en,zh-CN",
        ],
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, [*base, "set-hours", "SG", "0-4", "09:00", "18:00"]).exit_code == 0
    assert (
        runner.invoke(app, [*base, "add-holiday", "SG", "2026-12-25", "Christmas"]).exit_code == 0
    )
    listing = runner.invoke(app, [*base, "list"]).output
    assert "SG  +65 6123 4567" in listing and "2026-12-25 Christmas" in listing
    refused = runner.invoke(
        app, [*base, "add", "SG", "1", "--timezone", "UTC", "--languages", "en"]
    )
    assert refused.exit_code == 1
    assert runner.invoke(app, [*base, "remove", "SG"]).exit_code == 0
    assert "no hotlines" in runner.invoke(app, [*base, "list"]).output


def test_api_staff_configure_and_others_are_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import api_token

    body = {"region": "TW", "number": "+886 2 2123 4567", "timezone": "Asia/Taipei",
            "languages": ["zh-TW", "en"]}  # fmt: skip
    assert client.post("/api/v1/help/hotlines", json=body).status_code == 401
    make_staff(db, "agent@example.com")
    agent = api_token(client, "agent@example.com")
    assert client.post("/api/v1/help/hotlines", json=body, headers=agent).status_code == 403
    make_staff(db, "sup@example.com", role=Role.supervisor)
    sup = api_token(client, "sup@example.com")
    created = client.post("/api/v1/help/hotlines", json=body, headers=sup)
    assert created.status_code == 201 and created.json()["number"] == "+886221234567"
    hours = {"weekdays": [0, 1, 2, 3, 4], "opens": "09:00", "closes": "18:00"}
    assert client.put("/api/v1/help/hotlines/TW/hours", json=hours, headers=sup).status_code == 200
    bad_hours = {**hours, "opens": "<script>"}
    assert (
        client.put("/api/v1/help/hotlines/TW/hours", json=bad_hours, headers=sup).status_code == 422
    )
    holiday = {"day": "2027-01-01", "name": "開國紀念日"}
    response = client.post("/api/v1/help/hotlines/TW/holidays", json=holiday, headers=sup)
    assert response.status_code == 201 and response.json()["holidays"] == ["2027-01-01"]
    extra = {**body, "region": "SG", "role": "admin"}
    assert client.post("/api/v1/help/hotlines", json=extra, headers=sup).status_code == 422
    assert client.delete("/api/v1/help/hotlines/XX", headers=sup).status_code == 404
    assert client.delete("/api/v1/help/hotlines/TW", headers=sup).status_code == 204
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Hotline)) == 0
