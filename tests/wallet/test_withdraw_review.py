"""Issue 14: the review step before a withdrawal (figures, bank account, arrival), refusals
before the confirm button that name the figures (available balance, the limit, what is left
and when it resets) for withdrawals and transfers, the idempotent confirm, the JSON review
and the step-up code form a confirm can ask for."""

from __future__ import annotations

import html as html_module
import re

import pytest

from okpay.identity import stepup
from okpay.wallet import flows, usage
from okpay.wallet import methods as wallet_methods
from okpay.wallet.providers import get_provider
from tests.helpers import api_token, csrf_from, post_form
from tests.wallet.helpers import balance, fund, make_user
from tests.wallet.test_pages import key_from, sign_in

ACCOUNT_NUMBER = "6222020200112233445"


def add_bank(db, user_id: int) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        method = wallet_methods.do_add_bank_account(
            s,
            user_id=user_id,
            provider_token=get_provider().register_bank_account(ACCOUNT_NUMBER),
            account_number=ACCOUNT_NUMBER,
            bank_name="ICBC",
            holder_name="Mei Lin",
        )
        return method.id


def review(client, bank: int, amount: str, currency: str = "CNY"):  # type: ignore[no-untyped-def]
    return post_form(
        client,
        "/wallet/withdraw/review",
        {"payment_method_id": str(bank), "amount": amount, "currency": currency},
        from_page="/wallet/withdraw",
    )


def text_of(html: str) -> str:
    """The page's visible text, roughly: tags dropped, spaces collapsed."""
    return html_module.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def used_today(db, user_id: int, op_type: str, amount: int) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        usage.record_usage(s, user_id=user_id, op_type=op_type, amount=amount, currency="CNY")


def test_review_shows_the_figures_then_confirm_withdraws_once(client, db) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "saver@example.com")
    fund(db, uid, 2_000_00)
    bank = add_bank(db, uid)
    sign_in(client, "saver@example.com")
    form = client.get("/wallet/withdraw")
    assert 'action="/wallet/withdraw/review"' in form.text

    page = review(client, bank, "1500")
    assert page.status_code == 200, page.text
    shown = text_of(page.text)
    assert 'data-testid="withdraw-review"' in page.text
    assert "ICBC •••• 3445" in shown and ACCOUNT_NUMBER not in page.text
    # ¥1,000 of the month's free allowance, 0.1 % on the other ¥500: ¥0.50.
    assert re.search(r'data-testid="withdraw-fee">\s*CN¥0\.50', page.text)
    assert "CN¥1,000.00 of it is within this month's free allowance" in shown
    assert re.search(r'data-testid="withdraw-arrives"><strong>CN¥1,500\.00', page.text)
    assert re.search(r'data-testid="withdraw-total"><strong>CN¥1,500\.50', page.text)
    assert "Usually within 1 to 2 working days" in shown
    assert 'data-testid="confirm-withdraw"' in page.text
    assert balance(db, uid) == (2_000_00, 0)  # the review moves nothing

    # Back to edit keeps what was typed.
    edit = client.get(f"/wallet/withdraw?payment_method_id={bank}&amount=1500&currency=CNY")
    assert 'value="1500"' in edit.text and f'value="{bank}" selected' in edit.text

    confirm = {
        "payment_method_id": str(bank),
        "amount": "1500",
        "currency": "CNY",
        "idempotency_key": key_from(page.text),
        "csrf_token": csrf_from(page.text),
    }
    first = client.post("/wallet/withdraw", data=confirm, follow_redirects=False)
    double = client.post("/wallet/withdraw", data=confirm, follow_redirects=False)
    assert first.status_code == double.status_code == 303
    assert first.headers["location"] == double.headers["location"]
    assert balance(db, uid) == (2_000_00, 1_500_50)  # held once, amount + fee
    # Two reviews give two keys: each review page is a new withdrawal.
    assert key_from(review(client, bank, "10").text) != confirm["idempotency_key"]


def test_review_refuses_over_the_available_balance_naming_the_figures(client, db) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "short@example.com")
    fund(db, uid, 120_00)
    bank = add_bank(db, uid)
    sign_in(client, "short@example.com")
    client.headers["Accept-Language"] = "zh-CN"
    page = review(client, bank, "150")
    assert page.status_code == 422
    assert "可用余额 ¥120.00，本次需要 ¥150.00 (含手续费 ¥0.00)" in page.text
    assert 'data-testid="confirm-withdraw"' not in page.text
    assert 'value="150"' in page.text  # the form again, with what was typed
    client.headers["Accept-Language"] = "en"
    en = review(client, bank, "150")
    assert "you have CN¥120.00 available, and this needs CN¥150.00" in en.text
    assert balance(db, uid) == (120_00, 0)


