"""Issue 11, item 14: no ``next`` (or back-link) ever sends the browser to another site."""

from __future__ import annotations

import re

import pyotp
import pytest
from starlette.testclient import TestClient

from okpay.web.redirects import safe_next
from tests.helpers import PASSWORD, api_token, csrf_from, post_form
from tests.identity.test_two_factor_and_profile import enable_2fa
from tests.support.helpers import make_staff
from tests.wallet.helpers import make_user

OFF_SITE = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n//evil.example",
    "/ /evil.example",
    "/\u2028/evil.example",
    "/\x00/evil.example",
    "javascript:alert(1)",
    "evil.example",
    " /wallet",
    "/" + "a" * 2100,
    "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_i11_item14_safe_next_refuses_anything_off_site(target: str) -> None:
    assert safe_next(target) == "/"
    assert safe_next(target, "/wallet/methods") == "/wallet/methods"


def test_i11_item14_safe_next_keeps_paths_on_this_site() -> None:
    for target in ("/", "/wallet", "/wallet/history?currency=CNY&page=2", "/help/a%2F%2Fb"):
        assert safe_next(target) == target


def test_i11_item14_next_never_leaves_site(app, client, db, clock) -> None:
    """Every route that takes ``next`` (or goes back to a page) answers with a same-site
    path, whatever it is given: login (GET and POST, and through the 2FA step), the language
    switch, adding a card, and the agent console's back-links."""
    evil = "https://evil.example/"
    make_user(db, "alice@example.com")

    # GET /login?next=… keeps only a safe value in the form.
    page = client.get("/login", params={"next": "//evil.example/"})
    assert re.search(r'<input type="hidden" name="next" value="/">', page.text)

    # POST /login with next=…
    signed_in = post_form(
        client, "/login", {"email": "alice@example.com", "password": PASSWORD, "next": evil}
    )
    # (an unsafe next is dropped: a customer lands on the wallet)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/wallet"
    # GET /login?next=… once signed in redirects at once.
    again = client.get("/login", params={"next": "/\\evil.example"}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/"

    # POST /language
    for target in (evil, "/\t/evil.example", "/wallet"):
        switched = post_form(client, "/language", {"locale": "en", "next": target}, from_page="/")
        assert switched.status_code == 303
        assert switched.headers["location"] == ("/wallet" if target == "/wallet" else "/")

    # POST /wallet/methods/card?next=…
    for target, expected in ((evil, "/wallet/methods"), ("/wallet/topup", "/wallet/topup")):
        token = csrf_from(client.get("/wallet/methods").text)
        added = client.post(
            "/wallet/methods/card",
            params={"next": target},
            data={
                "card_number": "4242 4242 4242 4242",
                "expiry": "12/30",
                "cvc": "123",
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        assert added.status_code == 303 and added.headers["location"] == expected

    # POST /login then /login/2fa: the next kept across the second step is checked too.
    make_user(db, "bo@example.com")
    with TestClient(app, base_url="http://testserver") as other:
        secret, _codes = enable_2fa(other, api_token(other, "bo@example.com"), clock)
        first = post_form(
            other, "/login", {"email": "bo@example.com", "password": PASSWORD, "next": evil}
        )
        assert first.headers["location"] == "/login/2fa"
        clock.advance(seconds=30)
        second = post_form(
            other, "/login/2fa", {"code": pyotp.TOTP(secret).at(clock.now)}, from_page="/login/2fa"
        )
        assert second.status_code == 303 and second.headers["location"] == "/wallet"

    # The agent console goes back to the Referer only when it is one of its own pages.
    make_staff(db, "agent@okpay.example")
    with TestClient(app, base_url="http://testserver") as agent:
        post_form(agent, "/login", {"email": "agent@okpay.example", "password": PASSWORD})
        token = csrf_from(agent.get("/agent").text)
        for referer, expected in (
            ("https://evil.example/agent", "/agent"),
            ("http://testserver/agent\\\\evil.example", "/agent"),
            ("http://testserver/agent?status=open", "/agent?status=open"),
        ):
            back = agent.post(
                "/agent/bulk",
                data={"csrf_token": token, "action": "priority", "value_priority": "low"},
                headers={"Referer": referer},
                follow_redirects=False,
            )
            assert back.status_code == 303 and back.headers["location"] == expected
