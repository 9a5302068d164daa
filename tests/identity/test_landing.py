"""Where people land after signing in (issue 15): staff on the console, customers on their
wallet; a ``next`` target still wins, and ``/`` sends a signed-in person to their page."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from okpay.identity import operators
from okpay.identity.models import Role
from tests.helpers import PASSWORD, post_form


def _user(db, email: str, role: Role) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        operators.do_create_user(s, email=email, password=PASSWORD, role=role, name="Land")


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (Role.customer, "/wallet"),
        (Role.agent, "/agent"),
        (Role.supervisor, "/agent"),
        (Role.admin, "/agent"),
    ],
)
def test_sign_in_lands_on_the_console_or_the_wallet(client, db, role, landing) -> None:  # type: ignore[no-untyped-def]
    _user(db, "land@example.com", role)
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200  # signed out: the welcome page
    done = post_form(client, "/login", {"email": "land@example.com", "password": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == landing
    again = client.get("/", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == landing
    assert client.get(landing).status_code == 200


def test_a_next_target_still_wins(app, db) -> None:  # type: ignore[no-untyped-def]
    _user(db, "agent-next@example.com", Role.agent)
    _user(db, "customer-next@example.com", Role.customer)
    for email, target in (
        ("agent-next@example.com", "/support/requests"),
        ("customer-next@example.com", "/account/security"),
    ):
        with TestClient(app, base_url="http://testserver") as browser:
            done = post_form(
                browser, "/login", {"email": email, "password": PASSWORD, "next": target}
            )
            assert done.headers["location"] == target
