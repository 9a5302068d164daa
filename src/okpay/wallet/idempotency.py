"""Idempotent money requests: the Idempotency-Key claimed as a lease fenced by a token,
the first answer stored in the transaction that makes the outcome final, and the unit of
work that retries transient database conflicts.

- The key is claimed first, and completed in the same transaction as the final money
  movement, so a crash can never leave money moved and the key unanswered.
- A request that settles in one unit of work (a transfer, say) first tries it all at once
  (:func:`run_idempotent`'s ``at_once``): the money moved and the key's row written,
  already answered, in one transaction, which rolls back if the key was seen before; only
  then (or when the request needs more than one unit of work) is the key claimed first.
- A claim is a lease fenced by a token: after a crash a retry takes the key over once the
  lease has passed (one retry wins), and the dead attempt's late writes roll back.
- PostgreSQL deadlocks, lock timeouts and serialisation failures (and, as a guard that
  should never fire, a reference already taken) are retried internally; the caller never
  sees them. wallet.flows runs every money request through this."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import secrets
import time as time_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from psycopg.types.json import Json
from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import Conflict, DomainError, RateLimited, ValidationFailed
from okpay.core.i18n import N_
from okpay.db import driver_rows, get_database
from okpay.settings import get_settings
from okpay.wallet.models import IdempotencyRecord

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_SQLSTATES = {"40P01", "55P03", "40001"}  # deadlock, lock not available, serialization


def _retryable(exc: Exception) -> bool:
    orig = getattr(exc, "orig", None)
    if isinstance(exc, OperationalError):
        if getattr(orig, "sqlstate", None) in RETRY_SQLSTATES:
            return True
        return "database is locked" in str(orig)
    if isinstance(exc, IntegrityError):
        # A clashing reference, or two intents of one order paid at once (the retry then
        # sees the order paid and answers order_already_paid).
        text = str(orig)
        return "wallet_operation" in text and ("reference" in text or "order_id" in text)
    return False


def in_transaction(fn: Callable[[Session], T], *, attempts: int = 6) -> T:
    """Run ``fn`` in its own unit of work, retrying transient database conflicts."""
    db = get_database()
    for attempt in range(1, attempts + 1):
        try:
            with db.unit_of_work() as session:
                return fn(session)
        except (OperationalError, IntegrityError) as exc:
            if attempt == attempts or not _retryable(exc):
                raise
            log.info("retrying after transient conflict (attempt %s): %s", attempt, exc.orig)
            time_module.sleep(random.uniform(0.001, 0.01) * attempt)  # noqa: S311 - jitter
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- idempotency


class IdempotencyKeyMissing(ValidationFailed):
    code = "idempotency_key_required"
    message = N_("Send an Idempotency-Key header with every request that moves money.")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    message = N_("This Idempotency-Key was already used for a different request.")


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
    message = N_("A request with this Idempotency-Key is still being processed. Try again shortly.")


class IdempotencyClaimLost(Exception):
    """Our claim on a key was taken over by a later attempt after its lease passed: the
    transaction that tried to finish with it must roll back (the other attempt answers)."""


@dataclass
class Idempotency:
    user_id: int
    key: str
    scope: str
    request_hash: str
    # Set by the claim: our token (every write to the key is fenced on it), and the
    # operation an earlier, interrupted attempt under this key had already begun.
    claim: str | None = None
    resume_reference: str | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def idempotency(user_id: int, key: str | None, scope: str, body: dict[str, Any]) -> Idempotency:
    if not key or len(key) > 200 or any(ord(ch) < 33 or ord(ch) > 126 for ch in key):
        raise IdempotencyKeyMissing(field="Idempotency-Key")
    digest = hashlib.sha256(
        json.dumps([scope, body], sort_keys=True, default=str).encode()
    ).hexdigest()
    return Idempotency(user_id, key, scope, digest)


def key_lifetime() -> timedelta:
    """How long a key is remembered (24 hours by default, as Stripe does)."""
    return timedelta(hours=get_settings().idempotency_key_hours)


def _lease_end() -> datetime:
    return clock.now() + timedelta(seconds=get_settings().idempotency_lease_seconds)


@dataclass(frozen=True)
class _Seen:
    id: int
    request_hash: str
    status: str
    claim_token: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    operation_reference: str | None
    response_status: int | None
    response_body: dict[str, Any] | None


def _read(idem: Idempotency) -> _Seen | None:
    with get_database().unit_of_work(write=False) as session:
        r = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == idem.user_id, IdempotencyRecord.key == idem.key
            )
        )
        if r is None:
            return None
        return _Seen(
            r.id,
            r.request_hash,
            r.status,
            r.claim_token,
            r.lease_expires_at,
            r.created_at,
            r.operation_reference,
            r.response_status,
            dict(r.response_body) if r.response_body is not None else None,
        )


def _take_over(idem: Idempotency, seen: _Seen, *, as_new: bool) -> bool:
    """Claim a key as it was read, with a conditional update: of several attempts taking
    over the same key at once, exactly one wins (the others find the row changed)."""
    token = secrets.token_hex(16)
    values: dict[str, Any] = {"claim_token": token, "lease_expires_at": _lease_end()}
    if as_new:  # an expired key used again is a new request
        values.update(
            scope=idem.scope,
            request_hash=idem.request_hash,
            status="in_flight",
            operation_reference=None,
            response_status=None,
            response_body=None,
            created_at=clock.now(),
            completed_at=None,
        )
    same_claim = (
        IdempotencyRecord.claim_token.is_(None)
        if seen.claim_token is None
        else IdempotencyRecord.claim_token == seen.claim_token
    )
    with get_database().unit_of_work() as session:
        won = session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == seen.id,
                IdempotencyRecord.status == seen.status,
                same_claim,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        return False
    idem.claim = token
    idem.resume_reference = None if as_new else seen.operation_reference
    return True


def _new_row(idem: Idempotency, now: datetime, status: str) -> dict[str, Any]:
    """The columns every new key row starts with."""
    return {
        "user_id": idem.user_id,
        "key": idem.key,
        "scope": idem.scope,
        "request_hash": idem.request_hash,
        "status": status,
        "created_at": now,
    }


def _claim(idem: Idempotency, *, attempts: int = 3) -> Answer | None:
    """Claim the key (None: go ahead) or return the first answer given for it.

    A key in flight whose lease has passed belongs to an attempt that died (or is far too
    slow): this attempt takes it over, and resumes the operation that attempt began, if any.
    A key older than its lifetime is forgotten: using it again is a new request."""
    token = secrets.token_hex(16)
    now = clock.now()
    try:
        # Its own transaction, committed before the work starts: one INSERT, one round trip.
        with get_database().one_statement() as session:
            session.add(
                IdempotencyRecord(
                    **_new_row(idem, now, "in_flight"),
                    claim_token=token,
                    lease_expires_at=_lease_end(),
                )
            )
        idem.claim = token
        return None
    except IntegrityError:
        pass
    seen = _read(idem)
    if seen is None:  # pruned or released between the two statements: claim it afresh
        if attempts <= 1:
            raise IdempotencyKeyInFlight()
        return _claim(idem, attempts=attempts - 1)
    leased = seen.status == "in_flight" and (
        seen.lease_expires_at is not None and seen.lease_expires_at > now
    )
    if not leased and seen.created_at <= now - key_lifetime():
        if _take_over(idem, seen, as_new=True):
            return None
        if attempts <= 1:
            raise IdempotencyKeyInFlight()
        return _claim(idem, attempts=attempts - 1)  # another attempt renewed it: read again
    if seen.request_hash != idem.request_hash:
        raise IdempotencyKeyReused()
    if seen.status == "completed" and seen.response_body is not None:
        return Answer(int(seen.response_status or 200), seen.response_body)
    if leased or not _take_over(idem, seen, as_new=False):
        raise IdempotencyKeyInFlight()
    log.warning("idempotency key %s of user %s: lease passed, taken over", idem.key, idem.user_id)
    return None


def _fenced(idem: Idempotency) -> Any:
    """The key's row, only while our claim on it stands."""
    return (
        IdempotencyRecord.user_id == idem.user_id,
        IdempotencyRecord.key == idem.key,
        IdempotencyRecord.status == "in_flight",
        IdempotencyRecord.claim_token == idem.claim,
    )


