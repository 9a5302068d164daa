"""Issue 11 item 1 and the webhook part of item 9: a withdrawal is cancelled through the
provider first, provider events that do not match the ledger become reconciliation
exceptions for operators (never applied, never silently acknowledged), and no signature
header or signed body can make the webhook answer 500."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.core.errors import DomainError
from okpay.identity.models import Role
from okpay.wallet import flows, schemas
from okpay.wallet.models import Hold, Operation, ReconciliationException, SystemAccount
from okpay.wallet.providers import ProviderUnavailable, get_provider
from tests.helpers import PASSWORD, api_token, csrf_from, post_form
from tests.support.helpers import make_staff
from tests.wallet.helpers import assert_ledger_consistent, balance, fund, make_user, system_total

ALERTS = "security@okpay.example"  # payments_alert_address is empty: the security address


@pytest.fixture
def user(client, db):  # type: ignore[no-untyped-def]
    uid = make_user(db, "mei@example.com")
    fund(db, uid, 1000_00)
    return uid, api_token(client, "mei@example.com")


@pytest.fixture
def cancel_calls(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Every payout reference the wallet asks the provider to cancel."""
    provider = get_provider()
    real = provider.cancel_payout
    calls: list[str] = []

    def spy(provider_ref: str) -> bool:
        calls.append(provider_ref)
        return real(provider_ref)

    monkeypatch.setattr(provider, "cancel_payout", spy)
    return calls


def webhook(client, event: dict[str, Any], *, signature: str | bytes | None = None):  # type: ignore[no-untyped-def]
    body = json.dumps(event).encode()
    sig = signature if signature is not None else get_provider().sign(body, int(time.time()))
    return client.post(
        "/api/v1/webhooks/sandbox",
        content=body,
        headers={"OKPay-Signature": sig, "Content-Type": "application/json"},
    )


def signed_post(client, body: bytes):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/webhooks/sandbox",
        content=body,
        headers={"OKPay-Signature": get_provider().sign(body, int(time.time()))},
    )


def add_bank(client, headers) -> int:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/wallet/payment-methods/bank-accounts",
        headers=headers,
        json={
            "account_number": "6222020200112233445",
            "bank_name": "中国银行",
            "holder_name": "李梅",
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def withdraw(client, headers, amount: str = "300") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/wallet/withdrawals",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={"payment_method_id": add_bank(client, headers), "amount": amount, "currency": "CNY"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def payout_ref(db, reference: str) -> str:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return str(s.scalar(select(Operation.external_ref).where(Operation.reference == reference)))


def payout_event(kind: str, payout: str, **data: Any) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex[:12]}", "type": kind, "data": {"payout": payout, **data}}


def cancel(client, headers, reference: str):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/wallet/withdrawals/{reference}/cancel", headers=headers)


def status_of(db, reference: str) -> str:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return str(s.scalar(select(Operation.status).where(Operation.reference == reference)))


def exceptions(db) -> list[ReconciliationException]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(s.scalars(select(ReconciliationException).order_by(ReconciliationException.id)))


