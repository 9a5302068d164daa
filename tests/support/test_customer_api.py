"""The customer's service-centre API under /api/v1/support, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from okpay.support.models import Ticket, TicketAttachment
from tests.helpers import api_token
from tests.support.helpers import load, make_staff, pdf
from tests.support.test_customer_pages import as_agent
from tests.wallet.helpers import make_user

SCRIPT = "<script>alert(1)</script>"
NEW = {
    "subject": "Withdrawal stuck",
    "body": "My withdrawal of 200 yuan has been pending for three days.",
    "category": "withdrawal",
    "references": ["TX-20261121-7QK3M9"],
}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 200)).save(out, "PNG")
    return out.getvalue()


def customer(client, db, email: str = "wang@example.com") -> dict[str, str]:  # type: ignore[no-untyped-def]
    make_user(db, email)
    return api_token(client, email)


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_create_list_read_and_write(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    auth = customer(client, db)
    created = client.post("/api/v1/support/tickets", json=NEW, headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    number = body["number"]
    assert number.startswith("OK-2026-")
    assert body["status"] == "new" and body["status_label"] == "New"
    assert body["expected_reply_by"] is not None
    assert body["references"] == ["TX-20261121-7QK3M9"]
    assert body["messages"][0]["author"] == "customer"
    assert number in mailbox.last("wang@example.com")["Subject"]
    listed = client.get("/api/v1/support/tickets", headers=auth).json()
    assert [t["number"] for t in listed] == [number]
    msg = client.post(
        f"/api/v1/support/tickets/{number}/messages", json={"body": "Any news?"}, headers=auth
    )
    assert msg.status_code == 201
    assert [m["body"] for m in msg.json()["messages"]][-1] == "Any news?"
    files = client.post(
        f"/api/v1/support/tickets/{number}/files",
        data={"body": "The bank's letter and a screenshot"},
        files=[
            ("files", ("收据.pdf", pdf(), "application/pdf")),
            ("files", ("screen.png", png(), "image/png")),
        ],
        headers=auth,
    )
    assert files.status_code == 201, files.text
    last = files.json()["messages"][-1]
    assert [a["filename"] for a in last["attachments"]] == ["收据.pdf", "screen.png"]
    download = client.get(last["attachments"][0]["url"], headers=auth)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E6%94%B6%E6%8D%AE.pdf"
    )


def test_unknown_fields_and_bad_values_are_refused(client, db) -> None:  # type: ignore[no-untyped-def]
    auth = customer(client, db)
    extra = client.post("/api/v1/support/tickets", json={**NEW, "priority": "urgent"}, headers=auth)
    assert extra.status_code == 422
    crlf = client.post(
        "/api/v1/support/tickets", json={**NEW, "subject": "Hi\r\nBcc: x@y.cn"}, headers=auth
    )
    assert crlf.status_code == 422
    assert crlf.json()["error"]["code"] == "line_break_not_allowed"
    assert crlf.json()["error"]["field"] == "subject"
    ref = client.post("/api/v1/support/tickets", json={**NEW, "references": ["X"]}, headers=auth)
    assert ref.json()["error"]["code"] == "reference_invalid"
    assert count(db, Ticket) == 0
    assert client.get("/api/v1/support/tickets").status_code == 401


def test_disguised_and_oversized_files_are_refused_and_nothing_stored(client, db, settings) -> None:  # type: ignore[no-untyped-def]
    auth = customer(client, db)
    number = client.post("/api/v1/support/tickets", json=NEW, headers=auth).json()["number"]
    disguised = client.post(
        f"/api/v1/support/tickets/{number}/files",
        files=[
            ("files", ("fine.png", png(), "image/png")),
            ("files", ("page.png", b"<html><script>x</script></html>", "image/png")),
        ],
        headers=auth,
    )
    assert disguised.status_code == 422
    assert disguised.json()["error"]["code"] == "upload_rejected"
    assert "page.png" in disguised.json()["error"]["message"]
    settings.upload_max_bytes = 2048
    big = client.post(
        f"/api/v1/support/tickets/{number}/files",
        files=[("files", ("big.pdf", b"%PDF-" + b"0" * 4000, "application/pdf"))],
        headers=auth,
    )
    assert big.status_code == 422 and "too large" in big.json()["error"]["message"]
    assert count(db, TicketAttachment) == 0
    root = settings.data_dir / "attachments"
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))
    assert len(load(db, number).subject) > 0


def test_another_customers_ticket_and_file_are_not_found(client, db) -> None:  # type: ignore[no-untyped-def]
    wang = customer(client, db, "wang@example.com")
    zhao = customer(client, db, "zhao@example.com")
    number = client.post("/api/v1/support/tickets", json=NEW, headers=wang).json()["number"]
    added = client.post(
        f"/api/v1/support/tickets/{number}/files",
        files=[("files", ("screen.png", png(), "image/png"))],
        headers=wang,
    ).json()
    url = added["messages"][-1]["attachments"][0]["url"]
    for method, path, payload in [
        ("GET", f"/api/v1/support/tickets/{number}", None),
        ("GET", url, None),
        ("POST", f"/api/v1/support/tickets/{number}/messages", {"body": "hi"}),
        ("POST", f"/api/v1/support/tickets/{number}/rating", {"rating": 1}),
        ("POST", f"/api/v1/support/tickets/{number}/reminder", None),
    ]:
        response = client.request(method, path, json=payload, headers=zhao)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/support/tickets", headers=zhao).json() == []
    # Zhao's own ticket cannot reach Wang's file by its id either.
    own = client.post("/api/v1/support/tickets", json=NEW, headers=zhao).json()["number"]
    file_id = url.rsplit("/", 1)[1]
    assert (
        client.get(f"/api/v1/support/tickets/{own}/files/{file_id}", headers=zhao).status_code
        == 404
    )


def test_script_comes_back_as_text_never_html(client, db) -> None:  # type: ignore[no-untyped-def]
    auth = customer(client, db)
    body = client.post(
        "/api/v1/support/tickets",
        json={**NEW, "subject": f"Help {SCRIPT}", "body": f"Body {SCRIPT}"},
        headers=auth,
    ).json()
    assert body["subject"] == f"Help {SCRIPT}"
    assert body["messages"][0]["body_html"] is None


def test_rating_and_reminder(client, db, mailbox, clock) -> None:  # type: ignore[no-untyped-def]
    auth = customer(client, db)
    agent_id = make_staff(db, "agent@okpay.example")
    number = client.post("/api/v1/support/tickets", json=NEW, headers=auth).json()["number"]
    early = client.post(f"/api/v1/support/tickets/{number}/reminder", headers=auth)
    assert early.status_code == 409 and early.json()["error"]["code"] == "reminder_too_early"
    not_yet = client.post(
        f"/api/v1/support/tickets/{number}/rating", json={"rating": 5}, headers=auth
    )
    assert not_yet.json()["error"]["code"] == "not_resolved_yet"
    clock.advance(days=5)
    auth = api_token(client, "wang@example.com")  # the old session has gone idle meanwhile
    reminded = client.post(f"/api/v1/support/tickets/{number}/reminder", headers=auth)
    assert reminded.status_code == 200 and reminded.json()["can_remind"] is False
    again = client.post(f"/api/v1/support/tickets/{number}/reminder", headers=auth)
    assert again.json()["error"]["code"] == "already_reminded"
    as_agent(db, number, agent_id)
    assert client.get(f"/api/v1/support/tickets/{number}", headers=auth).json()["can_rate"]
    bad = client.post(f"/api/v1/support/tickets/{number}/rating", json={"rating": 6}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "rating_invalid"
    rated = client.post(
        f"/api/v1/support/tickets/{number}/rating",
        json={"rating": 4, "comment": "Fast"},
        headers=auth,
    )
    assert rated.status_code == 200
    assert (rated.json()["rating"], rated.json()["rating_comment"]) == (4, "Fast")
    changed = client.post(
        f"/api/v1/support/tickets/{number}/rating", json={"rating": 5}, headers=auth
    )
    assert changed.json()["rating"] == 5
    assert load(db, number).rating == 5
