"""The `okpay` command: serve, migrate, demo data, users, jobs. Each domain adds its own group."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

import okpay.models  # noqa: F401 - every table registered (foreign keys across domains)
from okpay.core import context
from okpay.partitions_cli import app as partitions_app

if TYPE_CHECKING:
    from okpay.support.inbound.listener import MailListener

app = typer.Typer(
    help="OKPay: e-wallet and service centre.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for trying OKPay out.", no_args_is_help=True)
user_app = typer.Typer(help="Create and manage users (operators).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(user_app, name="user")
db_app.add_typer(partitions_app, name="partitions")


def _domain_commands() -> None:
    from okpay.casework.cli import app as case_app
    from okpay.community.cli import app as community_app
    from okpay.community.moderation_cli import app as moderation_app
    from okpay.helpcenter.cli import kb_app, triage_app
    from okpay.risk.cli import app as risk_app
    from okpay.support.cli import app as support_app
    from okpay.support.hotline_cli import app as hotline_app
    from okpay.wallet.cli import app as wallet_app

    app.add_typer(wallet_app, name="wallet")
    app.add_typer(kb_app, name="kb")
    app.add_typer(triage_app, name="triage")
    app.add_typer(support_app, name="support")
    support_app.add_typer(hotline_app, name="hotlines")
    app.add_typer(case_app, name="case")
    app.add_typer(risk_app, name="risk")
    app.add_typer(community_app, name="community")
    app.add_typer(moderation_app, name="moderation")


_domain_commands()

DEMO_PASSWORD = "okpay-demo-2026"
DEMO_USERS = (
    ("li.wei@demo.okpay.example", "李伟", "customer", "zh_CN"),
    ("wang.fang@demo.okpay.example", "王芳", "customer", "zh_CN"),
    ("emma.clark@demo.okpay.example", "Emma Clark", "customer", "en"),
    ("agent@demo.okpay.example", "客服 小周", "agent", "zh_CN"),
    ("supervisor@demo.okpay.example", "Supervisor Chen", "supervisor", "zh_CN"),
    ("admin@demo.okpay.example", "Admin", "admin", "en"),
)

# Verified phones of the demo customers (fictional numbers), so that the second factor a
# withdrawal or a large payment asks for arrives by SMS in the dev outbox (/dev/mail).
DEMO_PHONES = {
    "li.wei@demo.okpay.example": "+8613800138001",
    "wang.fang@demo.okpay.example": "+8613900139002",
    "emma.clark@demo.okpay.example": "+14155550123",
}


def _cli_context() -> None:
    context.set_current(context.RequestContext(ip=None, user_agent="okpay-cli", channel="cli"))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the web app and API (and, by default, run background jobs in-process)."""
    import uvicorn

    from okpay.settings import get_settings

    settings = get_settings()
    typer.echo(
        f"OKPay ({settings.env}) on http://{host}:{port}"
        f"  database: {_safe_url(settings.database_url)}"
    )
    # One SMTP listener in this (parent) process, however many web workers uvicorn starts.
    listener = (
        _start_mail_listener("127.0.0.1", settings.mail_in_port) if settings.mail_in_port else None
    )
    try:
        uvicorn.run(
            "okpay.app:serve_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            proxy_headers=False,
            log_level="info",
        )
    finally:
        if listener is not None:
            listener.stop()


