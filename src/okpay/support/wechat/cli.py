"""`okpay support wechat`: check the Official Account's settings against the platform, and
list or send again replies the job queue gave up on."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from sqlalchemy import select

from okpay.db import get_database
from okpay.jobs import enqueue
from okpay.settings import get_settings
from okpay.support.wechat import outbound
from okpay.support.wechat.models import WechatOutbound

app = typer.Typer(help="WeChat Official Account: settings check, undelivered replies.")


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
