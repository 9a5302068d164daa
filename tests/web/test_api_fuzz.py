"""Issue 11 item 9: fuzz the whole JSON API with schemathesis; no request may get a 5xx.

The app's own /openapi.json is loaded in-process (ASGI, no server). A customer with money, a
card and a bank account, and an admin (who passes every staff check) are signed in, so the
fuzzer gets past authentication into the handlers. Each operation gets a small, fixed number
of valid and of invalid (negative) examples, derandomised so CI does not flake, within a total
time budget (past it, the remaining operations get only the fixed boundary values, with a
warning). Every integer field also gets values no database column can hold. Run it alone
with ``make fuzz`` (see README.md, "Quality checks").

Knobs (environment): OKPAY_FUZZ_EXAMPLES (per operation and mode, default 6),
OKPAY_FUZZ_BUDGET (seconds for the whole run, default 100), OKPAY_FUZZ_ONLY (a substring of
"METHOD /path" to fuzz only matching operations).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import traceback
import warnings
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

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
    from okpay.wallet import methods
    from okpay.wallet.providers import get_provider

    customer_id = make_user(db, CUSTOMER, level=2)
    make_staff(db, ADMIN, role=Role.admin)
    fund(db, customer_id, 5_000_00)
    fund(db, customer_id, 300_00, "USD")
    with db.unit_of_work() as s:
        token = get_provider().tokenize_card("4242424242424242", 12, 2030, "123")
        methods.do_add_card(s, user_id=customer_id, token=token, holder_name="Fuzz")
        methods.do_add_bank_account(
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
    spec = client.get("/openapi.json").json()
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
        operation = operations[label]
        staff = "/api/v1/admin/" in label or "/api/v1/agent/" in label
        token = tokens.for_email(ADMIN if staff else CUSTOMER)
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"}
        started = time.monotonic()
        valid: list[Any] = []  # the first valid case: the base for the boundary values
        if started < deadline:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += _fuzz(operation, label, mode, headers, valid)
        else:
            skipped.append(label)
        # The boundary values are few and fixed: they always run.
        base = valid[0] if valid else None
        failures += _boundaries(operation, label, headers, _integer_fields(spec, operation), base)
        print(f"fuzz {time.monotonic() - started:5.2f}s {label}")
    if skipped:
        # A slow or busy machine fuzzes less rather than failing at random; say so.
        warnings.warn(
            f"API fuzzing ran out of its {BUDGET:.0f} s budget; generated examples were "
            f"skipped for {len(skipped)} operations: {', '.join(skipped)}",
            stacklevel=1,
        )
    assert not failures, "server errors:\n" + "\n\n".join(failures)


def _fuzz(
    operation: Any, label: str, mode: GenerationMode, headers: dict[str, str], valid: list[Any]
) -> list[str]:
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
        if mode == GenerationMode.POSITIVE and not valid:
            valid.append(case)
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


# Integers no database column holds (INTEGER ends at 2³¹−1, BIGINT and SQLite at 2⁶³−1).
# The generator rarely reaches them when a field has no bounds, so every integer field of
# every operation gets them once, whatever the schema says.
BOUNDARIES = [2**31, 2**63, 2**64, -(2**63) - 1]


def _is_integer(schema: dict[str, Any]) -> bool:
    options = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return any(o.get("type") == "integer" for o in options)


def _integer_fields(spec: dict[str, Any], operation: Any) -> list[tuple[str, str]]:
    """(location, name) of each integer path/query parameter and top-level JSON body field."""
    raw = spec["paths"][operation.path][operation.method.lower()]
    found = [
        (p["in"], p["name"])
        for p in raw.get("parameters", [])
        if p["in"] in ("path", "query") and _is_integer(p.get("schema", {}))
    ]
    body = raw.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = body.get("schema", {}).get("$ref", "")
    if ref:
        model = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        found += [
            ("body", name)
            for name, prop in model.get("properties", {}).items()
            if _is_integer(prop)
        ]
    return found


def _boundaries(
    operation: Any,
    label: str,
    headers: dict[str, str],
    fields: list[tuple[str, str]],
    base: Any,
) -> list[str]:
    found: list[str] = []
    for location, name in fields:
        for value in BOUNDARIES:
            path: dict[str, Any] = {n: 1 for n in re.findall(r"{(\w+)}", operation.path)}
            query: dict[str, Any] = {}
            body: Any = NOT_SET
            if base is not None:  # everything else as in a valid request
                path.update(base.path_parameters or {})
                query.update(base.query or {})
                if isinstance(base.body, dict):
                    body = dict(base.body)
            if location == "path":
                path[name] = value
            elif location == "query":
                query[name] = value
            else:
                body = {**(body if isinstance(body, dict) else {}), name: value}
            case = operation.Case(
                path_parameters=path,
                query=query,
                headers=headers,
                body=body,
                media_type="application/json" if body is not NOT_SET else None,
            )
            try:
                response = case.call()
            except Exception as exc:
                found.append(f"{label} [{name}={value}]: {exc!r}\n{_repro(case)}")
                continue
            if response.status_code >= 500:
                found.append(f"{label} [{name}={value}]: {response.status_code}\n{_repro(case)}")
    return found[:3]


def _repro(case: Any) -> str:
    try:
        return str(case.as_curl_command())
    except Exception:  # pragma: no cover - only for the failure message
        return f"{case.path_parameters} {case.query} {case.body!r}"


def _tail(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)[-4:])


# The provider webhook declares no parameters (its body is signed bytes), so the generator
# above only ever reaches its signature check. These probes send what a buggy or hostile
# sender could: a non-ASCII signature header, and correctly signed events whose fields have
# the wrong type or size. Today several of them are 500s; the fix is the payouts branch's.
WEBHOOK = "/api/v1/webhooks/sandbox"


def _webhook_probes(
    new_reference: Any,
) -> list[tuple[dict[str, Any] | list[Any] | str, str | None]]:
    """(event, signature override); None signs the event properly."""
    bank = {"currency": "CNY", "transfer": "tr_fuzz"}
    probes: list[tuple[dict[str, Any] | list[Any] | str, str | None]] = [
        ({"id": "evt_sig", "type": "payout.paid", "data": {}}, "t={now},v1=\u00e9"),
        ({"id": "evt_sig2", "type": "payout.paid", "data": {}}, "t=\u00e9,v1=0"),
        ({"id": "evt_sig3", "type": "payout.paid", "data": {}}, "t=99999999999999999999,v1=0"),
        ([1, 2, 3], None),
        ("just text", None),
        ({"id": ["x"], "type": {"a": 1}, "data": {}}, None),
        ({"id": "evt_list", "type": "payout.paid", "data": [1, 2]}, None),
        ({"id": "evt_str", "type": "bank_transfer.received", "data": "abc"}, None),
        ({"id": "evt_payout", "type": "payout.paid", "data": {"payout": {"x": 1}}}, None),
    ]
    for n, amount in enumerate(["abc", None, [], {"a": 1}, 1.5, "1e400", 2**63, 2**70, -(2**70)]):
        event = {
            "id": f"evt_amt{n}",
            "type": "bank_transfer.received",
            "data": {**bank, "reference": new_reference(), "amount": amount},
        }
        probes.append((event, None))
    return probes


def test_i11_item9_webhook_fuzz_no_5xx(client, db) -> None:  # type: ignore[no-untyped-def]
    import json

    from okpay.wallet import topups
    from okpay.wallet.providers import get_provider

    customer_id = make_user(db, CUSTOMER, level=2)

    def new_reference() -> str:
        """A pending bank top-up of its own for each probe."""
        with db.unit_of_work() as s:
            op = topups.do_begin_bank_topup(s, user_id=customer_id, amount=100_00, currency="CNY")
            return str(op.reference)

    failures = []
    for event, signature in _webhook_probes(new_reference):
        body = json.dumps(event).encode()
        now = int(time.time())
        header = (signature or "").replace("{now}", str(now)) or get_provider().sign(body, now)
        try:
            response = client.post(
                WEBHOOK, content=body, headers={"OKPay-Signature": header.encode("utf-8")}
            )
        except Exception as exc:
            failures.append(f"{event!r} {header!r}: {exc!r}")
            continue
        if response.status_code >= 500:
            failures.append(f"{event!r} {header!r}: {response.status_code}")
    assert not failures, "server errors:\n" + "\n".join(failures)
