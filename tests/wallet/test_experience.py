"""What the customer is told (issue 15): bank top-up instructions and the arrival e-mail,
lines that did not complete in the CSV and statement, the free allowance and promotions,
the checkout signed out and for an order already paid."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import date, timedelta

import pytest

from okpay import settings as settings_module
from okpay.core.errors import DomainError
from okpay.core.i18n import use_locale
from okpay.identity.models import User
from okpay.wallet import fees, history, intents, merchants, statements, topups, usage
from okpay.wallet.pages import amount_view
from okpay.wallet.providers import get_provider
from tests.helpers import PASSWORD, post_form
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user


def _received(client, reference: str, amount: int, currency: str = "CNY"):  # type: ignore[no-untyped-def]
    body = json.dumps(
        {
            "id": f"evt_{reference}_{amount}",
            "type": "bank_transfer.received",
            "data": {
                "reference": reference,
                "amount": amount,
                "currency": currency,
                "transfer": f"tr_{amount}",
            },
        }
    ).encode()
    return client.post(
        "/api/v1/webhooks/sandbox",
        content=body,
        headers={
            "OKPay-Signature": get_provider().sign(body, int(time.time())),
            "Content-Type": "application/json",
        },
    )


def _set_locale(db, user_id: int, locale: str) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        user = s.get(User, user_id)
        assert user is not None
        user.preferred_locale = locale


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_bank_transfer_arrival_is_mailed_after_the_credit(client, db, mailbox, locale) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    _set_locale(db, alice, locale)
    with db.unit_of_work() as s:
        op = topups.do_begin_bank_topup(s, user_id=alice, amount=500_00, currency="CNY")
        reference = op.reference
    mailbox.clear()
    assert _received(client, reference, 480_00).json()["outcome"] == "applied"
    assert balance(db, alice) == (480_00, 0)
    msg = mailbox.last("alice@example.com")
    text = mailbox.text(msg)
    assert "480.00" in str(msg["Subject"]) and reference in text
    assert "500.00" in text  # what was announced, and that the bank's amount was credited
    assert ("银行转账已到账" if locale == "zh_CN" else "has arrived") in str(msg["Subject"])
    # The same transfer announced again: nothing more credited, no second e-mail.
    mailbox.clear()
    _received(client, reference, 480_00)
    assert mailbox.to("alice@example.com") == [] and balance(db, alice) == (480_00, 0)
    assert_ledger_consistent(db)


def test_no_bank_topup_where_okpay_has_no_receiving_account(db, settings) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    only_cny = settings.model_copy(
        update={
            "bank_receiving_accounts": {
                "CNY": settings_module.ReceivingAccount(
                    bank_name="Bank", account_name="OKPay", account_number="1"
                )
            }
        }
    )
    settings_module.configure(only_cny)
    try:
        assert topups.receiving_account("cny") is not None
        assert topups.receiving_account("USD") is None
        with db.unit_of_work() as s, pytest.raises(DomainError) as refused:
            topups.do_begin_bank_topup(s, user_id=alice, amount=10_00, currency="USD")
        assert refused.value.code == "bank_topup_unavailable"
    finally:
        settings_module.configure(settings)


def test_receiving_accounts_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(
        "OKPAY_BANK_RECEIVING_ACCOUNTS",
        '{"cny": {"bank_name": "ICBC", "account_name": "OKPay Ltd", "account_number": "622"}}',
    )
    read = settings_module.Settings(env="dev")
    assert list(read.bank_receiving_accounts) == ["CNY"]
    assert read.bank_receiving_accounts["CNY"].sandbox is False
    monkeypatch.delenv("OKPAY_BANK_RECEIVING_ACCOUNTS")
    dev = settings_module.Settings(env="dev")
    assert dev.bank_receiving_accounts["CNY"].sandbox is True
    prod = settings_module.Settings(env="prod", secret_key="x" * 40)
    assert prod.bank_receiving_accounts == {}


def test_bank_topup_page_shows_where_to_send(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "alice@example.com")
    post_form(client, "/login", {"email": "alice@example.com", "password": PASSWORD})
    answer = post_form(
        client,
        "/wallet/topup",
        {"source": "bank", "amount": "88.50", "currency": "CNY", "idempotency_key": "k-88"},
        from_page="/wallet/topup",
    )
    assert answer.status_code == 303
    page = client.get(answer.headers["location"]).text
    account = settings_module.SANDBOX_RECEIVING_ACCOUNTS["CNY"]
    assert account.account_number in page and account.bank_name in page
    assert 'data-copy="88.50"' in page and "/static/js/wallet.js" in page
    assert 'data-testid="pending-bank-topup"' in client.get("/wallet/topup").text
    # Nothing has moved yet: the problem report is offered, a dispute is not.
    assert 'data-testid="tx-dispute"' not in page and "/help/contact?reference=" in page


def _failed_and_done(db) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    fund(db, alice, 120_00)
    with db.unit_of_work() as s:
        failed = topups.do_begin_bank_topup(s, user_id=alice, amount=500_00, currency="CNY")
        topups.do_fail_operation(s, operation_id=failed.id, failure_code="card_declined")
        waiting = topups.do_begin_bank_topup(s, user_id=alice, amount=30_00, currency="CNY")
        return alice, failed.reference, waiting.reference


def test_csv_says_which_rows_did_not_complete(db) -> None:  # type: ignore[no-untyped-def]
    alice, failed, waiting = _failed_and_done(db)
    with db.unit_of_work(write=False) as s, use_locale("zh_CN"):
        text = statements.export_csv(s, user_id=alice, filters=history.HistoryFilter())
    rows = {r["reference"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert list(next(iter(rows.values())))[-3:] == [
        "money_moved",
        "requested_amount",
        "status_text",
    ]
    assert rows[failed]["money_moved"] == "no" and rows[failed]["amount"] == "0.00"
    assert rows[failed]["requested_amount"] == "500.00"
    assert rows[failed]["status_text"] == "失败：未完成，资金未发生变动"
    assert rows[waiting]["money_moved"] == "pending" and rows[waiting]["amount"] == "30.00"
    done = next(r for r in rows.values() if r["status"] == "completed")
    assert done["money_moved"] == "yes" and done["amount"] == "120.00"
    # What moved adds up to the balance: a spreadsheet sum never counts the failed line.
    moved = sum(float(r["amount"]) for r in rows.values() if r["money_moved"] == "yes")
    assert moved == 120.0


def test_statement_lists_failed_lines_as_not_moved(client, db) -> None:  # type: ignore[no-untyped-def]
    _alice, failed, _waiting = _failed_and_done(db)
    post_form(client, "/login", {"email": "alice@example.com", "password": PASSWORD})
    page = client.get("/wallet/statement").text
    summary = page.split('data-testid="statement-CNY"')[1].split("</tr>")[0]
    assert "120.00" in summary and "500.00" not in summary and "620.00" not in summary
    assert 'data-testid="statement-not-completed"' in page
    line = next(tr for tr in page.split("<tr")[1:] if failed in tr).split("</tr>")[0]
    assert "row-void" in line and "Did not complete" in line
    amount = line.split('data-testid="activity-amount">')[1].split("<")[0]
    assert amount == "CN¥500.00"  # no sign, struck through by its class


def test_amounts_only_settled_money_gets_a_sign() -> None:
    with use_locale("en"):
        assert amount_view(500_00, "CNY", "failed").text == "CN¥500.00"
        assert amount_view(500_00, "CNY", "failed").css == "void"
        assert amount_view(-20_00, "CNY", "cancelled").text == "CN¥20.00"
        assert amount_view(500_00, "CNY", "pending").css == "waiting"
        assert amount_view(500_00, "CNY", "completed").text == "+CN¥500.00"
        assert amount_view(-5_00, "CNY", "completed").css == "neg"


def test_free_allowance_and_promotions(db, clock) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    with db.unit_of_work(write=False) as s:
        snapshot = usage.usage_snapshot(s, user_id=alice)
    assert fees.free_allowance_left(snapshot) == (1_000_00, 1_000_00)
    snapshot.add("withdrawal", 300_00)
    assert fees.free_allowance_left(snapshot) == (700_00, 1_000_00)
    assert [d.code for d in fees.promotions(date(2027, 2, 1))] == ["spring_2027"]
    assert fees.promotions(date(2027, 3, 1)) == []


def test_fees_page_shows_the_allowance_and_promotion_dates(client, db) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/fees", headers={"Accept-Language": "en"}).text
    assert 'data-testid="fees-allowance"' in page and "1,000.00" in page
    assert 'data-testid="fees-allowance-left"' not in page  # signed out: no "left"
    if date.today() <= date(2027, 2, 24):
        assert "Feb 24, 2027" in page


def test_checkout_signed_out_and_order_already_paid(client, db) -> None:  # type: ignore[no-untyped-def]
    payer = make_user(db, "payer@example.com")
    fund(db, payer, 100_00)
    with db.unit_of_work() as s:
        shop = merchants.do_create_merchant(s, code="shop", name="Tea Shop", owner_user_id=None)
        tokens = [
            intents.do_create_intent(
                s,
                merchant=shop,
                api_key_id=None,
                order_id="T-1",
                amount=12_00,
                currency="CNY",
                return_url="https://shop.example/done",
                expires_in=timedelta(minutes=30),
            ).token
            for _ in range(2)
        ]
    page = client.get(f"/pay/i/{tokens[0]}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Tea Shop" in page.text and "T-1" in page.text and "12.00" in page.text
    assert f"/login?next=%2Fpay%2Fi%2F{tokens[0]}" in page.text
    assert 'data-testid="checkout-pay"' not in page.text
    with db.unit_of_work() as s:
        intents.do_pay_intent(s, payer_id=payer, token=tokens[0])
    other = client.get(f"/pay/i/{tokens[1]}", headers={"Accept-Language": "en"}).text
    assert 'data-status="order_paid"' in other and "already been paid" in other
    assert 'href="https://shop.example/done"' in other
    assert 'data-testid="checkout-pay"' not in other
