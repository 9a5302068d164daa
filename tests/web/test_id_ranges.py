"""Issue 11 item 9: ids no database column can hold are refused as bad input, never a 500.

Every endpoint that takes a row id (in its path, query, JSON body or form) is called with
values past the INTEGER range (PostgreSQL), past the 64-bit range (SQLite and BIGINT), far
beyond, zero, negative, and — for typed-in form fields — digits that are not ASCII.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass

import pytest

from tests.helpers import PASSWORD, api_token, csrf_from, post_form
from tests.support.helpers import make_staff, open_ticket
from tests.wallet.helpers import make_user

CUSTOMER = "range.customer@example.com"
ADMIN = "range.admin@example.com"

# Past INTEGER (2³¹−1), past BIGINT and SQLite (2⁶³−1), past 64 bits, absurd, and non-positive.
BIG_VALUES = [2**31, 2**63, 2**64, 10**40, 0, -1, -(2**63) - 1]
# What a form field can carry besides: digits int() refuses or that are not ASCII.
FORM_EXTRAS = ["²", "٣", "１２", "9" * 400]


@dataclass(frozen=True)
class Case:
    name: str
    role: str  # "customer" or "admin"
    method: str
    path: str  # {id} is replaced for path ids; {number} by a real ticket number
    where: str = "path"  # path | json | form | cursor
    field: str = ""
    body: dict[str, object] = dataclasses.field(default_factory=dict)
    template: str = "{}"  # how a form field carries the value

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


_AMOUNT = {"amount": "1.00", "currency": "CNY"}
_WHY = {"reason": "x"}
CASES = [
    # JSON API, customer
    Case("api-end-session", "customer", "DELETE", "/api/v1/me/sessions/{id}"),
    Case("api-remove-method", "customer", "DELETE", "/api/v1/wallet/payment-methods/{id}"),
    Case("api-ticket-file", "customer", "GET", "/api/v1/support/tickets/{number}/files/{id}"),
    Case("api-chat", "customer", "GET", "/api/v1/support/chats/{id}"),
    Case(
        "api-transfer-quote", "customer", "POST", "/api/v1/wallet/transfers", "json",
        "quote_id", {"recipient": ADMIN, **_AMOUNT},
    ),
    Case(
        "api-card-topup", "customer", "POST", "/api/v1/wallet/topups/card", "json",
        "payment_method_id", _AMOUNT,
    ),
    Case(
        "api-withdrawal", "customer", "POST", "/api/v1/wallet/withdrawals", "json",
        "payment_method_id", _AMOUNT,
    ),
    Case(
        "api-withdrawal-review", "customer", "POST", "/api/v1/wallet/withdrawals/review", "json",
        "payment_method_id", _AMOUNT,
    ),
    Case("api-history-cursor", "customer", "GET", "/api/v1/wallet/history", "cursor"),
    # JSON API, staff
    Case("api-admin-restrict", "admin", "POST", "/api/v1/admin/users/{id}/restrict", body=_WHY),
    Case("api-admin-freeze", "admin", "POST", "/api/v1/admin/users/{id}/freeze", body=_WHY),
    Case("api-agent-accept-chat", "admin", "POST", "/api/v1/agent/chats/{id}/accept"),
    Case("api-agent-queue-cursor", "admin", "GET", "/api/v1/agent/queue", "queue_cursor"),
    Case(
        "api-agent-assign", "admin", "POST", "/api/v1/agent/tickets/{number}/assign", "json",
        "assignee_id",
    ),
    # Pages, customer
    Case("page-end-session", "customer", "POST", "/account/sessions/{id}/end"),
    Case("page-remove-method", "customer", "POST", "/wallet/methods/{id}/remove"),
    Case("page-ticket-file", "customer", "GET", "/support/requests/{number}/files/{id}"),
    Case("page-chat", "customer", "GET", "/support/chat/{id}"),
    Case("page-chat-end", "customer", "POST", "/support/chat/{id}/end"),
    Case("page-topup-card", "customer", "POST", "/wallet/topup", "form", "source", _AMOUNT),
    Case(
        "page-send-quote", "customer", "POST", "/wallet/send", "form", "quote_id",
        {"recipient": ADMIN, "note": "", **_AMOUNT},
    ),
    Case(
        "page-withdraw", "customer", "POST", "/wallet/withdraw", "form", "payment_method_id",
        _AMOUNT,
    ),
    Case(
        "page-withdraw-review", "customer", "POST", "/wallet/withdraw/review", "form",
        "payment_method_id", _AMOUNT,
    ),
    Case(
        "page-card-expiry", "customer", "POST", "/wallet/methods/card", "form", "expiry",
        {"card_number": "4242 4242 4242 4242", "cvc": "123"}, "12/{}",
    ),
    # Pages, staff
    Case("page-agent-file", "admin", "GET", "/agent/tickets/{number}/files/{id}"),
    Case("page-agent-queue-cursor", "admin", "GET", "/agent", "queue_cursor"),
    Case("page-agent-chat", "admin", "GET", "/agent/chats/{id}"),
    Case("page-agent-chat-accept", "admin", "POST", "/agent/chats/{id}/accept"),
    Case("page-agent-chat-end", "admin", "POST", "/agent/chats/{id}/end"),
    Case(
        "page-agent-chat-status", "admin", "POST", "/agent/chats/{id}/status", "path", "",
        {"status": "away"},
    ),
    Case("page-help-revision", "admin", "GET", "/help/articles/no-such-article/history/{id}"),
    Case(
        "page-agent-assign", "admin", "POST", "/agent/tickets/{number}/assign", "form",
        "assignee",
    ),
    Case(
        "page-agent-phone", "admin", "POST", "/agent/phone", "form", "customer_id",
        {"subject": "Call", "body": "A customer called about a top-up."},
    ),
    Case(
        "page-agent-bulk", "admin", "POST", "/agent/bulk", "form", "value_assign",
        {"action": "assign", "numbers": "{number}"},
    ),
]  # fmt: skip


def _sign_in(client, db, mailbox, role: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Sign ``role`` in on the client (cookie) and return API headers for the same person."""
    if role == "admin":
        from okpay.identity.models import Role

        make_staff(db, ADMIN, role=Role.admin)
        email = ADMIN
    else:
        make_user(db, CUSTOMER)
        make_staff(db, ADMIN)  # a recipient for the transfer cases
        email = CUSTOMER
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303
    return api_token(client, email)