def test_limit_refusals_name_the_limit_what_is_left_and_when_it_resets(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    # 2026-11-21 09:00 UTC is 17:00 in Beijing: the daily limit resets at midnight there.
    uid = make_user(db, "new@example.com", level=0)  # withdrawals: ¥2,000 each, ¥5,000 a day
    fund(db, uid, 5_000_00)
    bank = add_bank(db, uid)
    used_today(db, uid, "withdrawal", 4_500_00)
    sign_in(client, "new@example.com")
    client.headers["Accept-Language"] = "zh-CN"
    daily = review(client, bank, "1000")
    assert daily.status_code == 422
    shown = text_of(daily.text)
    assert "超出您的每日限额 ¥5,000.00" in shown and "剩余可用额度为 ¥500.00" in shown
    assert "限额将于 2026年11月22日 00:00 中国标准时间 重置" in shown
    assert "—" not in shown.split("限额将于")[1][:40]
    assert 'href="/wallet/limits"' in daily.text
    single = text_of(review(client, bank, "2500").text)
    assert (
        "该笔金额 ¥2,500.00 超出您的单笔限额 ¥2,000.00" in single
        and "—" not in single.split("单笔限额")[1][:60]
    )
    client.headers["Accept-Language"] = "en"
    en = text_of(review(client, bank, "1000").text)
    assert "over your daily limit of CN¥5,000.00. You can still use CN¥500.00" in en
    assert "the limit resets on Nov 22, 2026 00:00 China Standard Time" in en


def test_transfer_review_refuses_with_the_figures(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "alice@example.com", level=0)  # transfers: ¥5,000 a day
    make_user(db, "bob@example.com")
    fund(db, uid, 120_00)
    sign_in(client, "alice@example.com")
    client.headers["Accept-Language"] = "zh-CN"

    def send_review(amount: str):  # type: ignore[no-untyped-def]
        return post_form(
            client,
            "/wallet/send/review",
            {"recipient": "bob@example.com", "amount": amount, "currency": "CNY"},
            from_page="/wallet/send",
        )

    short = send_review("150")
    assert short.status_code == 422
    assert "可用余额 ¥120.00，本次需要 ¥150.00 (含手续费 ¥0.00)" in short.text
    assert 'data-testid="confirm-send"' not in short.text
    used_today(db, uid, "transfer", 4_950_00)
    over = text_of(send_review("100").text)
    assert "每日限额 ¥5,000.00" in over and "剩余可用额度为 ¥50.00" in over
    assert "限额将于 2026年11月22日 00:00 中国标准时间 重置" in over


def test_json_review_returns_the_same_figures(client, db) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "api@example.com")
    other = make_user(db, "other@example.com")
    fund(db, uid, 2_000_00)
    bank = add_bank(db, uid)
    theirs = add_bank(db, other)
    headers = api_token(client, "api@example.com")
    url = "/api/v1/wallet/withdrawals/review"
    body = {"payment_method_id": bank, "amount": "1500", "currency": "CNY"}
    answer = client.post(url, headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["amount"] == "1500.00" and got["fee"] == "0.50" and got["total"] == "1500.50"
    assert got["free_amount"] == "1000.00" and got["fee_before_discount"] == "0.50"
    assert got["available"] == "2000.00"
    assert got["bank_account"] == {"bank_name": "ICBC", "last4": "3445"}
    assert (got["arrival_working_days_min"], got["arrival_working_days_max"]) == (1, 2)
    assert balance(db, uid) == (2_000_00, 0)

    short = client.post(url, headers=headers, json={**body, "amount": "2500"})
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "insufficient_funds"
    assert "CN¥2,000.00 available" in short.json()["error"]["message"]
    foreign = client.post(url, headers=headers, json={**body, "payment_method_id": theirs})
    assert foreign.status_code == 404
    assert "/api/v1/wallet/withdrawals/review" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("channel", ["sms", "totp"])
def test_a_confirm_that_needs_a_code_shows_the_code_form(client, db, monkeypatch, channel) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "careful@example.com")
    fund(db, uid, 500_00)
    bank = add_bank(db, uid)
    sign_in(client, "careful@example.com")
    page = review(client, bank, "100")
    key = key_from(page.text)

    def needs_code(*args: object, **kwargs: object) -> flows.Answer:
        raise stepup.StepUpRequired(channel=channel, sent_to="138****5678")

    monkeypatch.setattr(flows, "withdrawal", needs_code)
    confirm = {
        "payment_method_id": str(bank),
        "amount": "100",
        "currency": "CNY",
        "idempotency_key": key,
        "csrf_token": csrf_from(page.text),
    }
    code_form = client.post("/wallet/withdraw", data=confirm, follow_redirects=False)
    assert code_form.status_code == 200
    assert 'data-testid="step-up"' in code_form.text and 'name="otp"' in code_form.text
    assert f'name="idempotency_key" value="{key}"' in code_form.text  # the same withdrawal
    assert 'name="amount" value="100"' in code_form.text
    assert ("138****5678" in text_of(code_form.text)) == (channel == "sms")
    assert balance(db, uid) == (500_00, 0)


def test_send_change_keeps_what_was_typed_and_a_code_form_for_its_confirm(  # type: ignore[no-untyped-def]
    client, db, monkeypatch
) -> None:
    uid = make_user(db, "alice@example.com")
    make_user(db, "bob@example.com")
    fund(db, uid, 100_00)
    sign_in(client, "alice@example.com")
    page = post_form(
        client,
        "/wallet/send/review",
        {"recipient": "bob@example.com", "amount": "12.30", "currency": "CNY", "note": "Tea"},
        from_page="/wallet/send",
    )
    assert 'data-testid="edit-send"' in page.text
    edit = client.get("/wallet/send?recipient=bob%40example.com&amount=12.30&currency=CNY&note=Tea")
    assert 'value="bob@example.com"' in edit.text and 'value="12.30"' in edit.text
    assert 'value="Tea"' in edit.text

    def needs_code(*args: object, **kwargs: object) -> flows.Answer:
        raise stepup.StepUpRequired(channel="sms", sent_to="138****5678")

    monkeypatch.setattr(flows, "transfer", needs_code)
    key = key_from(page.text)
    form = {
        "recipient": "bob@example.com",
        "amount": "12.30",
        "currency": "CNY",
        "note": "Tea",
        "idempotency_key": key,
        "csrf_token": csrf_from(page.text),
    }
    code_form = client.post("/wallet/send", data=form, follow_redirects=False)
    assert code_form.status_code == 200 and 'name="otp"' in code_form.text
    assert f'name="idempotency_key" value="{key}"' in code_form.text
    assert "138****5678" in text_of(code_form.text)
    assert balance(db, uid) == (100_00, 0)
