"""Batch transfers: each item settles or is refused on its own, with the ledger's invariants
kept and one Idempotency-Key for the whole batch."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from okpay.wallet import batch as wallet_batch
from okpay.wallet import fees, ledger, standing
from okpay.wallet.models import Activity, Posting, SystemAccount, Usage, WalletAccount
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user, system_total
from tests.wallet.test_ledger import counts

URL = "/api/v1/wallet/transfers/batch"


def item(recipient: str, amount: str, currency: str = "CNY", **extra: str) -> dict[str, str]:
    return {"recipient": recipient, "amount": amount, "currency": currency, **extra}


def send_batch(client, headers, key: str | None, items: list[dict[str, str]]):  # type: ignore[no-untyped-def]
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(URL, json={"transfers": items}, headers={**headers, **extra})


def assert_postings_follow_on(db, account_id: int) -> None:  # type: ignore[no-untyped-def]
    """Each posting on the account left the balance its predecessors add up to."""
    with db.unit_of_work(write=False) as s:
        rows = s.execute(
            select(Posting.amount, Posting.balance_after)
            .where(Posting.account_id == account_id)
            .order_by(Posting.id)
        ).all()
    running = 0
    for amount, after in rows:
        running += amount
        assert after == running, rows


def account_id(db, user_id: int, currency: str = "CNY") -> int | None:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return s.scalar(
            select(WalletAccount.id).where(
                WalletAccount.user_id == user_id, WalletAccount.currency == currency
            )
        )


@pytest.fixture
def people(client, db):  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    carol = make_user(db, "carol@example.com", phone="13800138000")
    fund(db, alice, 100_00)
    return alice, bob, carol, api_token(client, "alice@example.com")


def test_a_mixed_batch_settles_the_good_items_and_explains_the_rest(client, db, people) -> None:
    alice, bob, carol, headers = people
    items = [
        item("bob@example.com", "10.00", note="rent", client_ref="a-1"),
        item("nobody@example.com", "1.00", client_ref="a-2"),
        item("bob@example.com", "500.00", client_ref="a-3"),
        item("138 0013 8000", "5", client_ref="a-4"),
        item("bob@example.com", "60000", client_ref="a-5"),
        item("alice@example.com", "1", client_ref="a-6"),
        item("bob@example.com", "0", client_ref="a-7"),
        item("bob@example.com", "1", currency="XYZ", client_ref="a-8"),
        item("carol@example.com", "1", currency="USD", client_ref="a-9"),
        item("bob@example.com", "1.001", client_ref="a-10"),
        item("bob@example.com", "85.00", client_ref="a-11"),
    ]
    response = send_batch(client, headers, "batch-1", items)
    assert response.status_code == 200, response.text
    body = response.json()
    results = body["results"]
    assert [r["client_ref"] for r in results] == [f"a-{i}" for i in range(1, 12)]
    assert [r["ok"] for r in results] == [
        True,
        False,
        False,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
    ]
    codes = {r["client_ref"]: r["error"]["code"] for r in results if not r["ok"]}
    assert codes == {
        "a-2": "recipient_not_found",
        "a-3": "insufficient_funds",
        "a-5": "limit_exceeded",
        "a-6": "transfer_to_self",
        "a-7": "amount_not_positive",
        "a-8": "currency_not_supported",
        "a-9": "insufficient_funds",
        "a-10": "amount_too_precise",
    }
    assert all(r["error"]["message"] for r in results if not r["ok"])
    assert body["succeeded"] == 3 and body["failed"] == 8
    first = results[0]
    assert first["reference"].startswith("TX-") and first["amount"] == "10.00"
    assert first["amount_minor"] == 1000 and first["fee_minor"] == 0
    # The balance follows on from item to item: 100 - 10 - 5 - 85 leaves nothing.
    assert balance(db, alice) == (0, 0)
    assert balance(db, bob) == (95_00, 0) and balance(db, carol) == (5_00, 0)
    # A refused item opened no account.
    assert account_id(db, carol, "USD") is None
    assert_ledger_consistent(db)
    for user in (alice, bob):
        own = account_id(db, user)
        assert own is not None
        assert_postings_follow_on(db, own)
    # Each party sees each settled transfer from their own side.
    bob_history = client.get(
        "/api/v1/wallet/history", headers=api_token(client, "bob@example.com")
    ).json()["items"]
    assert [(i["amount"], i["direction"], i["note"]) for i in bob_history] == [
        ("85.00", "in", ""),
        ("10.00", "in", "rent"),
    ]
    operation = client.get(f"/api/v1/wallet/operations/{first['reference']}", headers=headers)
    assert operation.json()["status"] == "completed" and operation.json()["note"] == "rent"


def test_errors_are_in_the_senders_language(client, db, people) -> None:
    headers = people[3]
    for locale, expected in (
        ("zh_CN", "未找到使用该邮箱或手机号的 OKPay 用户。"),
        ("en", "We could"),
    ):
        client.patch("/api/v1/me", json={"preferred_locale": locale}, headers=headers)
        body = send_batch(client, headers, f"k-{locale}", [item("nobody@example.com", "1")])
        assert body.json()["results"][0]["error"]["message"].startswith(expected)


def test_replaying_the_key_returns_the_first_answer_and_moves_nothing(client, db, people) -> None:
    alice, bob, _carol, headers = people
    items = [
        item("bob@example.com", "1"),
        item("nobody@example.com", "1"),
        item("bob@example.com", "2"),
    ]
    first = send_batch(client, headers, "same", items)
    assert first.status_code == 200
    before = counts(db), balance(db, alice), balance(db, bob)
    again = send_batch(client, headers, "same", items)
    assert again.status_code == 200 and again.json() == first.json()
    assert (counts(db), balance(db, alice), balance(db, bob)) == before
    other = send_batch(client, headers, "same", items[:1])
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    missing = send_batch(client, headers, None, items)
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    assert (counts(db), balance(db, alice), balance(db, bob)) == before


def test_a_frozen_sender_sends_nothing(client, db, people) -> None:
    alice, bob, _carol, headers = people
    with db.unit_of_work() as s:
        standing.do_freeze(s, user_id=alice, reason="Suspicious activity", actor_user_id=None)
    headers = api_token(client, "alice@example.com")  # the freeze ended the old token
    before = counts(db)
    body = send_batch(
        client, headers, "frozen", [item("bob@example.com", "1"), item("nobody@example.com", "1")]
    ).json()
    # The standing is checked before the recipients (issue 11 item 6): both answer alike.
    assert [r["error"]["code"] for r in body["results"]] == ["account_frozen", "account_frozen"]
    assert counts(db) == before and balance(db, alice) == (100_00, 0)
    assert balance(db, bob) == (0, 0)


def test_limits_count_the_items_before_them(client, db) -> None:
    alice = make_user(db, "alice@example.com", level=0)  # ¥2,000 a transfer, ¥5,000 a day
    make_user(db, "bob@example.com")
    fund(db, alice, 4_000_00)
    fund(db, alice, 4_000_00)
    headers = api_token(client, "alice@example.com")
    items = [
        item("bob@example.com", "2000"),
        item("bob@example.com", "2000.01"),
        item("bob@example.com", "2000"),
        item("bob@example.com", "1500"),
        item("bob@example.com", "500"),
    ]
    results = send_batch(client, headers, "limits", items).json()["results"]
    assert [r["ok"] or r["error"]["code"] for r in results] == [
        True,
        "limit_exceeded",
        True,
        "limit_exceeded",
        True,
    ]
    assert "daily" in results[3]["error"]["message"]
    with db.unit_of_work(write=False) as s:
        usage = s.execute(
            select(Usage.amount_cny, Usage.count).where(
                Usage.user_id == alice, Usage.op_type == "transfer"
            )
        ).one()
    assert tuple(usage) == (4_500_00, 3)
    assert balance(db, alice) == (3_500_00, 0)
    assert_ledger_consistent(db)


def test_fees_are_their_own_postings(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # One percent on domestic transfers, to see the fee go to revenue.
    rule = fees.FeeRule("transfer", "wallet", "domestic", 100, fees.ZERO, fees.ZERO, None, "t")
    monkeypatch.setattr(fees, "SCHEDULE", (rule, *fees.SCHEDULE))
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    fund(db, alice, 50_00, "EUR")
    batch = [
        wallet_batch.BatchItem("bob@example.com", "10", "CNY"),
        wallet_batch.BatchItem("bob@example.com", "20", "EUR"),
        wallet_batch.BatchItem("bob@example.com", "89.50", "CNY"),  # 89.50 + 0.90 > 90.00 left
        wallet_batch.BatchItem("bob@example.com", "30", "CNY"),
    ]
    with db.unit_of_work() as s:
        outcome = wallet_batch.do_transfer_batch(s, sender_id=alice, items=batch)
    assert [getattr(o, "fee", None) for o in outcome] == [10, 20, None, 30]
    assert isinstance(outcome[2], ledger.InsufficientFunds)
    assert balance(db, alice) == (100_00 - 10_10 - 30_30, 0)
    assert balance(db, alice, "EUR") == (50_00 - 20_20, 0)
    assert balance(db, bob, "EUR") == (20_00, 0)  # opened by the batch
    assert system_total(db, SystemAccount.fee_revenue) == 40
    assert system_total(db, SystemAccount.fee_revenue, "EUR") == 20
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            select(Activity.amount).where(Activity.user_id == alice, Activity.type == "transfer")
        ).all()
    assert sorted(rows) == [-30_30, -20_20, -10_10]
    assert_ledger_consistent(db)
    for currency in ("CNY", "EUR"):
        own = account_id(db, alice, currency)
        assert own is not None
        assert_postings_follow_on(db, own)


def test_a_batch_holds_at_most_a_thousand(client, people) -> None:
    headers = people[3]
    too_many = [item("bob@example.com", "0.01")] * 1001
    response = send_batch(client, headers, "big", too_many)
    assert response.status_code == 422
    assert send_batch(client, headers, "empty", []).status_code == 422
