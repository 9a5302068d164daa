"""The forum's pages: reading without sign-in, canonical addresses, asking with the privacy
guard's warning, answering, editing (author only), accepting, help search showing solved
threads, and the unsubscribe link (no change on GET)."""

from __future__ import annotations

import re

import pytest

from okpay.community import categories, posting, votes
from okpay.community.models import ForumSubscription, ForumThread
from okpay.identity.models import User
from tests.community.conftest import ASKER, OTHER
from tests.helpers import PASSWORD, csrf_from, post_form

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(autouse=True)
def _no_redirects(client) -> None:  # type: ignore[no-untyped-def]
    client.follow_redirects = False


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    response = post_form(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text


def _thread(db, forum, *, title: str = "Top-up by bank transfer not arrived", solved: bool = False):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        thread = posting.do_create_thread(
            s,
            user=s.get(User, forum.asker),
            address="198.51.100.1",
            category=categories.get_by_slug(s, "topup-withdrawal"),
            title=title,
            body="I topped up 500 yuan by bank transfer yesterday; still not in my balance.",
            locale="en",
        )
        post = posting.do_reply(
            s,
            user=s.get(User, forum.staff),
            address="198.51.100.2",
            thread=thread,
            body="Bank transfers arrive within **two working days**.",
            official=True,
        )
        if solved:
            votes.do_accept(s, user=s.get(User, forum.asker), thread=thread, post_id=post.id)
        return thread.id, urls_path(thread), post.id


def urls_path(thread: ForumThread) -> str:
    from okpay.community.urls import thread_path

    return thread_path(thread)


def test_empty_forum_invites_to_ask(client, forum) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/community", headers=ZH)
    assert page.status_code == 200
    assert 'data-testid="forum-empty"' in page.text and "用户社区" in page.text
    assert '<link rel="canonical" href="http://testserver/community">' in page.text
    assert "账户与安全" in page.text


def test_thread_page_is_public_with_canonical_badges_and_redirects(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    thread_id, path, _post = _thread(db, forum)
    page = client.get(path)
    assert page.status_code == 200
    assert f'<link rel="canonical" href="http://testserver{path}">' in page.text
    assert '<meta name="description" content="I topped up 500 yuan' in page.text
    assert 'data-testid="badge-official"' in page.text and 'data-testid="badge-staff"' in page.text
    moved = client.get(f"/community/t/{thread_id}", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"] == path
    assert client.get("/community/t/99999999999").status_code == 404
    assert client.get("/community/t/abc").status_code == 404
    listing = client.get("/community/c/topup-withdrawal")
    assert path in listing.text


def test_hidden_thread_is_404_for_non_staff(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    thread_id, path, _post = _thread(db, forum)
    with db.unit_of_work() as s:
        s.get(ForumThread, thread_id).visibility = "hidden"
    assert client.get(path).status_code == 404
    sign_in(client, ASKER)
    assert client.get(path).status_code == 404


def test_asking_with_a_card_number_warns_then_masks(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, ASKER)
    form = client.get("/community/new", headers=ZH)
    values = {
        "category": "payments-merchants",
        "title": "商户重复扣款怎么办",
        "body": "我的卡 4111 1111 1111 1111 被同一商户扣了两次款。",
        "csrf_token": csrf_from(form.text),
    }
    warned = client.post("/community/new", data=values, headers=ZH)
    assert warned.status_code == 422
    assert 'data-testid="forum-private-warning"' in warned.text and "银行卡号" in warned.text
    assert "4111 1111 1111 1111" in warned.text  # the typed text is kept for editing
    assert 'formaction="/help/contact/prefill"' in warned.text
    with db.unit_of_work(write=False) as s:
        assert s.query(ForumThread).count() == 0
    posted = client.post("/community/new", data={**values, "choice": "mask"}, headers=ZH)
    assert posted.status_code == 303
    page = client.get(posted.headers["location"], headers=ZH)
    assert "4111 1111 1111 1111" not in page.text and "•••• 1111" in page.text


def test_send_privately_prefills_the_contact_form(client, forum) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, ASKER)
    token = csrf_from(client.get("/community/new").text)
    page = client.post(
        "/help/contact/prefill",
        data={"title": "Charged twice", "body": "Card 4111 1111 1111 1111", "csrf_token": token},
    )
    assert page.status_code == 200
    assert 'value="Charged twice"' in page.text and "4111 1111 1111 1111" in page.text


def test_answer_edit_and_accept_on_pages(client, db, forum, mailbox) -> None:  # type: ignore[no-untyped-def]
    thread_id, path, staff_post = _thread(db, forum)
    sign_in(client, OTHER)
    page = client.get(path)
    reply = client.post(
        f"/community/t/{thread_id}/reply",
        data={"body": "Mine took **two** days as well.", "csrf_token": csrf_from(page.text)},
    )
    assert reply.status_code == 303
    post_id = int(reply.headers["location"].rsplit("-", 1)[1])
    # Another user's post: its edit page is not found, and a forged edit changes nothing.
    token = csrf_from(client.get(path).text)
    assert client.get(f"/community/p/{staff_post}/edit").status_code == 404
    forged = client.post(
        f"/community/p/{staff_post}/edit", data={"body": "x" * 30, "csrf_token": token}
    )
    assert forged.status_code == 404
    edit = client.post(
        f"/community/p/{post_id}/edit", data={"body": "Mine took three days.", "csrf_token": token}
    )
    assert edit.status_code == 303
    assert "Mine took three days." in client.get(path).text
    # Only the asker (or staff) accepts.
    refused = client.post(
        f"/community/t/{thread_id}/accept", data={"post_id": str(post_id), "csrf_token": token}
    )
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": token})
    sign_in(client, ASKER)
    token = csrf_from(client.get(path).text)
    accepted = client.post(
        f"/community/t/{thread_id}/accept", data={"post_id": str(post_id), "csrf_token": token}
    )
    assert accepted.status_code == 303
    assert 'data-testid="badge-accepted"' in client.get(path).text
    assert client.get("/community?solved=yes").text.count('data-testid="badge-solved"') == 1


def test_help_search_shows_solved_threads_below_articles(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    _thread(db, forum, title="Unsolved top-up question about bank transfer")
    _tid, path, _post = _thread(db, forum, title="Solved top-up by bank transfer", solved=True)
    page = client.get("/help", params={"q": "bank transfer top-up"})
    assert 'data-testid="help-related"' in page.text and path in page.text
    assert "Unsolved top-up question" not in page.text
    api = client.get("/api/v1/help/search", params={"q": "bank transfer top-up", "lang": "en"})
    assert [r["url"] for r in api.json()["related"]] == [path]


def test_unsubscribe_link_asks_before_acting(client, db, forum, mailbox) -> None:  # type: ignore[no-untyped-def]
    _thread(db, forum)
    body = mailbox.text(mailbox.last(ASKER))
    link = re.search(r"http://testserver(/community/unsubscribe/\S+)", body).group(1)
    page = client.get(link)
    assert page.status_code == 200 and 'data-testid="unsubscribe-confirm"' in page.text
    with db.unit_of_work(write=False) as s:
        assert (
            s.query(ForumSubscription).filter_by(user_id=forum.asker).one().unsubscribed_at is None
        )
    done = client.post(link)  # one-click: no sign-in, no CSRF token
    assert done.status_code == 200 and 'data-testid="unsubscribed"' in done.text
    with db.unit_of_work(write=False) as s:
        row = s.query(ForumSubscription).filter_by(user_id=forum.asker).one()
        assert row.unsubscribed_at is not None
    assert client.get("/community/unsubscribe/forged.token").status_code == 404


def test_signed_out_new_question_goes_to_sign_in(client, forum) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/community/new", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_titles_and_bodies_are_escaped_on_pages(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        thread = posting.do_create_thread(
            s,
            user=s.get(User, forum.asker),
            address="198.51.100.1",
            category=categories.get_by_slug(s, "general"),
            title="<script>alert(1)</script> in my title",
            body="<img src=x onerror=alert(1)> and <b onclick=alert(2)>raw</b> html",
            locale="en",
        )
        path = urls_path(thread)
    page = client.get(path)
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in my title" in page.text
    assert "<img src=x" not in page.text and "<b onclick" not in page.text
    assert "&lt;script&gt;" in client.get("/community").text


def test_held_question_shows_its_author_a_waiting_note(client, db, forum) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        thread = posting.do_create_thread(
            s,
            user=s.get(User, forum.asker),
            address="198.51.100.1",
            category=categories.get_by_slug(s, "general"),
            title="Is this site official?",
            body="I found www.okpay-support.example offering help, is it yours?",
            locale="en",
        )
        path = urls_path(thread)
    assert client.get(path).status_code == 404
    sign_in(client, ASKER)
    page = client.get(path)
    assert page.status_code == 200 and 'data-testid="thread-held"' in page.text
