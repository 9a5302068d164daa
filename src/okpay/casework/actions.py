"""What staff can do to a customer's wallet or account from a case, one action each: how its
parameters are checked, the state it is made against (before → after, and a fingerprint of
what must not change before it runs), the locks it takes, and how it is carried out.

Every action here goes through a proposal (casework.proposals); nothing else in OKPay lets
staff change money or an account."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from sqlalchemy.orm import Session

from okpay.casework.models import Action, Proposal
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_, format_money, gettext
from okpay.identity import directory as identity_directory
from okpay.identity import operators as identity_operators
from okpay.identity import recovery as identity_recovery
from okpay.identity import users as identity_users
from okpay.identity import validation as identity_validation
from okpay.identity.models import AccountStatus
from okpay.jobs import enqueue_on_commit
from okpay.settings import get_settings
from okpay.wallet import fx as wallet_fx
from okpay.wallet import held as wallet_held
from okpay.wallet import limits as wallet_limits
from okpay.wallet import merchants as wallet_merchants
from okpay.wallet import operations as wallet_operations
from okpay.wallet import overrides as wallet_overrides
from okpay.wallet import provider_events as wallet_provider_events
from okpay.wallet import standing as wallet_standing
from okpay.wallet import tasks as wallet_tasks
from okpay.wallet.models import (
    Operation,
    OperationStatus,
    OperationType,
    PaymentMethod,
)

LIMIT_OPERATIONS = ("topup", "withdrawal", "transfer", "payment")
LEVELS = tuple(sorted(wallet_limits.LIMITS["transfer"]))
# The account's status reason for a freeze made from a case (the case holds the agent's words).
SUPPORT_FREEZE_REASON = "support_freeze"


class NotApplicable(DomainError):
    code = "action_not_applicable"
    status = 409
    message = N_("This action does not fit the account as it is now: %(why)s")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoParams(_Params):
    pass


class LevelParams(_Params):
    level: int = Field(ge=0, le=max(LEVELS))


class LimitParams(_Params):
    operation: str
    per_transaction: int | None = Field(default=None, gt=0, le=10**12)
    daily: int | None = Field(default=None, gt=0, le=10**12)
    monthly: int | None = Field(default=None, gt=0, le=10**12)
    days: int | None = Field(default=None, gt=0, le=3660)


class RefundParams(_Params):
    reference: str = Field(min_length=1, max_length=40)
    amount: int | None = Field(default=None, gt=0, le=10**15)


class HeldParams(_Params):
    reference: str = Field(min_length=1, max_length=40)


PARAMS: dict[str, type[_Params]] = {
    "lift_restriction": NoParams,
    "unfreeze": NoParams,
    "unlock": NoParams,
    "freeze": NoParams,
    "set_verification_level": LevelParams,
    "grant_limit_override": LimitParams,
    "refund": RefundParams,
    "release_held": HeldParams,
    "reject_held": HeldParams,
}


@dataclass(frozen=True)
class Plan:
    """A proposed action checked against the account as it is now."""

    params: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    fingerprint: str
    amount_cny: int | None = None


def check_params(action: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The action's parameters, checked; unknown actions and extra fields are refused."""
    if action not in PARAMS:
        raise ValidationFailed(N_("Unknown action."), code="action_invalid", field="action")
    try:
        model = PARAMS[action].model_validate(raw or {})
    except PydanticError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "params"
        raise ValidationFailed(
            N_("The details of this action are not valid: %(field_name)s."),
            code="params_invalid",
            field=f"params.{name}",
            field_name=name,
        ) from None
    return model.model_dump(exclude_none=True)


