"""Batch transfers: checking and writing many transfers from one sender in one unit of work
(a single transfer is a batch of one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_
from okpay.core.money import check_currency, parse_amount
from okpay.identity import directory as identity_directory
from okpay.identity import validation as identity_validation
from okpay.wallet import fees, fx, ledger, operations, pg, recipients, references, standing, usage
from okpay.wallet.limits import LimitSet
from okpay.wallet.models import OperationStatus, OperationType, SystemAccount


def _check_transfer(
    session: Session,
    *,
    me: standing.Standing,
    sender_id: int,
    source: ledger.LockedAccount,
    amount: int,
    snapshot: usage.UsageSnapshot,
    limits: LimitSet | None = None,
) -> int:
    """Limits, fee and funds for a transfer out of a locked account; returns the fee."""
    usage.check_limits(
        session,
        user_id=sender_id,
        op_type="transfer",
        amount=amount,
        currency=source.currency,
        level=me.verification_level,
        snapshot=snapshot,
        limits=limits,
    )
    fee = fees.quote_fee(
        session,
        user_id=sender_id,
        operation="transfer",
        method="wallet",
        amount=amount,
        currency=source.currency,
        snapshot=snapshot,
        created_at=me.created_at,
    ).fee
    if source.available < amount + fee:
        raise ledger.insufficient_funds(
            available=source.available, amount=amount, fee=fee, currency=source.currency
        )
    return fee


def _transfer_lines(
    session: Session,
    by_id: dict[int, ledger.LockedAccount],
    *,
    source: ledger.LockedAccount,
    dest: ledger.LockedAccount,
    amount: int,
    fee: int,
) -> list[ledger.Line]:
    """The postings of a transfer: sender to recipient, and the fee (if any) to a fee
    revenue shard, locked here unless ``by_id`` holds one already."""
    lines = [ledger.Line(source.id, -amount), ledger.Line(dest.id, amount)]
    if fee:
        shards = ledger.system_shard_ids(session, SystemAccount.fee_revenue, source.currency)
        fee_id = next((i for i in shards if i in by_id), None)
        if fee_id is None:
            fee_id = ledger.system_account_id(session, SystemAccount.fee_revenue, source.currency)
            by_id.update(ledger.lock_accounts(session, [fee_id]))
        lines += [ledger.Line(source.id, -fee), ledger.Line(fee_id, fee)]
    return lines


MAX_BATCH = 1000


@dataclass(frozen=True)
class BatchItem:
    """One transfer of a batch, as sent: the amount is a decimal string in major units (or
    an integer of minor units), checked with the item."""

    recipient: str
    amount: str | int
    currency: str
    note: str = ""
    client_ref: str | None = None


def do_transfer_batch(
    session: Session, *, sender_id: int, items: Sequence[BatchItem]
) -> list[operations.TransferResult | DomainError]:
    """Send up to :data:`MAX_BATCH` transfers at once, each settling or refused on its own:
    the answer has, per item and in order, its result or the error that refused it.

    The same rules as :func:`do_transfer`, applied item after item as if they were sent one
    by one (the balance, the limits' usage and the fee discount follow on), with the
    database work done once: recipients found in two queries, every balance locked in one
    statement in id order, the sender's standing, limits and usage read once, and the
    operations, entries, postings, history rows and usage written in a few multi-row
    statements."""
    if len(items) > MAX_BATCH:
        raise ValidationFailed(
            N_("Send at most %(max)s transfers at once."),
            code="batch_too_large",
            field="transfers",
            max=MAX_BATCH,
        )
    outcome: list[operations.TransferResult | DomainError | None] = [None] * len(items)
    parsed: list[tuple[int, BatchItem, str, int, str]] = []
    for index, item in enumerate(items):
        try:
            currency = check_currency(item.currency)
            amount = parse_amount(item.amount, currency)
            note = identity_validation.check_name(item.note, field="note", max_length=140)
        except DomainError as err:
            outcome[index] = err
            continue
        parsed.append((index, item, currency, amount, note))
    references = [item.recipient for _i, item, *_rest in parsed]
    locked: dict[tuple[int, str], ledger.LockedAccount] | None = None
    sender: tuple[standing.Standing, usage.UsageSnapshot, LimitSet] | None = None
    if session.get_bind().dialect.name == "postgresql" and parsed:
        # One statement finds the recipients (and whether the sender paid each before),
        # locks every balance involved and reads the sender's standing, usage and limits
        # (again in a second one if it may be stale).
        today = usage.beijing_today()
        targets, paid, locked, state = pg.find_and_lock(
            session,
            sender_id=sender_id,
            references=references,
            currencies={currency for _i, _item, currency, *_rest in parsed},
            op_type="transfer",
            since=usage.usage_since(today),
            now=clock.now(),
        )
        sender = usage.owner_state_from(state, "transfer", today)
    else:
        targets = identity_directory.find_recipient_summaries(session, references)
        paid = recipients.paid_before(
            session, sender_id=sender_id, user_ids=[t.id for t in targets.values()]
        )
    # Before any item is answered: the lookups of people not paid before use the sender's
    # budget, the same whether they exist or not (a refusal here moves nothing).
    recipients.charge_lookups(
        sender_id,
        references,
        free=[ref for ref, t in targets.items() if t.id == sender_id or t.id in paid],
    )
    wanted = [
        _Wanted(
            index,
            targets.get(item.recipient),
            amount,
            currency,
            note,
            item.client_ref,
        )
        for index, item, currency, amount, note in parsed
    ]
    planned, sender_label = _plan_batch(
        session, sender_id=sender_id, wanted=wanted, locked=locked, sender=sender
    )
    for w, refusal in planned.refused:
        outcome[w.index] = refusal
    if planned.ok:
        now = clock.now()
        created = _write_batch(
            session, sender_id=sender_id, sender_label=sender_label, planned=planned.ok, now=now
        )
        for p, (op_id, reference) in zip(planned.ok, created, strict=True):
            outcome[p.item.index] = operations.TransferResult(
                op_id,
                reference,
                p.item.amount,
                p.fee,
                p.item.currency,
                p.target.id,
                settled_at=now,
                note=p.item.note,
            )
    return [o if o is not None else DomainError() for o in outcome]


@dataclass(frozen=True)
class _Wanted:
    """A batch item that passed validation, with its recipient if one was found (checked
    only after the sender's standing, limits and balance, see :func:`_plan_batch`)."""

    index: int
    target: identity_directory.Recipient | None
    amount: int
    currency: str
    note: str
    client_ref: str | None


@dataclass(frozen=True)
class _Checked:
    """A batch item that passed every check, with its planned entry."""

    item: _Wanted
    target: identity_directory.Recipient
    source: ledger.LockedAccount
    dest: ledger.LockedAccount
    fee: int
    plan: ledger.Plan


@dataclass
class _BatchPlan:
    ok: list[_Checked] = field(default_factory=list)
    refused: list[tuple[_Wanted, DomainError]] = field(default_factory=list)


def _plan_batch(
    session: Session,
    *,
    sender_id: int,
    wanted: list[_Wanted],
    locked: dict[tuple[int, str], ledger.LockedAccount] | None = None,
    sender: tuple[standing.Standing, usage.UsageSnapshot, LimitSet] | None = None,
) -> tuple[_BatchPlan, str]:
    """Lock and read the sender's state (unless ``locked`` and ``sender`` hold them
    already), check and plan the validated items in order; a refused item changes nothing
    for the ones after it. Returns the plan and the sender's label for history rows."""
    result = _BatchPlan()
    if not wanted:
        return result, ""
    if locked is None:
        locked = ledger.lock_customer_accounts_in(
            session,
            user_ids={sender_id, *(w.target.id for w in wanted if w.target is not None)},
            currencies={w.currency for w in wanted},
        )
    by_id = {a.id: a for a in locked.values()}
    me, snapshot, limits = sender or usage.owner_state(
        session, user_id=sender_id, op_type="transfer"
    )
    try:
        standing.check_standing(me, "transfer")
    except DomainError as err:  # frozen, locked, closed or restricted: every item is refused
        result.refused = [(w, err) for w in wanted]
        return result, ""
    for w in wanted:
        try:
            source = locked.get((sender_id, w.currency))
            if source is None:
                raise ledger.InsufficientFunds()
            fee = _check_transfer(
                session,
                me=me,
                sender_id=sender_id,
                source=source,
                amount=w.amount,
                snapshot=snapshot,
                limits=limits,
            )
            # Only now the recipient: an item refused for the sender's limits or balance
            # answers the same whether or not the address belongs to anyone.
            target = recipients.check_recipient(w.target, sender_id=sender_id)
            dest = locked.get((target.id, w.currency))
            if dest is None:  # first money in this currency: open the account and lock it
                dest_id = ledger.customer_account_id(
                    session, user_id=target.id, currency=w.currency
                )
                assert dest_id is not None
                by_id.update(ledger.lock_accounts(session, [dest_id]))
                dest = locked[(target.id, w.currency)] = by_id[dest_id]
            lines = _transfer_lines(
                session, by_id, source=source, dest=dest, amount=w.amount, fee=fee
            )
            checked = ledger.plan(by_id, lines)
        except DomainError as err:
            result.refused.append((w, err))
            continue
        ledger.applied(by_id, checked)
        snapshot.add("transfer", fx.to_cny(w.amount, w.currency))
        result.ok.append(_Checked(w, target, source, dest, fee, checked))
    return result, me.label


def _write_batch(
    session: Session,
    *,
    sender_id: int,
    sender_label: str,
    planned: list[_Checked],
    now: datetime,
) -> list[tuple[int, str]]:
    """Write the checked items, created and completed at ``now``: operations, entries with
    postings and balances, history rows and the day's usage, each kind in one multi-row
    statement (all of them in one on PostgreSQL); (id, reference) of each, in order."""
    pairs = list(zip(planned, references.new_references(session, len(planned)), strict=True))
    usage_cny = sum(fx.to_cny(p.item.amount, p.item.currency) for p in planned)
    if session.get_bind().dialect.name == "postgresql":
        ids = pg.write_operations(
            session,
            user_id=sender_id,
            type="transfer",
            status="completed",
            method="wallet",
            kind="transfer",
            operations=[
                pg.NewOperation(
                    reference=reference,
                    account_id=p.source.id,
                    currency=p.item.currency,
                    amount=p.item.amount,
                    plan=p.plan,
                    activity=[
                        pg.ActivityRow(**row)
                        for row in _transfer_activity(sender_id, p.target, sender_label, p)
                    ],
                    fee=p.fee,
                    note=p.item.note,
                    cp_user_id=p.target.id,
                    cp_account_id=p.dest.id,
                    data=_batch_data(p),
                )
                for p, reference in pairs
            ],
            usage=pg.UsageRow(
                sender_id, now.astimezone(usage.BEIJING).date(), usage_cny, len(planned)
            ),
            now=now,
        )
        return list(zip(ids, [reference for _p, reference in pairs], strict=True))

    created = operations.new_operations(
        session,
        [
            operations.operation_row(
                reference=reference,
                type=OperationType.transfer.value,
                status=OperationStatus.completed.value,
                user_id=sender_id,
                account_id=p.source.id,
                counterparty_user_id=p.target.id,
                counterparty_account_id=p.dest.id,
                currency=p.item.currency,
                amount=p.item.amount,
                fee=p.fee,
                method="wallet",
                note=p.item.note,
                created_at=now,
                updated_at=now,
                completed_at=now,
                data=_batch_data(p),
            )
            for p, reference in pairs
        ],
    )
    steps = list(zip(planned, created, strict=True))
    ledger.write_entries(session, [(op_id, "transfer", p.plan) for p, (op_id, _) in steps])
    operations.add_activity(
        session,
        [
            {
                **row,
                "operation_id": op_id,
                "reference": reference,
                "type": "transfer",
                "status": "completed",
                "currency": p.item.currency,
                "note": p.item.note,
            }
            for p, (op_id, reference) in steps
            for row in _transfer_activity(sender_id, p.target, sender_label, p)
        ],
    )
    usage.add_usage(
        session,
        user_id=sender_id,
        op_type="transfer",
        day=now.astimezone(usage.BEIJING).date(),
        amount_cny=usage_cny,
        count=len(planned),
    )
    return created


def _batch_data(p: _Checked) -> dict[str, Any]:
    return {"client_ref": p.item.client_ref} if p.item.client_ref else {}


def _transfer_activity(
    sender_id: int, target: identity_directory.Recipient, sender_label: str, p: _Checked
) -> list[dict[str, Any]]:
    """The two history lines of a transfer, the sender's and the recipient's: who, which
    way, how much (the sender's with the fee) and the other party's label."""
    amount, fee = p.item.amount, p.fee
    return [
        {
            "user_id": sender_id,
            "direction": "out",
            "amount": -(amount + fee),
            "fee": fee,
            "counterparty": target.label,
        },
        {
            "user_id": target.id,
            "direction": "in",
            "amount": amount,
            "fee": 0,
            "counterparty": sender_label,
        },
    ]
