"""The service centre as a customer meets it in a real browser: a guest's contact form with a
screenshot followed by its number through the e-mailed link, in-app feedback with a screenshot
captured from the page, and a rating once the request is resolved."""

from __future__ import annotations

import io
import re

from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import select

from okpay.support.models import TicketAttachment
from tests.browser.test_identity_flows import make_user, open_newest_mail, sign_in
from tests.support.helpers import load, make_staff, open_ticket
from tests.support.test_customer_pages import as_agent


def png_file(name: str = "screenshot.png") -> dict[str, object]:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (30, 120, 200)).save(out, "PNG")
    return {"name": name, "mimeType": "image/png", "buffer": out.getvalue()}


def attachments(db, number: str) -> list[TicketAttachment]:  # type: ignore[no-untyped-def]
    ticket = load(db, number)
    with db.unit_of_work(write=False) as s:
        stmt = select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)
        return list(s.scalars(stmt))


def test_guest_sends_a_screenshot_and_follows_the_request_by_number(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    page.goto("/help/contact?reference=TX-20261121-7QK3M9")
    expect(page.get_by_test_id("contact-reference")).to_have_value("TX-20261121-7QK3M9")
    page.get_by_test_id("contact-name").fill("Li Hua")
    page.get_by_test_id("contact-email").fill("lihua@example.com")
    page.get_by_test_id("contact-category").select_option("topup")
    page.get_by_test_id("contact-subject").fill("Top-up not arrived")
    page.get_by_test_id("contact-description").fill("I topped up 100 yuan and see nothing.")
    page.get_by_test_id("contact-attachments").set_input_files([png_file("bank.png")])
    page.get_by_test_id("contact-send").click()
    expect(page.get_by_test_id("request-sent")).to_be_visible()
    expect(page.get_by_test_id("request-due")).to_contain_text("We will reply by")
    number = page.get_by_test_id("request-number").inner_text()
    assert re.fullmatch(r"OK-2026-\d{6}", number)

    # Later, in a fresh session, the guest finds it by number and e-mail.
    page.context.clear_cookies()
    page.goto("/support/requests/find")
    page.get_by_test_id("contact-number").fill(number.lower())
    page.get_by_test_id("contact-email").fill("LiHua@example.com")
    page.get_by_test_id("find-submit").click()
    expect(page.get_by_test_id("find-sent")).to_be_visible()
    open_newest_mail(page, "lihua@example.com")
    expect(page.get_by_test_id("mail-subject")).to_contain_text("The link to your request")
    page.get_by_test_id("mail-text").locator("a").first.click()
    expect(page.get_by_test_id("request-number")).to_have_text(number)
    expect(page.get_by_test_id("ticket-subject")).to_have_text("Top-up not arrived")
    expect(page.get_by_test_id("attachment")).to_have_text("bank.png")
    page.get_by_test_id("message-body").fill("The bank says it was sent on Monday.")
    page.get_by_test_id("message-send").click()
    expect(page.get_by_test_id("thread")).to_contain_text("The bank says it was sent on Monday.")
    assert [a.filename for a in attachments(db, number)] == ["bank.png"]


def test_in_app_feedback_with_a_screenshot_captured_from_the_page(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "wang@example.com")
    sign_in(page, "wang@example.com")
    page.goto("/account")
    page.get_by_test_id("feedback-button").click()
    expect(page).to_have_url(re.compile(r"/support/feedback"))
    preview = page.get_by_test_id("feedback-preview")
    expect(preview).to_be_visible()
    assert (preview.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert page.get_by_test_id("feedback-page").input_value() == "/account"
    files = page.get_by_test_id("feedback-screenshot").evaluate("input => input.files.length")
    assert files == 1
    page.get_by_test_id("feedback-description").fill("The security link is hard to find.")
    page.get_by_test_id("feedback-send").click()
    expect(page.get_by_test_id("request-sent")).to_be_visible()
    number = page.get_by_test_id("request-number").inner_text()
    ticket = load(db, number)
    assert ticket.channel == "feedback"
    assert ticket.context["page"] == "/account"
    assert "Chrome" in ticket.context["user_agent"]
    [shot] = attachments(db, number)
    assert (shot.filename, shot.content_type) == ("screenshot.png", "image/png")
    assert shot.size > 1000  # a real picture of the page

    # Removing the capture and uploading another picture instead sends that one.
    page.goto("/wallet")
    page.get_by_test_id("feedback-button").click()
    expect(preview).to_be_visible()
    page.get_by_test_id("feedback-remove").click()
    expect(preview).to_be_hidden()
    page.get_by_test_id("feedback-screenshot").set_input_files([png_file("mine.png")])
    expect(preview).to_be_visible()
    page.get_by_test_id("feedback-description").fill("Here is my own picture.")
    page.get_by_test_id("feedback-send").click()
    second = page.get_by_test_id("request-number").inner_text()
    assert [a.filename for a in attachments(db, second)] == ["mine.png"]


def test_rating_after_resolve_from_the_e_mail(page: Page, db) -> None:  # type: ignore[no-untyped-def]
    agent_id = make_staff(db, "agent@okpay.example")
    number = open_ticket(db, locale="en")
    as_agent(db, number, agent_id, body="The top-up arrived this morning.", then_status="resolved")
    open_newest_mail(page, "lihua@example.com")
    expect(page.get_by_test_id("mail-subject")).to_contain_text("resolved")
    page.get_by_test_id("mail-text").locator("a", has_text="/rate?key=").click()
    expect(page.locator("h1")).to_have_text("Rate our help")
    page.get_by_test_id("rating-4").check()
    page.get_by_test_id("rating-comment").fill("Quick and clear.")
    page.get_by_test_id("rating-submit").click()
    expect(page.get_by_test_id("rating-thanks")).to_contain_text("4 out of 5")
    page.get_by_test_id("rating-5").check()
    page.get_by_test_id("rating-submit").click()
    expect(page.get_by_test_id("rating-thanks")).to_contain_text("5 out of 5")
    rated = load(db, number)
    assert (rated.rating, rated.rating_comment) == (5, "Quick and clear.")
    page.get_by_role("link", name="See the whole conversation").click()
    expect(page.get_by_test_id("thread")).to_contain_text("The top-up arrived this morning.")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Resolved")
