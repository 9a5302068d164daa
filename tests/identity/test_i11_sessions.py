"""Issue 11, item 12: freezing (or locking, or closing) an account ends its sessions."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from okpay.identity import operators
from okpay.identity.models import AccountStatus, Role, UserSession
from tests.helpers import PASSWORD, api_token, post_form
from tests.wallet.helpers import make_user


def _staff(db, email: str) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return operators.do_create_user(
            s, email=email, password=PASSWORD, role=Role.supervisor, name="Sam"
        ).id


def _live_sessions(db, user_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(
            s.scalars(
                select(UserSession.kind).where(
                    UserSession.user_id == user_id, UserSession.ended_at.is_(None)
                )
            )
        )


def test_i11_item12_freeze_ends_sessions(app, client, db) -> None:
    """A staff freeze through the admin API ends the customer's browser session and API
    token at once (the freeze and the sign-out commit together); the staff member stays
    signed in, and the customer may sign in again to see why the account is frozen."""
    alice = make_user(db, "alice@example.com")
    staff = _staff(db, "sam@example.com")
    assert post_form(client, "/login", {"email": "alice@example.com", "password": PASSWORD})
    assert client.get("/wallet", follow_redirects=False).status_code == 200
    alice_api = api_token(client, "alice@example.com")
    with TestClient(app, base_url="http://testserver") as staff_client:
        staff_api = api_token(staff_client, "sam@example.com")
        assert sorted(_live_sessions(db, alice)) == ["api", "web"]
        frozen = staff_client.post(
            f"/api/v1/admin/users/{alice}/freeze",
            headers=staff_api,
            json={"reason": "Suspicious activity"},
        )
        assert frozen.status_code == 204, frozen.text
        assert staff_client.get("/api/v1/me", headers=staff_api).status_code == 200
    assert _live_sessions(db, alice) == []
    assert _live_sessions(db, staff) == ["api"]
    assert client.get("/api/v1/me", headers=alice_api).status_code == 401
    page = client.get("/wallet", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    again = api_token(client, "alice@example.com")
    assert client.get("/api/v1/me", headers=again).json()["status"] == "frozen"


def test_i11_item12_staff_lock_ends_sessions_but_restriction_does_not(client, db) -> None:
    alice = make_user(db, "alice@example.com")
    api_token(client, "alice@example.com")
    with db.unit_of_work() as s:
        operators.do_set_status(
            s, user_id=alice, status=AccountStatus.restricted, reason="kyc", actor_user_id=None
        )
    assert _live_sessions(db, alice) == ["api"]
    with db.unit_of_work() as s:
        operators.do_set_status(
            s, user_id=alice, status=AccountStatus.locked, reason="security", actor_user_id=None
        )
    assert _live_sessions(db, alice) == []