def _fingerprint(state: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def _account(session: Session, user_id: int) -> dict[str, Any]:
    state = identity_directory.account_state(session, user_id)
    if state is None:
        raise NotFound()
    blocked = (
        wallet_standing.standing(session, user_id).blocked
        if state.status == AccountStatus.restricted.value
        else {}
    )
    return {
        "status": state.status,
        "status_reason": state.status_reason,
        "blocked": sorted(blocked),
        "level": state.verification_level,
    }


def _not_applicable(why: str) -> NotApplicable:
    return NotApplicable(why=_Lazy(why))


class _Lazy:
    """A message part translated when the error is rendered."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return gettext(self.text)


# ----------------------------------------------------------------------------- planning


def plan(session: Session, *, user_id: int | None, action: str, params: dict[str, Any]) -> Plan:
    """Check ``action`` against the account as it is now: what it would change."""
    if user_id is None:
        raise _not_applicable(N_("no account matches this request."))
    return _PLANNERS[action](session, user_id, params)


def _plan_lift(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    now = _account(session, user_id)
    if now["status"] != AccountStatus.restricted.value:
        raise _not_applicable(N_("the account is not restricted."))
    after = {**now, "status": "active", "status_reason": None, "blocked": []}
    return Plan(params, now, after, _fingerprint(now))


def _plan_unfreeze(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    now = _account(session, user_id)
    if now["status"] != AccountStatus.frozen.value:
        raise _not_applicable(N_("the account is not frozen."))
    after = {**now, "status": "active", "status_reason": None, "blocked": []}
    return Plan(params, now, after, _fingerprint(now))


def _plan_freeze(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    now = _account(session, user_id)
    if now["status"] in (AccountStatus.frozen.value, AccountStatus.closed.value):
        raise _not_applicable(N_("the account is already frozen or closed."))
    after = {**now, "status": "frozen", "status_reason": SUPPORT_FREEZE_REASON}
    return Plan(params, now, after, _fingerprint(now))


def _security(session: Session, user_id: int) -> dict[str, Any]:
    user = identity_users.get_user(session, user_id)
    if user is None:
        raise NotFound()
    return {
        **_account(session, user_id),
        "two_factor": user.totp_enabled,
        "password_changed_at": user.password_changed_at.isoformat(),
    }


def _plan_unlock(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    now = _security(session, user_id)
    if now["status"] == AccountStatus.closed.value:
        raise _not_applicable(N_("the account is closed."))
    before = {k: v for k, v in now.items() if k != "password_changed_at"}
    # A restriction or freeze stays: unlocking restores sign-in, it lifts nothing else.
    kept = now["status"] in (AccountStatus.restricted.value, AccountStatus.frozen.value)
    after = {
        **before,
        "status": now["status"] if kept else "active",
        "status_reason": now["status_reason"] if kept else None,
        "two_factor": False,
        "password_change_required": True,
        "two_factor_enrolment_required": True,
        "cooling_off_hours": get_settings().recovery_cooling_off_hours,
    }
    return Plan(params, before, after, _fingerprint(now))


def _plan_level(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    now = _account(session, user_id)
    if params["level"] == now["level"]:
        raise _not_applicable(N_("the account is already at that level."))
    before = {"level": now["level"]}
    return Plan(params, before, {"level": params["level"]}, _fingerprint(now))


def _limits(session: Session, user_id: int, op: str, level: int) -> dict[str, int]:
    limit = wallet_overrides.effective_limits(session, user_id=user_id, op_type=op, level=level)
    return {
        "per_transaction": limit.per_transaction,
        "daily": limit.daily,
        "monthly": limit.monthly,
    }


def _plan_limit(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    op = params["operation"]
    if op not in LIMIT_OPERATIONS:
        raise ValidationFailed(
            N_("Choose top-up, withdrawal, transfer or payment."),
            code="operation_invalid",
            field="params.operation",
        )
    if not any(k in params for k in ("per_transaction", "daily", "monthly")):
        raise ValidationFailed(
            N_("Give at least one new limit."), code="limit_required", field="params"
        )
    account = _account(session, user_id)
    current = _limits(session, user_id, op, account["level"])
    after = {**current, **{k: params[k] for k in current if k in params}}
    if "days" in params:
        after["days"] = params["days"]
    state = {"level": account["level"], "limits": current}
    return Plan(
        params, {"operation": op, **current}, {"operation": op, **after}, _fingerprint(state)
    )


def _payment_of(session: Session, user_id: int, reference: str) -> Any:
    payment = wallet_provider_events.find_by_reference(session, reference)
    if payment is None or payment.user_id != user_id or payment.type != OperationType.payment:
        # Someone else's transaction, or none: the same answer, so nothing is revealed.
        raise NotFound(
            N_("This customer has no payment with that reference."),
            code="transaction_not_found",
        )
    return payment


def _plan_refund(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    payment = _payment_of(session, user_id, params["reference"])
    if payment.status not in (OperationStatus.completed.value, OperationStatus.reversed.value):
        raise wallet_merchants.NotRefundable()
    refunded = wallet_merchants.refunded_total(session, payment.id)
    left = payment.amount - refunded
    amount = params.get("amount", left)
    if amount <= 0 or amount > left:
        raise wallet_merchants.RefundTooLarge(
            left=format_money(left, payment.currency), field="params.amount"
        )
    params = {**params, "reference": payment.reference, "amount": amount}
    before = {
        "reference": payment.reference,
        "currency": payment.currency,
        "paid": payment.amount,
        "refunded": refunded,
    }
    after = {**before, "refunded": refunded + amount}
    state = {"status": payment.status, "refunded": refunded}
    return Plan(
        params,
        before,
        after,
        _fingerprint(state),
        amount_cny=wallet_fx.to_cny(amount, payment.currency),
    )


HELD_TYPES = (OperationType.transfer.value, OperationType.withdrawal.value)


def _held_of(session: Session, user_id: int, reference: str) -> Operation:
    op = wallet_provider_events.find_by_reference(session, reference)
    if op is None or op.user_id != user_id or op.type not in HELD_TYPES:
        raise NotFound(
            N_("This customer has no held payment with that reference."),
            code="transaction_not_found",
        )
    return op


def counterparty_text(session: Session, op: Operation) -> dict[str, str]:
    """Where a held operation's money goes: the recipient, or the bank account."""
    if op.type == OperationType.transfer.value and op.counterparty_user_id:
        who = identity_users.get_user(session, op.counterparty_user_id)
        name = identity_validation.counterparty_label(who.name, who.email) if who else ""
        return {"recipient": name or f"#{op.counterparty_user_id}"}
    method = session.get(PaymentMethod, op.payment_method_id) if op.payment_method_id else None
    if method is None:
        return {"bank_account": "—"}
    return {"bank_account": f"{method.bank_name or method.brand} ···· {method.last4}".strip()}


def _held_state(session: Session, op: Operation) -> dict[str, Any]:
    on_hold = op.status == OperationStatus.on_hold.value
    return {
        "reference": op.reference,
        "currency": op.currency,
        "amount": op.amount,
        "fee": op.fee,
        **counterparty_text(session, op),
        "op_status": op.status,
        "set_aside": op.amount + op.fee if on_hold else 0,
    }


def _plan_held(session: Session, user_id: int, params: dict[str, Any], release: bool) -> Plan:
    op = _held_of(session, user_id, params["reference"])
    if op.status != OperationStatus.on_hold.value:
        raise _not_applicable(N_("the payment is not on hold."))
    before = _held_state(session, op)
    if not release:
        after = {**before, "op_status": OperationStatus.cancelled.value, "set_aside": 0}
    elif op.type == OperationType.transfer.value:
        after = {**before, "op_status": OperationStatus.completed.value, "set_aside": 0}
    else:  # a withdrawal stays set aside until the bank confirms the payout
        after = {**before, "op_status": OperationStatus.pending.value}
    state = {"id": op.id, "status": op.status, "amount": op.amount, "fee": op.fee}
    return Plan(
        {"reference": op.reference},
        before,
        after,
        _fingerprint(state),
        amount_cny=wallet_fx.to_cny(op.amount, op.currency) if release else None,
    )


def _plan_release(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    return _plan_held(session, user_id, params, release=True)


def _plan_reject(session: Session, user_id: int, params: dict[str, Any]) -> Plan:
    return _plan_held(session, user_id, params, release=False)


_PLANNERS: dict[str, Callable[[Session, int, dict[str, Any]], Plan]] = {
    "lift_restriction": _plan_lift,
    "unfreeze": _plan_unfreeze,
    "freeze": _plan_freeze,
    "unlock": _plan_unlock,
    "set_verification_level": _plan_level,
    "grant_limit_override": _plan_limit,
    "refund": _plan_refund,
    "release_held": _plan_release,
    "reject_held": _plan_reject,
}


# ---------------------------------------------------------------------------- execution


def lock_and_fingerprint(session: Session, proposal: Proposal) -> str:
    """Take the locks the action will need, then read the state it was made against again:
    the fingerprint to compare with the proposal's."""
    identity_users.lock_user(session, proposal.user_id)
    if proposal.action == Action.refund.value:
        payment = _payment_of(session, proposal.user_id, proposal.params["reference"])
        wallet_operations.lock_operation(session, payment.id)
        session.expire(payment)
    if proposal.action in (Action.release_held.value, Action.reject_held.value):
        try:
            held = _held_of(session, proposal.user_id, proposal.params["reference"])
        except DomainError:
            return ""
        wallet_operations.lock_operation(session, held.id)
    try:
        return plan(
            session, user_id=proposal.user_id, action=proposal.action, params=proposal.params
        ).fingerprint
    except DomainError:
        return ""  # the account moved so far that the action no longer fits: stale


def execute(session: Session, *, proposal: Proposal, actor_user_id: int) -> dict[str, Any]:
    """Carry out an approved proposal (the caller checked its fingerprint under the locks);
    returns what it produced, for the case panel."""
    p, uid = proposal.params, proposal.user_id
    action = proposal.action
    if action in ("lift_restriction", "unfreeze"):
        wallet_standing.do_release(
            session, user_id=uid, actor_user_id=actor_user_id, note=proposal.reason
        )
        return {}
    if action == "freeze":
        wallet_standing.do_freeze(
            session, user_id=uid, reason=SUPPORT_FREEZE_REASON, actor_user_id=actor_user_id
        )
        return {}
    if action == "unlock":
        kept = proposal.after.get("status") in ("restricted", "frozen")
        identity_recovery.do_assisted_unlock(
            session, user_id=uid, actor_user_id=actor_user_id, reason=proposal.reason
        )
        if kept:  # the restriction or freeze it was made against stays in force
            identity_operators.do_set_status(
                session, user_id=uid, status=AccountStatus(proposal.after["status"]),
                reason=proposal.after.get("status_reason"), actor_user_id=actor_user_id,
            )  # fmt: skip
        return {}
    if action == "set_verification_level":
        identity_operators.do_set_verification_level(
            session, user_id=uid, level=p["level"], actor_user_id=actor_user_id,
            reason=proposal.reason,
        )  # fmt: skip
        return {}
    if action == "grant_limit_override":
        row = wallet_overrides.do_grant_limit_override(
            session,
            user_id=uid,
            op_type=p["operation"],
            reason=proposal.reason,
            actor_user_id=actor_user_id,
            per_transaction=p.get("per_transaction"),
            daily=p.get("daily"),
            monthly=p.get("monthly"),
            days=p.get("days"),
        )
        return {"override_id": row.id}
    if action == "refund":
        result = wallet_merchants.do_refund(
            session,
            payment_reference=p["reference"],
            amount=p["amount"],
            actor_user_id=actor_user_id,
            reason=proposal.reason[:100],
        )
        return {"refund_reference": result.reference}
    if action in ("release_held", "reject_held"):
        op = _held_of(session, uid, p["reference"])
        if action == "reject_held":
            wallet_held.do_reject(session, operation_id=op.id, actor_user_id=actor_user_id)
        else:
            op_id, token = wallet_held.do_release_held(
                session, operation_id=op.id, actor_user_id=actor_user_id
            )
            if token is not None:  # a withdrawal: its payout is asked for once this commits
                enqueue_on_commit(session, wallet_tasks.request_payout_job, op_id)
        return {"reference": op.reference, "status": str(op.status)}
    raise ValueError(action)
