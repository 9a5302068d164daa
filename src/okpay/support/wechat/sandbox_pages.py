"""The dev sandbox at /dev/sandbox/wechat (mounted only when OKPAY_ENV=dev) plays the WeChat
platform: a page sends signed messages as a chosen follower to our webhook, and the two API
endpoints OKPay calls (token, custom/send) live under its own base URL, recording what the
Official Account sends back, so the page shows both sides of the chat."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import func, select
from starlette.responses import JSONResponse, RedirectResponse, Response

from okpay.core import clock
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.db import get_database
from okpay.settings import get_settings
from okpay.support.wechat import messages, signature, webhook, window
from okpay.support.wechat.models import WechatSandboxLine
from okpay.web.deps import csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

dev = APIRouter(prefix="/dev/sandbox/wechat", include_in_schema=False)
pages = APIRouter(
    prefix="/dev/sandbox/wechat", include_in_schema=False, dependencies=[Depends(csrf_protect)]
)
DEFAULT_OPENID = "oSandboxFollower0001"
OpenId = Annotated[str, Form(max_length=64, pattern=r"^[A-Za-z0-9_-]{1,64}$")]
TOKEN_SECONDS = 7200


def _lines(openid: str) -> tuple[list[WechatSandboxLine], list[str]]:
    with get_database().unit_of_work(write=False) as session:
        stmt = select(WechatSandboxLine).where(WechatSandboxLine.openid == openid)
        rows = list(session.scalars(stmt.order_by(WechatSandboxLine.id).limit(200)))
        followers = list(session.scalars(select(WechatSandboxLine.openid).distinct().limit(20)))
        session.expunge_all()
    return rows, followers


def _record(openid: str, side: str, msg_type: str, body: str) -> None:
    with get_database().unit_of_work() as session:
        session.add(
            WechatSandboxLine(
                openid=openid, side=side, msg_type=msg_type, body=body, created_at=clock.now()
            )
        )


@pages.get("")
def sandbox_page(
    request: Request, openid: Annotated[str, Query(max_length=64)] = DEFAULT_OPENID
) -> Response:
    lines, known = _lines(openid)
    return render(
        request, "support/wechat_sandbox.html", openid=openid, lines=lines,
        followers=sorted({*known, DEFAULT_OPENID}),
    )  # fmt: skip


@pages.post("/send")
def send(
    request: Request,
    openid: OpenId,
    msg_type: Annotated[str, Form(pattern="^(text|image)$")] = "text",
    content: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Push a follower's message to our webhook, signed with our token, as the platform would."""
    settings = get_settings()
    text = content.strip()
    back = RedirectResponse(f"/dev/sandbox/wechat?openid={quote(openid)}", status_code=303)
    if msg_type == "text" and not text:
        flash(request, gettext("Write a message first."), "error")
        return back
    incoming = messages.Incoming(
        to_user="gh_okpay_sandbox", openid=openid, sent_at=clock.now(), msg_type=msg_type,
        msg_id=str(secrets.randbelow(10**18) + 10**18), content=text,
        pic_url="https://sandbox.invalid/images/example.png" if msg_type == "image" else "",
        media_id=secrets.token_hex(16) if msg_type == "image" else "",
    )  # fmt: skip
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    # The follower's line first: the Official Account's answer (a binding notice) may be
    # recorded while the push is being filed.
    _record(openid, "follower", msg_type, text if msg_type == "text" else incoming.pic_url)
    try:
        signature.check_signature(
            token=settings.wechat_token,
            signature=signature.sign(settings.wechat_token, timestamp, nonce),
            timestamp=timestamp,
            nonce=nonce,
        )
        webhook.accept(messages.build(incoming))
    except DomainError as err:
        flash(request, err.translated(), "error")
    return back


# ------------------------------------------------------------- the platform's API (sandbox)


def _token_for(app_id: str, expires: int) -> str:
    key = get_settings().secret_key.encode()
    mac = hmac.new(key, f"wechat-sandbox:{app_id}:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def _token_valid(token: str) -> bool:
    expires, _, _mac = token.partition(".")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    return hmac.compare_digest(_token_for(get_settings().wechat_app_id, int(expires)), token)


@dev.get("/cgi-bin/token")
def token(
    grant_type: Annotated[str, Query(max_length=40)] = "",
    appid: Annotated[str, Query(max_length=64)] = "",
    secret: Annotated[str, Query(max_length=128)] = "",
) -> JSONResponse:
    settings = get_settings()
    if grant_type != "client_credential":
        return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
    ok_id = hmac.compare_digest(appid, settings.wechat_app_id)
    if not ok_id or not hmac.compare_digest(secret, settings.wechat_app_secret):
        return JSONResponse({"errcode": 40125, "errmsg": "invalid appsecret"})
    expires = int(time.time()) + TOKEN_SECONDS
    return JSONResponse({"access_token": _token_for(appid, expires), "expires_in": TOKEN_SECONDS})


@dev.post("/cgi-bin/message/custom/send")
async def custom_send(
    request: Request, access_token: Annotated[str, Query(max_length=200)] = ""
) -> JSONResponse:
    if not _token_valid(access_token):
        return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
    try:
        payload: Any = await request.json()
        openid = str(payload["touser"])[:64]
        content = str(payload["text"]["content"])
        if payload.get("msgtype") != "text" or not openid or not content:
            raise ValueError("not a text message")
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"errcode": 44002, "errmsg": "invalid message"})
    with get_database().unit_of_work() as session:
        stmt = select(func.max(WechatSandboxLine.created_at)).where(
            WechatSandboxLine.openid == openid, WechatSandboxLine.side == "follower"
        )
        last = session.scalar(stmt)
        if last is None or clock.now() - last > window.WINDOW:
            return JSONResponse({"errcode": 45015, "errmsg": "response out of time limit"})
        session.add(
            WechatSandboxLine(
                openid=openid, side="account", msg_type="text", body=content[:4000],
                created_at=clock.now(),
            )
        )  # fmt: skip
    return JSONResponse({"errcode": 0, "errmsg": "ok"})
