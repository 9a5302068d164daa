"""Sending to followers through the platform's customer-service message API: the access
token (fetched with the app id and secret, kept until shortly before it expires), the send
call, and the job that delivers a queued message after commit, retried on failure."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.db import get_database
from okpay.jobs import enqueue_on_commit, job
from okpay.settings import get_settings
from okpay.support.wechat.models import WechatAccessToken, WechatOutbound

log = logging.getLogger(__name__)

#: A cached token is renewed this long before the platform says it expires.
REFRESH_MARGIN = timedelta(minutes=5)
#: errcodes that mean our token is no good (invalid, expired): fetch a new one and try again.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
#: The reply window is closed (more than 48 hours since the follower's last message).
OUT_OF_WINDOW = 45015
TIMEOUT_SECONDS = 5.0
RETRIES = 5

_transport: httpx.BaseTransport | None = None
_SECRET_IN_QUERY = re.compile(r"(?i)\b(secret|access_token|appsecret)=[^&\s\"']+")


class RedactSecrets(logging.Filter):
    """httpx logs each request's URL at INFO, and the platform's URLs carry the app secret
    and the access token in their query string: log lines keep the URL, never those values."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_IN_QUERY.sub(r"\1=[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("httpx").addFilter(RedactSecrets())


def set_transport(transport: httpx.BaseTransport | None) -> None:
    """Send through ``transport`` instead of the network (tests play the platform)."""
    global _transport
    _transport = transport


class PlatformError(Exception):
    """The platform refused a call (its errcode and errmsg), or answered nonsense."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg[:150]
        super().__init__(f"wechat errcode {errcode}: {self.errmsg}")


def _call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    settings = get_settings()
    # The app secret and the token travel in the query string, as the platform requires.
    with httpx.Client(transport=_transport, timeout=TIMEOUT_SECONDS) as client:
        response = client.request(method, f"{settings.wechat_api_base}{path}", **kwargs)
    try:
        data = response.json()
    except ValueError as exc:
        raise PlatformError(-2, f"HTTP {response.status_code}, not JSON") from exc
    if not isinstance(data, dict):
        raise PlatformError(-2, "not a JSON object")
    return data


def _cached_token(app_id: str) -> WechatAccessToken | None:
    with get_database().unit_of_work(write=False) as session:
        stmt = select(WechatAccessToken).where(WechatAccessToken.app_id == app_id)
        row = session.scalar(stmt)
        if row is not None:
            session.expunge(row)
        return row


def _store_token(app_id: str, token: str, expires_at: datetime) -> None:
    with get_database().unit_of_work() as session:
        stmt = select(WechatAccessToken).where(WechatAccessToken.app_id == app_id)
        row = session.scalar(stmt)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(
                        WechatAccessToken(app_id=app_id, token=token, expires_at=expires_at)
                    )
                return
            except IntegrityError:
                row = session.scalar(stmt.execution_options(populate_existing=True))
                assert row is not None
        row.token, row.expires_at = token, expires_at


def get_access_token(*, refresh: bool = False) -> str:
    """The app's access token: the cached one unless it is about to expire (or ``refresh``),
    else a new one from the platform, cached for every process. No transaction is held
    while the platform is called."""
    settings = get_settings()
    app_id = settings.wechat_app_id
    row = _cached_token(app_id)
    now = clock.now()
    if row is not None and not refresh and row.expires_at - REFRESH_MARGIN > now:
        return row.token
    data = _call(
        "GET",
        "/cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": app_id,
            "secret": settings.wechat_app_secret,
        },
    )
    token, expires_in = data.get("access_token"), data.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int):
        raise PlatformError(int(data.get("errcode") or -1), str(data.get("errmsg") or ""))
    _store_token(app_id, token, now + timedelta(seconds=expires_in))
    return token


def send_text(*, openid: str, content: str) -> None:
    """Send ``content`` to the follower; a rejected token is refreshed and tried once more.
    PlatformError for any other errcode (45015: the window is closed), httpx errors for
    network trouble."""
    payload = {"touser": openid, "msgtype": "text", "text": {"content": content}}
    for attempt in (1, 2):
        token = get_access_token(refresh=attempt == 2)
        data = _call(
            "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=payload
        )
        code = int(data.get("errcode") or 0)
        if code == 0:
            return
        if code not in TOKEN_ERRORS or attempt == 2:
            raise PlatformError(code, str(data.get("errmsg") or ""))


def queue_text(
    session: Session, *, openid: str, content: str, message_id: int | None = None
) -> WechatOutbound:
    """Record a message for the follower and deliver it once this unit of work commits."""
    row = WechatOutbound(
        message_id=message_id, openid=openid, content=content, created_at=clock.now()
    )
    session.add(row)
    session.flush()
    enqueue_on_commit(session, deliver, row.id)
    return row


@job(retries=RETRIES, retry_delay=60)
def deliver(outbound_id: int) -> None:
    """Send a queued message; on failure record why and raise, so the queue tries again.
    The platform is called outside any transaction (it may be this very app: the sandbox)."""
    database = get_database()
    with database.unit_of_work() as session:
        row = session.get(WechatOutbound, outbound_id)
        if row is None or row.sent_at is not None:
            return  # already sent by an earlier attempt
        row.attempts += 1
        openid, content = row.openid, row.content
    failure: Exception | None = None
    try:
        send_text(openid=openid, content=content)
    except (httpx.HTTPError, PlatformError) as exc:
        failure = exc
    with database.unit_of_work() as session:
        row = session.get(WechatOutbound, outbound_id)
        assert row is not None
        if failure is None:
            row.sent_at, row.last_error = clock.now(), ""
        else:
            row.last_error = str(failure)[:200]
    if failure is not None:
        log.warning("wechat: message %s not delivered: %s", outbound_id, failure)
        if isinstance(failure, PlatformError) and failure.errcode == OUT_OF_WINDOW:
            return  # retrying cannot help: the console lists it as undelivered, offers e-mail/SMS
        raise failure


def delivery_of(session: Session, message_id: int) -> WechatOutbound | None:
    """How an agent's reply fared on its way to WeChat (None if it went another way)."""
    return session.scalar(select(WechatOutbound).where(WechatOutbound.message_id == message_id))
