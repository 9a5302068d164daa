"""`okpay case …`: cases and four-eyes approvals for operators at the console. Approving
or rejecting names the staff member who decides (``--as``); the same rules apply as in the
console (never the proposer, only roles the policy allows) and everything is audited with
channel "cli"."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import console
from okpay.core.dbid import BIGINT_MAX
from okpay.core.i18n import format_datetime
from okpay.identity.models import User

app = typer.Typer(help="Cases and four-eyes approvals (audited).", no_args_is_help=True)

# An id the tables cannot hold is a usage error (exit 2), never a database error.
RowId = Annotated[int, typer.Argument(min=1, max=BIGINT_MAX)]


_console = console.console_session


def _staff(session: Session, email: str) -> User:
    from okpay.identity import users as identity_users

    user = identity_users.get_user_by_email(session, email)
    if user is None or not user.is_staff:
        typer.echo(f"no staff member {email}", err=True)
        raise typer.Exit(1)
    return user


@app.command("list")
def list_cases(
    status: Annotated[str, typer.Option(help="open, a status name, or all.")] = "open",
) -> None:
    """Cases, the closest review deadline first."""
    from okpay.casework import cases

    with _console(write=False) as session:
        rows = cases.list_cases(session, status=status, limit=500)
        if not rows:
            typer.echo("no cases")
        for case, ticket in rows:
            due = format_datetime(case.due_at, "minutes") if case.due_at else "-"
            typer.echo(
                f"{case.id}\t{ticket.number}\t{case.type}\t{case.status}\t"
                f"user {case.user_id or '-'}\tdue {due}"
            )


@app.command()
def show(case_id: RowId) -> None:
    """One case with its proposals."""
    from okpay.casework import proposals, views
    from okpay.casework.models import Case

    with _console(write=False) as session:
        case = session.get(Case, case_id)
        if case is None:
            typer.echo(f"no case {case_id}", err=True)
            raise typer.Exit(1)
        s = views.summary(session, case)
        # Labels in the console's language, codes in brackets for scripts.
        typer.echo(
            f"case {case.id} · {s.ticket_number} · {s.type_label} [{case.type}] · "
            f"{s.status_label} [{case.status}]"
        )
        typer.echo(f"user {case.user_id or '-'} · team {s.team}")
        if case.statement:
            typer.echo(f"statement: {case.statement}")
        if case.decision_reason:
            typer.echo(f"decision: {case.decision_reason}")
        for p in proposals.proposals_of(session, case):
            read = views.proposal_read(p)
            typer.echo(
                f"proposal {p.id}: {read.action_label} [{p.action}] · {read.status_label} "
                f"[{p.status}] · {p.reason}"
            )
            for c in read.changes:
                if c.changed:
                    typer.echo(f"    {c.label}: {c.before} → {c.after}")


@app.command()
def approve(
    proposal_id: RowId,
    as_: Annotated[str, typer.Option("--as", help="The approving staff member's e-mail.")],
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Approve a proposal and carry it out."""
    from okpay.casework import proposals

    with _console() as session:
        approver = _staff(session, as_)
        proposal = proposals.get_proposal(session, agent=approver, proposal_id=proposal_id)
        proposals.do_approve(session, proposal=proposal, approver=approver, note=note)
        typer.echo(f"proposal {proposal_id} approved and carried out")


@app.command()
def reject(
    proposal_id: RowId,
    as_: Annotated[str, typer.Option("--as", help="The deciding staff member's e-mail.")],
    reason: Annotated[str, typer.Option(help="Why (the proposer reads it).")],
) -> None:
    """Reject a proposal (nothing changes; the case stays open)."""
    from okpay.casework import proposals

    with _console() as session:
        approver = _staff(session, as_)
        proposal = proposals.get_proposal(session, agent=approver, proposal_id=proposal_id)
        proposals.do_reject(session, proposal=proposal, approver=approver, reason=reason)
        typer.echo(f"proposal {proposal_id} rejected")


def load_demo() -> int:
    """Demo cases (once): 王芳's restricted account with an appeal, and 李伟's coffee paid twice
    with a dispute. Returns how many cases were opened."""
    from okpay.casework import cases, intake
    from okpay.casework.models import Case
    from okpay.core.i18n import use_locale
    from okpay.identity import users as identity_users
    from okpay.wallet import intents, merchants
    from okpay.wallet import standing as wallet_standing

    with _console() as session:
        if session.scalar(select(Case.id).limit(1)) is not None:
            return 0
        opened = 0
        wang = identity_users.get_user_by_email(session, "wang.fang@demo.okpay.example")
        if wang is not None and wang.status == "active":
            wallet_standing.do_restrict(
                session, user_id=wang.id, blocked=["transfer", "withdraw"],
                reason="近期交易异常，等待核实资金来源", actor_user_id=None,
            )  # fmt: skip
            with use_locale("zh_CN"):
                checked = intake.check_request(
                    session,
                    body=intake.AppealIn(
                        type="appeal",
                        statement="这几笔转账都是给家人的生活费，我可以提供银行流水证明。",
                    ),
                    user=wang,
                )
                cases.do_open_case(session, checked=checked, user=wang)
            opened += 1
        li = identity_users.get_user_by_email(session, "li.wei@demo.okpay.example")
        shop = merchants.find_merchant(session, "demo-coffee")
        if li is not None and shop is not None:
            refs = []
            for i in range(2):
                intent = intents.do_create_intent(
                    session, merchant=shop, api_key_id=None, order_id=f"DEMO-LATTE-{i}",
                    amount=38_00, currency="CNY", return_url="https://coffee.example/done",
                    description="拿铁 Latte",
                )  # fmt: skip
                refs.append(intents.do_pay_intent(session, payer_id=li.id, token=intent.token))
            with use_locale("zh_CN"):
                checked = intake.check_request(
                    session,
                    body=intake.DisputeIn(
                        type="dispute",
                        reference=refs[1].reference,
                        reason="charged_twice",
                        duplicate_of=refs[0].reference,
                        statement="只买了一杯拿铁，却被扣了两次款。",
                    ),
                    user=li,
                )
                cases.do_open_case(session, checked=checked, user=li)
            opened += 1
        return opened
