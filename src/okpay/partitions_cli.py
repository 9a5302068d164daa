"""`okpay db partitions list|ensure|adopt`: the operator's side of okpay.partitions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from okpay import partitions
from okpay.core import clock
from okpay.db import get_database


def _month(value: str) -> date:
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a month (YYYY-MM)") from None


app = typer.Typer(help="Monthly partitions of the large tables (PostgreSQL).", no_args_is_help=True)


@app.command("list")
def partitions_list() -> None:
    """Show every partition with its month range and estimated rows."""
    with get_database().engine.connect() as conn:
        found = partitions.list_partitions(conn)
    if not found:
        typer.echo("no partitioned tables (SQLite, or migrations not applied)")
    for p in found:
        typer.echo(f"{p.table:16} {p.name:28} {p.rows:>12,}  {p.bound}")


@app.command("ensure")
def partitions_ensure(
    ahead: Annotated[int, typer.Option(help="Months after this one to prepare.")] = 3,
    since: Annotated[
        str, typer.Option(help="Also prepare every month from this one (YYYY-MM).")
    ] = "",
) -> None:
    """Create the missing partitions of this month and the next AHEAD (safe to repeat)."""
    now = partitions.month_of(clock.now())
    last = partitions.add_months(now, ahead)
    first = _month(since) if since else now
    with get_database().engine.begin() as conn:
        result = partitions.ensure_range(conn, min(first, now), last)
    typer.echo(
        f"created {len(result.created)} partitions"
        + "".join(f"\n  {name}" for name in result.created)
    )
    for table, month, rows in result.blocked:
        typer.echo(
            f"blocked: {table} {month:%Y-%m} has {rows} rows in {table}_default; "
            f"move them with: okpay db partitions adopt {month:%Y-%m}",
            err=True,
        )
    if result.blocked:
        raise typer.Exit(1)


@app.command("adopt")
def partitions_adopt(
    month: Annotated[str, typer.Argument(help="The month (YYYY-MM) whose rows to move.")],
) -> None:
    """Move a month's rows out of the DEFAULT partitions into partitions of their own."""
    with get_database().engine.begin() as conn:
        made = partitions.adopt(conn, _month(month))
    typer.echo(f"created {len(made)} partitions" + "".join(f"\n  {name}" for name in made))
