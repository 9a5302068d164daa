"""The console's hotline settings (/agent/hotlines): every region's number, languages, hours and
holidays with whether it is open now; supervisors and admins change them (the help centre's
``hotlines`` module does the work and audits it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, Request
from starlette.responses import Response

from okpay.core.errors import DomainError, PermissionDenied, ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.helpcenter import hotline_display, hotlines
from okpay.identity.models import Role, User
from okpay.support import agent_pages
from okpay.web.deps import DbSession
from okpay.web.flash import flash
from okpay.web.templating import render

router = agent_pages.agent_router()
EDITOR_ROLES = (Role.supervisor.value, Role.admin.value)
OptForm = agent_pages.OptForm


def _can_edit(user: User) -> bool:
    return user.role in EDITOR_ROLES


def _page(
    request: Request, db: DbSession, agent: User, *, error: str | None = None, status: int = 200
) -> Response:
    lines = hotlines.list_hotlines(db)
    cards = [
        (line, hotline_display.card(line, visitor_zone=ZoneInfo(line.timezone))) for line in lines
    ]
    return render(
        request,
        "support/agent_hotlines.html",
        status_code=status,
        cards=cards,
        can_edit=_can_edit(agent),
        error=error,
        weekday_names=[name for name, _hours in cards[0][1].hours] if cards else [],
        **agent_pages.labels(),
    )


@router.get("/hotlines")
def hotlines_page(request: Request, agent: agent_pages.Agent, db: DbSession) -> Response:
    return _page(request, db, agent)


def _change(
    request: Request, db: DbSession, agent: User, work: Callable[[], object], done: str
) -> Response:
    if not _can_edit(agent):
        raise PermissionDenied()
    try:
        work()
    except DomainError as err:
        db.rollback()
        return _page(request, db, agent, error=err.translated(), status=err.status)
    flash(request, gettext(done), "success")
    return agent_pages.redirect("/agent/hotlines")


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip()[:10])
    except ValueError as exc:
        raise ValidationFailed(
            N_("Choose a date."), code="holiday_date_invalid", field="day"
        ) from exc


@router.post("/hotlines")
def add(
    request: Request,
    agent: agent_pages.Agent,
    db: DbSession,
    region: OptForm = "",
    number: OptForm = "",
    timezone: OptForm = "",
    languages: OptForm = "",
) -> Response:
    return _change(
        request, db, agent,
        lambda: hotlines.do_add_hotline(
            db, actor=agent, region=region, number=number, timezone=timezone,
            languages=languages, position=len(hotlines.list_hotlines(db)),
        ),
        N_("The hotline was added. Set its service hours next."),
    )  # fmt: skip


@router.post("/hotlines/{region}/hours")
def set_hours(
    request: Request,
    region: str,
    agent: agent_pages.Agent,
    db: DbSession,
    weekdays: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    opens: OptForm = "",
    closes: OptForm = "",
    closed: OptForm = "",
) -> Response:
    return _change(
        request, db, agent,
        lambda: hotlines.do_set_hours(
            db, actor=agent, region=region, weekdays=",".join(weekdays), opens=opens, closes=closes,
            closed=bool(closed),
        ),
        N_("The service hours were saved."),
    )  # fmt: skip


@router.post("/hotlines/{region}/holidays")
def add_holiday(
    request: Request,
    region: str,
    agent: agent_pages.Agent,
    db: DbSession,
    day: OptForm = "",
    name: OptForm = "",
) -> Response:
    return _change(
        request, db, agent,
        lambda: hotlines.do_add_holiday(db, actor=agent, region=region, day=_day(day), name=name),
        N_("The holiday was saved."),
    )  # fmt: skip


@router.post("/hotlines/{region}/holidays/remove")
def remove_holiday(
    request: Request, region: str, agent: agent_pages.Agent, db: DbSession, day: OptForm = ""
) -> Response:
    return _change(
        request, db, agent,
        lambda: hotlines.do_remove_holiday(db, actor=agent, region=region, day=_day(day)),
        N_("The holiday was removed."),
    )  # fmt: skip


@router.post("/hotlines/{region}/remove")
def remove(request: Request, region: str, agent: agent_pages.Agent, db: DbSession) -> Response:
    return _change(
        request, db, agent,
        lambda: hotlines.do_remove_hotline(db, actor=agent, region=region),
        N_("The hotline was removed."),
    )  # fmt: skip
