"""`okpay case list|show|approve|reject`: operators decide proposals at the console under the
same four-eyes rules as the API, and every decision is audited with channel "cli"."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from okpay.casework.models import Proposal
from okpay.cli import app as cli_app
from okpay.core.audit import AuditEvent
from okpay.identity.models import Role, User
from tests.casework.helpers import customer, team
from tests.casework.test_api import open_case, propose, restrict
from tests.support.helpers import make_staff


def case(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli_app, ["case", *args])


def status_of(db, model, row_id: int) -> str:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        row = s.get(model, row_id)
        assert row is not None
        return str(row.status)


def test_list_show_approve_as_proposer_then_as_supervisor(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    people = team(client, db)
    uid, me = customer(client, db)
    restrict(db, uid)
    case_id = open_case(client, me, type="appeal", statement="These were payments to my family.")
    case_id = case_id.json()["id"]
    pid = propose(client, people["agent"], case_id, "lift_restriction").json()["id"]

    listed = case("list")
    assert listed.exit_code == 0, listed.output
    line = next(row for row in listed.output.splitlines() if row.startswith(f"{case_id}\t"))
    assert "\tappeal\tin_review\t" in line and f"user {uid}" in line
    assert case("list", "--status", "approved").output.strip() == "no cases"

    shown = case("show", str(case_id))
    assert shown.exit_code == 0, shown.output
    assert f"proposal {pid}:" in shown.output and "→" in shown.output
    assert "These were payments to my family." in shown.output

    own = case("approve", str(pid), "--as", "agent@okpay.example")
    assert own.exit_code == 1 and "self_approval" in own.output, own.output
    assert status_of(db, Proposal, pid) == "pending"
    assert status_of(db, User, uid) == "restricted"
    nobody = case("approve", str(pid), "--as", "mei@example.com")
    assert nobody.exit_code == 1 and "no staff member" in nobody.output
    assert status_of(db, Proposal, pid) == "pending"

    done = case("approve", str(pid), "--as", "sup@okpay.example", "--note", "Seen the statement")
    assert done.exit_code == 0, done.output
    assert "approved and carried out" in done.output
    assert status_of(db, Proposal, pid) == "executed"
    assert status_of(db, User, uid) == "active"
    assert "approved" in mailbox.text(mailbox.last("mei@example.com"))
    with db.unit_of_work(write=False) as s:
        row = s.scalar(select(AuditEvent).where(AuditEvent.action == "case_proposal_executed"))
        assert row is not None and row.channel == "cli"
        assert row.data["note"] == "Seen the statement"
    again = case("approve", str(pid), "--as", "sup2@okpay.example")
    assert again.exit_code == 1 and "proposal_not_pending" in again.output
    assert "approved" in case("show", str(case_id)).output.lower()


def test_reject_and_refusals(client, db) -> None:  # type: ignore[no-untyped-def]
    people = team(client, db)
    uid, me = customer(client, db)
    restrict(db, uid)
    case_id = open_case(client, me, type="appeal", statement="Please review my account").json()[
        "id"
    ]
    pid = propose(client, people["agent"], case_id, "lift_restriction").json()["id"]
    # An agent may not decide: the policy names supervisors.
    make_staff(db, "agent2@okpay.example", team="compliance", role=Role.agent)
    by_agent = case("reject", str(pid), "--as", "agent2@okpay.example", "--reason", "No proof")
    assert by_agent.exit_code == 1 and "approval_not_allowed" in by_agent.output
    short = case("reject", str(pid), "--as", "sup@okpay.example", "--reason", "no")
    assert short.exit_code == 1 and "reason_required" in short.output
    assert status_of(db, Proposal, pid) == "pending"
    no = case("reject", str(pid), "--as", "sup@okpay.example", "--reason", "Ask for a statement")
    assert no.exit_code == 0 and f"proposal {pid} rejected" in no.output
    assert status_of(db, Proposal, pid) == "rejected"
    assert status_of(db, User, uid) == "restricted"

    for args in (
        ("show", "999999"),
        ("approve", "999999", "--as", "sup@okpay.example"),
        ("show", str(2**70)),
        ("approve", str(2**70), "--as", "sup@okpay.example"),
        ("reject", "-1", "--as", "sup@okpay.example", "--reason", "Not needed"),
    ):
        refused = case(*args)
        assert refused.exit_code in (1, 2), (args, refused.output)
        assert refused.exception is None or isinstance(refused.exception, SystemExit), (
            args,
            refused.exception,
        )
