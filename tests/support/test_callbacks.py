"""Callback requests: the form and the API open a phone ticket with the callback's own due
time; bad numbers, closed or past times, floods and scripts are refused with nothing stored;
the agent's phone page lists callbacks due and logging the call marks it done."""

from __future__ import annotations

from sqlalchemy import func, select

from okpay.support import access
from okpay.support.callback_models import Callback
from okpay.support.models import Ticket
from tests.helpcenter.hotline_helpers import HK, add_hotline, local
from tests.helpers import PASSWORD, api_token, csrf_from, post_form
from tests.support.helpers import load, make_staff
from tests.wallet.helpers import make_user

SCRIPT = "<script>alert(1)</script>"
GUEST = {"region": "HK", "number": "6123 4567", "name": "Chan Tai Man",
         "email": "chan@example.com", "when": "asap", "note": "My top-up is missing."}  # fmt: skip


def ask(client, data: dict[str, str]):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/help/callback?region=HK").text)
    return client.post("/help/callback", data={**data, "csrf_token": token}, follow_redirects=False)


def counts(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return (
            s.scalar(select(func.count()).select_from(Ticket)) or 0,
            s.scalar(select(func.count()).select_from(Callback)) or 0,
        )


def test_a_guest_callback_becomes_a_phone_ticket_due_in_opening_hours(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 4, 17, 30)  # Friday, half an hour before closing
    response = ask(client, GUEST)
    assert response.status_code == 303, response.text
    number = response.headers["location"].split("/")[3]
    ticket = load(db, number)
    assert ticket.channel == "phone" and "callback" in ticket.tags
    assert "+852 6123 4567" in ticket.subject
    # As soon as possible = two opening hours: 30 minutes on Friday, 90 on Monday.
    assert ticket.first_reply_due_at == local(HK, 2026, 12, 7, 10, 30)
    assert ticket.next_due_at == ticket.first_reply_due_at
    with db.unit_of_work(write=False) as s:
        cb = s.scalars(select(Callback)).one()
        assert cb.number == "+85261234567" and cb.status == "requested" and cb.region == "HK"
    sent = client.get(response.headers["location"]).text
    assert "/help/contact#hotlines" in sent


def test_a_preferred_time_sets_the_due_time(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 5, 20, 0)  # Saturday evening: closed
    response = ask(client, {**GUEST, "when": "at", "preferred": "2026-12-07T14:15"})
    assert response.status_code == 303
    ticket = load(db, response.headers["location"].split("/")[3])
    assert ticket.first_reply_due_at == local(HK, 2026, 12, 7, 14, 15)


def test_bad_input_is_refused_and_nothing_is_stored(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    bad = [
        ({"number": "12"}, "valid telephone number"),
        ({"number": SCRIPT}, "valid telephone number"),
        ({"when": "at", "preferred": "2026-12-07T20:00"}, "closed then"),  # after hours
        ({"when": "at", "preferred": "2026-12-06T10:00"}, "15 minutes and two weeks"),  # past
        ({"when": "at", "preferred": "2027-03-01T10:00"}, "15 minutes and two weeks"),
        ({"when": "at", "preferred": "soon"}, "date and time"),
        ({"when": "at", "preferred": ""}, "date and time"),
        ({"region": "ZZ"}, "hotline of your region"),
        ({"email": "not-an-email"}, ""),
        ({"note": "x" * 2500}, "2,000"),
    ]
    for change, message in bad:
        response = ask(client, {**GUEST, **change})
        assert response.status_code in (409, 422), (change, response.status_code)
        assert message in response.text, change
        assert SCRIPT not in response.text
    assert counts(db) == (0, 0)


def test_a_script_in_the_note_is_stored_as_text(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    response = ask(client, {**GUEST, "note": SCRIPT})
    assert response.status_code == 303
    page = client.get(response.headers["location"].replace("/sent", "")).text
    assert SCRIPT not in page and "&lt;script&gt;" in page


def test_one_number_cannot_be_flooded_with_callbacks(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    for i in range(3):
        assert ask(client, {**GUEST, "email": f"u{i}@example.com"}).status_code == 303
    refused = ask(client, {**GUEST, "email": "u9@example.com"})
    assert refused.status_code == 429
    assert counts(db) == (3, 3)


def test_refused_without_csrf_and_for_an_unknown_region(client, db) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    assert client.post("/help/callback", data=GUEST).status_code == 403
    assert 'data-testid="hotline-choose"' in client.get("/help/callback?region=QQ").text
    assert counts(db) == (0, 0)


def test_api_callback_signed_in_uses_the_account(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    make_user(db, "mei@example.com")
    client.headers.update(api_token(client, "mei@example.com"))
    body = {"region": "hk", "number": "+852 6123 4567",
            "preferred_at": local(HK, 2026, 12, 8, 11, 0).isoformat()}  # fmt: skip
    response = client.post("/api/v1/support/callbacks", json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["region"] == "HK" and out["number"] == "+85261234567"
    assert out["due_at"].startswith("2026-12-08T03:00")
    ticket = load(db, out["ticket_number"])
    assert ticket.requester_email == "mei@example.com" and ticket.channel == "phone"
    # Extra fields (role, status) are refused; a naive time is refused.
    assert (
        client.post("/api/v1/support/callbacks", json={**body, "status": "done"}).status_code == 422
    )
    naive = {**body, "preferred_at": "2026-12-08T11:00:00"}
    assert client.post("/api/v1/support/callbacks", json=naive).status_code == 422


def test_api_guest_needs_name_and_email(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    response = client.post(
        "/api/v1/support/callbacks", json={"region": "HK", "number": "+852 6123 4567"}
    )
    assert response.status_code == 422
    assert counts(db) == (0, 0)


def test_agent_sees_callbacks_due_and_logging_the_call_marks_it_done(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    location = ask(client, GUEST).headers["location"]
    number = location.split("/")[3]
    client.cookies.clear()
    make_staff(db, "agent@example.com")
    assert (
        post_form(
            client, "/login", {"email": "agent@example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    page = client.get("/agent/phone").text
    assert f'data-ticket="{number}"' in page and "+852 6123 4567" in page
    form = client.get(f"/agent/phone?callback={number}").text
    assert f'name="number" value="{number}"' in form
    response = client.post(
        "/agent/phone",
        data={"number": number, "body": "Called back; the top-up arrived meanwhile.",
              "csrf_token": csrf_from(form)},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303
    with db.unit_of_work(write=False) as s:
        cb = s.scalars(select(Callback)).one()
        assert cb.status == "done" and cb.done_at is not None
        ticket = access.get_ticket(s, number)
        assert ticket is not None and ticket.first_replied_at is not None
    assert f'data-ticket="{number}"' not in client.get("/agent/phone").text


def test_customers_and_strangers_cannot_reach_the_agent_callback_list(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    ask(client, GUEST)
    assert client.get("/agent/phone", follow_redirects=False).status_code in (303, 401, 403)
    make_user(db, "someone@example.com")
    assert (
        post_form(
            client, "/login", {"email": "someone@example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    response = client.get("/agent/phone", follow_redirects=False)
    assert response.status_code in (403, 404) and "+852 6123 4567" not in response.text
