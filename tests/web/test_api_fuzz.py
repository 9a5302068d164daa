"""Issue 11 item 9: fuzz the whole JSON API with schemathesis; no request may get a 5xx.

The app's own /openapi.json is loaded in-process (ASGI, no server). A customer with money, a
card and a bank account, and an admin (who passes every staff check) are signed in, so the
fuzzer gets past authentication into the handlers. Each operation gets a small, fixed number
of valid and of invalid (negative) examples, derandomised so CI does not flake, within a total
time budget. Run it alone with ``make fuzz`` (see README.md, "Quality checks").

Knobs (environment): OKPAY_FUZZ_EXAMPLES (per operation and mode, default 6),
OKPAY_FUZZ_BUDGET (seconds for the whole run, default 100), OKPAY_FUZZ_ONLY (a substring of
"METHOD /path" to fuzz only matching operations).
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from okpay.identity.models import Role
from tests.helpers import PASSWORD
from tests.support.helpers import make_staff, open_ticket
from tests.wallet.helpers import fund, make_user

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("OKPAY_FUZZ_EXAMPLES", "6"))
BUDGET = float(os.environ.get("OKPAY_FUZZ_BUDGET", "100"))
ONLY = os.environ.get("OKPAY_FUZZ_ONLY", "")

CUSTOMER = "fuzz.customer@example.com"
ADMIN = "fuzz.admin@example.com"

# Operations left out of the run, each until the issue-11 item that fixes its 5xx lands with
# the branch named. Re-enable (delete the line) when merging that branch.
EXCLUDED: dict[str, str] = {}

# Operations that end or change the caller's sign-in or an account's standing run last, so
# they do not take the rest of the run's sessions with them.
LAST = ("/auth/logout", "/sessions", "/me/password", "/admin/")


def _bearer(client, email: str) -> str:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


class Tokens:
    """Bearer tokens for the customer and the admin, renewed when the fuzzer ends them."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.tokens: dict[str, str] = {}

    def for_email(self, email: str) -> str:
        token = self.tokens.get(email)
        if token is not None:
            me = self.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            if me.status_code == 200:
                return token
        self.tokens[email] = _bearer(self.client, email)
        return self.tokens[email]


def _seed(db) -> None:  # type: ignore[no-untyped-def]
    from okpay.wallet import service
    from okpay.wallet.providers import get_provider

    customer_id = make_user(db, CUSTOMER, level=2)
    make_staff(db, ADMIN, role=Role.admin)
    fund(db, customer_id, 5_000_00)
    fund(db, customer_id, 300_00, "USD")
    with db.unit_of_work() as s:
        token = get_provider().tokenize_card("4242424242424242", 12, 2030, "123")
        service.do_add_card(s, user_id=customer_id, token=token, holder_name="Fuzz")
        service.do_add_bank_account(
            s,
            user_id=customer_id,
            provider_token="ba_sbx_fuzz",
            account_number="6222020200112233445",
            bank_name="ICBC",
            holder_name="Fuzz",
        )
    open_ticket(db, email=CUSTOMER)


def _label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _order(label: str) -> tuple[int, str]:
    return (1 if any(part in label for part in LAST) else 0, label)


def test_i11_item9_api_fuzz_no_5xx(app, client, db) -> None:  # type: ignore[no-untyped-def]
    _seed(db)
    tokens = Tokens(client)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations[_label(operation)] = operation
    assert len(operations) > 50, "the API's schema lost its operations"
    assert set(EXCLUDED) <= set(operations), set(EXCLUDED) - set(operations)

    failures: list[str] = []
    skipped: list[str] = []
    deadline = time.monotonic() + BUDGET
    for label in sorted(operations, key=_order):
        if label in EXCLUDED or ONLY not in label:
            continue
        if time.monotonic() > deadline:
            skipped.append(label)
            continue
        operation = operations[label]
        staff = "/api/v1/admin/" in label or "/api/v1/agent/" in label
        token = tokens.for_email(ADMIN if staff else CUSTOMER)
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"}
        started = time.monotonic()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(operation, label, mode, headers)
        print(f"fuzz {time.monotonic() - started:5.2f}s {label}")
    assert not skipped, f"out of time budget ({BUDGET:.0f} s) before: {skipped}"
    assert not failures, "server errors:\n" + "\n\n".join(failures)


def _fuzz(operation: Any, label: str, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    found: list[str] = []
    strategy = operation.as_strategy(generation_mode=mode, headers=headers)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            response = case.call()
        except Exception as exc:
            # The in-process transport re-raises what the app raised after answering 500.
            found.append(f"{label} [{mode.value}]: {exc!r}\n{_repro(case)}\n{_tail(exc)}")
            return
        if response.status_code >= 500:
            found.append(
                f"{label} [{mode.value}]: {response.status_code} {response.text[:300]}\n"
                f"{_repro(case)}"
            )

    # Unsatisfiable: nothing to make invalid (an operation without parameters, negative mode).
    with contextlib.suppress(Unsatisfiable):
        run()
    return found[:3]  # the first few are enough to find the cause


def _repro(case: Any) -> str:
    try:
        return str(case.as_curl_command())
    except Exception:  # pragma: no cover - only for the failure message
        return f"{case.path_parameters} {case.query} {case.body!r}"


def _tail(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)[-4:])
