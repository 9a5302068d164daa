"""Moving a forum thread into a private ticket: the asker stays the requester, the answers
follow, the thread's address only says it moved, and the asker is told the request number."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from okpay.community.models import ForumPost, ForumThread
from okpay.core.audit import AuditEvent
from okpay.core.errors import Conflict, PermissionDenied
from okpay.identity.models import Role
from okpay.support import access, forum_tickets
from okpay.support.models import Ticket, TicketMessage
from tests.community.moderation_helpers import load_user, make_thread, make_user
from tests.helpers import PASSWORD, api_token, csrf_from, post_form


@pytest.fixture
def moved_setup(db):  # type: ignore[no-untyped-def]
    mod = make_user(db, "mod@example.com", role=Role.agent)
    asker = make_user(db, "asker@example.com", locale="zh-CN")
    reader = make_user(db, "reader@example.com")
    thread, posts = make_thread(
        db, asker, title="我的账户被冻结了", body="我的账户今天被冻结，余额 2,000 元取不出来。",
        answers=((reader, "我也遇到过，找客服"), (asker, "补充：我昨天换了手机")),
    )  # fmt: skip
    return {"mod": mod, "asker": asker, "reader": reader, "thread": thread, "posts": posts}


def move(db, actor_id: int, thread_id: int, reason: str = "") -> str:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return forum_tickets.do_move_thread_to_ticket(
            s, moderator=load_user(s, actor_id), thread_id=thread_id, reason=reason
        ).number


def test_moving_keeps_the_asker_as_requester_and_the_answers_as_messages(
    db, mailbox, moved_setup
) -> None:
    number = move(db, moved_setup["mod"], moved_setup["thread"], "账户冻结涉及个人信息")
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        assert (ticket.requester_user_id, ticket.channel) == (moved_setup["asker"], "web")
        assert ticket.subject == "我的账户被冻结了" and "forum" in ticket.tags
        rows = s.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id)
            .order_by(TicketMessage.id)
        ).all()
        public = [(m.author_side, m.author_name, m.body) for m in rows if m.kind == "public"]
        assert public[0] == ("customer", "Asker", "我的账户今天被冻结，余额 2,000 元取不出来。")
        assert (
            public[1][0] == "customer"
            and public[1][1].startswith("Reader")
            and public[1][2] == "我也遇到过，找客服"
        )
        assert public[2] == ("customer", "Asker", "补充：我昨天换了手机")
        assert rows[1].author_user_id is None  # another reader is not a party to the request
        notes = [m.body for m in rows if m.kind == "internal"]
        assert len(notes) == 1 and f"/community/t/{moved_setup['thread']}" in notes[0]
        assert "账户冻结涉及个人信息" in notes[0]
        thread = s.get(ForumThread, moved_setup["thread"])
        assert (thread.visibility, thread.moved_to_ticket_number) == ("moved", number)
        assert {p.visibility for p in s.scalars(select(ForumPost))} == {"moved"}
        assert "forum_thread_moved_to_ticket" in s.scalars(select(AuditEvent.action)).all()
    mail = mailbox.last("asker@example.com")
    assert number in str(mail["Subject"])
    text = mailbox.text(mail)
    assert number in text and "/support/requests/" in text
    assert "私密" in text or "private" in text  # the asker's language (zh-CN) once translated
    assert mailbox.to("reader@example.com") == []


def test_a_thread_moves_once(db, moved_setup) -> None:
    number = move(db, moved_setup["mod"], moved_setup["thread"])
    with pytest.raises(Conflict) as err:
        move(db, moved_setup["mod"], moved_setup["thread"])
    assert number in err.value.translated()
    with db.unit_of_work(write=False) as s:
        assert len(s.scalars(select(Ticket)).all()) == 1


def test_customers_cannot_move_threads(db, moved_setup) -> None:
    with pytest.raises(PermissionDenied):
        move(db, moved_setup["asker"], moved_setup["thread"])
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(Ticket)).all() == []
        assert s.get(ForumThread, moved_setup["thread"]).visibility == "public"


def test_the_old_address_shows_only_a_notice(client, db, moved_setup) -> None:
    before = client.get(f"/community/moved/{moved_setup['thread']}")
    assert before.status_code == 404
    number = move(db, moved_setup["mod"], moved_setup["thread"])
    page = client.get(f"/community/moved/{moved_setup['thread']}")
    assert page.status_code == 200 and page.headers["x-robots-tag"] == "noindex"
    assert 'data-testid="thread-moved-notice"' in page.text
    assert (
        "余额 2,000" not in page.text
        and "我的账户被冻结了" not in page.text
        and number not in page.text
    )
    # The thread's own address says the same to its readers, not a bare 404.
    own = client.get(f"/community/t/{moved_setup['thread']}", follow_redirects=False)
    assert own.status_code == 200 and 'data-testid="thread-moved-notice"' in own.text
    assert "余额 2,000" not in own.text and "我的账户被冻结了" not in own.text
    # The asker sees which request it continues under.
    assert (
        post_form(
            client, "/login", {"email": "asker@example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    assert number in client.get(f"/community/moved/{moved_setup['thread']}").text
    assert number in client.get("/support/requests").text


def test_move_from_the_console_and_the_api(client, db, moved_setup) -> None:
    other, _posts = make_thread(db, moved_setup["asker"], title="Second question")
    headers = api_token(client, "mod@example.com")
    response = client.post(
        f"/api/v1/community/moderation/threads/{moved_setup['thread']}/move-to-ticket",
        json={"reason": "account question"}, headers=headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["ticket_number"].startswith("OK-")
    assert (
        post_form(client, "/login", {"email": "mod@example.com", "password": PASSWORD}).status_code
        == 303
    )
    token = csrf_from(client.get("/agent/community").text)
    moved = client.post(
        f"/agent/community/threads/{other}/move-to-ticket",
        data={"csrf_token": token, "confirm": "yes"},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    with db.unit_of_work(write=False) as s:
        assert s.get(ForumThread, other).visibility == "moved"
