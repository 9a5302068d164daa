"""`okpay support`: agents' teams, the SLA calendar's holidays, routing rules, canned
responses, the SLA sweep, and the service centre's demo data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.support.wechat import cli as wechat_cli

app = typer.Typer(
    help="Service centre: teams, SLA calendar, routing, canned responses.", no_args_is_help=True
)
holiday_app = typer.Typer(
    help="Days the service centre is closed (SLA clocks stop).", no_args_is_help=True
)
rule_app = typer.Typer(
    help="Routing rules: the first match sets team and priority.", no_args_is_help=True
)
canned_app = typer.Typer(help="Canned responses agents insert into replies.", no_args_is_help=True)
app.add_typer(holiday_app, name="holiday")
app.add_typer(rule_app, name="rule")
app.add_typer(canned_app, name="canned")
app.add_typer(wechat_cli.app, name="wechat")


@contextmanager
def _session(write: bool = True) -> Iterator[Session]:
    """A unit of work for one command; a refused change prints its reason and exits 1."""
    from okpay.core import context
    from okpay.db import get_database

    context.set_current(context.RequestContext(ip=None, user_agent="okpay-cli", channel="cli"))
    try:
        with get_database().unit_of_work(write=write) as session:
            yield session
    except DomainError as err:
        typer.echo(f"refused: {err.code}: {err.translated()}", err=True)
        raise typer.Exit(1) from None


def _choice(value: str | None, allowed: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed.__members__:
        typer.echo(f"unknown {what} {value!r}: use {', '.join(allowed.__members__)}", err=True)
        raise typer.Exit(2)
    return value


@app.command("agent-team")
def agent_team(
    email: Annotated[str, typer.Argument(help="A staff user's e-mail.")],
    team: Annotated[str, typer.Argument(help="frontline, technical, security or compliance.")],
) -> None:
    """Put a staff member in a team (their queue tab, and who gets the team's alerts)."""
    from okpay.identity import users as identity_users
    from okpay.support import agents
    from okpay.support.models import Team

    _choice(team, Team, "team")
    with _session() as s:
        user = identity_users.get_user_by_email(s, email)
        if user is None:
            typer.echo(f"no user {email}", err=True)
            raise typer.Exit(1)
        agents.set_agent_team(s, user=user, team=team)
    typer.echo(f"{email} is in the {team} team")


# ------------------------------------------------------------------------------ holidays


@holiday_app.command("add")
def holiday_add(
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    name: Annotated[str, typer.Argument(help="What the day is.")],
) -> None:
    """Close the service centre on DAY (replaces the name if the day is there)."""
    from okpay.support.models import SupportHoliday

    when = _date(day)
    with _session() as s:
        row = s.get(SupportHoliday, when) or SupportHoliday(day=when, name=name)
        row.name = name[:100]
        s.add(row)
    typer.echo(f"holiday {when}: {name}")


@holiday_app.command("list")
def holiday_list(year: Annotated[int | None, typer.Option(help="Only this year.")] = None) -> None:
    """The holidays, in date order."""
    from okpay.support.models import SupportHoliday

    with _session(write=False) as s:
        for row in s.scalars(select(SupportHoliday).order_by(SupportHoliday.day)):
            if year is None or row.day.year == year:
                typer.echo(f"{row.day}  {row.name}")


@holiday_app.command("remove")
def holiday_remove(day: Annotated[str, typer.Argument(help="YYYY-MM-DD")]) -> None:
    """Open on DAY again."""
    from okpay.support.models import SupportHoliday

    when = _date(day)
    _delete(SupportHoliday, when, f"holiday on {when}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        typer.echo(f"not a date: {text!r} (use YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None


# ------------------------------------------------------------------------- routing rules


@rule_app.command("add")
def rule_add(
    name: Annotated[str, typer.Option(help="What the rule is for.")],
    team: Annotated[str | None, typer.Option(help="Team to route to.")] = None,
    priority: Annotated[str | None, typer.Option(help="low, normal, high or urgent.")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    keywords: Annotated[
        str | None, typer.Option(help='Any of these words, separated by "|".')
    ] = None,
    customer_state: Annotated[
        str | None, typer.Option(help="locked, restricted, frozen or closed.")
    ] = None,
    alert: Annotated[bool, typer.Option(help="E-mail the team on a match.")] = False,
    position: Annotated[int | None, typer.Option(help="Order (default: last).")] = None,
) -> None:
    """Add a routing rule (tried before OKPay's built-in routing)."""
    from okpay.helpcenter.taxonomy import CATEGORIES
    from okpay.support.models import Channel, Priority, RoutingRule, Team

    if not team and not priority:
        typer.echo("give --team or --priority (or both)", err=True)
        raise typer.Exit(2)
    if category and category not in CATEGORIES:
        typer.echo(f"unknown category {category!r}: use {', '.join(CATEGORIES)}", err=True)
        raise typer.Exit(2)
    if customer_state and customer_state not in ("locked", "restricted", "frozen", "closed"):
        typer.echo("customer state: locked, restricted, frozen or closed", err=True)
        raise typer.Exit(2)
    if not (category or channel or keywords or customer_state):
        typer.echo("give at least one condition (category, channel, keywords, state)", err=True)
        raise typer.Exit(2)
    with _session() as s:
        last = max(s.scalars(select(RoutingRule.position)).all(), default=0)
        rule = RoutingRule(
            position=position if position is not None else last + 10,
            name=name[:100],
            category=category,
            channel=_choice(channel, Channel, "channel"),
            keywords=(keywords or None) and keywords[:500],
            customer_state=customer_state,
            team=_choice(team, Team, "team"),
            priority=_choice(priority, Priority, "priority"),
            alert_team=alert,
            active=True,
        )
        s.add(rule)
        s.flush()
        typer.echo(f"rule {rule.id} added at position {rule.position}")


@rule_app.command("list")
def rule_list() -> None:
    """The routing rules in the order they are tried."""
    from okpay.support.models import RoutingRule

    with _session(write=False) as s:
        for r in s.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)):
            conditions = ", ".join(
                f"{k}={v}"
                for k, v in (
                    ("category", r.category),
                    ("channel", r.channel),
                    ("keywords", r.keywords),
                    ("state", r.customer_state),
                )
                if v
            )
            typer.echo(
                f"{r.id:>4} #{r.position:<4} {r.name}: {conditions} -> team={r.team or '-'}"
                f" priority={r.priority or '-'}{' alert' if r.alert_team else ''}"
                f"{'' if r.active else ' (inactive)'}"
            )


@rule_app.command("remove")
def rule_remove(rule_id: Annotated[int, typer.Argument()]) -> None:
    """Delete a routing rule."""
    from okpay.support.models import RoutingRule

    _delete(RoutingRule, rule_id, f"rule {rule_id}")


def _delete(model: Any, key: Any, what: str) -> None:
    """Delete one row by primary key, or say it is not there (exit 1)."""
    with _session() as s:
        row = s.get(model, key)
        if row is None:
            typer.echo(f"no {what}", err=True)
            raise typer.Exit(1)
        s.delete(row)
    typer.echo(f"removed {what}")


# ---------------------------------------------------------------------- canned responses


@canned_app.command("add")
def canned_add(
    title: Annotated[str, typer.Option(help="What agents pick from the list.")],
    body: Annotated[
        str, typer.Option(help="Text; {name}, {number}, {agent}, {subject} are filled.")
    ],
    locale: Annotated[str, typer.Option(help="zh_CN or en (the ticket's language).")] = "zh_CN",
) -> None:
    """Add (or replace, same title and language) a canned response."""
    with _session() as s:
        row = upsert_canned(s, locale=locale, title=title, body=body)
        typer.echo(f"canned response {row.id} ({row.locale}): {row.title}")


@canned_app.command("list")
def canned_list(
    locale: Annotated[str | None, typer.Option(help="Only this language.")] = None,
) -> None:
    from okpay.support.models import CannedResponse

    with _session(write=False) as s:
        stmt = select(CannedResponse).order_by(CannedResponse.locale, CannedResponse.title)
        for row in s.scalars(stmt):
            if locale is None or row.locale == locale:
                typer.echo(f"{row.id:>4} {row.locale:<6} {row.title}: {row.body[:60]!r}")


def upsert_canned(session: Session, *, locale: str, title: str, body: str) -> Any:
    """A canned response by (language, title), created or replaced; checked like a reply."""
    from okpay.core.errors import ValidationFailed
    from okpay.identity import validation as identity_validation
    from okpay.support import checks
    from okpay.support.models import CannedResponse

    if locale not in ("zh_CN", "en"):
        raise ValidationFailed(code="locale_invalid", field="locale")
    clean_title = identity_validation.check_name(title, field="title", max_length=100)
    if not clean_title:
        raise ValidationFailed(code="title_required", field="title")
    text = checks.check_body(body)
    row = session.scalar(
        select(CannedResponse).where(
            CannedResponse.locale == locale, CannedResponse.title == clean_title
        )
    )
    if row is None:
        row = CannedResponse(locale=locale, title=clean_title, body=text)
        session.add(row)
    row.body = text
    session.flush()
    return row


@app.command("sweep")
def sweep() -> None:
    """Run the SLA sweep now: warnings, breaches, closing long-resolved tickets."""
    from okpay.support import follow_up

    with _session() as s:
        counts = follow_up.sweep(s)
    typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@app.command("encrypt-attachments")
def encrypt_attachments() -> None:
    """Encrypt the files stored before encryption at rest (safe to run again, and while the
    app runs)."""
    from okpay.support import files

    sealed, already = files.encrypt_stored_files()
    typer.echo(f"encrypted={sealed} already_encrypted={already}")


# --------------------------------------------------------------------------------- demo

# China's statutory public holidays in 2027 (lunar dates computed; the State Council's
# notice adds bridge days and make-up working days: add those with `holiday add`).
CHINA_HOLIDAYS_2027 = (
    ("2027-01-01", "元旦 New Year's Day"),
    ("2027-02-05", "春节 Spring Festival (eve)"),
    ("2027-02-06", "春节 Spring Festival"),
    ("2027-02-07", "春节 Spring Festival"),
    ("2027-02-08", "春节 Spring Festival"),
    ("2027-04-05", "清明节 Qingming Festival"),
    ("2027-05-01", "劳动节 Labour Day"),
    ("2027-05-02", "劳动节 Labour Day"),
    ("2027-06-09", "端午节 Dragon Boat Festival"),
    ("2027-09-15", "中秋节 Mid-Autumn Festival"),
    ("2027-10-01", "国庆节 National Day"),
    ("2027-10-02", "国庆节 National Day"),
    ("2027-10-03", "国庆节 National Day"),
)

DEMO_AGENTS = (
    ("agent@demo.okpay.example", "frontline"),
    ("supervisor@demo.okpay.example", "frontline"),
    ("tech.agent@demo.okpay.example", "technical"),
    ("security.agent@demo.okpay.example", "security"),
    ("compliance.agent@demo.okpay.example", "compliance"),
)
DEMO_EXTRA_STAFF = (
    ("tech.agent@demo.okpay.example", "技术 小林", "zh_CN"),
    ("security.agent@demo.okpay.example", "Security Sam", "en"),
    ("compliance.agent@demo.okpay.example", "合规 小吴", "zh_CN"),
)

DEMO_CANNED = (
    ("zh_CN", "问候", "{name}，您好！\n\n感谢您联系 OKPay 客服，您的请求编号是 {number}。"),
    (
        "zh_CN",
        "充值到账时间",
        "{name}，您好！\n\n银行转账充值通常在 1 个工作日内到账。如果超过时间仍未到账，"
        "请回复此邮件并附上转账凭证截图，我们会立即为您核查。\n\n客服 {agent}",
    ),
    (
        "zh_CN",
        "问题已解决",
        "{name}，您好！\n\n您的问题（{number}）已处理完毕。如还有疑问，直接回复即可。"
        "OKPay 客服绝不会向您索要密码或验证码。\n\n客服 {agent}",
    ),
    (
        "en",
        "Greeting",
        "Hello {name},\n\nThank you for contacting OKPay. Your request number is {number}.",
    ),
    (
        "en",
        "Top-up arrival time",
        "Hello {name},\n\nBank transfer top-ups usually arrive within one business day. If yours "
        "has not, reply with a screenshot of the transfer receipt and we will check at once."
        "\n\n{agent}, OKPay support",
    ),
    (
        "en",
        "Resolved",
        "Hello {name},\n\nWe have resolved your request {number}. If anything is still unclear, "
        "just reply. OKPay staff will never ask for your password or codes.\n\n{agent}",
    ),
)

DEMO_TICKETS: tuple[tuple[str | None, str, str, str], ...] = (
    (
        "li.wei@demo.okpay.example",
        "银行转账充值还没到账",
        "我昨天通过银行转账充值了 500 元，到现在还没到账。",
        "topup",
    ),
    (
        "wang.fang@demo.okpay.example",
        "提现失败",
        "提现到工商银行卡显示失败，钱会退回吗？",
        "withdrawal",
    ),
    (
        "emma.clark@demo.okpay.example",
        "Charged twice for one payment",
        "I paid Demo Coffee once but I see two payments of 32 CNY.",
        "duplicate_charge",
    ),
    (
        None,
        "忘记密码，收不到重置邮件",
        "我忘记密码了，点了找回密码但一直收不到邮件。",
        "login_password",
    ),
    (
        None,
        "Someone sent money from my account",
        "There is a transfer I did not make. Please help, it was not me!",
        "suspicious_activity",
    ),
)


def load_demo(echo: Callable[[str], None], password: str) -> None:
    """Agents in teams, canned responses in both languages, 2027 holidays and a few
    tickets (each part only once)."""
    from okpay.identity import operators as identity_operators
    from okpay.identity import users as identity_users
    from okpay.identity.models import Role
    from okpay.support import agents, tickets
    from okpay.support.models import SupportHoliday, Ticket

    with _session() as s:
        for email, name, locale in DEMO_EXTRA_STAFF:
            if identity_users.get_user_by_email(s, email) is None:
                identity_operators.do_create_user(
                    s, email=email, password=password, role=Role.agent, name=name, locale=locale
                )
        for email, team in DEMO_AGENTS:
            user = identity_users.get_user_by_email(s, email)
            if user is not None and user.is_staff:
                agents.set_agent_team(s, user=user, team=team)
        for locale, title, body in DEMO_CANNED:
            upsert_canned(s, locale=locale, title=title, body=body)
        for day, name in CHINA_HOLIDAYS_2027:
            when = date.fromisoformat(day)
            if s.get(SupportHoliday, when) is None:
                s.add(SupportHoliday(day=when, name=name))
        opened = 0
        if s.scalar(select(Ticket.id).limit(1)) is None:
            for requester, subject, body, category in DEMO_TICKETS:
                user = identity_users.get_user_by_email(s, requester) if requester else None
                guest_en = subject.isascii()
                tickets.do_open_ticket(
                    s,
                    tickets.NewTicket(
                        channel="web" if user else "email",
                        subject=subject,
                        body=body,
                        user=user,
                        name="" if user else ("Jordan Lee" if guest_en else "张敏"),
                        email=""
                        if user
                        else ("jordan@example.com" if guest_en else "zhangmin@example.com"),
                        category=category,
                        locale="en" if guest_en else "zh_CN",
                        acknowledge=False,
                    ),
                )
                opened += 1
    echo(
        f"service centre: {len(DEMO_AGENTS)} agents in teams, {len(DEMO_CANNED)} canned responses,"
        f" {len(CHINA_HOLIDAYS_2027)} holidays in 2027, {opened} demo tickets opened"
    )
    echo("agent console: /agent (sign in as agent@demo.okpay.example)")
