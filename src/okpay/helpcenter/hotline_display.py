"""What the contact page, the contact-support article and the API show of the hotlines: the
visitor's line first, open now or when it next opens, in the visitor's language and time zone
(formatted by Babel; never ISO strings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.i18n import DISPLAY_TIMEZONE, country_name, get_locale, gettext
from okpay.helpcenter import hotlines
from okpay.helpcenter.hotline_models import Hotline
from okpay.identity.models import User

# Holidays shown on the page: those in the coming weeks.
HOLIDAYS_AHEAD = timedelta(days=45)


@dataclass
class Card:
    """One hotline as a visitor sees it."""

    region: str
    region_name: str
    number: str  # "+852 2123 4567"
    tel: str  # "tel:+85221234567"
    languages: str
    open_now: bool
    status: str  # "Open now, until 18:00 …" / "Closed. Opens …"
    next_opening: datetime | None
    closes_at: datetime | None
    zone_name: str
    hours: list[tuple[str, str]] = field(default_factory=list)
    holidays: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Board:
    """Every hotline, the visitor's first (``featured``), and why it was picked."""

    featured: Card | None
    others: list[Card]
    reason: str
    zone_name: str

    @property
    def cards(self) -> list[Card]:
        return ([self.featured] if self.featured else []) + self.others


def language_name(tag: str) -> str:
    """A language tag in the reader's language ("yue" → "粤语" / "Cantonese")."""
    try:
        return str(Locale.parse(tag.replace("-", "_")).get_display_name(get_locale()))
    except (ValueError, UnknownLocaleError):
        return tag


def _day_names() -> list[str]:
    return [str(babel_dates.get_day_names("wide", locale=get_locale())[i]) for i in range(7)]


def when(value: datetime, zone: ZoneInfo) -> str:
    """A moment for people: "2026年12月7日星期一 09:00 香港标准时间" / "Monday, December 7,
    2026 09:00 Hong Kong Standard Time", in ``zone``."""
    locale = get_locale()
    day = babel_dates.format_date(value.astimezone(zone), "full", locale=locale)
    return f"{day} {babel_dates.format_time(value, 'HH:mm zzzz', tzinfo=zone, locale=locale)}"


def clock_time(value: datetime, zone: ZoneInfo) -> str:
    return babel_dates.format_time(value, "HH:mm zzzz", tzinfo=zone, locale=get_locale())


def zone_name(zone: ZoneInfo) -> str:
    return str(babel_dates.get_timezone_name(zone, "long", locale=get_locale()))


def card(hotline: Hotline, *, visitor_zone: ZoneInfo, now: datetime | None = None) -> Card:
    """One hotline's card: open now (until when) or when it next opens, in ``visitor_zone``."""
    now = now or clock.now()
    schedule = hotlines.Schedule.of(hotline)
    window = schedule.open_window(now)
    nxt = None if window else schedule.next_opening(now)
    if window is not None:
        status = gettext("Open now, until %(time)s.", time=clock_time(window[1], visitor_zone))
    elif nxt is not None:
        status = gettext("Closed now. Opens %(when)s.", when=when(nxt, visitor_zone))
    else:
        status = gettext("Closed now.")
    names = _day_names()
    rows = []
    for day in range(7):
        found = (hotline.hours or {}).get(str(day))
        rows.append((names[day], "–".join(found) if found else gettext("Closed all day")))
    today = now.astimezone(schedule.zone).date()
    soon = [
        (babel_dates.format_date(h.day, "long", locale=get_locale()), h.name)
        for h in hotline.holidays
        if today <= h.day <= today + HOLIDAYS_AHEAD
    ]
    return Card(
        region=hotline.region,
        region_name=country_name(hotline.region),
        number=hotlines.display_number(hotline.number),
        tel=f"tel:{hotline.number}",
        languages=", ".join(language_name(t) for t in hotline.languages or []),
        open_now=window is not None,
        status=status,
        next_opening=nxt,
        closes_at=window[1] if window else None,
        zone_name=zone_name(schedule.zone),
        hours=rows,
        holidays=soon,
    )


def visitor_zone(choice: hotlines.Choice, locale: str) -> ZoneInfo:
    """The visitor's time zone: their region's when their profile says where they live,
    else the site's display zone for their language."""
    if choice.hotline is not None and choice.reason in ("country", "chosen"):
        return ZoneInfo(choice.hotline.timezone)
    return ZoneInfo(DISPLAY_TIMEZONE.get(locale, DISPLAY_TIMEZONE["zh_CN"]))


def board(session: Session, *, user: User | None, chosen: str = "") -> Board:
    """Every hotline for this visitor, theirs first."""
    locale = get_locale()
    lines = hotlines.list_hotlines(session)
    choice = hotlines.choose(lines, user=user, locale=locale, chosen=chosen)
    zone = visitor_zone(choice, locale)
    now = clock.now()
    cards = {line.region: card(line, visitor_zone=zone, now=now) for line in lines}
    featured = cards.pop(choice.hotline.region) if choice.hotline is not None else None
    return Board(
        featured=featured, others=list(cards.values()), reason=choice.reason,
        zone_name=zone_name(zone),
    )  # fmt: skip
