"""`okpay wallet …`: what an operator needs without the web console."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session

from okpay.core.money import to_decimal_string

if TYPE_CHECKING:
    from okpay.wallet.models import Merchant

app = typer.Typer(help="Wallet operations for operators (audited).", no_args_is_help=True)


def _user_id(session: Session, email: str) -> int:
    from okpay.identity import users as identity_users

    user = identity_users.get_user_by_email(session, email)
    if user is None:
        typer.echo(f"no user {email}", err=True)
        raise typer.Exit(1)
    return user.id


@contextmanager
def _operator_action() -> Iterator[Session]:
    """A unit of work on behalf of the operator at the console (audited as channel "cli");
    a refusal prints its code and message and exits with status 1, nothing written."""
    from okpay.core import context
    from okpay.core.errors import DomainError
    from okpay.db import get_database

    context.set_current(context.RequestContext(ip=None, user_agent="okpay-cli", channel="cli"))
    try:
        with get_database().unit_of_work() as session:
            yield session
    except DomainError as err:
        typer.echo(f"not done: {err.code}: {err.translated()}", err=True)
        raise typer.Exit(1) from None


@app.command()
def show(email: Annotated[str, typer.Argument(help="The customer's e-mail address.")]) -> None:
    """Balances, status, restrictions and the latest operations of a customer."""
    from okpay.db import get_database
    from okpay.wallet import history, ledger, standing

    with get_database().unit_of_work(write=False) as session:
        uid = _user_id(session, email)
        s = standing.standing(session, uid)
        typer.echo(
            f"{email}: status={s.status} level={s.verification_level}"
            f" reason={s.status_reason or '-'}"
        )
        for action, reason in s.blocked.items():
            typer.echo(f"  blocked {action}: {reason}")
        for a in ledger.balances(session, user_id=uid):
            typer.echo(
                f"  {a.currency} balance {to_decimal_string(a.balance, a.currency)}"
                f" held {to_decimal_string(a.held, a.currency)}"
            )
        for row in history.history(session, user_id=uid, filters=history.HistoryFilter(), limit=10):
            typer.echo(
                f"  {row.created_at:%Y-%m-%d %H:%M} {row.reference} {row.type:<10} {row.status:<9}"
                f" {to_decimal_string(row.amount, row.currency):>12} {row.currency}"
            )


@app.command()
def restrict(
    email: Annotated[str, typer.Argument()],
    block: Annotated[list[str], typer.Option(help="topup, withdraw, transfer or pay (repeat).")],
    reason: Annotated[str, typer.Option(help="Shown to the customer.")],
) -> None:
    """Block some operations (compliance), with a reason the customer sees."""
    from okpay.wallet import standing

    with _operator_action() as session:
        standing.do_restrict(
            session,
            user_id=_user_id(session, email),
            blocked=block,
            reason=reason,
            actor_user_id=None,
        )
    typer.echo(f"{email}: restricted ({', '.join(block)})")


@app.command()
def freeze(
    email: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Shown to the customer.")],
) -> None:
    """Freeze an account (fraud): nothing leaves it until released."""
    from okpay.wallet import standing

    with _operator_action() as session:
        standing.do_freeze(
            session, user_id=_user_id(session, email), reason=reason, actor_user_id=None
        )
    typer.echo(f"{email}: frozen")


@app.command()
def release(
    email: Annotated[str, typer.Argument()],
    note: Annotated[str, typer.Option(help="Why (audit log).")] = "",
) -> None:
    """Lift a freeze and every restriction."""
    from okpay.wallet import standing

    with _operator_action() as session:
        standing.do_release(
            session, user_id=_user_id(session, email), actor_user_id=None, note=note
        )
    typer.echo(f"{email}: active")


@app.command("merchant-create")
def merchant_create(
    code: Annotated[str, typer.Argument(help="Short code that names the merchant.")],
    name: Annotated[str, typer.Option(help="Name customers see.")],
    owner: Annotated[
        str | None, typer.Option(help="E-mail of the user who manages keys and refunds.")
    ] = None,
    return_host: Annotated[
        list[str] | None,
        typer.Option(help="A host return URLs may point at (repeat; default: any https host)."),
    ] = None,
) -> None:
    """Create a merchant customers can pay (through payment intents its server creates)."""
    from okpay.wallet import intents, merchants

    with _operator_action() as session:
        owner_id = _user_id(session, owner) if owner else None
        merchant = merchants.do_create_merchant(
            session, code=code, name=name, owner_user_id=owner_id
        )
        if return_host:
            intents.do_set_return_hosts(
                session, merchant=merchant, hosts=return_host, actor_user_id=None
            )
    typer.echo(
        f"merchant {code} created; give its server an API key:"
        f" okpay wallet merchant-key-create {code}"
    )


def _merchant(session: Session, code: str) -> Merchant:
    from okpay.wallet import merchants

    merchant = merchants.find_merchant(session, code)
    if merchant is None:
        typer.echo(f"no merchant {code}", err=True)
        raise typer.Exit(1)
    return merchant


@app.command("merchant-return-hosts")
def merchant_return_hosts(
    code: Annotated[str, typer.Argument()],
    host: Annotated[
        list[str] | None, typer.Option(help="Allowed host (repeat); none: any https host.")
    ] = None,
) -> None:
    """Set the hosts a merchant's return URLs may point at."""
    from okpay.wallet import intents

    with _operator_action() as session:
        merchant = _merchant(session, code)
        intents.do_set_return_hosts(
            session, merchant=merchant, hosts=host or [], actor_user_id=None
        )
        hosts = list(merchant.return_hosts or [])
    typer.echo(f"{code}: return hosts {', '.join(hosts) or 'any https host'}")


