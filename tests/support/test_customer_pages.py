"""What customers see of the service centre, through the pages: the contact form, following a
request by number, "My requests", the thread, reminders, ratings and in-app feedback."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from okpay.support import access, customer, messages, routing, status
from okpay.support.models import Ticket, TicketAttachment
from tests.helpers import PASSWORD, csrf_from, post_form
from tests.support.helpers import load, make_staff, open_ticket, pdf, user
from tests.wallet.helpers import make_user

SCRIPT = "<script>alert(1)</script>"


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def contact(client, data: dict[str, str], files=None):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/help/contact").text)
    return client.post(
        "/help/contact",
        data={**data, "csrf_token": token},
        files=files or [],
        follow_redirects=False,
    )


GUEST = {
    "name": "Li Hua",
    "email": "lihua@example.com",
    "category": "topup",
    "subject": "Top-up not arrived",
    "description": "I topped up 100 yuan yesterday and it is not in my wallet.",
    "reference": "TX-20261121-7QK3M9",
}


def tickets(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(Ticket)) or 0)


def stored_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = settings.data_dir / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    response = post_form(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text


def as_agent(db, number: str, agent_id: int, **reply: object) -> None:  # type: ignore[no-untyped-def]
    """An agent acts on the ticket: ``reply`` (do_agent_reply's arguments), else resolves it."""
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        agent = user(s, agent_id)
        if reply:
            messages.do_agent_reply(s, ticket=ticket, agent=agent, **reply)  # type: ignore[arg-type]
        else:
            status.do_set_status(s, ticket=ticket, status="resolved", agent=agent)


def key_link(mailbox, address: str) -> str:  # type: ignore[no-untyped-def]
    body = mailbox.text(mailbox.last(address))
    match = re.search(r"http://testserver(/support/requests/OK-\d{4}-\d{6}\?key=[\w%-]+)", body)
    assert match, body
    return match.group(1)


def test_guest_sends_the_form_with_a_screenshot_and_follows_the_request(
    client, db, mailbox, settings
) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/help/contact?reference=TX-20261121-7QK3M9")
    assert 'value="TX-20261121-7QK3M9"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert '<script src="/static/js/help-contact.js"' in page.text
    response = contact(client, GUEST, files=[("attachments", ("shot.png", png(), "image/png"))])
    assert response.status_code == 303
    assert re.fullmatch(
        r"/support/requests/OK-2026-\d{6}/sent\?key=\w+", response.headers["location"]
    )
    sent = client.get(response.headers["location"])
    number = re.search(r'data-testid="request-number">([^<]+)<', sent.text).group(1)  # type: ignore[union-attr]
    assert "We will reply by" in sent.text
    ticket = load(db, number)
    assert ticket.references == ["TX-20261121-7QK3M9"] and ticket.channel == "web"
    # The confirmation e-mail's link opens the thread without signing in.
    link = key_link(mailbox, "lihua@example.com")
    thread = client.get(link)
    assert thread.status_code == 200
    assert "Top-up not arrived" in thread.text and "shot.png" in thread.text
    assert "New" in thread.text  # the status in the customer's words
    # The file downloads as an attachment with its stored type.
    file_url = re.search(r'href="(/support/requests/[^"]+/files/\d+\?key=[^"]+)"', thread.text)
    assert file_url
    download = client.get(file_url.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''shot.png" in download.headers["content-disposition"]
    # The guest adds a message with a file on the same page.
    token = csrf_from(thread.text)
    key = link.split("key=", 1)[1]
    added = client.post(
        f"/support/requests/{number}/messages",
        data={"csrf_token": token, "key": key, "body": "Here is the bank receipt."},
        files=[("attachments", ("收据.pdf", pdf(), "application/pdf"))],
        follow_redirects=True,
    )
    assert "Here is the bank receipt." in added.text and "收据.pdf" in added.text


def test_form_errors_keep_every_field_and_say_what_is_wrong(client, db, settings) -> None:  # type: ignore[no-untyped-def]
    bad = {
        **GUEST,
        "email": "not-an-address",
        "subject": "Line one\r\nBcc: x@example.com",
        "description": "",
        "reference": "TX-123",
    }
    response = contact(client, bad, files=[("attachments", ("ok.png", png(), "image/png"))])
    assert response.status_code == 422
    html = response.text
    for name, message in [
        ("email", "Please enter a valid e-mail address."),
        ("subject", "Line breaks are not allowed here."),
        ("description", "Please describe what happened."),
        ("reference", "is not a transaction reference"),
    ]:
        found = re.search(rf'data-error-for="{name}">([^<]+)<', html)
        assert found and message in found.group(1), name
    assert 'value="Li Hua"' in html and 'value="not-an-address"' in html
    assert 'value="TX-123"' in html
    assert '<option value="topup" selected>' in html
    assert tickets(db) == 0
    # The good screenshot is kept for the next try, so nothing has to be picked again.
    kept = re.findall(r'name="kept" value="([^"]+)"', html)
    assert len(kept) == 1 and "ok.png" in html
    token = csrf_from(html)
    fixed = client.post(
        "/help/contact",
        data={**GUEST, "csrf_token": token, "kept": kept[0]},
        follow_redirects=False,
    )
    assert fixed.status_code == 303
    with db.unit_of_work(write=False) as s:
        rows = list(s.scalars(select(TicketAttachment)))
    assert [r.filename for r in rows] == ["ok.png"]
    assert len(stored_files(settings)) == 1  # the parked copy is gone


@pytest.mark.parametrize(
    ("field", "value"), [("name", "Li\r\nHua"), ("subject", "Top-up\nBcc: a@example.com")]
)
def test_line_breaks_in_name_or_subject_are_refused(client, db, field: str, value: str) -> None:  # type: ignore[no-untyped-def]
    response = contact(client, {**GUEST, field: value})
    assert response.status_code == 422
    assert re.search(rf'data-error-for="{field}">Line breaks are not allowed here.<', response.text)
    assert tickets(db) == 0


def test_disguised_or_oversized_uploads_are_refused_with_nothing_written(
    client, db, settings
) -> None:  # type: ignore[no-untyped-def]
    html_as_png = b"<html><script>alert(1)</script></html>"
    response = contact(
        client, GUEST, files=[("attachments", ("photo.png", html_as_png, "image/png"))]
    )
    assert response.status_code == 422
    assert "does not contain what its name says" in response.text
    settings.upload_max_bytes = 2048
    big = contact(
        client,
        GUEST,
        files=[("attachments", ("big.pdf", b"%PDF-" + b"0" * 5000, "application/pdf"))],
    )
    assert big.status_code == 422
    assert "is too large" in big.text
    assert tickets(db) == 0
    assert stored_files(settings) == []
    assert 'value="Top-up not arrived"' in big.text


def test_script_in_every_field_and_file_name_is_shown_escaped(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    data = {
        **GUEST,
        "name": f"Li {SCRIPT}",
        "subject": f"Help {SCRIPT}",
        "description": f"It says {SCRIPT} and <img src=x onerror=alert(2)>",
    }
    shot = (f"{SCRIPT}.png", png(), "image/png")
    response = contact(client, data, files=[("attachments", shot)])
    assert response.status_code == 303
    page = client.get(key_link(mailbox, "lihua@example.com"))
    assert SCRIPT not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    # A form error shows the typed values escaped too.
    again = contact(client, {**data, "email": "bad"})
    assert again.status_code == 422 and SCRIPT not in again.text


def test_other_customers_tickets_and_files_are_not_found(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "wang@example.com")
    make_user(db, "zhao@example.com")
    sign_in(client, "wang@example.com")
    response = contact(
        client,
        {"subject": "Mine", "description": "Private story", "category": "topup"},
        files=[("attachments", ("mine.png", png(), "image/png"))],
    )
    assert response.status_code == 303
    number = response.headers["location"].split("/")[3]
    own = client.get(f"/support/requests/{number}")
    assert own.status_code == 200 and "Private story" in own.text
    file_path = re.search(r'href="(/support/requests/[^"?]+/files/\d+)"', own.text).group(1)  # type: ignore[union-attr]
    assert client.get(file_path).status_code == 200
    listing = client.get("/support/requests")
    assert number in listing.text and "Mine" in listing.text
    client.cookies.clear()
    sign_in(client, "zhao@example.com")
    assert client.get(f"/support/requests/{number}").status_code == 404
    assert client.get(file_path).status_code == 404
    assert number not in client.get("/support/requests").text
    assert client.get(f"/support/requests/{number}?key=wrong").status_code == 404
    client.cookies.clear()
    assert client.get(f"/support/requests/{number}?key=0" * 1).status_code == 404
    # Another ticket's attachment id under this ticket's number is not found either.
    other = open_ticket(db)
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, other)
        assert ticket is not None
        other_key = access.access_key(ticket)
    attachment_id = file_path.rsplit("/", 1)[1]
    assert (
        client.get(f"/support/requests/{other}/files/{attachment_id}?key={other_key}").status_code
        == 404
    )


def test_signed_in_email_is_fixed_to_the_account(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "wang@example.com")
    sign_in(client, "wang@example.com")
    form = client.get("/help/contact")
    assert 'value="wang@example.com" readonly' in form.text
    assert "/support/requests" in form.text  # "My requests" in the signed-in navigation
    response = contact(client, {**GUEST, "email": "someone-else@example.com"})
    number = response.headers["location"].split("/")[3]
    assert load(db, number).requester_email == "wang@example.com"
    assert mailbox.to("someone-else@example.com") == []


def test_find_by_number_answers_the_same_and_mails_only_the_requester(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    number = open_ticket(db)
    mailbox.clear()

    def find(num: str, email: str) -> str:
        response = post_form(client, "/support/requests/find", {"number": num, "email": email})
        assert response.status_code == 200
        return response.text.replace(email, "EMAIL")

    wrong_email = find(number, "attacker@example.com")
    unknown = find("OK-2026-000999", "lihua@example.com")
    assert mailbox.messages == []
    right = find(number.lower(), "LiHua@example.com")
    assert right == wrong_email == unknown
    link = key_link(mailbox, "lihua@example.com")
    assert client.get(link).status_code == 200
    assert mailbox.to("attacker@example.com") == []


def test_find_is_rate_limited(client, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(customer, "FINDS_PER_IP", 2)
    for _ in range(2):
        r = post_form(client, "/support/requests/find", {"number": "OK-2026-1", "email": "a@b.cn"})
        assert r.status_code == 200
    r = post_form(client, "/support/requests/find", {"number": "OK-2026-1", "email": "a@b.cn"})
    assert r.status_code == 429 and "Too many attempts" in r.text


def test_guest_submissions_are_rate_limited_and_keep_the_form(client, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(customer, "GUEST_TICKETS_PER_IP", 1)
    assert contact(client, GUEST).status_code == 303
    again = contact(client, GUEST)
    assert again.status_code == 429
    assert "Too many attempts" in again.text and 'value="Top-up not arrived"' in again.text
    assert tickets(db) == 1


def test_internal_notes_stay_hidden_and_reminder_after_the_promised_time(
    client, db, mailbox, clock
) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    number = open_ticket(db, category="fees", subject="Fee question", body="Why a fee?")
    before = load(db, number).priority
    as_agent(db, number, agent_id, body="Secret note", internal=True)
    link = key_link(mailbox, "lihua@example.com")
    page = client.get(link)
    assert "Secret note" not in page.text
    assert 'data-testid="remind"' not in page.text
    clock.advance(days=5)
    page = client.get(link)
    assert 'data-testid="remind"' in page.text
    key = link.split("key=", 1)[1]
    done = client.post(
        f"/support/requests/{number}/reminder",
        data={"csrf_token": csrf_from(page.text), "key": key},
        follow_redirects=True,
    )
    assert "moved your request up" in done.text
    order = routing.PRIORITY_ORDER
    assert order.index(load(db, number).priority) == min(order.index(before) + 1, 3)


def test_rating_after_resolve_by_the_e_mailed_link(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    number = open_ticket(db)
    as_agent(db, number, agent_id)
    body = mailbox.text(mailbox.last("lihua@example.com"))
    rate = re.search(r"http://testserver(/support/requests/[^\s]+/rate\?key=[\w%-]+)", body)
    assert rate
    form = client.get(rate.group(1))
    assert form.status_code == 200 and 'data-testid="rating-5"' in form.text
    key = rate.group(1).split("key=", 1)[1]
    bad = client.post(
        f"/support/requests/{number}/rate",
        data={"csrf_token": csrf_from(form.text), "key": key, "rating": "9", "back": "rate",
              "comment": "Quick <b>answer</b>"},
    )  # fmt: skip
    assert bad.status_code == 422 and "Please choose a rating from 1 to 5." in bad.text
    assert "Quick &lt;b&gt;answer&lt;/b&gt;" in bad.text
    done = client.post(
        f"/support/requests/{number}/rate",
        data={"csrf_token": csrf_from(form.text), "key": key, "rating": "4", "back": "rate",
              "comment": "Quick answer"},
        follow_redirects=True,
    )  # fmt: skip
    assert "Thank you for your rating: 4 out of 5." in done.text
    changed = client.post(
        f"/support/requests/{number}/rate",
        data={"csrf_token": csrf_from(done.text), "key": key, "rating": "5"},
        follow_redirects=True,
    )
    assert "Thank you for your rating: 5 out of 5." in changed.text
    assert load(db, number).rating == 5


def test_feedback_opens_a_ticket_with_screenshot_page_browser_and_version(client, db) -> None:  # type: ignore[no-untyped-def]
    from okpay import __version__

    make_user(db, "wang@example.com")
    signed_out = client.get("/support/feedback", follow_redirects=False)
    assert signed_out.status_code in (302, 303, 307)  # sign in first
    sign_in(client, "wang@example.com")
    wallet = client.get("/wallet")
    assert 'data-testid="feedback-button"' in wallet.text
    assert 'href="/support/feedback?from=/wallet"' in wallet.text
    form = client.get("/support/feedback?from=/wallet/history")
    assert 'value="/wallet/history"' in form.text
    response = client.post(
        "/support/feedback",
        data={
            "csrf_token": csrf_from(form.text),
            "description": "The history filter forgets the currency.",
            "page": "/wallet/history?currency=USD",
        },
        files=[("screenshot", ("screenshot.png", png(), "image/png"))],
        headers={"User-Agent": "FeedbackTest/1.0"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    number = response.headers["location"].split("/")[3]
    ticket = load(db, number)
    assert ticket.channel == "feedback"
    assert ticket.context == {
        "page": "/wallet/history?currency=USD",
        "user_agent": "FeedbackTest/1.0",
        "app_version": __version__,
    }
    assert ticket.subject.startswith("Feedback: The history filter")
    with db.unit_of_work(write=False) as s:
        files = list(s.scalars(select(TicketAttachment.filename)))
    assert files == ["screenshot.png"]


def test_feedback_keeps_only_our_own_page_addresses(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "wang@example.com")
    sign_in(client, "wang@example.com")
    form = client.get("/support/feedback?from=https://evil.example/phish")
    assert 'name="page" value=""' in form.text
    response = client.post(
        "/support/feedback",
        data={"csrf_token": csrf_from(form.text), "description": "", "page": "javascript:x"},
    )
    assert response.status_code == 422
    assert re.search(r'data-error-for="description">Please describe what happened.<', response.text)
    assert tickets(db) == 0
