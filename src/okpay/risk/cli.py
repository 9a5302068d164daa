"""`okpay risk …`: the risk rules at the console. Changing a rule's status names the
administrator who does it (``--as``); it is versioned and audited with channel "cli", as on
the rules page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session

from okpay.core import console

if TYPE_CHECKING:
    from okpay.risk.models import RiskRule

app = typer.Typer(help="Risk rules: list, show, change status, backtest.", no_args_is_help=True)


_console = console.console_session


def _rule(session: Session, code: str) -> RiskRule:
    from okpay.risk import rules

    rule = rules.find_rule(session, code.strip().lower())
    if rule is None:
        typer.echo(f"no rule {code}", err=True)
        raise typer.Exit(1)
    return rule


@app.command("rules")
def list_rules() -> None:
    """Every rule: code, status, version, outcome, operations, hits in 24 h / 7 days."""
    from okpay.risk import backtest, rules

    with _console(write=False) as session:
        found = rules.list_rules(session)
        hits = backtest.recent_hits(session, [r.code for r in found])
        typer.echo("code\tstatus\tversion\toutcome\toperations\thits_24h\thits_7d")
        for r in found:
            day, week = hits.get(r.code, (0, 0))
            ops = ",".join(r.operations)
            typer.echo(f"{r.code}\t{r.status}\t{r.version}\t{r.outcome}\t{ops}\t{day}\t{week}")


@app.command("show")
def show(code: str) -> None:
    """A rule's definition and its versions (what each changed, by whom, when, why)."""
    from okpay.core.i18n import format_datetime
    from okpay.risk import views

    with _console(write=False) as session:
        rule = _rule(session, code)
        typer.echo(f"{rule.code} ({rule.status}, version {rule.version})")
        typer.echo(f"  description: {views.description_text(rule.description)}")
        typer.echo(f"  operations:  {', '.join(rule.operations)}")
        typer.echo(f"  condition:   {rule.condition}")
        typer.echo(f"  score:       {rule.score}")
        typer.echo(f"  outcome:     {rule.outcome}")
        typer.echo(f"  reason:      {rule.reason}")
        for v in views.version_views(session, rule.id):
            when = format_datetime(v.version.changed_at, "short")
            note = f" — {v.version.note}" if v.version.note else ""
            typer.echo(f"version {v.version.version}, {v.by}, {when}{note}")
            for c in v.changes:
                before = f"{c.before} → " if c.before else ""
                typer.echo(f"    {c.label}: {before}{c.after}")


@app.command("set-status")
def set_status(
    code: str,
    status: Annotated[str, typer.Argument(help="draft, shadow, live or paused")],
    as_: Annotated[str, typer.Option("--as", help="The administrator's e-mail address.")],
    note: Annotated[str, typer.Option(help="Why (kept with the version).")] = "",
) -> None:
    """Move a rule to draft, shadow, live or paused (versioned and audited)."""
    from okpay.identity import users as identity_users
    from okpay.identity.models import Role
    from okpay.risk import rules
    from okpay.risk.models import RuleStatus

    if status not in {s.value for s in RuleStatus}:
        typer.echo("status must be draft, shadow, live or paused", err=True)
        raise typer.Exit(2)
    with _console() as session:
        actor = identity_users.get_user_by_email(session, as_)
        if actor is None or actor.role != Role.admin.value:
            typer.echo(f"no administrator {as_}", err=True)
            raise typer.Exit(1)
        rule = _rule(session, code)
        rule = rules.do_set_status(
            session, rule_id=rule.id, status=RuleStatus(status), actor_id=actor.id, note=note
        )
        typer.echo(f"{rule.code}: {rule.status} (version {rule.version})")


@app.command("backtest")
def run_backtest(
    code: str,
    days: Annotated[int, typer.Option(min=1, max=90, help="How many days back.")] = 30,
) -> None:
    """Replay the last DAYS days of operations against the rule."""
    from okpay.risk import backtest

    with _console(write=False) as session:
        result = backtest.run(session, rule=_rule(session, code), days=days)
    typer.echo(
        f"{result.rule}: {result.operations} operations replayed over {result.days} days, "
        f"{result.evaluated} of its kinds, {result.hits} hits, {result.customers} customers "
        f"({result.seconds} s)"
    )
    if result.agreement is not None:
        a = result.agreement
        typer.echo(
            f"stored decisions: {a.stored}, agree {a.agree}, stored only {a.stored_only}, "
            f"replay only {a.backtest_only}, without an operation {a.unlinked}"
        )
    for c in result.top:
        typer.echo(f"  user {c.user_id}\t{c.name}\t{c.email}\t{c.hits}")
    for day, n in result.by_day:
        typer.echo(f"  {day.isoformat()}\t{n}")


@app.command("install-defaults")
def install_defaults() -> None:
    """Add the shipped rules this database lacks (never changes an edited one)."""
    from okpay.risk import defaults

    with _console() as session:
        added = defaults.install(session)
    typer.echo(f"installed: {', '.join(added)}" if added else "nothing to install")
