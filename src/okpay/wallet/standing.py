"""Account states: a customer's standing (status and active restrictions), and freezing,
restricting and releasing their accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.db import table_of
from okpay.identity import directory as identity_directory
from okpay.identity import operators as identity_operators
from okpay.identity import users as identity_users
from okpay.identity import validation as identity_validation
from okpay.identity.models import AccountStatus
from okpay.wallet import errors, ledger
from okpay.wallet.models import AccountRestriction, WalletAccount

ACTIONS = ("topup", "withdraw", "transfer", "pay")


@dataclass(frozen=True)
class Standing:
    status: str
    status_reason: str | None
    verification_level: int
    created_at: datetime
    blocked: dict[str, str]  # action -> reason
    label: str = ""
    # After an assisted unlock, nothing goes out before this time (None: no hold).
    cooling_off_until: datetime | None = None


def standing(session: Session, user_id: int) -> Standing:
    """The user's status and active restrictions, read fresh (call after locking balances)."""
    state = identity_directory.account_state(session, user_id)
    if state is None:
        raise NotFound()
    restrictions: list[tuple[list[str], str]] = []
    if state.status == AccountStatus.restricted.value:
        restrictions = [
            (list(actions), reason)
            for actions, reason in session.execute(
                select(AccountRestriction.blocked, AccountRestriction.reason)
                .where(
                    AccountRestriction.user_id == user_id, AccountRestriction.released_at.is_(None)
                )
                .order_by(AccountRestriction.id)
            )
        ]
    return standing_from(state, restrictions)


def active_restrictions(session: Session, user_id: int) -> list[AccountRestriction]:
    """The user's restrictions in force, oldest first (who set each, when and why)."""
    return list(
        session.scalars(
            select(AccountRestriction)
            .where(AccountRestriction.user_id == user_id, AccountRestriction.released_at.is_(None))
            .order_by(AccountRestriction.id)
        )
    )


def standing_from(
    state: identity_directory.AccountState, restrictions: list[tuple[list[str], str]]
) -> Standing:
    """The standing of an account state with its active restrictions (actions, reason)."""
    blocked: dict[str, str] = {}
    if state.status == AccountStatus.restricted.value:
        for actions, reason in restrictions:
            for action in actions:
                blocked.setdefault(action, reason)
    return Standing(
        state.status,
        state.status_reason,
        state.verification_level,
        state.created_at,
        blocked,
        state.label,
        state.outgoing_hold_until,
    )


def check_can(session: Session, user_id: int, action: str, *, outgoing: bool = True) -> Standing:
    """Refuse ``action`` for a locked, frozen, closed or restricted account."""
    return check_standing(standing(session, user_id), action, outgoing=outgoing)


def check_standing(s: Standing, action: str, *, outgoing: bool = True) -> Standing:
    """Refuse ``action`` for an account in standing ``s`` that may not do it. Outgoing money
    is also refused during the cooling-off after an assisted unlock."""
    if s.status == AccountStatus.frozen.value and outgoing:
        raise errors.AccountFrozen()
    if s.status in (AccountStatus.locked.value, AccountStatus.closed.value):
        from okpay.identity.models import status_label

        raise errors.AccountNotActive(account_status=status_label(s.status))
    if action in s.blocked:
        raise errors.OperationBlocked(reason=s.blocked[action])
    if outgoing and s.cooling_off_until is not None and clock.now() < s.cooling_off_until:
        raise errors.CoolingOff(until=_LocalTime(s.cooling_off_until))
    return s


class _LocalTime:
    """A time shown in the locale in force when the message is rendered."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __str__(self) -> str:
        from okpay.core.i18n import format_datetime

        return format_datetime(self.at, "minutes")


def do_restrict(
    session: Session, *, user_id: int, blocked: list[str], reason: str, actor_user_id: int | None
) -> AccountRestriction:
    """Compliance: block some operations, with a reason the customer sees."""
    chosen = sorted(set(blocked))
    if not chosen or any(a not in ACTIONS for a in chosen):
        raise ValidationFailed(
            N_("Choose what to block: top-up, withdraw, transfer or pay."),
            code="restriction_invalid",
            field="blocked",
        )
    reason = identity_validation.check_name(reason, field="reason", max_length=500)
    if not reason:
        raise ValidationFailed(
            N_("Please give a reason the customer will see."),
            code="reason_required",
            field="reason",
        )
    _lock_all_accounts(session, user_id)
    row = AccountRestriction(
        user_id=user_id,
        blocked=chosen,
        reason=reason,
        created_by=actor_user_id,
        created_at=clock.now(),
    )
    session.add(row)
    identity_operators.do_set_status(
        session,
        user_id=user_id,
        status=AccountStatus.restricted,
        reason=reason,
        actor_user_id=actor_user_id,
    )
    session.flush()
    audit.record(
        session,
        "account_restricted",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        object_type="restriction",
        object_id=row.id,
        blocked=chosen,
        reason=reason,
    )
    return row


def do_freeze(session: Session, *, user_id: int, reason: str, actor_user_id: int | None) -> None:
    """Fraud: nothing leaves the account until it is released."""
    reason = identity_validation.check_name(reason, field="reason", max_length=500)
    if not reason:
        raise ValidationFailed(
            N_("Please give a reason the customer will see."),
            code="reason_required",
            field="reason",
        )
    _lock_all_accounts(session, user_id)
    identity_operators.do_set_status(
        session,
        user_id=user_id,
        status=AccountStatus.frozen,
        reason=reason,
        actor_user_id=actor_user_id,
    )


def do_release(
    session: Session, *, user_id: int, actor_user_id: int | None, note: str = ""
) -> None:
    """Lift a freeze and every active restriction."""
    _lock_all_accounts(session, user_id)
    now = clock.now()
    session.execute(
        update(AccountRestriction)
        .where(AccountRestriction.user_id == user_id, AccountRestriction.released_at.is_(None))
        .values(released_at=now, released_by=actor_user_id)
        .execution_options(synchronize_session=False)
    )
    identity_operators.do_set_status(
        session,
        user_id=user_id,
        status=AccountStatus.active,
        reason=None,
        actor_user_id=actor_user_id,
    )
    audit.record(
        session,
        "account_released",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        note=note[:500],
    )


def _lock_all_accounts(session: Session, user_id: int) -> None:
    # The customer's row first, then the balances: the order every status change takes (an
    # approved proposal locks the customer before it acts), so a restriction set by staff
    # and an approval lifting one at the same moment queue instead of deadlocking.
    identity_users.lock_user(session, user_id)
    # Taking the balance locks makes the status change wait for movements in flight, and
    # movements that start later see the new status. The rows are rewritten as well (same
    # values, new row versions): a movement that waited for these locks then knows that
    # what it read of the customer before the wait is out of date (see wallet.pg).
    ids = [a.id for a in ledger.balances(session, user_id=user_id)]
    if ids:
        ledger.lock_accounts(session, ids)
        accounts = table_of(WalletAccount)
        session.execute(
            update(accounts)
            .where(accounts.c.id.in_(ids))
            .values(held=accounts.c.held)
            .execution_options(synchronize_session=False)
        )
