"""Detours that must not lose the page: the language switch after a posted form, a form
refused because the session ended; and the installable app's manifest, worker and offline
page (which carries nothing about the visitor)."""

from __future__ import annotations

import json
import re

from tests.helpers import PASSWORD, csrf_from, post_form
from tests.wallet.helpers import fund, make_user


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


def lang_next(html: str) -> str:
    match = re.search(
        r'<form method="post" action="/language".*?name="next" value="([^"]*)"', html, re.S
    )
    assert match
    return match.group(1)


def test_the_language_switch_on_a_posted_page_goes_back_to_the_form(client, db) -> None:  # type: ignore[no-untyped-def]
    sender = make_user(db, "lang-sender@example.com")
    make_user(db, "lang-payee@example.com")
    fund(db, sender, 10_000)
    sign_in(client, "lang-sender@example.com")
    form = client.get("/wallet/send?note=x")
    assert lang_next(form.text) == "/wallet/send?note=x"
    review = client.post(
        "/wallet/send/review",
        data={
            "recipient": "lang-payee@example.com",
            "amount": "5",
            "currency": "CNY",
            "csrf_token": csrf_from(form.text),
        },
        headers={"Referer": "http://testserver/wallet/send"},
    )
    assert review.status_code == 200 and 'data-testid="send-review"' in review.text
    assert lang_next(review.text) == "/wallet/send"
    # A Referer from elsewhere is never followed.
    elsewhere = client.post(
        "/wallet/send/review",
        data={
            "recipient": "lang-payee@example.com",
            "amount": "5",
            "currency": "CNY",
            "csrf_token": csrf_from(form.text),
        },
        headers={"Referer": "https://evil.example/account"},
    )
    assert lang_next(elsewhere.text) == "/wallet/send"  # the page above, not /account
    switched = client.post(
        "/language",
        data={"locale": "zh_CN", "next": "/wallet/send", "csrf_token": csrf_from(review.text)},
        follow_redirects=False,
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/wallet/send"


def test_a_form_refused_after_the_session_ended_offers_sign_in_back_to_it(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "ended@example.com")
    sign_in(client, "ended@example.com")
    form = client.get("/wallet/send")
    token = csrf_from(form.text)
    client.cookies.delete("okpay_session")
    refused = client.post(
        "/wallet/send/review",
        data={"recipient": "a@example.com", "amount": "5", "currency": "CNY", "csrf_token": token},
        headers={"Referer": "http://testserver/wallet/send"},
    )
    assert refused.status_code == 403  # CSRF still refuses it: nothing happened
    assert 'data-testid="session-ended"' in refused.text
    assert 'href="/login?next=/wallet/send"' in refused.text
    assert "Not allowed" not in refused.text


def test_a_strangers_stale_form_only_says_it_expired(client, db) -> None:  # type: ignore[no-untyped-def]
    client.get("/register")
    refused = client.post("/register", data={"email": "x@example.com", "csrf_token": "0" * 64})
    assert refused.status_code == 403
    assert "This form has expired" in refused.text and "session-ended" not in refused.text


def test_manifest_worker_and_offline_page(client, db) -> None:  # type: ignore[no-untyped-def]
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = json.loads(manifest.text)
    assert body["short_name"] == "OKPay" and body["lang"] == "en"
    assert {i["purpose"] for i in body["icons"] if "purpose" in i} == {"maskable"}
    zh = client.get("/manifest.webmanifest", headers={"Accept-Language": "zh-CN"})
    assert json.loads(zh.text)["lang"] == "zh-CN"

    worker = client.get("/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/"
    assert "__SHELL" not in worker.text and '"/offline"' in worker.text
    assert '"/wallet' not in worker.text and '"/api' not in worker.text

    make_user(db, "offline@example.com")
    sign_in(client, "offline@example.com")
    offline = client.get("/offline")
    assert offline.status_code == 200
    assert "You are offline" in offline.text and "您已离线" in offline.text
    # Cached on the device: nothing about whoever fetched it.
    assert "csrf" not in offline.text and "offline@example.com" not in offline.text
    assert client.get("/favicon.ico").headers["content-type"] == "image/png"


def test_without_a_referer_the_switch_goes_to_the_nearest_page_above(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "no-referer@example.com")
    sign_in(client, "no-referer@example.com")
    form = client.get("/wallet/send")
    review = client.post(
        "/wallet/send/review",
        data={
            "recipient": "x@example.com",
            "amount": "5",
            "currency": "CNY",
            "csrf_token": csrf_from(form.text),
        },
        headers={"Referer": "http://testserver/wallet/send/review"},
    )
    assert lang_next(review.text) == "/wallet/send"
