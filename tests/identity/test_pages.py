"""The HTML side: CSRF on every form, escaping, no state change over GET, redirects."""

from __future__ import annotations

from sqlalchemy import func, select

from okpay.identity import operators
from okpay.identity.models import Role, User
from tests.helpers import PASSWORD, post_form


def make_user(db, email: str = "page@example.com"):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return operators.do_create_user(
            s, email=email, password=PASSWORD, role=Role.customer, name="Page"
        )


def sign_in(client, email: str = "page@example.com") -> None:  # type: ignore[no-untyped-def]
    response = post_form(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text


def test_forms_without_or_with_a_forged_csrf_token_are_refused(client, db) -> None:
    client.get("/register")
    missing = client.post("/register", data={"email": "x@example.com", "password": PASSWORD})
    forged = client.post(
        "/register", data={"email": "x@example.com", "password": PASSWORD, "csrf_token": "0" * 64}
    )
    assert missing.status_code == forged.status_code == 403
    assert "This form has expired" in forged.text
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 0


def test_csrf_token_from_another_browser_is_refused(app, client, db) -> None:
    from starlette.testclient import TestClient

    make_user(db)
    other = TestClient(app, base_url="http://testserver")
    other.get("/login")
    stolen = other.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    client.get("/login")
    response = client.post(
        "/login", data={"email": "page@example.com", "password": PASSWORD, "csrf_token": stolen}
    )
    assert response.status_code == 403


def test_sign_in_sets_a_hardened_cookie_and_a_new_session_id(client, db) -> None:
    make_user(db)
    client.get("/login")
    response = post_form(client, "/login", {"email": "page@example.com", "password": PASSWORD})
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("okpay_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    first = client.cookies.get("okpay_session")
    post_form(client, "/logout", {}, from_page="/")
    assert client.get("/account", follow_redirects=False).status_code == 303  # to sign-in
    sign_in(client)
    assert client.cookies.get("okpay_session") != first


def test_pages_escape_user_text(client, db) -> None:
    with db.unit_of_work() as s:
        operators.do_create_user(
            s,
            email="xss@example.com",
            password=PASSWORD,
            role=Role.customer,
            name='<img src=x onerror="alert(1)">',
        )
    sign_in(client, "xss@example.com")
    html = client.get("/account").text  # "/" sends a signed-in customer to the wallet
    assert '<img src=x onerror="alert(1)">' not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html


def test_email_links_change_nothing_on_get(client, mailbox, db) -> None:
    client.post("/api/v1/auth/register", json={"email": "get@example.com", "password": PASSWORD})
    link = mailbox.link("get@example.com", "/verify-email").replace("http://testserver", "")
    page = client.get(link)
    assert page.status_code == 200 and 'action="/verify-email"' in page.text
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(User.email_verified_at)) is None


def test_protected_page_redirects_to_sign_in_and_back(client, db) -> None:
    make_user(db)
    response = client.get("/account/security", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccount%2Fsecurity"
    client.get("/login")
    done = post_form(
        client,
        "/login",
        {"email": "page@example.com", "password": PASSWORD, "next": "/account/security"},
    )
    assert done.headers["location"] == "/account/security"


def test_open_redirects_are_refused(client, db) -> None:
    make_user(db)
    done = post_form(
        client,
        "/login",
        {"email": "page@example.com", "password": PASSWORD, "next": "//evil.example/steal"},
    )
    assert done.headers["location"] == "/wallet"


def test_wrong_password_page_is_in_the_users_language(client, db) -> None:
    make_user(db)
    client.headers["Accept-Language"] = "zh-CN,zh;q=0.9"
    response = post_form(
        client, "/login", {"email": "page@example.com", "password": "nope nope nope"}
    )
    assert response.status_code == 401
    assert "邮箱或密码不正确" in response.text or "密码" in response.text
    assert 'lang="zh-CN"' in response.text


def test_security_page_lists_sessions_and_history(client, db) -> None:
    make_user(db)
    sign_in(client)
    html = client.get("/account/security").text
    assert html.count('data-testid="session-row"') == 1
    assert "Signed in" in html
