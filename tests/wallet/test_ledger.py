"""The ledger's invariants, and transfers through the API with every bad input refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from okpay.wallet.models import Activity, JournalEntry, Operation, Posting, SystemAccount
from tests.helpers import api_token
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user, system_total


def send(client, headers, key: str, **body):  # type: ignore[no-untyped-def]
    payload = {"currency": "CNY", "note": "", **body}
    return client.post(
        "/api/v1/wallet/transfers", json=payload, headers={**headers, "Idempotency-Key": key}
    )


def counts(db) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(m)))
            for m in (Operation, JournalEntry, Posting, Activity)  # type: ignore[return-value]
        )


@pytest.fixture
def pair(client, db):  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    bob = make_user(db, "bob@example.com", phone="13800138000")
    fund(db, alice, 100_00)
    return alice, bob, api_token(client, "alice@example.com")


def test_transfer_moves_money_and_keeps_the_ledger_balanced(client, db, pair) -> None:
    alice, bob, headers = pair
    response = send(client, headers, "k1", recipient="bob@example.com", amount="25.50", note="午饭")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (
        body["status"] == "completed" and body["amount"] == "25.50" and body["amount_minor"] == 2550
    )
    assert body["reference"].startswith("TX-")
    assert balance(db, alice) == (7450, 0) and balance(db, bob) == (2550, 0)
    assert_ledger_consistent(db)
    # Both parties see it in their history, from their own side.
    bob_headers = api_token(client, "bob@example.com")
    bob_history = client.get("/api/v1/wallet/history", headers=bob_headers).json()["items"]
    assert bob_history[0]["amount"] == "25.50" and bob_history[0]["direction"] == "in"
    assert bob_history[0]["note"] == "午饭"
    alice_history = client.get("/api/v1/wallet/history", headers=headers).json()["items"]
    assert [i["amount"] for i in alice_history] == ["-25.50", "100.00"]


def test_transfer_by_phone_number(client, db, pair) -> None:
    _alice, bob, headers = pair
    assert send(client, headers, "k1", recipient="138 0013 8000", amount="1").status_code == 201
    assert balance(db, bob) == (100, 0)


def test_ledger_rows_are_immutable_in_the_database(client, db, pair) -> None:
    with db.engine.connect() as conn:
        for statement in (
            "UPDATE posting SET amount = amount + 1",
            "DELETE FROM posting",
            "UPDATE journal_entry SET kind = 'x'",
            "DELETE FROM journal_entry",
        ):
            with pytest.raises(DBAPIError), conn.begin():
                conn.execute(text(statement))
    assert_ledger_consistent(db)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": "0"}, "amount_not_positive"),
        ({"amount": "-5"}, "amount_not_positive"),
        ({"amount": "10.001"}, "amount_too_precise"),
        ({"amount": "NaN"}, "amount_invalid"),
        ({"amount": "Infinity"}, "amount_invalid"),
        ({"amount": "1e3"}, "amount_invalid"),
        ({"amount": "99999999999999999"}, "amount_too_large"),
        ({"amount": "1", "currency": "XBT"}, "currency_not_supported"),
        ({"amount": "100.01"}, "insufficient_funds"),
        ({"amount": "1", "recipient": "alice@example.com"}, "transfer_to_self"),
        ({"amount": "1", "recipient": "nobody@example.com"}, "recipient_not_found"),
        ({"amount": "1", "currency": "USD"}, "insufficient_funds"),
        ({"amount": "1", "note": "line\r\nbreak"}, "line_break_not_allowed"),
    ],
)
def test_bad_transfers_are_refused_and_change_nothing(client, db, pair, body, code) -> None:
    alice, bob, headers = pair
    before = counts(db), balance(db, alice), balance(db, bob)
    response = send(client, headers, f"bad-{code}", **{"recipient": "bob@example.com", **body})
    assert response.status_code in (404, 422), response.text
    assert response.json()["error"]["code"] == code
    assert (counts(db), balance(db, alice), balance(db, bob)) == before
    assert_ledger_consistent(db)


def test_jpy_has_no_minor_unit(client, db, pair) -> None:
    alice, _bob, headers = pair
    fund(db, alice, 1000, "JPY")
    assert (
        send(
            client, headers, "j1", recipient="bob@example.com", amount="1.5", currency="JPY"
        ).json()["error"]["code"]
        == "amount_too_precise"
    )
    assert (
        send(
            client, headers, "j2", recipient="bob@example.com", amount="500", currency="JPY"
        ).status_code
        == 201
    )
    assert balance(db, alice, "JPY") == (500, 0)


def test_idempotency_key_rules(client, db, pair) -> None:
    alice, _bob, headers = pair
    first = send(client, headers, "same-key", recipient="bob@example.com", amount="10")
    again = send(client, headers, "same-key", recipient="bob@example.com", amount="10")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert balance(db, alice) == (9000, 0)
    other = send(client, headers, "same-key", recipient="bob@example.com", amount="11")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    missing = client.post(
        "/api/v1/wallet/transfers",
        headers=headers,
        json={"recipient": "bob@example.com", "amount": "1", "currency": "CNY"},
    )
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    assert balance(db, alice) == (9000, 0)


def test_a_refusal_is_replayed_for_the_same_key(client, db, pair) -> None:
    alice, _bob, headers = pair
    first = send(client, headers, "k-refused", recipient="bob@example.com", amount="500")
    assert first.json()["error"]["code"] == "insufficient_funds"
    fund(db, alice, 1000_00)
    again = send(client, headers, "k-refused", recipient="bob@example.com", amount="500")
    assert again.json() == first.json() and again.status_code == first.status_code


def test_frozen_account_sends_nothing_but_can_receive(client, db, pair) -> None:
    alice, bob, headers = pair
    from okpay.wallet import standing

    with db.unit_of_work() as s:
        standing.do_freeze(s, user_id=alice, reason="Suspected fraud", actor_user_id=None)
    headers = api_token(client, "alice@example.com")  # the freeze ended the old token
    response = send(client, headers, "f1", recipient="bob@example.com", amount="1")
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_frozen"
    fund(db, bob, 500)
    bob_headers = api_token(client, "bob@example.com")
    assert (
        send(client, bob_headers, "f2", recipient="alice@example.com", amount="5").status_code
        == 201
    )
    assert balance(db, alice) == (10500, 0)
    with db.unit_of_work() as s:
        standing.do_release(s, user_id=alice, actor_user_id=None)
    assert send(client, headers, "f3", recipient="bob@example.com", amount="1").status_code == 201


def test_restricted_operation_names_the_reason(client, db, pair) -> None:
    alice, _bob, headers = pair
    from okpay.wallet import standing

    with db.unit_of_work() as s:
        standing.do_restrict(
            s,
            user_id=alice,
            blocked=["transfer"],
            reason="Documents under review",
            actor_user_id=None,
        )
    response = send(client, headers, "r1", recipient="bob@example.com", amount="1")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_restricted"
    assert "Documents under review" in response.json()["error"]["message"]


def test_limits_name_the_limit_remaining_and_reset(client, db, clock) -> None:
    alice = make_user(db, "alice@example.com", level=0)
    make_user(db, "bob@example.com")
    fund(db, alice, 3_000_00)  # level 0: top-ups of at most ¥5,000 each
    fund(db, alice, 3_000_00)
    headers = api_token(client, "alice@example.com")
    over_tx = send(client, headers, "l1", recipient="bob@example.com", amount="2000.01")
    assert over_tx.json()["error"]["code"] == "limit_exceeded"
    assert "per-transaction" in over_tx.json()["error"]["message"]
    for i in range(2):
        assert (
            send(
                client, headers, f"l{i + 2}", recipient="bob@example.com", amount="2000"
            ).status_code
            == 201
        )
    daily = send(client, headers, "l9", recipient="bob@example.com", amount="1500")
    assert daily.json()["error"]["code"] == "limit_exceeded"
    assert (
        "daily" in daily.json()["error"]["message"]
        and "1,000.00" in daily.json()["error"]["message"]
    )
    clock.advance(days=1)
    assert (
        send(client, headers, "l10", recipient="bob@example.com", amount="1500").status_code == 201
    )


def test_another_users_operation_is_not_found(client, db, pair) -> None:
    _alice, _bob, headers = pair
    make_user(db, "eve@example.com")
    ref = send(client, headers, "k1", recipient="bob@example.com", amount="1").json()["reference"]
    eve = api_token(client, "eve@example.com")
    assert client.get(f"/api/v1/wallet/operations/{ref}", headers=eve).status_code == 404
    assert client.get(f"/api/v1/wallet/operations/{ref}", headers=headers).status_code == 200


def test_top_up_clearing_mirrors_customer_money(client, db, pair) -> None:
    _alice, _bob, _headers = pair
    assert system_total(db, SystemAccount.bank_clearing) == -100_00
    assert_ledger_consistent(db)


def test_limits_raised_after_review_apply_until_they_expire(client, db, clock) -> None:
    from typer.testing import CliRunner

    from okpay.cli import app

    alice = make_user(db, "alice@example.com", level=0)
    make_user(db, "bob@example.com")
    fund(db, alice, 4_000_00)
    headers = api_token(client, "alice@example.com")
    assert (
        send(client, headers, "o1", recipient="bob@example.com", amount="3000").json()["error"][
            "code"
        ]
        == "limit_exceeded"
    )
    result = CliRunner().invoke(
        app,
        [
            "wallet",
            "set-limit",
            "alice@example.com",
            "--operation",
            "transfer",
            "--per-transaction",
            "5000",
            "--daily",
            "5000",
            "--reason",
            "Documents checked",
            "--days",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        send(client, headers, "o2", recipient="bob@example.com", amount="3000").status_code == 201
    )
    clock.advance(days=2)
    assert (
        send(client, headers, "o3", recipient="bob@example.com", amount="3000").json()["error"][
            "code"
        ]
        == "limit_exceeded"
    )
    with db.unit_of_work(write=False) as s:
        from okpay.core.audit import AuditEvent

        assert "limit_override_granted" in set(s.scalars(select(AuditEvent.action)))


def test_limits_change_only_through_a_reviewed_proposal(client, db, pair) -> None:
    """The old one-person staff route is gone (issue 13): a higher limit is a proposal on a
    case that a second person approves (tests/casework)."""
    alice, _bob, headers = pair
    response = client.post(
        f"/api/v1/admin/users/{alice}/limits",
        headers=headers,
        json={"op_type": "transfer", "daily": "99999", "reason": "please"},
    )
    assert response.status_code in (404, 405)


def test_a_reference_already_taken_is_drawn_again(client, db, pair, monkeypatch) -> None:
    """References are numbered and cannot clash (issue 11 item 15); should one ever meet
    one already taken, the unique constraint refuses it and the transfer is retried with
    another, on either database."""
    from okpay.wallet import references

    _alice, bob, headers = pair
    taken = send(client, headers, "k1", recipient="bob@example.com", amount="1").json()["reference"]
    real = references.new_references
    draws = iter([[taken]])
    monkeypatch.setattr(
        references,
        "new_references",
        lambda session, count: next(draws, None) or real(session, count),
    )
    response = send(client, headers, "k2", recipient="bob@example.com", amount="2")
    assert response.status_code == 201, response.text
    assert response.json()["reference"] not in (taken, "")
    assert balance(db, bob) == (300, 0)
    assert_ledger_consistent(db)
