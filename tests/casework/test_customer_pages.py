"""Casework as customers meet it in the pages: each request form's happy path and refusals
(the error by its field, in the reader's language, nothing lost), the case page (only the
customer's own; text escaped), the emergency freeze with its case number, and the entry
points where the problem shows (banner, refusal, limits, transaction page)."""

from __future__ import annotations

import io
import re

from PIL import Image
from sqlalchemy import func, select

from okpay.casework import cases
from okpay.casework.models import Case, CaseEvidence
from okpay.identity.models import User
from okpay.support.models import Ticket
from okpay.wallet import overrides, standing
from tests.casework.helpers import customer, shop_payments
from tests.helpers import PASSWORD, csrf_from, post_form
from tests.wallet.helpers import make_user

SCRIPT = "<script>alert(1)</script>"


def png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, "PNG")
    return out.getvalue()


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    response = post_form(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text


def restrict(db, uid: int, reason: str = "Unusual activity under review") -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        standing.do_restrict(
            s, user_id=uid, blocked=["transfer", "withdraw"], reason=reason, actor_user_id=None
        )


def submit(client, path: str, data: dict[str, str], files=None, page: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(page or path).text)
    return client.post(
        path, data={**data, "csrf_token": token}, files=files or [], follow_redirects=False
    )


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def only_case(db) -> Case:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        case = s.scalars(select(Case)).one()
        s.expunge(case)
        return case


def error_for(html: str, field: str) -> str:
    match = re.search(rf'data-error-for="{field}">([^<]+)<', html)
    assert match, f"no error shown for {field}"
    return match.group(1)


# ------------------------------------------------------------------------------ appeal


def test_appeal_from_the_banner_with_a_file(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    restrict(db, uid)
    sign_in(client, "mei@example.com")
    home = client.get("/wallet").text
    assert "Restricted" in home and "Unusual activity under review" in home
    assert 'href="/support/cases/new/appeal"' in home

    page = client.get("/support/cases/new/appeal").text
    assert "Unusual activity under review" in page
    made = submit(
        client, "/support/cases/new/appeal",
        {"statement": "These were payments to my family."},
        files=[("other", ("receipt.png", png(), "image/png"))],
    )  # fmt: skip
    assert made.status_code == 303, made.text
    case = only_case(db)
    assert made.headers["location"] == f"/support/cases/{case.id}"
    assert case.type == "appeal" and case.status == "submitted"
    shown = client.get(made.headers["location"]).text
    assert 'aria-current="step">Submitted<' in shown
    assert "receipt.png" in shown and "Other evidence" in shown
    link = re.search(r'href="(/support/requests/OK-\d{4}-\d{6}/files/\d+)">receipt.png', shown)
    assert link and client.get(link.group(1)).status_code == 200  # their own file
    assert re.search(r"We will decide by \w{3} \d", shown)  # a date in words, never ISO
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", shown)
    with db.unit_of_work(write=False) as s:
        assert [e.kind for e, _ in cases.evidence_of(s, s.get(Case, case.id))] == ["other"]
    # The banner's Appeal now leads to the appeal already open, not to a second one.
    again = client.get("/support/cases/new/appeal", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/support/cases/{case.id}"


def test_appeal_refusals_keep_what_was_typed(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    sign_in(client, "mei@example.com")
    # Not restricted: nothing to appeal, said in words, nothing opened.
    made = submit(client, "/support/cases/new/appeal", {"statement": "Please look at my account."})
    assert made.status_code == 422
    assert "nothing to appeal" in made.text and "Please look at my account." in made.text
    restrict(db, uid)
    short = submit(
        client, "/support/cases/new/appeal", {"statement": "why"},
        files=[("other", ("receipt.png", png(), "image/png"))],
    )  # fmt: skip
    assert short.status_code == 422
    assert "at least 10 characters" in error_for(short.text, "statement")
    assert 'name="kept_other"' in short.text and "receipt.png" in short.text  # the file kept
    token = re.search(r'name="kept_other" value="([^"]+)"', short.text).group(1)  # type: ignore[union-attr]
    again = submit(
        client, "/support/cases/new/appeal",
        {"statement": "These were payments to my family.", "kept_other": token},
    )  # fmt: skip
    assert again.status_code == 303
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(CaseEvidence)) == 1
    # A second appeal while one is open: refused with its number.
    dup = submit(client, "/support/cases/new/appeal", {"statement": "Again, please look at it."})
    assert dup.status_code == 409 and "already have an open request" in dup.text


def test_chinese_form_errors(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    restrict(db, uid)
    sign_in(client, "mei@example.com")
    client.cookies.set("okpay_locale", "zh_CN")
    page = client.get("/support/cases/new/appeal", headers={"Accept-Language": "zh-CN"})
    assert "申诉" in page.text
    short = client.post(
        "/support/cases/new/appeal",
        data={"statement": "x", "csrf_token": csrf_from(page.text)},
        headers={"Accept-Language": "zh-CN"},
    )
    assert short.status_code == 422
    assert re.search(r"[\u4e00-\u9fff]", error_for(short.text, "statement"))


# ------------------------------------------------------------------------- verification


def test_verification_needs_documents_per_level(client, db) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "lan@example.com", level=0)
    sign_in(client, "lan@example.com")
    page = client.get("/support/cases/new/verification").text
    for kind in ("id_front", "id_back", "passport", "address", "income"):
        assert f'name="{kind}"' in page
    missing = submit(
        client, "/support/cases/new/verification", {"level": "2"},
        files=[("id_front", ("front.png", png(), "image/png"))],
    )  # fmt: skip
    assert missing.status_code == 422
    assert "both sides" in error_for(missing.text, "identity")
    assert "proof of address" in error_for(missing.text, "address")
    assert "Level 2 needs" in error_for(missing.text, "income")
    assert "front.png" in missing.text  # kept
    assert count(db, Case) == 0
    bad_level = submit(client, "/support/cases/new/verification", {"level": "9"})
    assert "Choose the level" in error_for(bad_level.text, "level")

    made = submit(
        client, "/support/cases/new/verification", {"level": "1"},
        files=[("passport", ("passport.png", png(), "image/png")),
               ("address", ("bill.png", png((1, 2, 3)), "image/png"))],
    )  # fmt: skip
    assert made.status_code == 303, made.text
    case = only_case(db)
    assert case.details == {"level": 1, "from_level": 0} and case.user_id == uid
    with db.unit_of_work(write=False) as s:
        kinds = sorted(e.kind for e, _ in cases.evidence_of(s, s.get(Case, case.id)))
    assert kinds == ["address", "passport"]


def test_disguised_file_is_named_next_to_its_input(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "lan@example.com", level=0)
    sign_in(client, "lan@example.com")
    made = submit(
        client, "/support/cases/new/verification", {"level": "1"},
        files=[("passport", ("passport.png", b"MZ\x90\x00not an image", "image/png")),
               ("address", ("bill.png", png(), "image/png"))],
    )  # fmt: skip
    assert made.status_code == 422
    assert "passport.png" in error_for(made.text, "passport")
    assert count(db, Case) == 0 and count(db, Ticket) == 0


# -------------------------------------------------------------------------- limit increase


def test_limit_increase_form(client, db) -> None:  # type: ignore[no-untyped-def]
    customer(client, db)
    sign_in(client, "mei@example.com")
    bad = submit(
        client, "/support/cases/new/limit_increase",
        {"operation": "transfer", "period": "daily", "amount": "-5", "days": "900"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert "1 to 365" in error_for(bad.text, "days")
    assert 'value="-5"' in bad.text
    amount = submit(
        client, "/support/cases/new/limit_increase",
        {"operation": "transfer", "period": "daily", "amount": "-5", "days": "30"},
    )  # fmt: skip
    assert amount.status_code == 422 and "more than zero" in error_for(amount.text, "amount")
    made = submit(
        client, "/support/cases/new/limit_increase",
        {"operation": "transfer", "period": "daily", "amount": "80000.00", "days": "30",
         "statement": "Paying for a car."},
    )  # fmt: skip
    assert made.status_code == 303
    assert only_case(db).details == {
        "operation": "transfer",
        "period": "daily",
        "amount": 8_000_000,
        "days": 30,
    }


# --------------------------------------------------------------------------------- dispute


def test_dispute_charged_twice_shows_the_duplicate(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    first, second = shop_payments(db, uid, 3_500)
    sign_in(client, "mei@example.com")
    detail = client.get(f"/wallet/tx/{second}").text
    assert f'href="/support/cases/new/dispute?reference={second}"' in detail
    form = client.get(f"/support/cases/new/dispute?reference={second}").text
    assert f'data-testid="case-duplicate-{first}"' in form
    made = submit(
        client, "/support/cases/new/dispute",
        {"reference": second, "reason": "charged_twice", "duplicate_of": first},
        page=f"/support/cases/new/dispute?reference={second}",
    )  # fmt: skip
    assert made.status_code == 303, made.text
    assert only_case(db).details == {
        "reference": second,
        "reason": "charged_twice",
        "duplicate_of": first,
    }


def test_choosing_the_duplicate_says_it_was_charged_twice(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    first, second = shop_payments(db, uid, 3_500)
    sign_in(client, "mei@example.com")
    page = f"/support/cases/new/dispute?reference={second}"
    made = submit(
        client, "/support/cases/new/dispute", {"reference": second, "duplicate_of": first},
        page=page,
    )  # fmt: skip
    assert made.status_code == 303, made.text
    assert only_case(db).details["reason"] == "charged_twice"


def test_dispute_refusals(client, db) -> None:  # type: ignore[no-untyped-def]
    customer(client, db)
    other, _ = customer(client, db, "other@example.com")
    (theirs,) = shop_payments(db, other, 1_000, count=1)
    sign_in(client, "mei@example.com")
    # Another customer's transaction: as if it did not exist.
    form = client.get(f"/support/cases/new/dispute?reference={theirs}").text
    assert theirs not in form.split("<form")[0]
    made = submit(
        client, "/support/cases/new/dispute",
        {"reference": theirs, "reason": "not_received", "statement": "Never got my order."},
    )  # fmt: skip
    assert made.status_code == 404
    assert "no transaction with that reference" in error_for(made.text, "reference")
    no_reason = submit(client, "/support/cases/new/dispute", {"reference": theirs})
    assert "Choose what went wrong" in error_for(no_reason.text, "reason")
    assert count(db, Case) == 0


# ---------------------------------------------------------------------------------- unlock


def unlock_form(email: str) -> dict[str, str]:
    return {
        "account_email": email, "lost": "authenticator", "name": "Mei Lin",
        "recent_transactions": "Paid Demo Coffee 35 yuan on Monday", "contact_email": "",
    }  # fmt: skip


def test_unlock_signed_out_answers_alike(client, db) -> None:  # type: ignore[no-untyped-def]
    customer(client, db)
    files = [("passport", ("passport.png", png(), "image/png"))]
    known = submit(client, "/support/cases/new/unlock", unlock_form("mei@example.com"), files)
    unknown = submit(client, "/support/cases/new/unlock", unlock_form("nobody@example.com"), files)
    assert known.status_code == unknown.status_code == 303
    assert "/sent?key=" in known.headers["location"] and "/sent?key=" in unknown.headers["location"]
    with db.unit_of_work(write=False) as s:
        owners = sorted(c.user_id is None for c in s.scalars(select(Case)))
    assert owners == [False, True]
    no_id = submit(client, "/support/cases/new/unlock", unlock_form("mei@example.com"))
    assert "both sides" in error_for(no_id.text, "identity")
    bad_email = submit(client, "/support/cases/new/unlock", unlock_form("not-an-address"), files)
    assert error_for(bad_email.text, "account_email")


def test_unlock_is_rate_limited(client, db) -> None:  # type: ignore[no-untyped-def]
    statuses = []
    for _ in range(12):
        made = submit(client, "/support/cases/new/unlock", unlock_form("x@example.com"))
        statuses.append(made.status_code)
    assert statuses[-1] == 429 and statuses[0] == 422


# ------------------------------------------------------------------------------ case page


def test_case_page_is_the_customers_own_and_escaped(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    customer(client, db, "other@example.com")
    restrict(db, uid)
    sign_in(client, "mei@example.com")
    made = submit(
        client, "/support/cases/new/appeal", {"statement": f"Family payments {SCRIPT}"},
        files=[("other", (f"{SCRIPT}.png", png(), "image/png"))],
    )  # fmt: skip
    assert made.status_code == 303, made.text
    path = made.headers["location"]
    shown = client.get(path).text
    assert SCRIPT not in shown and "&lt;script&gt;" in shown
    number = client.get("/support/requests").text
    assert 'data-testid="request-case"' in number
    client.post("/logout", data={"csrf_token": csrf_from(shown)})
    sign_in(client, "other@example.com")
    assert client.get(path).status_code == 404
    assert client.get("/support/cases/99999999999999999999").status_code in (404, 422)


def test_evidence_when_more_information_is_needed(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    restrict(db, uid)
    sign_in(client, "mei@example.com")
    path = submit(client, "/support/cases/new/appeal", {"statement": "Family payments, honest."})
    path = path.headers["location"]
    case = only_case(db)
    from tests.support.helpers import make_staff

    agent_id = make_staff(db, "agent@okpay.example", team="compliance")
    with db.unit_of_work() as s:
        agent = s.get(User, agent_id)
        c = s.get(Case, case.id)
        cases.do_request_info(s, case=c, agent=agent, message=f"Send your bank statement {SCRIPT}")
    shown = client.get(path).text
    assert 'aria-current="step">More information needed<' in shown
    assert "Send your bank statement &lt;script&gt;" in shown
    wrong = submit(client, f"/support/cases/{case.id}/evidence", {"kind": "secret"}, page=path)
    assert wrong.status_code == 422 and "Say what the file is" in error_for(wrong.text, "kind")
    empty = submit(client, f"/support/cases/{case.id}/evidence", {"kind": "income"}, page=path)
    assert empty.status_code == 422 and "Choose at least one file" in error_for(empty.text, "files")
    added = submit(
        client, f"/support/cases/{case.id}/evidence", {"kind": "income", "body": "Here it is."},
        files=[("files", ("statement.png", png(), "image/png"))], page=path,
    )  # fmt: skip
    assert added.status_code == 303
    assert only_case(db).status == "in_review"
    assert "statement.png" in client.get(path).text


# ------------------------------------------------------------------------ emergency freeze


def test_emergency_freeze_shows_the_number_and_signs_out(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    sign_in(client, "mei@example.com")
    security = client.get("/account/security").text
    assert 'href="/account/emergency-freeze?source=security"' in security
    form = client.get("/account/emergency-freeze?source=security").text
    assert "Money sent to you still arrives." in form
    unconfirmed = submit(client, "/account/emergency-freeze", {"source": "security"})
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.text
    with db.unit_of_work(write=False) as s:
        assert s.get(User, uid).status == "active"  # type: ignore[union-attr]
    done = submit(client, "/account/emergency-freeze", {"source": "security", "confirm": "yes"})
    assert done.status_code == 200
    case = only_case(db)
    with db.unit_of_work(write=False) as s:
        number = s.get(Ticket, case.ticket_id).number  # type: ignore[union-attr]
        assert s.get(User, uid).status == "frozen"  # type: ignore[union-attr]
    assert number in done.text and case.type == "freeze"
    assert client.get("/wallet", follow_redirects=False).status_code == 303  # signed out


def test_suspicious_activity_form_offers_the_freeze(client, db) -> None:  # type: ignore[no-untyped-def]
    customer(client, db)
    sign_in(client, "mei@example.com")
    assert 'name="freeze"' in client.get("/help/contact?category=suspicious_activity").text
    sent = submit(
        client, "/help/contact",
        {"category": "suspicious_activity", "subject": "Strange sign-in",
         "description": "Someone signed in from another city.", "freeze": "yes"},
        page="/help/contact",
    )  # fmt: skip
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/account/emergency-freeze?source=suspicious")


# -------------------------------------------------------------------------- wallet limits


def test_limits_page_explains_levels_and_overrides(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    with db.unit_of_work() as s:
        overrides.do_grant_limit_override(
            s, user_id=uid, op_type="transfer", reason="Buying a car", actor_user_id=None,
            daily=8_000_000, days=30,
        )  # fmt: skip
    sign_in(client, "mei@example.com")
    page = client.get("/wallet/limits").text
    assert 'data-testid="level-table"' in page
    assert "Buying a car" in page and 'data-testid="override-transfer"' in page
    assert 'href="/support/cases/new/verification"' in page
    assert 'href="/support/cases/new/limit_increase"' in page
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", page)


def test_refusal_links_to_the_appeal(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    make_user(db, "friend@example.com")
    restrict(db, uid)
    sign_in(client, "mei@example.com")
    sent = submit(
        client, "/wallet/send/review",
        {"recipient": "friend@example.com", "amount": "10.00", "currency": "CNY"},
        page="/wallet/send",
    )  # fmt: skip
    assert sent.status_code == 403, sent.text
    assert 'data-error-code="account_restricted"' in sent.text
    assert "Unusual activity under review" in sent.text
    assert 'href="/support/cases/new/appeal"' in sent.text


def test_forms_refuse_a_forged_csrf_token(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    restrict(db, uid)
    sign_in(client, "mei@example.com")
    for path, data in (
        ("/support/cases/new/appeal", {"statement": "These were payments to my family."}),
        ("/account/emergency-freeze", {"confirm": "yes"}),
    ):
        forged = client.post(path, data={**data, "csrf_token": "forged"}, follow_redirects=False)
        assert forged.status_code == 403
    assert count(db, Case) == 0
    with db.unit_of_work(write=False) as s:
        assert s.get(User, uid).status == "restricted"  # type: ignore[union-attr]


def test_decision_and_what_was_asked_are_shown(client, db) -> None:  # type: ignore[no-untyped-def]
    from tests.support.helpers import make_staff

    customer(client, db)
    sign_in(client, "mei@example.com")
    made = submit(
        client, "/support/cases/new/limit_increase",
        {"operation": "withdrawal", "period": "monthly", "amount": "300000", "days": "60"},
    )  # fmt: skip
    path = made.headers["location"]
    shown = client.get(path).text
    assert "Withdrawal" in shown and "Per month" in shown and "300,000.00" in shown
    agent_id = make_staff(db, "agent@okpay.example", team="compliance")
    with db.unit_of_work() as s:
        case = s.scalars(select(Case)).one()
        cases.do_decline(
            s, case=case, agent=s.get(User, agent_id),  # type: ignore[arg-type]
            reason=f"Your income does not support it {SCRIPT}",
        )  # fmt: skip
    decided = client.get(path).text
    assert 'data-testid="case-decision"' in decided
    assert "Reason: Your income does not support it &lt;script&gt;" in decided
    assert 'aria-current="step">Rejected<' in decided
    assert 'data-testid="evidence-form"' not in decided  # decided: nothing more to add


def test_unlock_signed_in_is_for_this_account(client, db) -> None:  # type: ignore[no-untyped-def]
    uid, _ = customer(client, db)
    sign_in(client, "mei@example.com")
    made = submit(
        client, "/support/cases/new/unlock",
        {**unlock_form("someone-else@example.com")},
        files=[("passport", ("passport.png", png(), "image/png"))],
    )  # fmt: skip
    assert made.status_code == 303, made.text
    case = only_case(db)
    assert case.user_id == uid and case.details["account_email"] == "mei@example.com"