def _complete(
    session: Session, idem: Idempotency, answer: Answer, reference: str | None = None
) -> None:
    """Store the answer in the transaction that makes the outcome final; if our claim was
    taken over meanwhile, raise so that this transaction (and its money) rolls back."""
    values: dict[str, Any] = {
        "status": "completed",
        "response_status": answer.status,
        "response_body": answer.body,
        "completed_at": clock.now(),
    }
    if reference:
        values["operation_reference"] = reference
    done = session.execute(
        update(IdempotencyRecord)
        .where(*_fenced(idem))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if done != 1:
        raise IdempotencyClaimLost()


def record_begun(session: Session, idem: Idempotency, reference: str) -> None:
    """Remember, with the first step's own commit, which operation this key began: a retry
    after a crash resumes that operation instead of starting a second one."""
    done = session.execute(
        update(IdempotencyRecord)
        .where(*_fenced(idem))
        .values(operation_reference=reference)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if done != 1:
        raise IdempotencyClaimLost()


def _release(idem: Idempotency) -> None:
    """Free the key after an unexpected error: delete it if no step committed, else let a
    retry resume the operation at once (its lease ends now)."""
    with get_database().unit_of_work() as session:
        session.execute(
            delete(IdempotencyRecord)
            .where(*_fenced(idem), IdempotencyRecord.operation_reference.is_(None))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(IdempotencyRecord)
            .where(*_fenced(idem))
            .values(lease_expires_at=clock.now())
            .execution_options(synchronize_session=False)
        )


class NotAtOnce(Exception):
    """The request cannot be answered in one unit of work after all (its key was seen
    before, or the risk controls need a decision kept or a second factor): that unit of
    work rolls back, and the full protocol (the key claimed first) answers it."""


Finish = Callable[[Session, Answer, str | None], None]


def _insert_answered(
    session: Session, idem: Idempotency, answer: Answer, reference: str | None = None
) -> None:
    """The key's row, already answered, written in the transaction that makes the outcome
    final. A key that exists (answered before, or claimed by an attempt under way) makes
    the insert do nothing, and this raises :class:`NotAtOnce`: the transaction, money and
    all, rolls back. On PostgreSQL an insert of the same key by a transaction not yet
    committed waits for it: two copies of one request at once move the money once."""
    now = clock.now()
    row = {
        **_new_row(idem, now, "completed"),
        "operation_reference": reference,
        "response_status": answer.status,
        "response_body": answer.body,
        "completed_at": now,
    }
    written: Sequence[Any]
    if session.get_bind().dialect.name == "postgresql":
        # Every money request writes this row: straight through the driver, as the ledger's
        # own statements (built with SQLAlchemy, it cost more than the money statement).
        written = driver_rows(
            session, _INSERT_ANSWERED_PG, {**row, "response_body": Json(row["response_body"])}
        )
    else:
        written = session.execute(
            sqlite_insert(IdempotencyRecord)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(IdempotencyRecord.id)
        ).all()
    if not written:
        raise NotAtOnce()


_INSERT_ANSWERED_PG = """
INSERT INTO idempotency_record (user_id, key, scope, request_hash, status, created_at,
                                operation_reference, response_status, response_body,
                                completed_at)
VALUES (%(user_id)s, %(key)s, %(scope)s, %(request_hash)s, %(status)s, %(created_at)s,
        %(operation_reference)s, %(response_status)s, %(response_body)s, %(completed_at)s)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id
"""


def _answer_at_once(idem: Idempotency, at_once: Callable[[Finish], Answer]) -> Answer | None:
    """``at_once``, the key written in its unit of work; None when the full protocol must
    answer instead. Nothing is left behind on the way to None: the unit of work rolled
    back, and a refusal is kept only if the key was new."""

    def finish(session: Session, answer: Answer, reference: str | None) -> None:
        _insert_answered(session, idem, answer, reference)

    try:
        return at_once(finish)
    except NotAtOnce:
        return None
    except RateLimited:  # "try later": nothing kept, the same key works later
        raise
    except DomainError as err:
        if getattr(err, "same_key_again", False):
            raise
        refusal = Answer(err.status, err.as_json())
        try:  # the refusal is the key's answer, unless the key was seen before
            in_transaction(lambda session: _insert_answered(session, idem, refusal))
        except NotAtOnce:
            return None
        raise


def run_idempotent(
    idem: Idempotency,
    work: Callable[[Finish], Answer],
    *,
    at_once: Callable[[Finish], Answer] | None = None,
) -> Answer:
    """Answer once per key. ``work`` gets a ``finish(session, answer, reference)`` to call in
    the transaction that makes its outcome final. A refusal (a domain error) is the answer
    too: retrying the same key gets the same refusal. Anything unexpected frees the key.
    An attempt whose claim was taken over (its lease passed) answers 409 and changes
    nothing: the attempt that took the key over gives the answer.

    ``at_once``, for a request that can settle in one unit of work, is tried first: the
    same as ``work`` in a single unit of work, raising :class:`NotAtOnce` when it cannot
    answer there; its ``finish`` writes the key, answered, in that unit of work (one
    statement instead of a claim committed before and a completion). When the key turns
    out to exist, that unit of work rolls back and ``work`` runs as above (a replay then
    gets the first answer; a key in flight, 409). A crash anywhere in it leaves nothing."""
    if at_once is not None:
        answered = _answer_at_once(idem, at_once)
        if answered is not None:
            return answered
    first = _claim(idem)
    if first is not None:
        return first

    def finish(session: Session, answer: Answer, reference: str | None = None) -> None:
        _complete(session, idem, answer, reference)

    try:
        return work(finish)
    except IdempotencyClaimLost:
        raise IdempotencyKeyInFlight() from None
    except RateLimited:  # "try later": the same key must work later, so it is not kept
        _release(idem)
        raise
    except DomainError as err:
        if getattr(
            err, "same_key_again", False
        ):  # a step-up: the same key comes back with the code
            _release(idem)
            raise
        answer = Answer(err.status, err.as_json())
        with contextlib.suppress(IdempotencyClaimLost):  # the later attempt answers
            in_transaction(lambda s: _complete(s, idem, answer))
        raise
    except BaseException:
        _release(idem)
        raise


def prune_keys(session: Session, *, batch: int = 5000) -> int:
    """Forget up to ``batch`` keys older than their lifetime (never one whose claim is still
    leased); returns how many. The worker calls it every minute."""
    now = clock.now()
    ids = select(IdempotencyRecord.id).where(
        IdempotencyRecord.created_at <= now - key_lifetime(),
        or_(
            IdempotencyRecord.status != "in_flight",
            IdempotencyRecord.lease_expires_at.is_(None),
            IdempotencyRecord.lease_expires_at <= now,
        ),
    )
    chosen = list(session.scalars(ids.order_by(IdempotencyRecord.id).limit(batch)))
    if not chosen:
        return 0
    session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.id.in_(chosen))
        .execution_options(synchronize_session=False)
    )
    return len(chosen)
