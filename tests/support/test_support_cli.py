"""`okpay support` (teams, holidays, routing rules, canned responses, sweep), the service
centre's demo data, and files on agents' replies."""

from __future__ import annotations

import io
import re

from PIL import Image
from sqlalchemy import func, select
from typer.testing import CliRunner

from okpay.cli import app as cli_app
from okpay.support import agents
from okpay.support.models import CannedResponse, SupportHoliday, Ticket, TicketAttachment
from tests.helpers import PASSWORD, csrf_from, post_form
from tests.support.helpers import load, make_staff, open_ticket
from tests.wallet.helpers import make_user


def run(*args: str) -> str:
    result = CliRunner().invoke(cli_app, ["support", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_agent_team_holidays_rules_canned_and_sweep(db) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "ops@okpay.example")
    make_user(db, "customer@example.com")
    assert "in the security team" in run("agent-team", "ops@okpay.example", "security")
    refused = CliRunner().invoke(
        cli_app, ["support", "agent-team", "customer@example.com", "security"]
    )
    assert refused.exit_code == 1 and "not_staff" in refused.output
    assert CliRunner().invoke(cli_app, ["support", "agent-team", "x@y.z", "nope"]).exit_code == 2

    run("holiday", "add", "2027-02-05", "春节")
    assert "2027-02-05  春节" in run("holiday", "list", "--year", "2027")
    run("holiday", "remove", "2027-02-05")
    assert run("holiday", "list").strip() == ""
    assert CliRunner().invoke(cli_app, ["support", "holiday", "add", "5 Feb", "x"]).exit_code == 2

    out = run("rule", "add", "--name", "Cards", "--keywords", "card|卡", "--team", "technical")
    rule_id = re.search(r"rule (\d+) added", out)
    assert rule_id
    assert "keywords=card|卡 -> team=technical" in run("rule", "list")
    number = open_ticket(db, subject="银行卡绑定失败", body="绑定银行卡的时候一直失败。")
    assert load(db, number).team == "technical"
    no_condition = CliRunner().invoke(
        cli_app, ["support", "rule", "add", "--name", "x", "--team", "security"]
    )
    assert no_condition.exit_code == 2
    run("rule", "remove", rule_id.group(1))
    assert "Cards" not in run("rule", "list")

    run("canned", "add", "--locale", "en", "--title", "Hi", "--body", "Hello {name}")
    run("canned", "add", "--locale", "en", "--title", "Hi", "--body", "Hello again {name}")
    assert "Hello again" in run("canned", "list", "--locale", "en")
    bad = CliRunner().invoke(
        cli_app, ["support", "canned", "add", "--title", "T\nx", "--body", "b"]
    )
    assert bad.exit_code == 1 and "line_break_not_allowed" in bad.output
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(CannedResponse)) == 1
    assert "warned=0 breached=0 closed=0" in run("sweep")


def test_demo_load_sets_up_the_service_centre_once(db) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    first = runner.invoke(cli_app, ["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "5 demo tickets opened" in first.output
    again = runner.invoke(cli_app, ["demo", "load"])
    assert again.exit_code == 0 and "0 demo tickets opened" in again.output
    with db.unit_of_work(write=False) as s:
        teams = {
            t: agents.team_addresses(s, t)
            for t in ("frontline", "technical", "security", "compliance")
        }
        assert all(teams.values()), teams
        locales = set(s.scalars(select(CannedResponse.locale)))
        holidays = s.scalars(select(SupportHoliday.day)).all()
        tickets = s.scalars(select(Ticket)).all()
    assert locales == {"zh_CN", "en"}
    assert len([d for d in holidays if d.year == 2027]) == 13
    # Five support tickets, and the two the demo cases are discussed on (casework's demo).
    assert len(tickets) == 7 and {t.team for t in tickets} >= {"frontline", "security"}
    assert sum("case" in t.tags for t in tickets) == 2


def _png(name: str = "shot.png") -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return (name, buffer.getvalue(), "image/png")


def test_agent_reply_with_files_and_a_disguised_one(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_staff(db, "agent@okpay.example")
    number = open_ticket(db)
    assert (
        post_form(
            client, "/login", {"email": "agent@okpay.example", "password": PASSWORD}
        ).status_code
        == 303
    )
    page = f"/agent/tickets/{number}"
    token = csrf_from(client.get(page).text)
    refused = client.post(
        f"{page}/reply",
        data={"csrf_token": token, "body": "See file", "then_status": "open"},
        files=[("files", ("invoice.pdf", b"MZ\x90\x00not a pdf", "application/pdf"))],
    )
    assert refused.status_code == 422 and "does not contain what its name says" in refused.text
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(TicketAttachment)) == 0
    sent = client.post(
        f"{page}/reply",
        data={"csrf_token": token, "body": "Here is the receipt", "then_status": "open"},
        files=[("files", _png("<script>x</script>.png"))],
        follow_redirects=False,
    )
    assert sent.status_code == 303
    html = client.get(page).text
    assert "<script>x" not in html and "script_.png" in html  # the name cleaned, then escaped
    link = re.search(rf'href="({page}/files/\d+)"', html)
    assert link
    download = client.get(link.group(1))
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert load(db, number).status == "open"
    assert "Here is the receipt" in mailbox.text(mailbox.last("lihua@example.com"))
    # Another ticket's file id under this ticket's number is not found.
    other = open_ticket(db, email="other@example.com")
    assert client.get(link.group(1).replace(number, other)).status_code == 404