def _start_mail_listener(host: str, port: int, *, workers: int = 4) -> MailListener:
    from okpay.settings import get_settings
    from okpay.support.inbound.listener import start_listener

    try:
        listener = start_listener(host=host, port=port, workers=workers)
    except OSError as exc:
        typer.echo(
            f"inbound mail: cannot listen on {host}:{port} ({exc.strerror}); "
            "set OKPAY_MAIL_IN_PORT to another port, or 0 to turn it off",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(
        f"inbound mail for {get_settings().support_address} on smtp://{host}:{listener.port}"
    )
    return listener


@app.command("mail-in")
def mail_in(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="SMTP port (default: OKPAY_MAIL_IN_PORT).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Messages filed at the same time.")] = 4,
) -> None:
    """Accept e-mail to the support address over SMTP and file it as tickets (no web server)."""
    import signal
    import threading

    from okpay.settings import get_settings

    logging.basicConfig(level=logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    port = get_settings().mail_in_port if port is None else port
    listener = _start_mail_listener(host, port, workers=workers)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        listener.stop()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def worker(
    workers: Annotated[
        int | None, typer.Option(help="Worker threads (default: OKPAY_JOBS_WORKERS).")
    ] = None,
) -> None:
    """Run background jobs (e-mail, schedules) in a separate process; use with OKPAY_REDIS_URL."""
    from okpay.worker import run_worker

    logging.basicConfig(level=logging.INFO)
    run_worker(workers)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from okpay import migrate

    migrate.upgrade(revision=revision)
    typer.echo(f"database at revision {migrate.current()}")
    if revision == "head":
        from okpay.community import categories as forum_categories
        from okpay.db import get_database
        from okpay.risk import defaults as risk_defaults

        with get_database().unit_of_work() as session:
            added = risk_defaults.install(session)
            forum_added = forum_categories.do_sync(session)
        if added:
            typer.echo(f"risk rules installed: {', '.join(added)}")
        if forum_added:
            typer.echo(f"community categories added: {forum_added}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision.")]) -> None:
    """Revert migrations down to REVISION ("base" empties the database)."""
    from okpay import migrate

    migrate.downgrade(revision=revision)
    typer.echo(f"database at revision {migrate.current()}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision."""
    from okpay import migrate

    typer.echo(migrate.current() or "(empty)")


@demo_app.command("load")
def demo_load() -> None:
    """Create demo customers and staff (safe to run again) and print how to sign in."""
    from okpay.db import get_database
    from okpay.identity import operators as identity_operators
    from okpay.identity import users as identity_users
    from okpay.identity.models import Role

    _cli_context()
    created = 0
    with get_database().unit_of_work() as session:
        for email, name, role, locale in DEMO_USERS:
            if identity_users.get_user_by_email(session, email) is None:
                user = identity_operators.do_create_user(
                    session,
                    email=email,
                    password=DEMO_PASSWORD,
                    role=Role(role),
                    name=name,
                    locale=locale,
                )
                if email in DEMO_PHONES:  # step-up codes by SMS land in /dev/mail
                    user.phone = DEMO_PHONES[email]
                    user.phone_verified_at = user.created_at
                created += 1
    funded = _demo_wallets()
    from okpay.support.cli import load_demo as support_demo

    support_demo(typer.echo, DEMO_PASSWORD)
    from okpay.support.hotline_cli import load_demo as hotlines_demo

    hotlines_demo(typer.echo)
    checkout, key = _demo_checkout()
    from okpay.casework.cli import load_demo as casework_demo

    cases = casework_demo()
    from okpay.community.cli import load_demo as community_demo

    threads = community_demo()
    typer.echo(
        f"demo data: {created} users created, {len(DEMO_USERS) - created} already there;"
        f" {funded} wallets funded; {threads} community threads added"
    )
    typer.echo(f"sign in with any of these, password {DEMO_PASSWORD!r}:")
    for email, name, role, _locale in DEMO_USERS:
        typer.echo(f"  {role:<10} {email:<36} {name}")
    typer.echo("sandbox test card: 4242 4242 4242 4242, any future expiry, any CVC")
    typer.echo("verification codes (SMS) and e-mails: http://127.0.0.1:8000/dev/mail")
    if cases:
        typer.echo(f"demo cases opened: {cases} (an appeal and a double-charge dispute)")
    if key:
        typer.echo(f"demo-coffee merchant API key (shown once): {key}")
    if checkout:
        typer.echo(f"demo checkout (a payment intent of demo-coffee): {checkout}")


def _demo_checkout() -> tuple[str | None, str | None]:
    """An open payment intent of the demo merchant to try the checkout with (a new one when
    the last is paid, cancelled or expired), and an API key the first time."""
    from datetime import timedelta

    from sqlalchemy import select

    from okpay.core.ids import random_code
    from okpay.db import get_database
    from okpay.settings import get_settings
    from okpay.wallet import intents, merchants
    from okpay.wallet.models import PaymentIntent

    with get_database().unit_of_work() as session:
        merchant = merchants.find_merchant(session, "demo-coffee")
        if merchant is None:
            return None, None
        secret = None
        if not intents.list_keys(session, merchant=merchant):
            _key, secret = intents.do_create_key(
                session, merchant=merchant, label="demo", actor_user_id=None
            )
        last = session.scalar(
            select(PaymentIntent)
            .where(PaymentIntent.merchant_id == merchant.id)
            .order_by(PaymentIntent.id.desc())
            .limit(1)
        )
        if last is None or intents.status_of(last) != "open":
            last = intents.do_create_intent(
                session,
                merchant=merchant,
                api_key_id=None,
                order_id=f"A-{random_code(6)}",
                amount=32_00,
                currency="CNY",
                return_url=f"{get_settings().base_url}/wallet",
                description="Latte 拿铁",
                expires_in=timedelta(days=7),
            )
        return f"{get_settings().base_url}/pay/i/{last.token}", secret


def _demo_wallets() -> int:
    """Give demo customers a card, a bank account, balances and some history (once)."""
    from okpay.db import get_database
    from okpay.identity import users as identity_users
    from okpay.wallet import ledger, merchants, methods, topups, transfers
    from okpay.wallet.models import SystemAccount
    from okpay.wallet.providers import get_provider

    customers = [e for e, _n, role, _l in DEMO_USERS if role == "customer"]
    funded = 0
    db = get_database()
    with db.unit_of_work() as session:
        ids = {e: identity_users.get_user_by_email(session, e) for e in customers}
        for user in ids.values():
            if user is None or ledger.balances(session, user_id=user.id):
                continue
            user.verification_level = 1
            methods.do_add_card(
                session,
                user_id=user.id,
                token=get_provider().tokenize_card("4242424242424242", 12, 2030, "123"),
                holder_name=user.name,
            )
            methods.do_add_bank_account(
                session,
                user_id=user.id,
                provider_token="ba_sbx_demo",
                account_number="6222020200112233445",
                bank_name="ICBC",
                holder_name=user.name,
            )
            for amount, currency in ((5_000_00, "CNY"), (300_00, "USD")):
                op = topups.do_begin_bank_topup(
                    session, user_id=user.id, amount=amount, currency=currency
                )
                topups.do_complete_topup(
                    session,
                    operation_id=op.id,
                    external_ref="demo",
                    clearing=SystemAccount.bank_clearing,
                )
            funded += 1
    with db.unit_of_work() as session:
        admin = identity_users.get_user_by_email(session, "admin@demo.okpay.example")
        if admin is not None and not merchants.find_merchant(session, "demo-coffee"):
            merchants.do_create_merchant(
                session, code="demo-coffee", name="Demo Coffee 演示咖啡店", owner_user_id=admin.id
            )
    if funded:
        with db.unit_of_work() as session:
            pairs = [
                (customers[0], customers[1], 88_00, "午饭 AA"),
                (customers[1], customers[0], 20_00, "咖啡"),
                (customers[2], customers[0], 150_00, "Concert ticket"),
            ]
            for sender, recipient, amount, note in pairs:
                sender_user = ids[sender]
                if sender_user is not None:
                    transfers.do_transfer(
                        session,
                        sender_id=sender_user.id,
                        recipient=recipient,
                        amount=amount,
                        currency="CNY",
                        note=note,
                    )
    return funded


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="E-mail address (the sign-in name).")],
    role: Annotated[str, typer.Option(help="customer, agent, supervisor or admin.")] = "customer",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    locale: Annotated[str, typer.Option(help="zh_CN or en.")] = "zh_CN",
    password: Annotated[
        str | None, typer.Option(help="Initial password; asked for (hidden) when omitted.")
    ] = None,
) -> None:
    """Create a verified user with a role."""
    from okpay.core.errors import DomainError
    from okpay.db import get_database
    from okpay.identity import operators as identity_operators
    from okpay.identity.models import Role

    try:
        role_value = Role(role)
    except ValueError:
        typer.echo(f"unknown role {role!r}: use customer, agent, supervisor or admin", err=True)
        raise typer.Exit(2) from None
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    _cli_context()
    try:
        with get_database().unit_of_work() as session:
            user = identity_operators.do_create_user(
                session, email=email, password=password, role=role_value, name=name, locale=locale
            )
            typer.echo(f"created user {user.id} <{user.email}> as {user.role}")
    except DomainError as err:
        typer.echo(f"not created: {err.code}: {err.translated()}", err=True)
        raise typer.Exit(1) from None


