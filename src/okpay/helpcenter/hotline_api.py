"""Hotlines JSON API: the public list with open-now per line (GET /api/v1/help/hotlines), in
the visitor's language and time zone, theirs first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from okpay.core import clock
from okpay.helpcenter import hotline_display, hotlines
from okpay.helpcenter.ratelimit import limit
from okpay.settings import get_settings
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1", tags=["help centre"])


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
    limit(request, "hotlines", get_settings().help_search_per_minute)
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
