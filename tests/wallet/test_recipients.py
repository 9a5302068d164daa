"""Signed-in enumeration (issue 11 item 6): what a sender learns about recipients does not
depend on whether they exist until a budget of lookups allows it, and names are masked
until the sender has paid that person before."""

from __future__ import annotations

import os
import re
import uuid

import pytest
from sqlalchemy import select, update

from okpay.identity.models import User
from okpay.wallet import recipients
from okpay.wallet.models import IdempotencyRecord, Operation
from tests.helpers import api_token, post_form
from tests.wallet.helpers import balance, fund, make_user
from tests.wallet.test_pages import sign_in

BATCH = "/api/v1/wallet/transfers/batch"


def item(recipient: str, amount: str) -> dict[str, str]:
    return {"recipient": recipient, "amount": amount, "currency": "CNY"}


def codes(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [r["error"]["code"] if not r["ok"] else "ok" for r in response.json()["results"]]


def batch(client, headers, items, key: str | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        BATCH,
        json={"transfers": items},
        headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def operations(db) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return len(s.scalars(select(Operation.id)).all())


def test_i11_item6_batch_answer_does_not_depend_on_existence(client, db, settings) -> None:
    """Items that could not be sent anyway (over the balance, over a limit) answer the same
    for known and unknown addresses, in a batch of 1,000, a single transfer and the send
    review: the sender's standing, limits and balance come before the recipient."""
    settings.recipient_lookups_per_hour = settings.recipient_lookups_per_day = 5000
    alice = make_user(db, "alice@example.com", level=0)  # ¥2,000 a transfer
    known = [f"k{i}@example.com" for i in range(50)]
    for email in known:
        make_user(db, email)
    fund(db, alice, 10_00)
    headers = api_token(client, "alice@example.com")
    unknown = [f"u{i}@example.com" for i in range(950)]
    addresses = [a for pair in zip(known, unknown[:50], strict=True) for a in pair] + unknown[50:]

    over_balance = codes(batch(client, headers, [item(a, "50") for a in addresses]))
    assert len(over_balance) == 1000 and set(over_balance) == {"insufficient_funds"}
    over_limit = codes(batch(client, headers, [item(a, "2000.01") for a in addresses[:20]]))
    assert set(over_limit) == {"limit_exceeded"}
    assert balance(db, alice) == (10_00, 0) and operations(db) == 1  # the top-up only

    for address in ("k1@example.com", "nobody@example.com"):
        single = client.post(
            "/api/v1/wallet/transfers",
            json=item(address, "50"),
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert single.json()["error"]["code"] == "insufficient_funds", address
        review = client.post(
            "/api/v1/wallet/transfers/review", json=item(address, "50"), headers=headers
        )
        assert review.json()["error"]["code"] == "insufficient_funds", address
    sign_in(client, "alice@example.com")
    pages = [
        post_form(
            client,
            "/wallet/send/review",
            {"recipient": address, "amount": "50", "currency": "CNY"},
            from_page="/wallet/send",
        )
        for address in ("k1@example.com", "nobody@example.com")
    ]
    assert [p.status_code for p in pages] == [422, 422]
    assert all("not enough" in p.text.lower() or "insufficient" in p.text.lower() for p in pages)
    # Affordable items still say which recipients are unknown (within the budget).
    assert (
        codes(batch(client, headers, [item("k1@example.com", "1"), item("x@example.com", "1")]))[1]
        == "recipient_not_found"
    )


def test_i11_item6_recipient_lookups_are_rate_limited(client, db, settings) -> None:
    """Each lookup of someone not paid before uses the sender's budget, counted before
    anything is answered and the same whether the address exists: over it, the batch, the
    transfer, the API review and the send page answer 429 and nothing moves. People paid
    before stay free, and a refused Idempotency-Key can be used again later."""
    settings.recipient_lookups_per_hour = 5
    alice = make_user(db, "alice@example.com")
    for i in range(8):
        make_user(db, f"k{i}@example.com")
    fund(db, alice, 100_00)
    headers = api_token(client, "alice@example.com")

    for addresses in (
        [f"k{i}@example.com" for i in range(6)],  # all exist
        [f"u{i}@example.com" for i in range(6)],  # none exists
    ):
        refused = batch(client, headers, [item(a, "1") for a in addresses])
        assert refused.status_code == 422, refused.text  # more than a whole budget
        assert refused.json()["error"]["code"] == "too_many_new_recipients"
    assert balance(db, alice) == (100_00, 0)

    five = [item(f"k{i}@example.com", "1") for i in range(4)] + [item("u0@example.com", "1")]
    assert codes(batch(client, headers, five)) == ["ok"] * 4 + ["recipient_not_found"]

    for address in ("k5@example.com", "nobody@example.com"):
        single = client.post(
            "/api/v1/wallet/transfers",
            json=item(address, "1"),
            headers={**headers, "Idempotency-Key": f"single-{address}"},
        )
        assert single.status_code == 429, address
        assert single.json()["error"]["code"] == "rate_limited"
        assert int(single.headers["Retry-After"]) > 0
        review = client.post(
            "/api/v1/wallet/transfers/review", json=item(address, "1"), headers=headers
        )
        assert review.status_code == 429, address
    again = [item(f"k{i}@example.com", "1") for i in range(4)]  # paid before: free
    assert codes(batch(client, headers, again)) == ["ok"] * 4
    sign_in(client, "alice@example.com")
    page = post_form(
        client,
        "/wallet/send/review",
        {"recipient": "k6@example.com", "amount": "1", "currency": "CNY"},
        from_page="/wallet/send",
    )
    assert page.status_code == 429 and "Too many attempts" in page.text
    assert balance(db, alice) == (100_00 - 8_00, 0)

    with db.unit_of_work(write=False) as s:  # the refused keys were not kept
        kept = s.scalars(select(IdempotencyRecord.key).where(IdempotencyRecord.user_id == alice))
        assert not [k for k in kept if k.startswith("single-")]
    settings.recipient_lookups_per_hour = 100  # a later hour, in effect
    later = client.post(
        "/api/v1/wallet/transfers",
        json=item("k5@example.com", "1"),
        headers={**headers, "Idempotency-Key": "single-k5@example.com"},
    )
    assert later.status_code == 201, later.text


def test_i11_item6_lookup_budget_is_shared_through_redis(settings) -> None:
    """With OKPAY_REDIS_URL, two app processes (two limiters) draw on one budget."""
    import redis

    from okpay.core.errors import RateLimited
    from okpay.core.ratelimit import RedisWindow

    url = os.environ.get("OKPAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        from tests.conftest import unavailable

        unavailable(f"Redis at {url} is not reachable: {exc}")
    name = f"test-{uuid.uuid4().hex}"
    one, two = RedisWindow(url, name, 5, 3600), RedisWindow(url, name, 5, 3600)
    one.check("42", 3)
    with pytest.raises(RateLimited):
        two.check("42", 3)
    two.check("42", 2)
    with pytest.raises(RateLimited):
        one.check("42")
    one.check("43", 5)  # another sender has a budget of its own


def test_i11_item6_name_masked_until_paid_before(client, db) -> None:
    """The review shows "*伟" (or "J*** S.") and a masked address until the sender has paid
    that person; afterwards, their name in full."""
    assert recipients.mask_name("张伟") == "*伟"
    assert recipients.mask_name("欧阳娜娜") == "***娜"
    assert recipients.mask_name("John  Smith") == "J*** S."
    assert recipients.mask_name("Madonna") == "M***"
    assert recipients.mask_name("") == ""
    alice = make_user(db, "alice@example.com")
    make_user(db, "zhangwei@example.com")
    make_user(db, "john@example.com")
    with db.unit_of_work() as s:
        for email, name in (("zhangwei@example.com", "张伟"), ("john@example.com", "John Smith")):
            s.execute(update(User).where(User.email == email).values(name=name))
    fund(db, alice, 100_00)
    sign_in(client, "alice@example.com")

    def review(address: str) -> str:
        page = post_form(
            client,
            "/wallet/send/review",
            {"recipient": address, "amount": "1", "currency": "CNY"},
            from_page="/wallet/send",
        )
        assert page.status_code == 200, page.text
        match = re.search(r'data-testid="send-review">(.*?)</dl>', page.text, re.S)
        assert match, page.text
        return match.group(1)

    first = review("zhangwei@example.com")
    assert "*伟" in first and "张伟" not in first and "zhangwei@" not in first, first
    john = review("john@example.com")
    assert "J*** S." in john and "John Smith" not in john
    headers = api_token(client, "alice@example.com")
    api = client.post(
        "/api/v1/wallet/transfers/review", json=item("john@example.com", "1"), headers=headers
    ).json()
    assert api["recipient"].startswith("J*** S.") and not api["recipient_paid_before"]

    sent = client.post(
        "/api/v1/wallet/transfers",
        json=item("zhangwei@example.com", "1"),
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 201, sent.text
    assert "张伟" in review("zhangwei@example.com")
    assert "J*** S." in review("john@example.com")  # still not paid
