"""Hotlines JSON API: the public list with open-now per line (GET /api/v1/help/hotlines), in
the visitor's language and time zone, theirs first; supervisors and admins configure lines."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from okpay.core import clock
from okpay.helpcenter import hotline_display, hotlines
from okpay.helpcenter.hotline_models import Hotline
from okpay.helpcenter.ratelimit import limit
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.settings import get_settings
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["help centre"])
Editor = Annotated[User, Depends(require_role(Role.supervisor, Role.admin))]


class HotlineHoursOut(BaseModel):
    weekday: int = Field(description="0 = Monday")
    opens: str = Field(description="local time in the hotline's zone, HH:MM")
    closes: str


class HotlineOut(BaseModel):
    region: str = Field(description="CLDR territory code: CN, HK, MO, TW, SG, US, EU…")
    region_name: str
    number: str = Field(description="E.164")
    number_display: str
    timezone: str
    languages: list[str]
    open_now: bool
    status: str = Field(description="open now / when it next opens, in the visitor's language")
    closes_at: datetime | None
    next_opening_at: datetime | None
    hours: list[HotlineHoursOut]
    holidays: list[dict[str, str]]


class HotlinesOut(BaseModel):
    featured_region: str | None = Field(description="the visitor's line, shown first")
    reason: str = Field(description="chosen, country, language, or empty")
    hotlines: list[HotlineOut]


@router.get("/help/hotlines", response_model=HotlinesOut)
def list_hotlines(
    request: Request, db: DbSession, region: Annotated[str, Query(max_length=4)] = ""
) -> HotlinesOut:
    """Every hotline with whether it is open now and when it next opens; the visitor's first
    (``region`` picks one; else their profile country, else their language)."""
    limit("hotlines", get_settings().help_search_per_minute)
    user = getattr(request.state, "user", None)
    lines = {line.region: line for line in hotlines.list_hotlines(db)}
    board = hotline_display.board(db, user=user, chosen=region)
    now = clock.now()
    out = []
    for c in board.cards:
        line = lines[c.region]
        out.append(
            HotlineOut(
                region=line.region,
                region_name=c.region_name,
                number=line.number,
                number_display=c.number,
                timezone=line.timezone,
                languages=list(line.languages or []),
                open_now=c.open_now,
                status=c.status,
                closes_at=c.closes_at,
                next_opening_at=c.next_opening,
                hours=[
                    HotlineHoursOut(weekday=int(day), opens=w[0], closes=w[1])
                    for day, w in sorted((line.hours or {}).items())
                ],
                holidays=[
                    {"day": h.day.isoformat(), "name": h.name}
                    for h in line.holidays
                    if h.day >= now.date()
                ],
            )
        )
    return HotlinesOut(
        featured_region=board.featured.region if board.featured else None,
        reason=board.reason,
        hotlines=out,
    )


# ------------------------------------------------------------------- staff configuration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HotlineCreate(_Strict):
    region: str = Field(max_length=4)
    number: str = Field(max_length=32)
    timezone: str = Field(max_length=64)
    languages: list[str] = Field(max_length=8)
    position: int = Field(default=0, ge=0, le=10_000)


class HoursSet(_Strict):
    weekdays: list[int] = Field(min_length=1, max_length=7, description="0 = Monday")
    opens: str = Field(default="", max_length=5)
    closes: str = Field(default="", max_length=5)
    closed: bool = False


class HolidayCreate(_Strict):
    day: date
    name: str = Field(default="", max_length=100)


class HotlineChanged(BaseModel):
    region: str
    number: str
    hours: dict[str, list[str]]
    holidays: list[date]


def _changed(line: Hotline) -> HotlineChanged:
    return HotlineChanged(
        region=line.region, number=line.number, hours=dict(line.hours or {}),
        holidays=[h.day for h in line.holidays],
    )  # fmt: skip


@router.post("/help/hotlines", response_model=HotlineChanged, status_code=201)
def add_hotline(body: HotlineCreate, editor: Editor, db: DbSession) -> HotlineChanged:
    """Add a region's hotline (closed until its hours are set)."""
    line = hotlines.do_add_hotline(
        db, actor=editor, region=body.region, number=body.number, timezone=body.timezone,
        languages=body.languages, position=body.position,
    )  # fmt: skip
    return _changed(line)


@router.put("/help/hotlines/{region}/hours", response_model=HotlineChanged)
def set_hours(region: str, body: HoursSet, editor: Editor, db: DbSession) -> HotlineChanged:
    """Open the line on some weekdays from ``opens`` to ``closes`` (local), or close them."""
    line = hotlines.do_set_hours(
        db, actor=editor, region=region, weekdays=body.weekdays, opens=body.opens,
        closes=body.closes, closed=body.closed,
    )  # fmt: skip
    return _changed(line)


@router.post("/help/hotlines/{region}/holidays", response_model=HotlineChanged, status_code=201)
def add_holiday(region: str, body: HolidayCreate, editor: Editor, db: DbSession) -> HotlineChanged:
    """Close the line on a day."""
    line = hotlines.do_add_holiday(db, actor=editor, region=region, day=body.day, name=body.name)
    return _changed(line)


@router.delete("/help/hotlines/{region}", status_code=204)
def remove_hotline(region: str, editor: Editor, db: DbSession) -> Response:
    hotlines.do_remove_hotline(db, actor=editor, region=region)
    return Response(status_code=204)
