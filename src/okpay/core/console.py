"""What the domains' console commands (`okpay case`, `okpay risk`) share: a unit of work
run as the console, whose refusals print in the operator's language and exit 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from okpay.core import context
from okpay.core.errors import DomainError
from okpay.db import get_database


@contextmanager
def console_session(write: bool = True) -> Iterator[Session]:
    """A unit of work for a console command: audited as the CLI; a domain refusal prints
    ``not done: code: message`` on stderr and exits with status 1."""
    context.set_current(context.RequestContext(ip=None, user_agent="okpay-cli", channel="cli"))
    try:
        with get_database().unit_of_work(write=write) as session:
            yield session
    except DomainError as err:
        typer.echo(f"not done: {err.code}: {err.translated()}", err=True)
        raise typer.Exit(1) from None
