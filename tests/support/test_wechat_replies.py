"""WeChat replies and binding: agents' replies through the platform, the 48-hour window, the
access token's cache and refresh, retries, and one-time binding codes."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import select

from okpay.core.errors import RateLimited
from okpay.identity.models import Role
from okpay.support import messages as ticket_messages
from okpay.support.models import Ticket
from okpay.support.wechat import binding, followers, outbound, window
from okpay.support.wechat.models import WechatFollower, WechatOutbound
from tests.support import wechat_fake
from tests.support.helpers import make_staff, user
from tests.support.wechat_fake import push, text_xml

settings = wechat_fake.settings  # the WeChat settings and fake platform fixtures
platform = wechat_fake.platform
OPENID = "oFollowerBBBB5678"


def _ticket(db) -> Ticket:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        ticket = s.scalar(select(Ticket))
        assert ticket is not None
        return ticket


def _reply(db, agent_id: int, body: str = "您好，我们正在查询。") -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        ticket = s.get(Ticket, _ticket(db).id)
        ticket_messages.do_agent_reply(s, ticket=ticket, agent=user(s, agent_id), body=body)


def _customer(db, email: str = "wang@example.com") -> int:  # type: ignore[no-untyped-def]
    from okpay.identity import operators

    with db.unit_of_work() as s:
        return operators.do_create_user(
            s, email=email, password="correct horse battery", role=Role.customer
        ).id


def _code(db, user_id: int) -> str:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return binding.do_issue_code(s, user=user(s, user_id)).display


def test_agent_reply_goes_out_through_the_platform(client, db, platform, mailbox) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "提现失败了"))
    agent = make_staff(db, "agent@okpay.example")
    _reply(db, agent)
    assert platform.texts_to(OPENID) == ["您好，我们正在查询。"]
    assert platform.tokens_issued == 1
    _reply(db, agent, "第二条")
    assert platform.texts_to(OPENID)[-1] == "第二条"
    assert platform.tokens_issued == 1  # cached
    assert not [m for m in mailbox.messages if "wechat" in m["To"]]  # type: ignore[attr-defined]


def test_token_is_refetched_when_near_expiry_or_rejected(client, db, platform, clock) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "hi"), at=clock.now.timestamp())
    agent = make_staff(db, "agent@okpay.example")
    _reply(db, agent, "one")
    assert platform.tokens_issued == 1
    clock.advance(seconds=7200 - 200)  # within the refresh margin
    with db.unit_of_work() as s:
        s.get(WechatFollower, 1)
    assert outbound.get_access_token() == "tok-2"
    platform.valid_tokens.clear()  # the platform revoked it: 40001, refetch, send
    outbound.send_text(openid=OPENID, content="two")
    assert platform.tokens_issued == 3 and platform.texts_to(OPENID)[-1] == "two"


def test_failures_are_recorded_and_retried_until_sent(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "hi"))
    agent = make_staff(db, "agent@okpay.example")
    platform.fail_network = 1
    _reply(db, agent, "retry me")  # the inline job fails once; the queue would retry it
    with db.unit_of_work(write=False) as s:
        row = s.scalar(select(WechatOutbound).where(WechatOutbound.content == "retry me"))
        assert row is not None and row.sent_at is None and row.attempts == 1
        assert "unreachable" in row.last_error
        outbound_id = row.id
    platform.errcodes = [-1]  # "system busy": worth another try
    with pytest.raises(outbound.PlatformError):
        outbound.deliver(outbound_id)
    outbound.deliver(outbound_id)
    outbound.deliver(outbound_id)  # already sent: nothing again
    assert platform.texts_to(OPENID).count("retry me") == 1
    with db.unit_of_work(write=False) as s:
        row = s.get(WechatOutbound, outbound_id)
        assert row is not None and row.sent_at is not None and row.attempts == 3


def test_a_reply_the_platform_says_is_out_of_the_window_is_not_retried(
    client, db, platform
) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "hi"))
    platform.errcodes = [45015]
    _reply(db, make_staff(db, "agent@okpay.example"), "too late")  # no exception: not retried
    with db.unit_of_work(write=False) as s:
        row = s.scalar(select(WechatOutbound).where(WechatOutbound.content == "too late"))
        assert row is not None and row.sent_at is None and row.attempts == 1
        assert "45015" in row.last_error
    assert platform.texts_to(OPENID) == []


def test_window_closed_refuses_reply_to_unbound_follower(client, db, platform, clock) -> None:  # type: ignore[no-untyped-def]
    push(client, text_xml(OPENID, "hi"), at=clock.now.timestamp())
    agent = make_staff(db, "agent@okpay.example")
    clock.advance(hours=48, minutes=1)
    with pytest.raises(window.WindowClosed):
        _reply(db, agent, "too late")
    assert platform.texts_to(OPENID) == []
    with db.unit_of_work(write=False) as s:
        assert ticket_messages.list_messages(s, _ticket(db), include_internal=True)[-1].body == "hi"
    page = client.get(f"/agent/tickets/{_ticket(db).number}")
    assert page.status_code in (200, 303, 401, 403)  # the console page: see the browser test


def test_window_closed_with_bound_account_replies_by_email(
    client, db, platform, clock, mailbox
) -> None:  # type: ignore[no-untyped-def]
    customer = _customer(db)
    push(client, text_xml(OPENID, "hi"), at=clock.now.timestamp())
    push(client, text_xml(OPENID, _code(db, customer)), at=clock.now.timestamp())
    assert (
        "linked" in platform.texts_to(OPENID)[-1]
        or "绑定" in platform.texts_to(OPENID)[-1]
        or platform.texts_to(OPENID)
    )
    ticket = _ticket(db)
    assert ticket.requester_user_id == customer and ticket.requester_email == "wang@example.com"
    agent = make_staff(db, "agent@okpay.example")
    clock.advance(hours=49)
    before = len(platform.sent)
    _reply(db, agent, "by e-mail now")
    assert len(platform.sent) == before
    assert "by e-mail now" in mailbox.text(mailbox.last("wang@example.com"))


def test_window_state() -> None:
    from datetime import UTC, datetime, timedelta

    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert window.state(at, at + timedelta(hours=47)).is_open
    assert window.state(at, at + timedelta(hours=47)).remaining == timedelta(hours=1)
    assert not window.state(at, at + timedelta(hours=48)).is_open


def test_codes_wrong_expired_reused_are_refused(client, db, platform, clock) -> None:  # type: ignore[no-untyped-def]
    customer = _customer(db)
    code = _code(db, customer)
    push(client, text_xml(OPENID, "ABCD-2345"), at=clock.now.timestamp())  # wrong
    push(
        client, text_xml("oOther0001", code.lower()), at=clock.now.timestamp()
    )  # binds the other follower
    push(client, text_xml(OPENID, code), at=clock.now.timestamp())  # reused
    old = _code(db, customer)
    clock.advance(minutes=11)
    push(client, text_xml(OPENID, old), at=clock.now.timestamp())  # expired
    with db.unit_of_work(write=False) as s:
        mine = followers.get_follower(s, OPENID)
        other = followers.get_follower(s, "oOther0001")
        assert mine is not None and mine.user_id is None
        assert other is not None and other.user_id == customer
    assert len(platform.texts_to(OPENID)) == 3  # told each time
    # Codes are never filed as ticket messages.
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(Ticket)) is None


def test_new_code_replaces_old_and_issuing_is_throttled(db) -> None:  # type: ignore[no-untyped-def]
    customer = _customer(db)
    first = _code(db, customer)
    _code(db, customer)
    with db.unit_of_work() as s:
        follower = followers.lock_follower(s, OPENID, binding.clock.now())
        code = binding.normalise_code(first)
        assert code is not None
        assert binding.do_claim(s, follower=follower, code=code).result == "invalid"
    for _ in range(3):
        _code(db, customer)
    with pytest.raises(RateLimited):
        _code(db, customer)


def test_normalise_code() -> None:
    assert binding.normalise_code(" abcd-2345 ") == "ABCD2345"
    assert binding.normalise_code("HELLOWORLD") is None
    assert binding.normalise_code("THANKYOU") is None
    assert binding.normalise_code("你好") is None


@pytest.mark.postgres_only
def test_two_followers_racing_for_one_code_one_wins(db) -> None:  # type: ignore[no-untyped-def]
    customer = _customer(db)
    code = binding.normalise_code(_code(db, customer))
    assert code is not None
    results: list[str] = []
    barrier = threading.Barrier(6)

    def claim(i: int) -> None:
        with db.unit_of_work() as s:
            follower = followers.lock_follower(s, f"oRacer{i:04d}", binding.clock.now())
            barrier.wait()
            results.append(binding.do_claim(s, follower=follower, code=code).result)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["bound"] + ["invalid"] * 5
    with db.unit_of_work(write=False) as s:
        bound = s.scalars(select(WechatFollower).where(WechatFollower.user_id == customer))
        assert len(list(bound)) == 1


def test_network_error_is_an_httpx_error() -> None:
    assert issubclass(httpx.ConnectError, httpx.HTTPError)


@pytest.mark.postgres_only
def test_the_same_msgid_pushed_at_once_is_stored_once(db) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from okpay.support.wechat import inbound, messages
    from okpay.support.wechat.models import WechatInbound

    incoming = messages.Incoming(
        to_user="gh", openid=OPENID, sent_at=datetime.now(UTC), msg_type="text",
        msg_id="777777777777", content="hello",
    )  # fmt: skip
    stored: list[bool] = []
    barrier = threading.Barrier(6)

    def record() -> None:
        with db.unit_of_work() as s:
            barrier.wait()
            stored.append(inbound.record_incoming(s, incoming) is not None)

    threads = [threading.Thread(target=record) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(stored) == [False] * 5 + [True]
    with db.unit_of_work(write=False) as s:
        assert len(list(s.scalars(select(WechatInbound)))) == 1


def test_cli_checks_settings_and_resends_what_was_not_delivered(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from okpay.cli import app as cli

    runner = CliRunner()
    assert runner.invoke(cli, ["support", "wechat", "check"]).exit_code == 0
    platform.fail_network = 1
    assert runner.invoke(cli, ["support", "wechat", "check"]).exit_code == 1
    push(client, text_xml(OPENID, "hi"))
    agent = make_staff(db, "agent@okpay.example")
    platform.fail_network = 1
    _reply(db, agent, "lost once")
    listed = runner.invoke(cli, ["support", "wechat", "pending"])
    assert "unreachable" in listed.output
    assert runner.invoke(cli, ["support", "wechat", "pending", "--resend"]).exit_code == 0
    assert platform.texts_to(OPENID) == ["lost once"]
    assert runner.invoke(cli, ["support", "wechat", "pending"]).output.strip() == ""


def test_cli_files_again_what_its_job_could_not_file(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from okpay.cli import app as cli
    from okpay.core import clock as core_clock
    from okpay.support.wechat.models import WechatInbound

    with db.unit_of_work() as s:  # stored by the webhook; its filing job then gave up
        s.add(
            WechatInbound(
                msg_id="700000000000000001", openid=OPENID, msg_type="text", content="还在吗",
                sent_at=core_clock.now(), received_at=core_clock.now(),
            )
        )  # fmt: skip
    runner = CliRunner()
    listed = runner.invoke(cli, ["support", "wechat", "unfiled"])
    assert listed.exit_code == 0 and "text" in listed.output
    assert runner.invoke(cli, ["support", "wechat", "unfiled", "--refile"]).exit_code == 0
    assert runner.invoke(cli, ["support", "wechat", "unfiled", "--refile"]).exit_code == 0
    with db.unit_of_work(write=False) as s:
        assert [t.channel for t in s.scalars(select(Ticket))] == ["wechat"]
    assert runner.invoke(cli, ["support", "wechat", "unfiled"]).output.strip() == ""


def test_an_unlinked_follower_is_never_e_mailed_at_the_placeholder(client, db, platform) -> None:  # type: ignore[no-untyped-def]
    """Reminders, resolutions and ratings reach an unlinked follower in WeChat only: their
    ticket's address is a placeholder, never mailed; once linked, their real address is."""
    from okpay.mail.models import OutboundEmail
    from okpay.support import emails

    push(client, text_xml(OPENID, "充值没到账"))
    with db.unit_of_work() as s:
        emails.mail_requester(s, s.get(Ticket, _ticket(db).id), "support_ticket_created")
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(OutboundEmail.to_addr)).all() == []
    customer = _customer(db)
    push(client, text_xml(OPENID, _code(db, customer)))
    with db.unit_of_work() as s:
        emails.mail_requester(s, s.get(Ticket, _ticket(db).id), "support_ticket_created")
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(OutboundEmail.to_addr)).all() == ["wang@example.com"]


def test_the_app_secret_and_token_never_reach_the_logs(client, db, platform, caplog) -> None:  # type: ignore[no-untyped-def]
    """httpx logs every request URL at INFO; the platform's carry the secret and the token."""
    import logging

    from okpay.settings import get_settings

    caplog.set_level(logging.INFO, logger="httpx")
    push(client, text_xml(OPENID, "hi"))
    _reply(db, make_staff(db, "agent@okpay.example"), "one")
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/cgi-bin/token" in line for line in requests)
    assert any("/cgi-bin/message/custom/send" in line for line in requests)
    secret = get_settings().wechat_app_secret
    assert secret and not any(f"secret={secret}" in line for line in requests)
    assert not any("access_token=tok-" in line for line in requests)
    assert any("secret=[redacted]" in line for line in requests)