@app.command("merchant-keys")
def merchant_keys(code: Annotated[str, typer.Argument()]) -> None:
    """List a merchant's API keys (prefixes only; the keys themselves are never stored)."""
    from okpay.wallet import intents

    with _operator_action() as session:
        for key in intents.list_keys(session, merchant=_merchant(session, code)):
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            typer.echo(f"  {key.id:>5} {key.prefix}…  {state:<24} {key.label}")


@app.command("merchant-key-create")
def merchant_key_create(
    code: Annotated[str, typer.Argument()],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key for a merchant's server. It is printed once: store it."""
    from okpay.wallet import intents

    with _operator_action() as session:
        key, secret = intents.do_create_key(
            session, merchant=_merchant(session, code), label=label, actor_user_id=None
        )
        key_id = key.id
    typer.echo(f"key {key_id} for {code} (shown once, store it now):\n{secret}")


@app.command("merchant-key-rotate")
def merchant_key_rotate(
    code: Annotated[str, typer.Argument()], key_id: Annotated[int, typer.Argument()]
) -> None:
    """Revoke a key and print its replacement (once)."""
    from okpay.wallet import intents

    with _operator_action() as session:
        key, secret = intents.do_rotate_key(
            session, merchant=_merchant(session, code), key_id=key_id, actor_user_id=None
        )
        new_id = key.id
    typer.echo(f"key {key_id} revoked; new key {new_id} (shown once, store it now):\n{secret}")


@app.command("merchant-key-revoke")
def merchant_key_revoke(
    code: Annotated[str, typer.Argument()], key_id: Annotated[int, typer.Argument()]
) -> None:
    """Revoke a key at once."""
    from okpay.wallet import intents

    with _operator_action() as session:
        intents.do_revoke_key(
            session, merchant=_merchant(session, code), key_id=key_id, actor_user_id=None
        )
    typer.echo(f"key {key_id} of {code} revoked")


@app.command()
def refund(
    reference: Annotated[str, typer.Argument(help="The payment's transaction reference.")],
    amount: Annotated[
        str | None, typer.Option(help="Decimal amount; omit for all that is left.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Shown to the customer.")] = "",
) -> None:
    """Refund a merchant payment (staff), audited."""
    from okpay.core.money import parse_amount
    from okpay.wallet import merchants, provider_events

    with _operator_action() as session:
        payment = provider_events.find_by_reference(session, reference)
        minor = parse_amount(amount, payment.currency) if (amount and payment) else None
        result = merchants.do_refund(
            session, payment_reference=reference, amount=minor, actor_user_id=None, reason=reason
        )
    typer.echo(
        f"refund {result.reference}: "
        f"{to_decimal_string(result.amount, result.currency)} {result.currency}"
    )


@app.command("set-limit")
def set_limit(
    email: Annotated[str, typer.Argument()],
    operation: Annotated[str, typer.Option(help="topup, withdrawal, transfer or payment.")],
    reason: Annotated[str, typer.Option(help="Why (the customer sees it).")],
    per_transaction: Annotated[str | None, typer.Option(help="CNY.")] = None,
    daily: Annotated[str | None, typer.Option(help="CNY.")] = None,
    monthly: Annotated[str | None, typer.Option(help="CNY.")] = None,
    days: Annotated[
        int | None, typer.Option(help="Valid for this many days (default: no expiry).")
    ] = None,
) -> None:
    """Raise (or lower) one customer's limits after a review; audited."""
    from okpay.core.money import parse_amount
    from okpay.wallet import overrides

    def cny(value: str | None) -> int | None:
        return parse_amount(value, "CNY") if value else None

    with _operator_action() as session:
        overrides.do_grant_limit_override(
            session,
            user_id=_user_id(session, email),
            op_type=operation,
            reason=reason,
            actor_user_id=None,
            days=days,
            per_transaction=cny(per_transaction),
            daily=cny(daily),
            monthly=cny(monthly),
        )
    typer.echo(f"{email}: {operation} limits updated")


@app.command("prune-idempotency-keys")
def prune_idempotency_keys() -> None:
    """Forget Idempotency-Keys older than OKPAY_IDEMPOTENCY_KEY_HOURS now (the worker does
    it every minute; this is for a deployment without one)."""
    from okpay.wallet import tasks

    total = 0
    while removed := tasks.prune_idempotency_keys():
        total += removed
    typer.echo(f"idempotency keys pruned: {total}")


reconciliation_app = typer.Typer(
    help="Provider events that did not match the ledger (reconciliation exceptions).",
    no_args_is_help=True,
)
app.add_typer(reconciliation_app, name="reconciliation")


@reconciliation_app.command("list")
def reconciliation_list(
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Exceptions, newest first: number, problem, references, amounts, status."""
    from okpay.db import get_database
    from okpay.wallet import reconciliation

    with get_database().unit_of_work(write=False) as session:
        try:
            rows, _next = reconciliation.list_exceptions(session, status=status, limit=limit)
        except reconciliation.StatusInvalid as err:
            typer.echo(f"not done: {err.code}: {err.translated()}", err=True)
            raise typer.Exit(1) from None
        refs = reconciliation.operation_references(session, rows)
        for row in rows:
            out = reconciliation.exception_out(row, refs.get(row.operation_id or 0))
            typer.echo(
                f"#{out.id} {out.status:<8} {out.created_at:%Y-%m-%d %H:%M} {out.kind}"
                f" event={out.event_type} operation={out.operation_reference or '-'}"
                f" provider_ref={out.external_ref or '-'}"
                f" ours={out.expected_amount or '-'} {out.expected_currency or ''}"
                f" theirs={out.event_amount or '-'} {out.event_currency or ''}".rstrip()
            )
        typer.echo(f"{reconciliation.open_count(session)} open")


@reconciliation_app.command("resolve")
def reconciliation_resolve(
    exception_id: Annotated[int, typer.Argument(help="The exception's number.", min=1)],
    note: Annotated[str, typer.Option(help="What was decided and done (audit log).")],
) -> None:
    """Close an exception with a note; money moves for it only through a reviewed proposal."""
    from okpay.wallet import reconciliation

    with _operator_action() as session:
        row = reconciliation.do_resolve(
            session, exception_id=exception_id, note=note, actor_user_id=None
        )
    typer.echo(f"#{row.id}: resolved")
