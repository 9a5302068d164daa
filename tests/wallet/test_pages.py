"""Wallet pages through the HTML forms (CSRF, idempotent submits, errors in place)."""

from __future__ import annotations

import re

from tests.helpers import PASSWORD, csrf_from, post_form
from tests.wallet.helpers import balance, fund, make_user


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


def key_from(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_send_review_then_confirm_once(client, db) -> None:
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    sign_in(client, "alice@example.com")
    review = post_form(
        client,
        "/wallet/send/review",
        {"recipient": "bob@example.com", "amount": "12.30", "currency": "CNY", "note": ""},
        from_page="/wallet/send",
    )
    assert review.status_code == 200 and 'data-testid="send-review"' in review.text
    assert "¥0.00" in review.text or "CN¥0.00" in review.text  # domestic transfers are free
    form = {
        "recipient": "bob@example.com",
        "amount": "12.30",
        "currency": "CNY",
        "note": "",
        "idempotency_key": key_from(review.text),
        "csrf_token": csrf_from(review.text),
    }
    first = client.post("/wallet/send", data=form, follow_redirects=False)
    double = client.post("/wallet/send", data=form, follow_redirects=False)  # a double click
    assert first.status_code == double.status_code == 303
    assert first.headers["location"] == double.headers["location"]
    assert balance(db, alice) == (8770, 0) and balance(db, bob) == (1230, 0)
    detail = client.get(first.headers["location"])
    assert 'data-status="completed"' in detail.text


def test_send_errors_stay_on_the_form(client, db) -> None:
    alice = make_user(db, "alice@example.com")
    fund(db, alice, 10_00)  # the balance is checked before the recipient (issue 11 item 6)
    sign_in(client, "alice@example.com")
    response = post_form(
        client,
        "/wallet/send/review",
        {"recipient": "alice@example.com", "amount": "1", "currency": "CNY"},
        from_page="/wallet/send",
    )
    assert response.status_code == 422 and "yourself" in response.text
    precise = post_form(
        client,
        "/wallet/send/review",
        {"recipient": "x@example.com", "amount": "1.234", "currency": "CNY"},
        from_page="/wallet/send",
    )
    assert "at most 2 decimal places" in precise.text


def test_card_number_never_comes_back_in_the_page(client, db) -> None:
    make_user(db, "alice@example.com")
    sign_in(client, "alice@example.com")
    bad = post_form(
        client,
        "/wallet/methods/card",
        {"card_number": "4242 4242 4242 4241", "expiry": "12/30", "cvc": "123"},
        from_page="/wallet/methods",
    )
    assert bad.status_code == 422 and "4242 4242 4242 4241" not in bad.text
    ok = post_form(
        client,
        "/wallet/methods/card",
        {"card_number": "4242 4242 4242 4242", "expiry": "12/30", "cvc": "123"},
        from_page="/wallet/methods",
        follow=True,
    )
    assert "Visa •••• 4242" in ok.text and "4242424242424242" not in ok.text


def test_history_filters_and_pages(client, db) -> None:
    alice = make_user(db, "alice@example.com")
    make_user(db, "bob@example.com")
    for _ in range(3):
        fund(db, alice, 1_00)
    sign_in(client, "alice@example.com")
    page = client.get("/wallet/history?type=topup&currency=CNY")
    assert page.text.count('data-testid="activity-row"') == 3
    none = client.get("/wallet/history?type=withdrawal")
    assert (
        none.text.count('data-testid="activity-row"') == 0 and "No transactions yet." in none.text
    )
    bad = client.get("/wallet/history?min_amount=abc")
    assert bad.status_code == 422


def test_wallet_pages_need_sign_in(client, db) -> None:
    for path in ("/wallet", "/wallet/send", "/wallet/history", "/wallet/methods", "/wallet/limits"):
        assert client.get(path, follow_redirects=False).status_code == 303
    assert client.get("/fees").status_code == 200


def test_operator_cli_freezes_and_releases(db) -> None:
    from typer.testing import CliRunner

    from okpay.cli import app

    alice = make_user(db, "alice@example.com")
    fund(db, alice, 5_00)
    runner = CliRunner()
    frozen = runner.invoke(
        app, ["wallet", "freeze", "alice@example.com", "--reason", "Card fraud report"]
    )
    assert frozen.exit_code == 0, frozen.output
    shown = runner.invoke(app, ["wallet", "show", "alice@example.com"])
    assert "status=frozen" in shown.output and "CNY balance 5.00" in shown.output
    bad = runner.invoke(
        app, ["wallet", "restrict", "alice@example.com", "--block", "fly", "--reason", "x"]
    )
    assert bad.exit_code == 1 and "restriction_invalid" in bad.output
    assert runner.invoke(app, ["wallet", "release", "alice@example.com"]).exit_code == 0
    assert "status=active" in runner.invoke(app, ["wallet", "show", "alice@example.com"]).output


def test_demo_load_funds_demo_wallets_once(db) -> None:
    from typer.testing import CliRunner

    from okpay.cli import app

    runner = CliRunner()
    first = runner.invoke(app, ["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "3 wallets funded" in first.output
    assert "merchant API key (shown once): okmk_" in first.output
    assert re.search(r"demo checkout .*/pay/i/pi_", first.output)
    again = runner.invoke(app, ["demo", "load"])
    assert "0 users created" in again.output and "0 wallets funded" in again.output
    shown = runner.invoke(app, ["wallet", "show", "li.wei@demo.okpay.example"])
    # Funded 5,082.00, then the demo dispute's latte paid twice at demo-coffee (2 × 38.00).
    assert "CNY balance 5006.00" in shown.output
    # Demo customers have a verified phone: the second factor a withdrawal to their new bank
    # account asks for arrives by SMS in the dev outbox, instead of being impossible.
    from okpay.identity import users as identity_users

    with db.unit_of_work(write=False) as s:
        li = identity_users.get_user_by_email(s, "li.wei@demo.okpay.example")
        assert li is not None and li.phone == "+8613800138001" and li.phone_verified_at
    assert "demo cases opened: 2" in first.output and "demo cases opened" not in again.output


def test_csv_export_neutralises_formulas(client, db) -> None:
    import csv
    import io

    alice = make_user(db, "alice@example.com")
    make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    from tests.helpers import api_token

    headers = api_token(client, "alice@example.com")
    client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": "x1"},
        json={
            "recipient": "bob@example.com",
            "amount": "1",
            "currency": "CNY",
            "note": '=HYPERLINK("http://evil")',
        },
    )
    response = client.get("/api/v1/wallet/history/export", headers=headers)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["date", "reference", "type"]
    transfer = next(r for r in rows if r[2] == "transfer")
    assert transfer[5] == "-1.00" and transfer[9].startswith("'=HYPERLINK")
    sign_in(client, "alice@example.com")
    page_csv = client.get("/wallet/history.csv?type=topup")
    assert page_csv.status_code == 200 and page_csv.text.count("\n") == 2  # header + one top-up


def test_statement_balances_come_from_the_ledger(client, db, clock) -> None:
    alice = make_user(db, "alice@example.com")
    make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    clock.advance(days=2)
    from okpay.wallet import transfers, usage

    with db.unit_of_work() as s:
        transfers.do_transfer(
            s, sender_id=alice, recipient="bob@example.com", amount=30_00, currency="CNY"
        )
    sign_in(client, "alice@example.com")
    today = clock.now.astimezone(usage.BEIJING).date()
    page = client.get(f"/wallet/statement?start={today}&end={today}")
    row = page.text.split('data-testid="statement-CNY"')[1].split("</tr>")[0]
    assert row.count("100.00") == 1 and "30.00" in row and "70.00" in row


def test_home_charts_the_balance_over_time(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import api_token

    alice = make_user(db, "alice@example.com")
    make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    clock.advance(days=40)
    headers = api_token(client, "alice@example.com")
    sent = client.post(
        "/api/v1/wallet/transfers",
        json={"recipient": "bob@example.com", "amount": "30", "currency": "CNY"},
        headers={**headers, "Idempotency-Key": "chart-1"},
    )
    assert sent.status_code == 201
    clock.advance(days=1)
    fund(db, alice, 5_00)
    sign_in(client, "alice@example.com")

    page = client.get("/wallet", headers={"Accept-Language": "en"}).text
    # The last 30 days start after the first top-up: the line runs from ¥100 to ¥75.
    assert 'data-testid="balance-chart"' in page
    assert 'data-first="10000"' in page and 'data-last="7500"' in page
    table = page.split('data-testid="balance-chart-table"')[1].split("</table>")[0]
    assert re.findall(r'<td class="num">([^<]+)</td>', table) == [
        "CN¥100.00",
        "CN¥70.00",
        "CN¥75.00",
    ]
    assert "<script" not in page.split('class="balance-chart"')[1].split("</section>")[0]

    # A year back starts before any money arrived; labels follow the user's language.
    client.patch("/api/v1/me", json={"preferred_locale": "zh_CN"}, headers=headers)
    year = client.get("/wallet?days=365&chart_currency=CNY").text
    assert 'data-first="0"' in year and 'data-last="7500"' in year
    assert "余额走势" in year and "最近 365 天" in year

    # Someone with no money yet sees the empty state.
    client.cookies.clear()
    make_user(db, "carol@example.com")
    sign_in(client, "carol@example.com")
    empty = client.get("/wallet?days=7&chart_currency=USD").text
    assert (
        'data-testid="balance-chart-empty"' in empty and 'data-testid="balance-chart"' not in empty
    )
