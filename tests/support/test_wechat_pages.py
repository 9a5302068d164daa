"""WeChat pages: the binding page and API, the console's WeChat block and SMS, and the dev
sandbox's platform endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from okpay.identity import operators
from okpay.identity.models import Role, User
from okpay.mail.models import OutboundSms
from okpay.support.models import Ticket, TicketMessage
from okpay.support.wechat.models import WechatBindCode, WechatSandboxLine
from tests.conftest import install_settings
from tests.helpers import PASSWORD, api_token, page_csrf, post_form
from tests.support import wechat_fake
from tests.support.helpers import make_staff
from tests.support.wechat_fake import push, text_xml

settings = wechat_fake.settings  # the WeChat settings and fake platform fixtures
platform = wechat_fake.platform
OPENID = "oFollowerCCCC9999"
CUSTOMER = "zhao@example.com"


def _customer(db, phone: str | None = None) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        user = operators.do_create_user(s, email=CUSTOMER, password=PASSWORD, role=Role.customer)
        if phone:
            user.phone, user.phone_verified_at = phone, user.created_at
        return user.id


def _sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


def _codes(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(WechatBindCode)) or 0)


def test_bind_page_needs_sign_in_and_csrf(client, db) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/account/wechat", follow_redirects=False).status_code in (303, 401)
    assert client.post("/account/wechat/code", follow_redirects=False).status_code in (
        303,
        401,
        403,
    )
    _customer(db)
    _sign_in(client, CUSTOMER)
    forged = client.post("/account/wechat/code", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and _codes(db) == 0
    page = post_form(client, "/account/wechat/code", {}, from_page="/account/wechat")
    assert page.status_code == 200 and 'data-testid="wechat-code"' in page.text
    assert _codes(db) == 1


def test_bind_code_api_and_its_throttle(client, db) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/support/wechat/bind-code").status_code == 401
    _customer(db)
    headers = api_token(client, CUSTOMER)
    for _ in range(5):
        made = client.post("/api/v1/support/wechat/bind-code", headers=headers)
        assert made.status_code == 201 and len(made.json()["code"]) == 9
    refused = client.post("/api/v1/support/wechat/bind-code", headers=headers)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert _codes(db) == 5


def test_console_shows_follower_window_and_bound_account(client, db, platform, clock) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "hi"), at=clock.now.timestamp())
    make_staff(db, "agent@okpay.example")
    _sign_in(client, "agent@okpay.example")
    with db.unit_of_work(write=False) as s:
        number = s.scalar(select(Ticket.number))
    page = client.get(f"/agent/tickets/{number}")
    assert 'data-testid="wechat-panel"' in page.text
    assert "oFol…9999" in page.text and OPENID not in page.text
    assert "47 h 59 min" in page.text or "48 h 0 min" in page.text
    clock.advance(hours=49)
    page = client.get(f"/agent/tickets/{number}")
    assert "Window closed" in page.text
    token = page_csrf(client, f"/agent/tickets/{number}")
    refused = client.post(
        f"/agent/tickets/{number}/reply", data={"body": "late", "csrf_token": token}
    )
    assert refused.status_code == 409 and "48 hours" in refused.text
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(TicketMessage)) == 1


def test_sms_after_the_window_to_a_bound_verified_phone(client, db, platform, clock) -> None:  # type: ignore[no-untyped-def]
    customer = _customer(db, phone="+8613800138000")
    push(client, text_xml(OPENID, "hi"), at=clock.now.timestamp())
    make_staff(db, "agent@okpay.example")
    _sign_in(client, "agent@okpay.example")
    with db.unit_of_work(write=False) as s:
        number = s.scalar(select(Ticket.number))
    path = f"/agent/tickets/{number}/wechat/sms"
    token = page_csrf(client, f"/agent/tickets/{number}")
    unbound = client.post(path, data={"body": "hello", "csrf_token": token})
    assert unbound.status_code == 422 and "verified phone" in unbound.text
    from okpay.support.wechat import binding, followers

    with db.unit_of_work() as s:
        code = binding.do_issue_code(s, user=s.get(User, customer)).code
        follower = followers.lock_follower(s, OPENID, clock.now)
        assert binding.do_claim(s, follower=follower, code=code).result == "bound"
    clock.advance(hours=49)
    page = client.get(f"/agent/tickets/{number}")
    assert 'data-testid="wechat-sms-send"' in page.text
    too_long = client.post(path, data={"body": "x" * 301, "csrf_token": token})
    assert too_long.status_code == 422
    sent = client.post(path, data={"body": "您的提现已到账", "csrf_token": token})
    assert sent.status_code == 200 and "Your text message was sent." in sent.text
    with db.unit_of_work(write=False) as s:
        sms = s.scalar(select(OutboundSms))
        assert (
            sms is not None and sms.to_number == "+8613800138000" and "您的提现已到账" in sms.body
        )


def test_customer_cannot_use_the_console_sms(client, db, platform, clock) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "hi"), at=clock.now.timestamp())
    _customer(db, phone="+8613800138000")
    _sign_in(client, CUSTOMER)
    with db.unit_of_work(write=False) as s:
        number = s.scalar(select(Ticket.number))
    token = page_csrf(client, "/account")
    response = client.post(
        f"/agent/tickets/{number}/wechat/sms", data={"body": "x", "csrf_token": token}
    )
    assert response.status_code in (403, 404)
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(OutboundSms)) is None


def test_sandbox_is_only_mounted_in_dev(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/dev/sandbox/wechat").status_code == 404
    assert client.get("/dev/sandbox/wechat/cgi-bin/token").status_code == 404


@pytest.fixture
def dev_client(database_url, tmp_path, smtp_listener, db) -> Iterator[object]:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from okpay.app import create_app

    for dev_settings in install_settings(
        database_url, tmp_path, smtp_listener, env="dev", base_url="http://testserver"
    ):
        with TestClient(create_app(dev_settings), headers={"Accept-Language": "en"}) as c:
            yield c


def test_sandbox_platform_endpoints(dev_client, db) -> None:  # type: ignore[no-untyped-def]
    c = dev_client
    bad = c.get("/dev/sandbox/wechat/cgi-bin/token", params={"grant_type": "client_credential",
                "appid": "wx-okpay-sandbox", "secret": "wrong"})  # fmt: skip
    assert bad.json()["errcode"] == 40125
    good = c.get("/dev/sandbox/wechat/cgi-bin/token", params={"grant_type": "client_credential",
                 "appid": "wx-okpay-sandbox", "secret": "okpay-sandbox-secret"})  # fmt: skip
    token = good.json()["access_token"]
    send = "/dev/sandbox/wechat/cgi-bin/message/custom/send"
    msg = {"touser": OPENID, "msgtype": "text", "text": {"content": "hi"}}
    assert c.post(send, params={"access_token": "nope"}, json=msg).json()["errcode"] == 40001
    # The follower never wrote: out of the window.
    assert c.post(send, params={"access_token": token}, json=msg).json()["errcode"] == 45015
    garbled = c.post(send, params={"access_token": token}, content=b"{not json")
    assert garbled.json()["errcode"] == 44002
    # The sandbox page sends a signed message as the follower; then the reply is accepted.
    page = c.get("/dev/sandbox/wechat")
    form = {"openid": OPENID, "msg_type": "text", "content": "我要人工客服",
            "csrf_token": page_csrf(c, "/dev/sandbox/wechat")}  # fmt: skip
    assert c.post("/dev/sandbox/wechat/send", data=form, follow_redirects=False).status_code == 303
    assert page.status_code == 200
    assert c.post(send, params={"access_token": token}, json=msg).json()["errcode"] == 0
    with db.unit_of_work(write=False) as s:
        sides = list(s.scalars(select(WechatSandboxLine.side).order_by(WechatSandboxLine.id)))
        assert sides == ["follower", "account"]
        ticket = s.scalar(select(Ticket))
        assert ticket is not None and ticket.channel == "wechat"
    image = {
        **form,
        "msg_type": "image",
        "content": "",
        "csrf_token": page_csrf(c, "/dev/sandbox/wechat"),
    }
    assert c.post("/dev/sandbox/wechat/send", data=image, follow_redirects=False).status_code == 303
    with db.unit_of_work(write=False) as s:
        last = s.scalar(select(TicketMessage).order_by(TicketMessage.id.desc()).limit(1))
        assert last is not None and "MediaId" in last.body and "sandbox.invalid" in last.body
    bad_openid = {**form, "openid": "<script>"}
    assert c.post("/dev/sandbox/wechat/send", data=bad_openid).status_code == 422