@user_app.command("set-role")
def user_set_role(
    email: Annotated[str, typer.Argument()], role: Annotated[str, typer.Argument()]
) -> None:
    """Change a user's role (audited)."""
    from okpay.db import get_database
    from okpay.identity import operators as identity_operators
    from okpay.identity import users as identity_users
    from okpay.identity.models import Role

    _cli_context()
    with get_database().unit_of_work() as session:
        user = identity_users.get_user_by_email(session, email)
        if user is None:
            typer.echo(f"no user {email}", err=True)
            raise typer.Exit(1)
        try:
            role_value = Role(role)
        except ValueError:
            typer.echo(f"unknown role {role!r}: use customer, agent, supervisor or admin", err=True)
            raise typer.Exit(2) from None
        identity_operators.do_set_role(session, user_id=user.id, role=role_value)
    typer.echo(f"{email} is now {role}")


@user_app.command("show")
def user_show(email: Annotated[str, typer.Argument()]) -> None:
    """Show a user's status and recent security events."""
    from okpay.core.audit import events_for_user
    from okpay.db import get_database
    from okpay.identity import users as identity_users

    with get_database().unit_of_work(write=False) as session:
        user = identity_users.get_user_by_email(session, email)
        if user is None:
            typer.echo(f"no user {email}", err=True)
            raise typer.Exit(1)
        typer.echo(
            f"{user.id} <{user.email}> role={user.role} status={user.status}"
            f" reason={user.status_reason or '-'} 2fa={'on' if user.totp_enabled else 'off'}"
            f" verified={'yes' if user.email_verified_at else 'no'}"
        )
        for ev in events_for_user(session, user.id, limit=20):
            typer.echo(f"  {ev.at:%Y-%m-%d %H:%M:%S} {ev.action:<24} {ev.ip or '-':<15} {ev.data}")


def main() -> None:
    app(prog_name="okpay")


if __name__ == "__main__":
    main()
