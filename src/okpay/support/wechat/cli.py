"""`okpay support wechat`: check the Official Account's settings against the platform, list
or send again replies the job queue gave up on, and file again messages it could not file."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from sqlalchemy import select

from okpay.db import get_database
from okpay.jobs import enqueue
from okpay.settings import get_settings
from okpay.support.wechat import inbound, outbound
from okpay.support.wechat.models import WechatInbound, WechatOutbound

app = typer.Typer(
    help="WeChat Official Account: settings check, undelivered replies, unfiled messages."
)


@app.command("check")
def check() -> None:
    """Fetch an access token with the configured app id and secret (exit 1 if refused)."""
    settings = get_settings()
    if not settings.wechat_token:
        typer.echo("OKPAY_WECHAT_TOKEN is not set: the webhook refuses every push", err=True)
        raise typer.Exit(1)
    try:
        outbound.get_access_token(refresh=True)
    except (httpx.HTTPError, outbound.PlatformError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"ok: {settings.wechat_api_base} gave an access token for {settings.wechat_app_id}")


@app.command("pending")
def pending(
    resend: Annotated[bool, typer.Option(help="Queue each of them again.")] = False,
) -> None:
    """Replies not yet accepted by the platform, oldest first (with --resend: queue again)."""
    with get_database().unit_of_work(write=False) as session:
        stmt = select(WechatOutbound).where(WechatOutbound.sent_at.is_(None))
        rows = list(session.scalars(stmt.order_by(WechatOutbound.id).limit(500)))
        for row in rows:
            typer.echo(
                f"{row.id}\t{row.created_at:%Y-%m-%d %H:%M}\t{row.attempts}\t{row.last_error}"
            )
        ids = [row.id for row in rows]
    if resend:
        for outbound_id in ids:
            enqueue(outbound.deliver, outbound_id)
        typer.echo(f"queued {len(ids)}")


@app.command("unfiled")
def unfiled(
    refile: Annotated[bool, typer.Option(help="Queue each of them to be filed again.")] = False,
) -> None:
    """Followers' messages stored but not yet filed on a ticket (their filing job gave up),
    oldest first; with --refile, queue them again (a message is filed once however often)."""
    with get_database().unit_of_work(write=False) as session:
        stmt = select(WechatInbound).where(WechatInbound.processed_at.is_(None))
        rows = list(session.scalars(stmt.order_by(WechatInbound.id).limit(500)))
        for row in rows:
            typer.echo(f"{row.id}\t{row.received_at:%Y-%m-%d %H:%M}\t{row.msg_type}\t{row.msg_id}")
        ids = [row.id for row in rows]
    if refile:
        for inbound_id in ids:
            enqueue(inbound.file_incoming, inbound_id)
        typer.echo(f"queued {len(ids)}")
