"""Staff pages for the risk rules (/agent/risk/rules): the list with recent hits, a rule's
definition, versions, audit trail and backtest; admins create, edit and move rules between
draft, shadow, live and paused. Agents and supervisors read; supervisors may run backtests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.core.errors import DomainError
from okpay.core.i18n import N_, gettext
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.risk import backtest, rules, views
from okpay.risk.models import OUTCOME_LABELS, STATUS_LABELS, RiskRule, RuleStatus
from okpay.web import forms
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

staff = APIRouter(
    prefix="/agent/risk",
    include_in_schema=False,
    dependencies=[
        Depends(require_role(Role.agent, Role.supervisor, Role.admin)),
        Depends(csrf_protect),
    ],
)
Viewer = Annotated[User, Depends(require_role(Role.agent, Role.supervisor, Role.admin))]
Admin = Annotated[User, Depends(require_role(Role.admin))]
Tester = Annotated[User, Depends(require_role(Role.supervisor, Role.admin))]
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Text = Annotated[str, Form(max_length=2000)]


def _ctx(**extra: Any) -> dict[str, Any]:
    return {
        "section": "risk_rules",
        "status_label": lambda s: views.label(STATUS_LABELS, s),
        "outcome_label": lambda o: views.label(OUTCOME_LABELS, o),
        "describe": views.description_text,
        "operations_text": views.operations_text,
        "reason_text": views.reason_text,
        "note_text": views.note_text,
        "status_actions": {k: gettext(v) for k, v in views.STATUS_ACTIONS.items()},
        "max_days": backtest.MAX_DAYS,
        **extra,
    }


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@staff.get("/rules")
def rule_list(request: Request, viewer: Viewer, db: DbSession) -> Response:
    """Every rule with its status, version, last change and hits in the last 24 h / 7 days."""
    return render(request, "risk/rules.html", **_ctx(rows=views.rule_rows(db)))


def _rule_page(
    request: Request,
    db: DbSession,
    rule: RiskRule,
    *,
    status_code: int = 200,
    error: str = "",
    result: backtest.Result | None = None,
    days: int = backtest.DEFAULT_DAYS,
    days_error: str = "",
) -> Response:
    return render(
        request,
        "risk/rule.html",
        status_code=status_code,
        **_ctx(
            rule=rule,
            versions=views.version_views(db, rule.id),
            audit=views.audit_trail(db, rule.id),
            next_statuses=views.NEXT_STATUSES.get(rule.status, ()),
            error=error,
            result=result,
            days=days,
            days_error=days_error,
            changed_by=views.names(db, [rule.updated_by_user_id]).get(
                rule.updated_by_user_id or 0, gettext("OKPay")
            ),
        ),
    )


@staff.get("/rules/new")
def rule_new(request: Request, admin: Admin) -> Response:
    return _form_page(request, rule=None, values=views.form_values())


@staff.post("/rules/new")
def rule_create(
    request: Request, admin: Admin, db: DbSession, code: Text = "", description: Text = "",
    operations: Annotated[list[str], Form()] = [],  # noqa: B006 - read only
    condition: Text = "", score: Text = "", outcome: Text = "", reason: Text = "",
    note: Text = "", days: Text = "", action: Text = "save",
) -> Response:  # fmt: skip
    values = _typed(code, description, operations, condition, score, outcome, reason, note, days)
    return _save(request, db, admin, None, values, action, None)


@staff.get("/rules/{rule_id}")
def rule_page(request: Request, rule_id: RuleId, viewer: Viewer, db: DbSession) -> Response:
    return _rule_page(request, db, rules.get_rule(db, rule_id))


@staff.get("/rules/{rule_id}/backtest")
def rule_backtest(
    request: Request,
    rule_id: RuleId,
    viewer: Tester,
    db: DbSession,
    days: Annotated[str, Query(max_length=6)] = str(backtest.DEFAULT_DAYS),
) -> Response:
    """The rule page with a backtest over the last ``days`` days."""
    rule = rules.get_rule(db, rule_id)
    try:
        result = backtest.run(db, rule=rule, days=backtest.check_days(days))
    except DomainError as err:
        return _rule_page(
            request, db, rule, status_code=err.status, days_error=err.translated(), days=0
        )
    return _rule_page(request, db, rule, result=result, days=result.days)


@staff.post("/rules/{rule_id}/status")
def rule_status(
    request: Request,
    rule_id: RuleId,
    admin: Admin,
    db: DbSession,
    status: Annotated[str, Form(max_length=10)],
    expected_version: Annotated[int, Form(ge=1, le=2**31 - 1)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        if status not in {s.value for s in RuleStatus}:
            raise rules.RuleInvalid(N_("Choose draft, shadow, live or paused."), field="status")
        rule = rules.do_set_status(
            db, rule_id=rule_id, status=RuleStatus(status), actor_id=admin.id, note=note,
            expected_version=expected_version,
        )  # fmt: skip
    except DomainError as err:
        forms.undo_refused(db, err)
        return _rule_page(
            request, db, rules.get_rule(db, rule_id), status_code=err.status, error=err.translated()
        )
    flash(
        request,
        gettext(
            "%(code)s is now: %(status)s.",
            code=rule.code,
            status=views.label(STATUS_LABELS, rule.status),
        ),
        "success",
    )
    return _redirect(f"/agent/risk/rules/{rule.id}")


# ------------------------------------------------------------------ create and edit


def _form_page(
    request: Request,
    *,
    rule: RiskRule | None,
    values: dict[str, Any],
    status_code: int = 200,
    error: str = "",
    error_field: str | None = None,
    result: backtest.Result | None = None,
) -> Response:
    return render(
        request,
        "risk/rule_form.html",
        status_code=status_code,
        **_ctx(
            rule=rule, form=values, error=error, error_field=error_field, result=result,
            **views.choices(),
        ),
    )  # fmt: skip


def _typed(
    code: str, description: str, operations: list[str], condition: str, score: str,
    outcome: str, reason: str, note: str, days: str,
) -> dict[str, Any]:  # fmt: skip
    return {
        "code": code, "description": description, "operations": operations,
        "condition": condition, "score": score, "outcome": outcome, "reason": reason,
        "note": note, "days": days,
    }  # fmt: skip


@staff.get("/rules/{rule_id}/edit")
def rule_edit(request: Request, rule_id: RuleId, admin: Admin, db: DbSession) -> Response:
    rule = rules.get_rule(db, rule_id)
    return _form_page(request, rule=rule, values=views.form_values(rule))


def _save(
    request: Request, db: DbSession, admin: User, rule_id: int | None, values: dict[str, Any],
    action: str, expected_version: int | None,
) -> Response:  # fmt: skip
    rule = rules.get_rule(db, rule_id) if rule_id else None
    try:
        spec = views.spec_from(values)
        if action == "backtest":
            result = backtest.run(db, rule=spec, days=backtest.check_days(values["days"] or 30))
            return _form_page(request, rule=rule, values=values, result=result)
        if rule is None:
            saved = rules.do_create_rule(db, spec=spec, actor_id=admin.id, note=values["note"])
            flash(request, gettext("Rule %(code)s created as a draft.", code=saved.code), "success")
        else:
            saved = rules.do_update_rule(
                db, rule_id=rule.id, spec=spec, actor_id=admin.id, note=values["note"],
                expected_version=expected_version,
            )  # fmt: skip
            flash(request, gettext("Rule %(code)s saved.", code=saved.code), "success")
    except DomainError as err:
        forms.undo_refused(db, err)
        rule = rules.get_rule(db, rule_id) if rule_id else None
        return _form_page(
            request, rule=rule, values=values, status_code=err.status, error=err.translated(),
            error_field=err.field,
        )  # fmt: skip
    return _redirect(f"/agent/risk/rules/{saved.id}")


@staff.post("/rules/{rule_id}/edit")
def rule_update(
    request: Request, rule_id: RuleId, admin: Admin, db: DbSession,
    expected_version: Annotated[int, Form(ge=1, le=2**31 - 1)],
    code: Text = "", description: Text = "",
    operations: Annotated[list[str], Form()] = [],  # noqa: B006 - read only
    condition: Text = "", score: Text = "", outcome: Text = "", reason: Text = "",
    note: Text = "", days: Text = "", action: Text = "save",
) -> Response:  # fmt: skip
    values = _typed(code, description, operations, condition, score, outcome, reason, note, days)
    values["expected_version"] = expected_version
    return _save(request, db, admin, rule_id, values, action, expected_version)
