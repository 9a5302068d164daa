"""Small helpers the tests share: CSRF tokens from pages, sign-up and sign-in shortcuts."""

from __future__ import annotations

import re

import pyotp
from starlette.testclient import TestClient

PASSWORD = "correct horse battery"


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def page_csrf(client: TestClient, path: str = "/login") -> str:
    return csrf_from(client.get(path).text)


def post_form(
    client: TestClient,
    path: str,
    data: dict[str, str],
    *,
    from_page: str | None = None,
    follow: bool = False,
):  # type: ignore[no-untyped-def]
    token = page_csrf(client, from_page or path)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=follow)


def api_register(client: TestClient, email: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, **extra}
    )


def api_verified_user(client: TestClient, mailbox, email: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    assert api_register(client, email, password).status_code == 202
    token = mailbox.token(email, "/verify-email")
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200


def api_login(client: TestClient, email: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password, **extra})


def api_token(
    client: TestClient, email: str, password: str = PASSWORD, **extra: str
) -> dict[str, str]:
    response = api_login(client, email, password, **extra)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def totp_now(secret: str, clock_now) -> str:  # type: ignore[no-untyped-def]
    return pyotp.TOTP(secret).at(clock_now)


NEW_PASSWORD = "a brand new passphrase"


def finish_assisted_unlock(client: TestClient, email: str, clock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """After an assisted unlock: sign in with the old password, choose NEW_PASSWORD, enrol
    TOTP; the bearer headers of the session, which may then do anything."""
    headers = api_token(client, email)
    changed = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    secret = client.post("/api/v1/me/2fa/setup", headers=headers).json()["secret"]
    confirmed = client.post(
        "/api/v1/me/2fa/confirm",
        json={"password": NEW_PASSWORD, "code": totp_now(secret, clock.now)},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    return headers
