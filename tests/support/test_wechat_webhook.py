"""The WeChat webhook: URL check, signatures, bad input, duplicates, and filing into tickets."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from okpay.support.models import Ticket, TicketMessage
from okpay.support.wechat.models import WechatFollower, WechatInbound
from tests.support import wechat_fake
from tests.support.wechat_fake import push, signed_params, text_xml

settings = wechat_fake.settings  # the WeChat settings and fake platform fixtures
platform = wechat_fake.platform
OPENID = "oFollowerAAAA1234"


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_url_check_echoes_echostr_only_when_signed(client) -> None:  # type: ignore[no-untyped-def]
    ok = client.get("/webhooks/wechat", params={**signed_params(), "echostr": "abc123"})
    assert ok.status_code == 200 and ok.text == "abc123"
    wrong = client.get(
        "/webhooks/wechat", params={**signed_params("other"), "echostr": "zz-echo-zz"}
    )
    assert wrong.status_code == 403 and "wechat_signature_invalid" in wrong.text
    assert client.get("/webhooks/wechat", params={"echostr": "x"}).status_code == 403


def test_text_message_becomes_a_ticket_and_later_ones_join_it(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    first = push(client, text_xml(OPENID, "我的充值没有到账"))
    assert first.status_code == 200 and first.text == "success"
    assert push(client, text_xml(OPENID, "订单号 123")).text == "success"
    with db.unit_of_work(write=False) as s:
        tickets = list(s.scalars(select(Ticket)))
        assert len(tickets) == 1 and tickets[0].channel == "wechat"
        assert tickets[0].subject == "我的充值没有到账"
        bodies = [m.body for m in s.scalars(select(TicketMessage).order_by(TicketMessage.id))]
        assert bodies == ["我的充值没有到账", "订单号 123"]
        follower = s.scalar(select(WechatFollower))
        assert follower is not None and follower.ticket_id == tickets[0].id


def test_image_message_is_kept_as_a_note_with_its_url(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from okpay.support.wechat import messages

    body = messages.build(
        messages.Incoming(
            to_user="gh", openid=OPENID, sent_at=datetime.now(UTC), msg_type="image",
            msg_id="12345678901", pic_url="http://mmbiz.example/pic.jpg", media_id="MEDIA1",
        )
    )  # fmt: skip
    assert push(client, body).text == "success"
    with db.unit_of_work(write=False) as s:
        message = s.scalar(select(TicketMessage))
        assert message is not None
        assert "http://mmbiz.example/pic.jpg" in message.body and "MEDIA1" in message.body


def test_duplicate_msgid_is_answered_once(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    body = text_xml(OPENID, "hello", msg_id="5555555555")
    assert push(client, body).text == "success"
    assert push(client, body).text == "success"
    assert count(db, WechatInbound) == 1
    assert count(db, TicketMessage) == 1


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "n"},
        signed_params("wrong-token"),
        signed_params(timestamp=int(time.time()) - 3600),  # stale
        signed_params(timestamp=int(time.time()) + 3600),  # from the future
        {**signed_params(), "timestamp": "abc"},
    ],
)
def test_unsigned_wrong_or_stale_pushes_are_refused_with_nothing_stored(client, db, params) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/webhooks/wechat", params=params, content=text_xml(OPENID, "hi"))
    assert response.status_code == 403
    assert count(db, WechatInbound) == 0 and count(db, Ticket) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<xml><ToUserName>", 400),
        (b"not xml at all", 400),
        (b"", 400),
        (b"\xff\xfe\x00<", 400),
        (b"<xml><ToUserName>a</ToUserName></xml>", 400),  # fields missing
        (b"<other/>", 400),
        (
            b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<xml><ToUserName>a</ToUserName><FromUserName>o</FromUserName>"
            b"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&e;</Content>"
            b"<MsgId>1</MsgId></xml>",
            400,
        ),
        (b'<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml>&a;</xml>', 400),
        (b"<xml>" + b"<Content>x</Content>" * 5000 + b"</xml>", 413),
    ],
)
def test_bad_bodies_are_refused_not_500(client, db, body, status) -> None:  # type: ignore[no-untyped-def]
    response = push(client, body)
    assert response.status_code == status, response.text
    assert count(db, WechatInbound) == 0 and count(db, Ticket) == 0


def test_script_in_a_message_is_stored_as_text_and_escaped(client, db, platform, app) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "<script>alert(1)</script>"))
    with db.unit_of_work(write=False) as s:
        message = s.scalar(select(TicketMessage))
        assert message is not None and message.body == "<script>alert(1)</script>"


def test_events_and_other_types_are_answered_and_dropped(client, db) -> None:  # type: ignore[no-untyped-def]
    body = (
        b"<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
        b"<CreateTime>1700000000</CreateTime><MsgType>event</MsgType>"
        b"<Event>subscribe</Event></xml>"
    )
    assert push(client, body).text == "success"
    assert count(db, WechatInbound) == 0


def test_no_token_configured_refuses_everything(database_url, tmp_path, smtp_listener) -> None:  # type: ignore[no-untyped-def]
    from okpay.settings import Settings

    prod = Settings(env="test", database_url=database_url, data_dir=tmp_path)
    assert prod.wechat_token == ""
    dev = Settings(env="dev", database_url=database_url, data_dir=tmp_path)
    assert dev.wechat_token == "okpay-dev-wechat"
    assert dev.wechat_api_base.endswith("/dev/sandbox/wechat")
    with pytest.raises(ValueError):
        Settings(env="prod", secret_key="k" * 40, wechat_token="okpay-dev-wechat")


def test_invisible_characters_and_long_text_still_make_a_ticket(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    text = "\u200e\u202e提现\u2028失败" + "很" * 3000
    assert push(client, text_xml(OPENID, text)).text == "success"
    with db.unit_of_work(write=False) as s:
        ticket = s.scalar(select(Ticket))
        assert ticket is not None and ticket.subject.startswith("提现 失败")