def _cursor(value: object) -> str:
    """A wallet-history cursor (time|id) carrying ``value`` as its row id."""
    return base64.urlsafe_b64encode(f"2026-11-21T09:00:00+00:00|{value}".encode()).decode()


def _queue_cursors(value: object) -> list[str]:
    """Agent-queue cursors (due:id) carrying ``value`` as the row id, then as the due time."""
    return [
        base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        for text in (f"-:{value}", f"{value}:1")
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_i11_item9_ids_out_of_range_never_500(case: Case, client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    headers = _sign_in(client, db, mailbox, case.role)
    number = open_ticket(db, email=CUSTOMER)
    csrf = csrf_from(client.get("/account/security" if case.role == "customer" else "/agent").text)
    values: list[object] = list(BIG_VALUES)
    if case.where in ("form", "cursor", "queue_cursor"):
        values += FORM_EXTRAS
    for n, value in enumerate(values):
        path = case.path.replace("{number}", number).replace("{id}", str(value))
        body = {k: (v.replace("{number}", number) if isinstance(v, str) else v)
                for k, v in case.body.items()}  # fmt: skip
        kwargs: dict[str, object] = {}
        if case.api:
            kwargs["headers"] = {**headers, "Idempotency-Key": f"k-{case.name}-{n}"}
        else:
            kwargs["headers"] = {"X-CSRF-Token": csrf}
        if case.where == "json":
            kwargs["json"] = {**body, case.field: value}
        elif case.where == "form":
            kwargs["data"] = {
                **body,
                case.field: case.template.format(value),
                "idempotency_key": f"k-{n}",
            }
        elif case.where == "cursor":
            kwargs["params"] = {"cursor": _cursor(value)}  # type: ignore[arg-type]
        elif case.where == "queue_cursor":
            for after in _queue_cursors(value):
                response = client.get(path, params={"after": after}, headers=kwargs["headers"])
                assert response.status_code < 500, (case.name, value, response.text[:500])
            continue
        elif case.method != "GET" and case.api:
            kwargs["json"] = body
        elif case.method != "GET":
            kwargs["data"] = body
        response = client.request(case.method, path, follow_redirects=False, **kwargs)
        assert response.status_code < 500, (case.name, value, response.text[:500])
        if case.api and response.status_code >= 400:
            assert set(response.json()["error"]) >= {"code", "message"}, response.text
        if case.where == "path" and case.api:
            # Refused before the handler ran: the standard validation answer.
            assert response.status_code in (404, 422), (case.name, value, response.text)
