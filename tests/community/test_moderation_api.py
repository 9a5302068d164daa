"""Forum moderation over HTTP: the report endpoint and form, the staff API and the agent
console's queue. Strangers and customers are refused everywhere; bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from okpay.community.models import ForumBan, ForumPost, ForumReport, ForumThread
from okpay.identity.models import Role
from tests.community.moderation_helpers import make_thread, make_user
from tests.helpers import PASSWORD, api_token, csrf_from, post_form

STAFF_API = [
    ("GET", "/api/v1/community/moderation/queue", None),
    ("POST", "/api/v1/community/moderation/posts/{p}/hide", {"reason": "x"}),
    ("POST", "/api/v1/community/moderation/posts/{p}/unhide", {"reason": "x"}),
    ("POST", "/api/v1/community/moderation/posts/{p}/review", {"approve": True}),
    ("POST", "/api/v1/community/moderation/posts/{p}/reports/resolve", {"outcome": "upheld"}),
    ("POST", "/api/v1/community/moderation/threads/{t}/hidden", {"value": True, "reason": "x"}),
    ("POST", "/api/v1/community/moderation/threads/{t}/locked", {"value": True}),
    ("POST", "/api/v1/community/moderation/threads/{t}/pinned", {"value": True}),
    ("POST", "/api/v1/community/moderation/threads/{t}/move-to-ticket", {}),
    ("PUT", "/api/v1/community/moderation/bans/{u}", {"reason": "x"}),
    ("DELETE", "/api/v1/community/moderation/bans/{u}", None),
]
STAFF_PAGES = [
    ("GET", "/agent/community"),
    ("POST", "/agent/community/posts/{p}/hide"),
    ("POST", "/agent/community/posts/{p}/review"),
    ("POST", "/agent/community/posts/{p}/reports"),
    ("POST", "/agent/community/threads/{t}/lock"),
    ("POST", "/agent/community/threads/{t}/move-to-ticket"),
    ("POST", "/agent/community/users/{u}/ban"),
]


@pytest.fixture
def forum(db):  # type: ignore[no-untyped-def]
    mod = make_user(db, "mod@example.com", role=Role.agent)
    asker = make_user(db, "asker@example.com")
    reader = make_user(db, "reader@example.com")
    thread, posts = make_thread(
        db, asker, body="我的问题：提现要多久？", answers=((reader, "加我微信换汇，便宜"),)
    )
    return {"mod": mod, "asker": asker, "reader": reader, "thread": thread, "posts": posts}


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


def state(db):  # type: ignore[no-untyped-def]
    """Everything moderation could have changed."""
    with db.unit_of_work(write=False) as s:
        return (
            [
                (p.visibility, p.moderation_reason)
                for p in s.scalars(select(ForumPost).order_by(ForumPost.id))
            ],
            [(t.visibility, t.is_locked, t.is_pinned) for t in s.scalars(select(ForumThread))],
            s.scalar(select(func.count()).select_from(ForumReport)),
            s.scalar(select(func.count()).select_from(ForumBan)),
        )


def test_strangers_and_customers_cannot_moderate(client, db, forum) -> None:
    before = state(db)
    ids = {"p": forum["posts"][1], "t": forum["thread"], "u": forum["reader"]}
    for method, path, body in STAFF_API:
        response = client.request(method, path.format(**ids), json=body)
        assert response.status_code == 401, (method, path, response.status_code)
    assert client.get("/agent/community", follow_redirects=False).status_code in (302, 303)
    headers = api_token(client, "asker@example.com")
    for method, path, body in STAFF_API:
        response = client.request(method, path.format(**ids), json=body, headers=headers)
        assert response.status_code in (403, 404), (method, path, response.status_code)
        assert "微信" not in response.text
    sign_in(client, "asker@example.com")
    token = csrf_from(client.get("/account").text)
    for method, path in STAFF_PAGES:
        fields = {"reason": "x", "confirm": "yes", "days": "0", "outcome": "upheld"}
        data = {"csrf_token": token, "decision": "approve", **fields} if method == "POST" else None
        response = client.request(method, path.format(**ids), data=data, follow_redirects=False)
        assert response.status_code in (403, 404), (method, path, response.status_code)
    assert state(db) == before


def test_report_through_the_api(client, db, forum) -> None:
    headers = api_token(client, "asker@example.com")
    url = f"/api/v1/community/posts/{forum['posts'][1]}/report"
    response = client.post(
        url, json={"reason": "scam", "note": "<script>alert(1)</script>"}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    again = client.post(url, json={"reason": "spam"}, headers=headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "forum_already_reported")
    own = client.post(
        f"/api/v1/community/posts/{forum['posts'][0]}/report",
        json={"reason": "spam"},
        headers=headers,
    )
    assert (own.status_code, own.json()["error"]["code"]) == (422, "forum_report_own_post")


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/community/posts/{p}/report", {"reason": "bogus"}, 422),
        ("/api/v1/community/posts/{p}/report", {"reason": "spam", "note": "x" * 501}, 422),
        ("/api/v1/community/posts/{p}/report", {"reason": "spam", "status": "upheld"}, 422),
        ("/api/v1/community/posts/99999999999999999999/report", {"reason": "spam"}, 422),
        ("/api/v1/community/posts/424242/report", {"reason": "spam"}, 404),
    ],
)
def test_bad_reports_are_refused_and_nothing_stored(client, db, forum, path, body, status) -> None:
    headers = api_token(client, "asker@example.com")
    response = client.post(path.format(p=forum["posts"][1]), json=body, headers=headers)
    assert response.status_code == status, response.text
    assert state(db)[2] == 0


def test_staff_moderate_through_the_api(client, db, forum) -> None:
    headers = api_token(client, "mod@example.com")
    base = "/api/v1/community/moderation"
    hidden = client.post(
        f"{base}/posts/{forum['posts'][1]}/hide", json={"reason": "场外换汇"}, headers=headers
    )
    assert hidden.status_code == 200 and hidden.json()["visibility"] == "hidden"
    locked = client.post(
        f"{base}/threads/{forum['thread']}/locked", json={"value": True}, headers=headers
    )
    assert locked.json()["is_locked"] is True
    banned = client.put(f"{base}/bans/{forum['reader']}", json={"reason": "spam"}, headers=headers)
    assert banned.status_code == 200 and banned.json()["until"] is None
    queue = client.get(f"{base}/queue", headers=headers).json()
    assert [p["id"] for p in queue["hidden"]] == [forum["posts"][1]]
    assert [b["user_id"] for b in queue["bans"]] == [forum["reader"]]
    no_reason = client.post(
        f"{base}/threads/{forum['thread']}/hidden", json={"value": True}, headers=headers
    )
    assert no_reason.json()["error"]["code"] == "forum_reason_required"
    assert client.delete(f"{base}/bans/{forum['reader']}", headers=headers).status_code == 204
    assert "/api/v1/community/moderation/queue" in client.get("/openapi.json").text


def test_a_reader_reports_with_the_form_and_staff_hide_it_from_the_queue(client, db, forum) -> None:
    sign_in(client, "asker@example.com")
    token = csrf_from(client.get("/account").text)
    url = f"/community/posts/{forum['posts'][1]}/report"
    forged = client.post(
        url, data={"reason": "scam", "csrf_token": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403 and state(db)[2] == 0
    response = client.post(
        url, data={"reason": "scam", "note": "<script>alert(1)</script>", "csrf_token": token,
                   "next": "https://evil.example/"}, follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == "/community"
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})
    client.cookies.clear()
    sign_in(client, "mod@example.com")
    page = client.get("/agent/community")
    assert page.status_code == 200
    assert "加我微信换汇" in page.text and "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    token = csrf_from(page.text)
    hide = client.post(
        f"/agent/community/posts/{forum['posts'][1]}/reports",
        data={"outcome": "upheld", "reason": "", "csrf_token": token}, follow_redirects=False,
    )  # fmt: skip
    assert (hide.status_code, hide.headers["location"]) == (303, "/agent/community")
    assert state(db)[0][1][0] == "hidden"
    assert 'data-testid="mod-report"' not in client.get("/agent/community").text
    assert "加我微信换汇" in client.get("/agent/community?tab=hidden").text


def test_ban_from_the_console_needs_the_confirmation(client, db, forum) -> None:
    sign_in(client, "mod@example.com")
    token = csrf_from(client.get("/agent/community").text)
    url = f"/agent/community/users/{forum['reader']}/ban"
    client.post(url, data={"reason": "spam", "days": "7", "csrf_token": token})
    assert state(db)[3] == 0
    client.post(url, data={"reason": "spam", "days": "3650", "confirm": "yes", "csrf_token": token})
    assert state(db)[3] == 0
    client.post(url, data={"reason": "spam", "days": "7", "confirm": "yes", "csrf_token": token})
    assert state(db)[3] == 1
    assert "Reader" in client.get("/agent/community?tab=bans").text
