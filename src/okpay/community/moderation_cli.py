"""`okpay moderation`: the community moderation queue at a glance, and barring or readmitting
a user from the shell (acting as a named staff member, audited like the console)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from okpay.core.console import console_session as _session
from okpay.identity.models import User

app = typer.Typer(help="Community moderation: the queue, bans.", no_args_is_help=True)

ActingAs = Annotated[str, typer.Option("--as", help="The staff member acting (e-mail).")]


def _user(session: Session, email: str) -> User:
    from okpay.identity import users

    user = users.get_user_by_email(session, email)
    if user is None:
        typer.echo(f"no user {email}", err=True)
        raise typer.Exit(1)
    return user


@app.command("queue")
def queue(acting_as: ActingAs) -> None:
    """How many reports, held posts, hidden posts and bans wait, and the reported posts."""
    from okpay.community import moderation_queue

    with _session(write=False) as s:
        moderator = _user(s, acting_as)
        counts = moderation_queue.counts(s, moderator=moderator)
        typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
        for row in moderation_queue.open_reports(s, moderator=moderator):
            reasons = ",".join(f"{k}:{v}" for k, v in row.reasons.items())
            typer.echo(f"post {row.post.id}\t{row.count}\t{reasons}\t{row.excerpt}")


@app.command("ban")
def ban(
    email: Annotated[str, typer.Argument(help="The user to bar from posting.")],
    reason: Annotated[str, typer.Option(help="Why (the user is shown it).")],
    acting_as: ActingAs,
    days: Annotated[int, typer.Option(min=0, max=3650, help="0: for good.")] = 0,
) -> None:
    """Bar a user from posting in the community (reading stays open)."""
    from okpay.community import moderation
    from okpay.core import clock

    with _session() as s:
        target = _user(s, email)
        until = clock.now() + timedelta(days=days) if days else None
        moderation.do_ban_user(
            s, moderator=_user(s, acting_as), user_id=target.id, reason=reason, until=until
        )
    typer.echo(f"{email} can no longer post" + (f" for {days} days" if days else ""))


@app.command("unban")
def unban(
    email: Annotated[str, typer.Argument(help="The user to readmit.")], acting_as: ActingAs
) -> None:
    """Lift a user's ban from posting."""
    from okpay.community import moderation

    with _session() as s:
        moderation.do_unban_user(s, moderator=_user(s, acting_as), user_id=_user(s, email).id)
    typer.echo(f"{email} can post again")
