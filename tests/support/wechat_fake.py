"""A fake WeChat platform for tests: signed pushes to our webhook and the two API endpoints
(token, custom/send) behind an httpx transport, with switches for failures."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest

from okpay.support.wechat import messages, outbound, signature
from tests.conftest import install_settings

TOKEN = "test-wechat-token"


def signed_params(token: str = TOKEN, timestamp: int | None = None) -> dict[str, str]:
    ts, nonce = str(int(timestamp if timestamp is not None else time.time())), "n0nce"
    return {"signature": signature.sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def text_xml(openid: str, content: str, msg_id: str | None = None, at: int | None = None) -> bytes:
    return messages.build(
        messages.Incoming(
            to_user="gh_okpay", openid=openid,
            sent_at=datetime.fromtimestamp(at or time.time(), UTC),
            msg_type="text", msg_id=msg_id or str(10**17 + secrets.randbelow(10**17)),
            content=content,
        )
    )  # fmt: skip


def push(client, body: bytes, at: float | None = None, **params: str):  # type: ignore[no-untyped-def]
    """POST ``body`` signed now (or at ``at``, a test clock's time) unless ``params`` given."""
    signed = signed_params(timestamp=int(at)) if at is not None else signed_params()
    return client.post(
        "/webhooks/wechat", params=params or signed, content=body,
        headers={"Content-Type": "text/xml"},
    )  # fmt: skip


@dataclass
class FakePlatform:
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    sent: list[dict[str, object]] = field(default_factory=list)
    fail_network: int = 0  # the next N calls raise a connection error
    errcodes: list[int] = field(default_factory=list)  # errcodes for the next sends

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.fail_network:
            self.fail_network -= 1
            raise httpx.ConnectError("platform unreachable", request=request)
        if request.url.path.endswith("/cgi-bin/token"):
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self.valid_tokens.add(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": 7200})
        if request.url.path.endswith("/cgi-bin/message/custom/send"):
            if request.url.params.get("access_token") not in self.valid_tokens:
                return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
            if self.errcodes:
                return httpx.Response(200, json={"errcode": self.errcodes.pop(0), "errmsg": "x"})
            self.sent.append(json.loads(request.content))
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})
        return httpx.Response(404)

    def install(self) -> None:
        outbound.set_transport(httpx.MockTransport(self.handler))

    def texts_to(self, openid: str) -> list[str]:
        return [str(m["text"]["content"]) for m in self.sent if m["touser"] == openid]  # type: ignore[index]


@pytest.fixture
def settings(database_url, tmp_path, smtp_listener) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Settings with a WeChat token and app, the API on a made-up host (see FakePlatform)."""
    yield from install_settings(
        database_url, tmp_path, smtp_listener, wechat_token=TOKEN, wechat_app_id="wxtest",
        wechat_app_secret="secret", wechat_api_base="https://api.wechat.test",
    )  # fmt: skip


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    """The fake platform, answering OKPay's API calls for the test."""
    fake = FakePlatform()
    fake.install()
    yield fake
    outbound.set_transport(None)
