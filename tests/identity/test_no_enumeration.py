"""Issue 11 item 7: registration, password reset and sign-in must not tell registered addresses
apart by time. Timing itself is measured in bench/auth.py (never asserted here: a loaded
machine makes timed tests flaky); these tests prove the cause is gone: a request for a
registered address does exactly the same work as one for an unknown address — the same SQL
statements in the same order, the same argon2 operations, the same jobs queued — and
everything that depends on the account happens in the job, after the answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import event, select

from okpay import jobs
from okpay.identity import passwords
from okpay.identity.models import LoginEvent, User
from okpay.mail.models import OutboundEmail
from tests.helpers import PASSWORD, api_login, api_register
from tests.wallet.helpers import make_user


@dataclass
class Work:
    """What one request did."""

    sql: list[str] = field(default_factory=list)
    argon2: list[str] = field(default_factory=list)
    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = field(default_factory=list)

    def shape(self) -> tuple[list[str], list[str], list[str]]:
        """The work without its parameters (which address, which hash)."""
        return self.sql, self.argon2, [f"{fn.__module__}.{fn.__name__}" for fn, _ in self.jobs]


class _CountingHasher:
    """The argon2 hasher, counting every hash and verification."""

    def __init__(self, inner: Any, seen: list[str]) -> None:
        self.inner, self.seen = inner, seen

    def hash(self, password: str) -> str:
        self.seen.append("hash")
        return str(self.inner.hash(password))

    def verify(self, hashed: str, password: str) -> bool:
        self.seen.append("verify")
        return bool(self.inner.verify(hashed, password))

    def check_needs_rehash(self, hashed: str) -> bool:
        return bool(self.inner.check_needs_rehash(hashed))


@pytest.fixture
def observe(db, monkeypatch) -> Iterator[Callable[[], Any]]:  # type: ignore[no-untyped-def]
    """``with observe() as work:`` records one request's work; its jobs are kept, not run
    (outside ``with``, jobs run as usual)."""
    passwords.burn_time()  # the dummy hash is made once per process: not part of any request
    current: list[Work] = []

    def on_sql(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if current:
            current[-1].sql.append(" ".join(statement.split()))

    real_enqueue = jobs.enqueue

    def on_enqueue(fn: Callable[..., Any], *args: Any) -> None:
        if current:
            current[-1].jobs.append((fn, args))
        else:  # outside an observed request: run as usual (inline in tests)
            real_enqueue(fn, *args)

    event.listen(db.engine, "before_cursor_execute", on_sql)
    monkeypatch.setattr(jobs, "enqueue", on_enqueue)
    seen: list[str] = []
    monkeypatch.setattr(passwords, "_hasher", _CountingHasher(passwords._hasher, seen))

    @contextmanager
    def start() -> Iterator[Work]:
        work = Work()
        current.append(work)
        seen.clear()
        try:
            yield work
        finally:
            work.argon2 = list(seen)
            current.clear()

    yield start
    event.remove(db.engine, "before_cursor_execute", on_sql)


def run_jobs(monkeypatch, *works: Work) -> None:  # type: ignore[no-untyped-def]
    """Run the jobs the requests queued, as the worker would (and what they queue, inline)."""
    monkeypatch.undo()
    for work in works:
        for fn, args in work.jobs:
            fn(*args)


def sent_to(db, address: str) -> list[str]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(
            s.scalars(select(OutboundEmail.template).where(OutboundEmail.to_addr == address))
        )


def test_i11_item7_reset_timing_same_work(client, db, observe, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "known@example.com")
    forgot = "/api/v1/auth/password/forgot"
    client.post(forgot, json={"email": "warm-up@example.com"})  # the address's rate row exists
    answers, works = [], []
    for email in ["known@example.com", "ghost@example.com"] * 2:  # interleaved
        with observe() as work:
            answers.append(client.post(forgot, json={"email": email}))
        works.append(work)

    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert all(w.shape() == works[0].shape() for w in works)
    assert len(works[0].jobs) == 1 and works[0].argon2 == []
    assert not any("outbound_email" in q or "one_time_token" in q for q in works[0].sql)
    # The job does the rest after the answer: the link goes to the account only.
    run_jobs(monkeypatch, *works)
    assert sent_to(db, "known@example.com") == ["password_reset", "password_reset"]
    assert sent_to(db, "ghost@example.com") == []


def test_i11_item7_register_timing_same_work(client, db, observe, monkeypatch, mailbox) -> None:  # type: ignore[no-untyped-def]
    make_user(db, "known@example.com")
    api_register(client, "warm-up@example.com")
    answers, works = [], []
    for email in ["known@example.com", "new1@example.com", "KNOWN@example.com", "new2@example.com"]:
        with observe() as work:
            answers.append(api_register(client, email, "a long new passphrase", name="Mei"))
        works.append(work)

    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert all(w.shape() == works[0].shape() for w in works)
    assert works[0].argon2 == ["hash"] and len(works[0].jobs) == 1
    assert not any("user_account" in q or "outbound_email" in q for q in works[0].sql)
    run_jobs(monkeypatch, *works)
    assert sent_to(db, "known@example.com") == ["register_existing", "register_existing"]
    assert sent_to(db, "new1@example.com") == ["verify_email"]
    with db.unit_of_work(write=False) as s:
        new = s.scalar(select(User).where(User.email == "new2@example.com"))
        assert new is not None and new.name == "Mei" and new.email_verified_at is None
        assert passwords.verify_password(new.password_hash, "a long new passphrase")
        known = s.scalar(select(User).where(User.email == "known@example.com"))
        assert known is not None and passwords.verify_password(known.password_hash, PASSWORD)


def test_i11_item7_login_timing_same_work(client, db, observe, monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    settings.login_lock_threshold = 3
    settings.login_delay_after = 5
    known = [make_user(db, f"known{i}@example.com") for i in range(3)]
    api_login(client, "warm-up@example.com", "wrong password!")
    answers, works = [], []
    for i in range(3):
        for email in (f"known{i}@example.com", f"ghost{i}@example.com"):
            with observe() as work:
                answers.append(api_login(client, email, "wrong password!", device_id=f"d-{i}"))
            works.append(work)

    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert all(w.shape() == works[0].shape() for w in works)
    assert works[0].argon2 == ["verify"] and len(works[0].jobs) == 1
    assert not any("login_event" in q or "audit" in q for q in works[0].sql)

    # Past the threshold: both kinds of address answer "paused" alike.
    paused = []
    for email in ("known0@example.com", "ghost0@example.com"):
        for _ in range(3):
            with observe() as work:
                answer = api_login(client, email, "wrong password!", device_id="d-0")
            works.append(work)
        paused.append(answer)
    assert [a.json()["error"]["code"] for a in paused] == ["account_locked"] * 2
    assert works[-1].shape() == works[-4].shape()  # the two paused answers

    # The jobs keep the owner's history and lock the account at the threshold.
    run_jobs(monkeypatch, *works)
    with db.unit_of_work(write=False) as s:
        history = list(s.scalars(select(LoginEvent.result).where(LoginEvent.user_id == known[0])))
        status = s.scalar(select(User.status).where(User.id == known[0]))
    assert history == ["bad_password", "bad_password", "bad_password", "locked"]
    assert status == "locked"


def test_i11_item7_resend_verification_same_work(
    client, db, observe, monkeypatch, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.verify_resend_seconds = 0
    api_register(client, "waiting@example.com")  # registered, not confirmed yet
    resend = "/api/v1/auth/verify-email/resend"
    client.post(resend, json={"email": "warm-up@example.com"})
    answers, works = [], []
    for email in ["waiting@example.com", "ghost@example.com"] * 2:
        with observe() as work:
            answers.append(client.post(resend, json={"email": email}))
        works.append(work)

    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert all(w.shape() == works[0].shape() for w in works) and len(works[0].jobs) == 1
    assert not any("outbound_email" in q or "one_time_token" in q for q in works[0].sql)
    run_jobs(monkeypatch, *works)
    assert sent_to(db, "waiting@example.com") == ["verify_email"] * 3
    assert sent_to(db, "ghost@example.com") == []
