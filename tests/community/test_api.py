"""The forum's JSON API: reading without sign-in, asking, answering, editing, votes and the
accepted answer, the privacy guard's 422, and the refusals (strangers, other users' posts,
banned users, bad ids, script injection)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from okpay.community import categories, posting
from okpay.community.models import ForumBan, ForumPost, ForumThread, ForumVote
from okpay.core import clock as core_clock
from okpay.core.errors import PermissionDenied
from okpay.identity.models import User
from tests.community.conftest import ANSWERER, ASKER, OTHER
from tests.helpers import api_token

QUESTION = {
    "category": "topup-withdrawal",
    "title": "Bank transfer top-up not arrived",
    "body": "I topped up by bank transfer yesterday and my balance has not changed.",
}


def _ask(client, headers, **extra):  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/community/threads", json={**QUESTION, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return s.query(model).count()


def test_categories_and_empty_list_need_no_sign_in(client, forum) -> None:  # type: ignore[no-untyped-def]
    cats = client.get("/api/v1/community/categories").json()
    assert [c["slug"] for c in cats][:2] == ["account-security", "topup-withdrawal"]
    assert cats[0]["name"] == "Account and security"
    zh = client.get("/api/v1/community/categories", headers={"Accept-Language": "zh-CN"}).json()
    assert zh[0]["name"] == "账户与安全"
    listing = client.get("/api/v1/community/threads").json()
    assert listing == {"threads": [], "total": 0, "page": 1, "pages": 1}


def test_ask_answer_vote_accept(client, db, forum, mailbox) -> None:  # type: ignore[no-untyped-def]
    asker, answerer, other = (api_token(client, e) for e in (ASKER, ANSWERER, OTHER))
    thread = _ask(client, asker)
    assert thread["url"] == f"/community/t/{thread['id']}-bank-transfer-top-up-not-arrived"
    reply = client.post(
        f"/api/v1/community/threads/{thread['id']}/posts",
        json={"body": "Bank transfers take **one to two** working days."},
        headers=answerer,
    )
    assert reply.status_code == 201, reply.text
    post_id = reply.json()["id"]
    assert (
        reply.json()["html"]
        == "<p>Bank transfers take <strong>one to two</strong> working days.</p>\n"
    )
    # The asker is e-mailed (in Chinese, their language) with an unsubscribe link and headers.
    mail = mailbox.last(ASKER)
    assert "新回答" in str(mail["Subject"])
    assert "/community/unsubscribe/" in mailbox.text(mail)
    assert str(mail["List-Unsubscribe"]).strip().startswith("<http://testserver/community/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert not mailbox.to(ANSWERER)  # never about their own post

    vote = client.put(f"/api/v1/community/posts/{post_id}/vote", json={"value": 1}, headers=other)
    assert vote.json() == {"post_id": post_id, "score": 1, "my_vote": 1}
    again = client.put(f"/api/v1/community/posts/{post_id}/vote", json={"value": 1}, headers=other)
    assert again.json()["score"] == 1  # one vote per user
    down = client.put(f"/api/v1/community/posts/{post_id}/vote", json={"value": -1}, headers=other)
    assert down.json()["score"] == -1
    gone = client.put(f"/api/v1/community/posts/{post_id}/vote", json={"value": 0}, headers=other)
    assert gone.json()["score"] == 0 and _count(db, ForumVote) == 0
    own = client.put(f"/api/v1/community/posts/{post_id}/vote", json={"value": 1}, headers=answerer)
    assert own.status_code == 403 and own.json()["error"]["code"] == "forum_vote_own_post"

    stranger = client.put(
        f"/api/v1/community/threads/{thread['id']}/accepted",
        json={"post_id": post_id},
        headers=other,
    )
    assert stranger.status_code == 403
    accepted = client.put(
        f"/api/v1/community/threads/{thread['id']}/accepted",
        json={"post_id": post_id},
        headers=asker,
    )
    assert accepted.status_code == 200 and accepted.json()["solved"] is True
    assert "accepted" in str(mailbox.last(ANSWERER)["Subject"])
    solved = client.get("/api/v1/community/threads?solved=true").json()["threads"]
    assert [t["id"] for t in solved] == [thread["id"]]
    unmark = client.put(
        f"/api/v1/community/threads/{thread['id']}/accepted", json={"post_id": None}, headers=asker
    )
    assert unmark.json()["solved"] is False and unmark.json()["accepted_post_id"] is None


def test_signed_out_and_unverified_cannot_post(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/community/threads", json=QUESTION)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "forum_sign_in_required"
    with db.unit_of_work() as s, pytest.raises(PermissionDenied) as refused:
        posting.do_create_thread(
            s,
            user=s.get(User, forum.unverified),
            address="203.0.113.9",
            category=categories.get_by_slug(s, "general"),
            title=QUESTION["title"],
            body=QUESTION["body"],
            locale="en",
        )
    assert refused.value.code == "forum_email_unverified"
    assert _count(db, ForumThread) == 0


def test_banned_user_cannot_post_or_answer(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    asker, other = api_token(client, ASKER), api_token(client, OTHER)
    thread = _ask(client, asker)
    with db.unit_of_work() as s:
        s.add(
            ForumBan(
                user_id=forum.other,
                banned_by_user_id=forum.staff,
                reason="spam",
                created_at=core_clock.now(),
                until=core_clock.now() + timedelta(days=1),
            )
        )
    response = client.post(
        f"/api/v1/community/threads/{thread['id']}/posts",
        json={"body": "Buy cheap followers here now!"},
        headers=other,
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "forum_banned"
    assert _count(db, ForumPost) == 1


def test_private_data_is_refused_unless_masked(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    asker = api_token(client, ASKER)
    body = "My card 4111 1111 1111 1111 was charged twice, call me on 13800138000."
    refused = client.post(
        "/api/v1/community/threads", json={**QUESTION, "body": body}, headers=asker
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "forum_private_data"
    assert refused.json()["error"]["kinds"] == ["card_number", "phone"]
    assert _count(db, ForumThread) == 0
    thread = _ask(client, asker, body=body, mask_private_data=True)
    question = thread["posts"][0]
    assert "4111 1111 1111 1111" not in question["markdown"]
    assert "•••• 1111" in question["markdown"]
    assert question["masked_kinds"] == ["card_number", "phone"]


def test_script_and_markdown_injection_is_made_harmless(client, forum) -> None:  # type: ignore[no-untyped-def]
    asker = api_token(client, ASKER)
    body = (
        "<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n"
        "![pixel](http://tracker.example/p.gif) <b onclick=x>raw</b> [ok](https://okpay.example)"
    )
    thread = _ask(client, asker, title="<script>alert(1)</script> title", body=body)
    html = thread["posts"][0]["html"]
    assert "<script" not in html and "<img" not in html and "<b " not in html
    assert 'href="javascript' not in html and 'href="x"' not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(3)&gt;" in html
    assert 'href="https://okpay.example" rel="nofollow ugc noopener"' in html
    assert thread["title"] == "<script>alert(1)</script> title"  # plain text; pages escape it


def test_titles_refuse_line_breaks_and_control_characters(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    asker = api_token(client, ASKER)
    for title in ("Line one\r\nBcc: x@example.com", "Bell\x07 character here", "short", "x" * 201):
        response = client.post(
            "/api/v1/community/threads", json={**QUESTION, "title": title}, headers=asker
        )
        assert response.status_code == 422, title
        assert response.json()["error"]["code"].startswith("forum_title")
    assert _count(db, ForumThread) == 0


def test_only_the_author_edits(client, forum) -> None:  # type: ignore[no-untyped-def]
    asker, other = api_token(client, ASKER), api_token(client, OTHER)
    thread = _ask(client, asker)
    post_id = thread["posts"][0]["id"]
    stranger = client.patch(
        f"/api/v1/community/posts/{post_id}",
        json={"body": "Hijacked text, now all mine."},
        headers=other,
    )
    assert stranger.status_code == 403
    anonymous = client.patch(f"/api/v1/community/posts/{post_id}", json={"body": "x" * 20})
    assert anonymous.status_code == 404
    edited = client.patch(
        f"/api/v1/community/posts/{post_id}",
        json={"body": "Edited: it arrived after two days.", "title": "Top-up arrived late"},
        headers=asker,
    )
    assert edited.status_code == 200 and edited.json()["edited_at"] is not None
    assert client.get(f"/api/v1/community/threads/{thread['id']}").json()["title"] == (
        "Top-up arrived late"
    )


def test_ids_beyond_the_column_are_refused(client, forum) -> None:  # type: ignore[no-untyped-def]
    asker = api_token(client, ASKER)
    for path in (
        "/api/v1/community/threads/2147483648",
        "/api/v1/community/threads/99999999999999999999",
    ):
        assert client.get(path).status_code == 422
    assert client.get("/api/v1/community/threads/2147483647").status_code == 404
    response = client.put(
        "/api/v1/community/posts/2147483648/vote", json={"value": 1}, headers=asker
    )
    assert response.status_code == 422
    response = client.put("/api/v1/community/posts/1/vote", json={"value": 2}, headers=asker)
    assert response.status_code == 422


def test_held_post_is_seen_by_its_author_only(client, forum) -> None:  # type: ignore[no-untyped-def]
    asker, other = api_token(client, ASKER), api_token(client, OTHER)
    thread = _ask(client, asker, body="See https://cheap-okpay-deals.example for my problem.")
    assert thread["visibility"] == "held"
    assert client.get(f"/api/v1/community/threads/{thread['id']}").status_code == 404
    assert client.get(f"/api/v1/community/threads/{thread['id']}", headers=other).status_code == 404
    assert client.get(f"/api/v1/community/threads/{thread['id']}", headers=asker).status_code == 200
    assert client.get("/api/v1/community/threads").json()["total"] == 0


def test_search_finds_threads_in_chinese(client, forum) -> None:  # type: ignore[no-untyped-def]
    asker = api_token(client, ASKER)
    _ask(
        client,
        asker,
        title="银行转账充值一直没有到账",
        body="昨天用银行转账充值了五百元，余额还是没变。",
    )
    _ask(
        client,
        asker,
        title="How do I change my phone number",
        body="I have a new phone number now.",
    )
    found = client.get("/api/v1/community/threads", params={"q": "充值 到账"}).json()["threads"]
    assert [t["title"] for t in found][:1] == ["银行转账充值一直没有到账"]


def test_openapi_lists_the_forum(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/community/threads" in paths
    assert "/api/v1/community/posts/{post_id}/vote" in paths


def test_okpays_own_hotline_number_is_not_personal_data(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    """Telling others to call OKPay's Hong Kong line is fine; a customer's own number is not."""
    from tests.helpcenter.hotline_helpers import add_hotline

    add_hotline(db, "HK", "+852 2123 4567")
    asker = api_token(client, ASKER)
    thread = _ask(client, asker, body="I called the hotline +852 2123 4567 and it was quick.")
    assert "+852 2123 4567" in thread["posts"][0]["markdown"]
    mine = client.post(
        "/api/v1/community/threads",
        json={**QUESTION, "body": "Please call me back on +852 9123 4567 today."},
        headers=asker,
    )
    assert mine.status_code == 422 and mine.json()["error"]["kinds"] == ["phone"]