def audit_actions(db, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --------------------------------------------------------------------------- item 1: cancel


def test_i11_item1_cancelled_withdrawal_is_never_paid(
    client, db, user, cancel_calls, mailbox, caplog
) -> None:  # type: ignore[no-untyped-def]
    uid, headers = user
    op = withdraw(client, headers, "300")
    ref = payout_ref(db, op["reference"])
    assert balance(db, uid) == (100000, 30000)

    cancelled = cancel(client, headers, op["reference"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancel_calls == [ref]  # the provider was asked first
    assert balance(db, uid) == (100000, 0)

    # The provider pays it anyway: recorded for operators, and no money moves.
    with caplog.at_level("ERROR", logger="okpay.wallet.reconciliation"):
        late = webhook(client, payout_event("payout.paid", ref, amount=30000, currency="CNY"))
    assert late.status_code == 200
    assert late.json()["outcome"] == "reconciliation_exception"
    assert status_of(db, op["reference"]) == "cancelled"
    assert balance(db, uid) == (100000, 0)
    assert system_total(db, SystemAccount.payouts) == 0
    (row,) = exceptions(db)
    assert (row.kind, row.status, row.event_type, row.operation_status) == (
        "paid_after_cancel",
        "open",
        "payout.paid",
        "cancelled",
    )
    assert late.json()["exception_id"] == row.id
    assert [a.object_id for a in audit_actions(db, "reconciliation_exception_opened")] == [
        str(row.id)
    ]
    assert any("paid_after_cancel" in r.getMessage() for r in caplog.records)
    alert = mailbox.last(ALERTS)
    assert f"#{row.id}" in str(alert["Subject"]) and op["reference"] in mailbox.text(alert)
    # A cancel of a cancelled withdrawal is refused; the provider was not asked again.
    assert cancel(client, headers, op["reference"]).status_code == 409 and cancel_calls == [ref]
    assert len(exceptions(db)) == 1
    assert_ledger_consistent(db)


def test_i11_item1_cancel_is_refused_once_the_payout_is_in_flight(
    client, db, user, cancel_calls
) -> None:  # type: ignore[no-untyped-def]
    uid, headers = user
    # The provider told us the payout is with the bank: refused without asking again.
    first = withdraw(client, headers, "300")
    ref1 = payout_ref(db, first["reference"])
    sent = webhook(client, payout_event("payout.processing", ref1, amount=30000, currency="CNY"))
    assert sent.json()["outcome"] == "applied"
    refused = cancel(client, {**headers, "Accept-Language": "zh-CN"}, first["reference"])
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "payout_in_flight"
    assert "银行" in refused.json()["error"]["message"]  # in the customer's language
    assert cancel_calls == []
    # The provider refuses the cancel (it just handed the payout to the bank).
    second = withdraw(client, headers, "200")
    ref2 = payout_ref(db, second["reference"])
    get_provider().advance_payout(ref2, "in_flight")  # type: ignore[attr-defined]
    refused = cancel(client, headers, second["reference"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payout_in_flight"
    assert cancel_calls == [ref2]
    assert balance(db, uid) == (100000, 50000)  # both holds kept
    assert status_of(db, first["reference"]) == status_of(db, second["reference"]) == "pending"
    # They are paid normally afterwards.
    for ref in (ref1, ref2):
        assert webhook(client, payout_event("payout.paid", ref)).json()["outcome"] == "applied"
    assert balance(db, uid) == (50000, 0)
    assert exceptions(db) == []
    assert_ledger_consistent(db)


def test_i11_item1_cancel_with_the_provider_unreachable_changes_nothing(
    client, db, user, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    uid, headers = user
    op = withdraw(client, headers, "300")

    def down(provider_ref: str) -> bool:
        raise ProviderUnavailable("sandbox: timeout")

    monkeypatch.setattr(get_provider(), "cancel_payout", down)
    response = cancel(client, headers, op["reference"])
    assert response.status_code == 503 and response.json()["error"]["code"] == "cancel_unavailable"
    assert status_of(db, op["reference"]) == "pending" and balance(db, uid) == (100000, 30000)


def test_i11_item1_paid_for_another_amount_or_currency_is_an_exception(client, db, user) -> None:
    uid, headers = user
    op = withdraw(client, headers, "300")
    ref = payout_ref(db, op["reference"])
    more = webhook(client, payout_event("payout.paid", ref, amount=300000, currency="CNY"))
    assert more.json()["outcome"] == "reconciliation_exception"
    other = webhook(client, payout_event("payout.paid", ref, amount=30000, currency="USD"))
    assert other.json()["outcome"] == "reconciliation_exception"
    rows = exceptions(db)
    assert [(r.kind, r.expected_amount, r.event_amount) for r in rows] == [
        ("amount_mismatch", 30000, 300000),
        ("currency_mismatch", 30000, 30000),
    ]
    # Nothing settled: the hold stays until the provider and the ledger agree.
    assert status_of(db, op["reference"]) == "pending" and balance(db, uid) == (100000, 30000)
    assert system_total(db, SystemAccount.payouts) == 0
    assert_ledger_consistent(db)


def test_i11_item1_unknown_references_are_exceptions(client, db, user) -> None:
    uid, _headers = user
    paid = webhook(client, payout_event("payout.paid", "po_never_made", amount=500))
    received = webhook(
        client,
        {
            "id": "evt_bank",
            "type": "bank_transfer.received",
            "data": {
                "reference": "TX-20260101-NOPE00",
                "amount": 99900,
                "currency": "CNY",
                "transfer": "tr_x",
            },
        },
    )
    assert paid.json()["outcome"] == received.json()["outcome"] == "reconciliation_exception"
    rows = exceptions(db)
    assert [(r.kind, r.event_type, r.operation_id) for r in rows] == [
        ("unknown_reference", "payout.paid", None),
        ("unknown_reference", "bank_transfer.received", None),
    ]
    assert balance(db, uid) == (100000, 0)
    assert_ledger_consistent(db)


def test_i11_item1_failed_or_cancelled_after_paid_is_an_exception(client, db, user) -> None:
    uid, headers = user
    op = withdraw(client, headers, "300")
    ref = payout_ref(db, op["reference"])
    assert webhook(client, payout_event("payout.paid", ref)).json()["outcome"] == "applied"
    again = webhook(client, payout_event("payout.paid", ref))
    assert again.json()["outcome"] == "already_applied"
    failed = webhook(client, payout_event("payout.failed", ref, reason="account_closed"))
    stopped = webhook(client, payout_event("payout.cancelled", ref))
    assert failed.json()["outcome"] == stopped.json()["outcome"] == "reconciliation_exception"
    assert [r.kind for r in exceptions(db)] == ["failed_after_paid", "cancelled_after_paid"]
    # Paid once, and the money is not handed back by the late failure.
    assert status_of(db, op["reference"]) == "completed" and balance(db, uid) == (70000, 0)
    assert_ledger_consistent(db)


def test_i11_item1_provider_cancelled_event_releases_a_pending_withdrawal(client, db, user) -> None:
    """The provider's own payout.cancelled (e.g. our answer to a cancel was lost) releases
    the hold once; in flight after a close is an exception."""
    uid, headers = user
    op = withdraw(client, headers, "300")
    ref = payout_ref(db, op["reference"])
    assert webhook(client, payout_event("payout.cancelled", ref)).json()["outcome"] == "applied"
    assert status_of(db, op["reference"]) == "cancelled" and balance(db, uid) == (100000, 0)
    late = webhook(client, payout_event("payout.processing", ref))
    assert late.json()["outcome"] == "reconciliation_exception"
    assert [r.kind for r in exceptions(db)] == ["in_flight_after_close"]


def test_i11_item1_paid_while_the_cancel_is_with_the_provider(
    client, db, user, monkeypatch
) -> None:
    """The payout.paid webhook lands between the cancel's check and the provider's answer
    (which says cancelled): the payment stands, the cancel is refused, and the
    contradiction is an exception; the money left once and never came back."""
    uid, headers = user
    op = withdraw(client, headers, "300")
    provider = get_provider()
    real = provider.cancel_payout

    def slow_cancel(provider_ref: str) -> bool:
        outcome = flows.handle_provider_event(
            schemas.parse_provider_event(payout_event("payout.paid", provider_ref))
        )
        assert outcome.outcome == "applied"
        return real(provider_ref)

    monkeypatch.setattr(provider, "cancel_payout", slow_cancel)
    refused = cancel(client, headers, op["reference"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_cancellable"
    assert status_of(db, op["reference"]) == "completed"
    assert balance(db, uid) == (70000, 0) and system_total(db, SystemAccount.payouts) == 30000
    assert [r.kind for r in exceptions(db)] == ["cancelled_after_paid"]
    assert_ledger_consistent(db)


@pytest.mark.postgres_only
def test_i11_item1_concurrent_cancel_and_paid_webhook(client, db, user) -> None:
    """Cancel and payout.paid at the same moment, on real parallel connections: either the
    payment stands (cancel refused) or the cancel stands and the payment is an exception;
    never both the money paid out and back in the balance unnoticed."""
    uid, headers = user
    fund(db, uid, 9000_00)
    for _round in range(6):
        op = withdraw(client, headers, "100")
        ref = payout_ref(db, op["reference"])
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        def do_cancel(
            reference: str = op["reference"],
            barrier: threading.Barrier = barrier,
            results: dict[str, Any] = results,
        ) -> None:
            barrier.wait()
            try:
                results["cancel"] = flows.cancel_withdrawal(user_id=uid, reference=reference)
            except Exception as exc:
                results["cancel"] = exc

        def do_paid(
            payout: str = ref,
            barrier: threading.Barrier = barrier,
            results: dict[str, Any] = results,
        ) -> None:
            barrier.wait()
            event = schemas.parse_provider_event(payout_event("payout.paid", payout))
            results["paid"] = flows.handle_provider_event(event).outcome

        threads = [threading.Thread(target=do_cancel), threading.Thread(target=do_paid)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        status = status_of(db, op["reference"])
        with db.unit_of_work(write=False) as s:
            op_id = s.scalar(select(Operation.id).where(Operation.reference == op["reference"]))
            hold = s.scalar(select(Hold.status).where(Hold.operation_id == op_id))
            kinds = [
                r.kind
                for r in s.scalars(
                    select(ReconciliationException).where(
                        ReconciliationException.operation_id == op_id
                    )
                )
            ]
        if status == "completed":
            assert hold == "captured" and results["paid"] == "applied"
            assert isinstance(results["cancel"], DomainError)  # refused, never a 500
            # Refused before asking the provider, or the provider confirmed a cancel of a
            # payout it had reported paid: then that contradiction is on the list.
            assert kinds in ([], ["cancelled_after_paid"])
        else:
            assert status == "cancelled" and hold == "released"
            assert results["paid"] == "reconciliation_exception" and kinds == ["paid_after_cancel"]
    assert balance(db, uid)[1] == 0
    assert_ledger_consistent(db)


# ------------------------------------------------------------------ item 1: the operators


def _exception_for(client, db, user) -> int:  # type: ignore[no-untyped-def]
    _uid, headers = user
    op = withdraw(client, headers, "300")
    ref = payout_ref(db, op["reference"])
    assert cancel(client, headers, op["reference"]).status_code == 200
    late = webhook(client, payout_event("payout.paid", ref))
    return int(late.json()["exception_id"])


def test_i11_item1_operators_list_and_resolve_exceptions_by_api(client, db, user) -> None:
    exception_id = _exception_for(client, db, user)
    _uid, customer = user
    make_staff(db, "boss@okpay.example", role=Role.supervisor)
    staff = api_token(client, "boss@okpay.example")
    assert client.get("/api/v1/admin/reconciliation", headers=customer).status_code == 403
    listed = client.get("/api/v1/admin/reconciliation", headers=staff).json()
    assert listed["open_count"] == 1
    (item,) = listed["items"]
    assert (item["id"], item["kind"], item["status"]) == (exception_id, "paid_after_cancel", "open")
    assert item["expected_amount"] == "300.00" and item["operation_reference"].startswith("TX-")
    bad = client.get("/api/v1/admin/reconciliation?status=nope", headers=staff)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "reconciliation_status_invalid"
    url = f"/api/v1/admin/reconciliation/{exception_id}/resolve"
    empty = client.post(url, headers=staff, json={"note": "   "})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "note_required"
    note = "Provider confirmed the payout; recovery proposal opened for the customer."
    done = client.post(url, headers=staff, json={"note": note})
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert done.json()["resolution_note"] == note
    twice = client.post(url, headers=staff, json={"note": "again"})
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "reconciliation_already_resolved"
    (audit,) = audit_actions(db, "reconciliation_exception_resolved")
    assert audit.object_id == str(exception_id) and audit.data["note"] == note
    assert client.get("/api/v1/admin/reconciliation", headers=staff).json()["open_count"] == 0
    missing = client.get("/api/v1/admin/reconciliation/999999", headers=staff)
    assert missing.status_code == 404
    huge = client.get(f"/api/v1/admin/reconciliation/{2**63}", headers=staff)
    assert huge.status_code == 422


def test_i11_item1_operators_resolve_exceptions_on_the_staff_page(client, db, user) -> None:
    exception_id = _exception_for(client, db, user)
    make_staff(db, "boss@okpay.example", role=Role.supervisor)
    client.cookies.clear()
    assert post_form(
        client, "/login", {"email": "mei@example.com", "password": PASSWORD}
    ).is_redirect
    assert client.get("/agent/reconciliation").status_code == 403  # customers never see it
    client.cookies.clear()
    login = post_form(client, "/login", {"email": "boss@okpay.example", "password": PASSWORD})
    assert login.is_redirect
    page = client.get("/agent/reconciliation")
    assert page.status_code == 200 and "Paid after the withdrawal was cancelled" in page.text
    detail = client.get(f"/agent/reconciliation/{exception_id}")
    token = csrf_from(detail.text)
    empty = client.post(
        f"/agent/reconciliation/{exception_id}/resolve", data={"note": "", "csrf_token": token}
    )
    assert empty.status_code == 422 and "Write down what you decided" in empty.text
    done = client.post(
        f"/agent/reconciliation/{exception_id}/resolve",
        data={"note": "Checked with the bank.", "csrf_token": token},
        follow_redirects=True,
    )
    assert done.status_code == 200 and "Checked with the bank." in done.text
    chinese = client.get(
        "/agent/reconciliation?status=all", headers={"Accept-Language": "zh-CN"}
    ).text
    assert "提现取消后仍被付款" in chinese


def test_i11_item1_operators_list_and_resolve_exceptions_by_cli(client, db, user) -> None:
    from typer.testing import CliRunner

    from okpay.cli import app

    exception_id = _exception_for(client, db, user)
    listed = CliRunner().invoke(app, ["wallet", "reconciliation", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"#{exception_id} open" in listed.output and "paid_after_cancel" in listed.output
    done = CliRunner().invoke(
        app, ["wallet", "reconciliation", "resolve", str(exception_id), "--note", "refunded"]
    )
    assert done.exit_code == 0 and "resolved" in done.output
    again = CliRunner().invoke(
        app, ["wallet", "reconciliation", "resolve", str(exception_id), "--note", "x"]
    )
    assert again.exit_code == 1 and "reconciliation_already_resolved" in again.output
    (audit,) = audit_actions(db, "reconciliation_exception_resolved")
    assert audit.channel == "cli"


# ------------------------------------------------------------------ item 9: webhook input


@pytest.mark.parametrize(
    "header",
    [
        # A fresh timestamp, so the MAC is compared: a non-ASCII byte there used to be a 500.
        b"t={now},v1=" + b"\xff" * 64,
        b"t={now},v1=" + "é".encode() * 32,
        b"t={now},v1=\xff\xfe",
        "t={now},v1=０".encode(),
        b"t=1700000000,v1=\xff\xfe",
        "t=１７００,v1=00".encode(),
        b"t=\xe9,v1=" + b"a" * 64,
        b"",
        b"garbage",
        b"t=abc,v1=" + b"0" * 64,
        b"t=99999999999999999999999,v1=" + b"0" * 64,
        b"t={now},v1=" + b"g" * 64,
    ],
)
def test_i11_item9_webhook_bad_signature_bytes(client, db, user, header: bytes) -> None:
    uid, _headers = user
    header = header.replace(b"{now}", str(int(time.time())).encode())
    body = json.dumps({"id": "evt_x", "type": "payout.paid", "data": {"payout": "po_x"}}).encode()
    response = client.post(
        "/api/v1/webhooks/sandbox", content=body, headers={"OKPay-Signature": header}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("signature_malformed", "signature_expired")
    assert exceptions(db) == [] and balance(db, uid) == (100000, 0)


def test_i11_item9_webhook_wrong_signature_is_refused(client, db, user) -> None:
    body = json.dumps({"id": "evt_x", "type": "payout.paid", "data": {"payout": "po_x"}}).encode()
    wrong = f"t={int(time.time())},v1={'0' * 64}"
    response = client.post(
        "/api/v1/webhooks/sandbox", content=body, headers={"OKPay-Signature": wrong}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "signature_invalid"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": "abc"}, "data.amount"),
        ({"amount": "12"}, "data.amount"),
        ({"amount": 1.5}, "data.amount"),
        ({"amount": True}, "data.amount"),
        ({"amount": 10**30}, "data.amount"),
        ({"amount": -5}, "data.amount"),
        ({"currency": "cny"}, "data.currency"),
        ({"transfer": {"x": 1}}, "data.transfer"),
        ({"transfer": None}, "data.transfer"),
    ],
)
def test_i11_item9_webhook_bad_body(client, db, user, data: dict[str, Any], field: str) -> None:
    """A signed bank_transfer.received for a real pending top-up, with one field wrong:
    `"amount": "abc"` used to reach int() and answer 500."""
    uid, headers = user
    topup = client.post(
        "/api/v1/wallet/topups/bank",
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        json={"amount": "50", "currency": "CNY"},
    ).json()
    fields = {"reference": topup["reference"], "amount": 5000, "currency": "CNY", "transfer": "t1"}
    event = {"id": "evt_bad", "type": "bank_transfer.received", "data": {**fields, **data}}
    response = signed_post(client, json.dumps(event).encode())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "webhook_body_invalid" and error["field"] == field
    assert status_of(db, topup["reference"]) == "pending"
    assert exceptions(db) == [] and balance(db, uid) == (100000, 0)
    # The same event, corrected, is applied: the refusal recorded nothing.
    event["data"] = fields
    assert signed_post(client, json.dumps(event).encode()).json()["outcome"] == "applied"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"id": "e2", "type": "payout.paid", "data": {"payout": "po", "amount": 1.5}},
            "data.amount",
        ),
        ({"id": "e5", "type": "payout.paid", "data": {"payout": {"x": 1}}}, "data.payout"),
        ({"id": "e6", "type": "payout.paid", "data": {}}, "data.payout"),
        ({"id": "e7", "type": "payout.paid", "data": ["po"]}, "data"),
        ({"id": "e9", "type": "payout.paid", "data": "po"}, "data"),
        ({"id": {"a": 1}, "type": "payout.paid", "data": {"payout": "po"}}, "id"),
        ({"type": "payout.paid", "data": {"payout": "po"}}, "id"),
        ({"id": "e10", "type": ["payout.paid"], "data": {"payout": "po"}}, "type"),
        (
            {"id": "e8", "type": "payout.failed", "data": {"payout": "po", "reason": "x" * 500}},
            "data.reason",
        ),
    ],
)
def test_i11_item9_webhook_bad_payout_body(client, db, user, body: Any, field: str) -> None:
    uid, _headers = user
    response = signed_post(client, json.dumps(body).encode())
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "webhook_body_invalid" and error["field"] == field
    assert exceptions(db) == [] and balance(db, uid) == (100000, 0)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000])
def test_i11_item9_webhook_body_that_is_not_an_object(client, db, raw: bytes) -> None:
    response = signed_post(client, raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_body_invalid"
