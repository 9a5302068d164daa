"""Hotlines by region: what operators configure (number, languages, opening hours in the
region's time zone, holidays) and when a line is open.

The help centre owns this so that its articles and the service centre's contact page and
callback requests read one configuration (support imports this module; never the reverse).
Services flush, never commit; every change writes an audit row.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, time
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock, opening_hours
from okpay.core.errors import Conflict, NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.helpcenter.hotline_models import Hotline, HotlineHoliday
from okpay.identity.models import User

# Regions that are not one phone-numbering country: the countries they serve.
EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
MULTI_COUNTRY_REGIONS = frozenset({"EU"})
REGION_PATTERN = re.compile(r"^[A-Z]{2}$")
TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
LANGUAGE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}$")
MAX_LANGUAGES = 8
HOLIDAY_NAME_MAX = 100


# ------------------------------------------------------------------------------ checks


def check_region(raw: str) -> str:
    """A CLDR territory code ("hk" → "HK"); the European Union is "EU"."""
    region = (raw or "").strip().upper()
    known = region in phonenumbers.SUPPORTED_REGIONS or region in MULTI_COUNTRY_REGIONS
    if not REGION_PATTERN.fullmatch(region) or not known:
        raise ValidationFailed(
            N_("Enter a region code such as CN, HK, MO, TW, SG, US or EU."),
            code="hotline_region_invalid", field="region",
        )  # fmt: skip
    return region


def dialling_region(region: str) -> str | None:
    """The phonenumbers region that numbers without a "+" are read in, if any."""
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def check_number(raw: str, *, region: str | None = None, field: str = "number") -> str:
    """A telephone number in E.164 ("+85221234567"), validated by phonenumbers; numbers
    without a country code are read in ``region``."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    invalid = ValidationFailed(
        N_("Enter a valid telephone number, with its country code if it is abroad."),
        code="phone_number_invalid", field=field,
    )  # fmt: skip
    if not text or len(text) > 32:
        raise invalid
    try:
        parsed = phonenumbers.parse(text, dialling_region(region) if region else None)
    except phonenumbers.NumberParseException as exc:
        raise invalid from exc
    if not phonenumbers.is_valid_number(parsed):
        raise invalid
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display_number(e164: str) -> str:
    """A number as people dial it from abroad: "+852 2123 4567"."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def check_timezone(raw: str) -> str:
    zone = (raw or "").strip()
    if zone not in _zones():
        raise ValidationFailed(
            N_("Enter a time zone such as Asia/Shanghai or Europe/Brussels."),
            code="hotline_timezone_invalid", field="timezone",
        )  # fmt: skip
    return zone


def _zones() -> set[str]:
    return available_timezones()


def check_languages(raw: Iterable[str] | str) -> list[str]:
    """Language tags, best first ("zh-HK, yue, en")."""
    items = raw.replace("，", ",").split(",") if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for item in items:
        tag = str(item).strip()
        if not tag:
            continue
        try:
            ok = bool(LANGUAGE_PATTERN.fullmatch(tag)) and bool(Locale.parse(tag.replace("-", "_")))
        except (ValueError, UnknownLocaleError):
            ok = False
        if not ok:
            raise ValidationFailed(
                N_("Enter languages as codes such as zh-CN, zh-HK, yue or en."),
                code="hotline_language_invalid", field="languages",
            )  # fmt: skip
        if tag not in tags:
            tags.append(tag)
    if not tags or len(tags) > MAX_LANGUAGES:
        raise ValidationFailed(
            N_("Enter between one and eight languages."),
            code="hotline_languages_count", field="languages",
        )  # fmt: skip
    return tags


def check_window(opens: str, closes: str) -> list[str]:
    """One day's opening window ["09:00", "18:00"]; closing after opening, 24:00 allowed."""
    opens, closes = (opens or "").strip(), (closes or "").strip()
    if not TIME_PATTERN.fullmatch(opens) or not TIME_PATTERN.fullmatch(closes) or opens >= closes:
        raise ValidationFailed(
            N_("Enter opening hours as 09:00 and 18:00, closing after opening."),
            code="hotline_hours_invalid", field="hours",
        )  # fmt: skip
    return [opens, closes]


def check_weekdays(raw: Iterable[int] | str) -> list[int]:
    """Weekdays as numbers, Monday = 0, or a range such as "0-4" or "0-5"."""
    days: set[int] = set()
    parts = raw.split(",") if isinstance(raw, str) else [str(d) for d in raw]
    try:
        for part in parts:
            part = part.strip()
            if not part:
                continue
            first, _sep, last = part.partition("-")
            days.update(range(int(first), int(last or first) + 1))
    except ValueError:
        days = {-1}
    if not days or not days <= set(range(7)):
        raise ValidationFailed(
            N_("Enter weekdays as numbers from 0 (Monday) to 6 (Sunday), e.g. 0-4."),
            code="hotline_weekdays_invalid", field="weekdays",
        )  # fmt: skip
    return sorted(days)


def check_holiday_name(raw: str) -> str:
    name = "".join(ch for ch in (raw or "") if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > HOLIDAY_NAME_MAX:
        raise ValidationFailed(
            N_("The holiday's name is too long."), code="holiday_name_too_long", field="name"
        )
    return name


# ---------------------------------------------------------------------------- schedule


class Schedule(opening_hours.OpeningHours):
    """A hotline's opening hours: windows by weekday in its zone, closed on holidays."""

    @classmethod
    def of(cls, hotline: Hotline) -> Schedule:
        windows: dict[int, tuple[time, time | None]] = {}
        for key, (opens, closes) in (hotline.hours or {}).items():
            end = None if closes == "24:00" else time.fromisoformat(closes)
            windows[int(key)] = (time.fromisoformat(opens), end)
        return cls(
            zone=ZoneInfo(hotline.timezone),
            windows=windows,
            holidays=frozenset(h.day for h in hotline.holidays),
        )


# ------------------------------------------------------------------------------ reading


def list_hotlines(session: Session) -> list[Hotline]:
    """Every configured hotline, in the operators' order."""
    return list(session.scalars(select(Hotline).order_by(Hotline.position, Hotline.region)))


def get_hotline(session: Session, region: str) -> Hotline | None:
    code = (region or "").strip().upper()
    if not REGION_PATTERN.fullmatch(code):
        return None
    return session.scalar(select(Hotline).where(Hotline.region == code))


def region_for_country(hotlines: Sequence[Hotline], country: str | None) -> Hotline | None:
    """The hotline serving a country: its own, or the EU's for a member state."""
    code = (country or "").upper()
    if not code:
        return None
    for line in hotlines:
        if line.region == code or (line.region == "EU" and code in EU_MEMBERS):
            return line
    return None


def region_for_language(hotlines: Sequence[Hotline], locale: str) -> Hotline | None:
    """The first hotline whose main language is the visitor's ("zh_CN" → a zh-CN line)."""
    wanted = locale.replace("_", "-").lower()
    for line in hotlines:
        main = (line.languages or [""])[0].lower()
        if main == wanted or (wanted == "en" and main.split("-")[0] == "en"):
            return line
    return None


def profile_country(user: User | None) -> str | None:
    """Where the visitor's profile says they are: the country of their telephone number
    (identity keeps no separate country field yet), else where the request comes from (the
    proxy's country header)."""
    from okpay.core import context

    if user is not None and user.phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(user.phone, None))
        except phonenumbers.NumberParseException:
            region = None
        if region and region != "001":
            return str(region)
    return context.current().country


@dataclass(frozen=True)
class Choice:
    """The hotline to show first and why: "chosen", "country", "language", or none."""

    hotline: Hotline | None
    reason: str


def choose(
    hotlines: Sequence[Hotline], *, user: User | None, locale: str, chosen: str = ""
) -> Choice:
    """The visitor's hotline: the region they picked, else their profile country's, else
    their language's; otherwise none, and the page shows the chooser."""
    picked = chosen.strip().upper()
    for line in hotlines:
        if picked and line.region == picked:
            return Choice(line, "chosen")
    by_country = region_for_country(hotlines, profile_country(user))
    if by_country is not None:
        return Choice(by_country, "country")
    by_language = region_for_language(hotlines, locale)
    if by_language is not None:
        return Choice(by_language, "language")
    return Choice(None, "")


# ------------------------------------------------------------------------------ changing


def _touch(session: Session, hotline: Hotline, actor: User | None, action: str) -> None:
    hotline.updated_at = clock.now()
    session.flush()
    audit.record(
        session, action, actor_user_id=actor.id if actor else None, object_type="hotline",
        object_id=hotline.region,
    )  # fmt: skip


def do_add_hotline(
    session: Session,
    *,
    actor: User | None,
    region: str,
    number: str,
    timezone: str,
    languages: Iterable[str] | str,
    position: int = 0,
) -> Hotline:
    """Add a region's hotline (closed until its hours are set)."""
    code = check_region(region)
    if get_hotline(session, code) is not None:
        raise Conflict(
            N_("This region already has a hotline."), code="hotline_exists", field="region"
        )
    hotline = Hotline(
        region=code,
        number=check_number(number, region=code),
        timezone=check_timezone(timezone),
        languages=check_languages(languages),
        hours={},
        position=max(0, min(int(position), 10_000)),
        updated_at=clock.now(),
    )
    session.add(hotline)
    _touch(session, hotline, actor, "hotline_added")
    return hotline


def _existing(session: Session, region: str) -> Hotline:
    hotline = get_hotline(session, region)
    if hotline is None:
        raise NotFound(code="hotline_not_found")
    return hotline


def do_update_hotline(
    session: Session,
    *,
    actor: User | None,
    region: str,
    number: str | None = None,
    timezone: str | None = None,
    languages: Iterable[str] | str | None = None,
) -> Hotline:
    """Change a hotline's number, time zone or languages."""
    hotline = _existing(session, region)
    if number is not None:
        hotline.number = check_number(number, region=hotline.region)
    if timezone is not None:
        hotline.timezone = check_timezone(timezone)
    if languages is not None:
        hotline.languages = check_languages(languages)
    _touch(session, hotline, actor, "hotline_changed")
    return hotline


def do_set_hours(
    session: Session,
    *,
    actor: User | None,
    region: str,
    weekdays: Iterable[int] | str,
    opens: str = "",
    closes: str = "",
    closed: bool = False,
) -> Hotline:
    """Set the opening hours of some weekdays (local time), or close them."""
    hotline = _existing(session, region)
    days = check_weekdays(weekdays)
    hours = dict(hotline.hours or {})
    window = None if closed else check_window(opens, closes)
    for day in days:
        if window is None:
            hours.pop(str(day), None)
        else:
            hours[str(day)] = window
    hotline.hours = hours
    _touch(session, hotline, actor, "hotline_hours_set")
    return hotline


def do_add_holiday(
    session: Session, *, actor: User | None, region: str, day: date, name: str = ""
) -> Hotline:
    """Close the line on a day (its name shows on the contact page)."""
    hotline = _existing(session, region)
    clean = check_holiday_name(name)
    for existing in hotline.holidays:
        if existing.day == day:
            existing.name = clean
            break
    else:
        hotline.holidays.append(HotlineHoliday(day=day, name=clean))
    _touch(session, hotline, actor, "hotline_holiday_added")
    return hotline


def do_remove_holiday(session: Session, *, actor: User | None, region: str, day: date) -> Hotline:
    hotline = _existing(session, region)
    hotline.holidays = [h for h in hotline.holidays if h.day != day]
    _touch(session, hotline, actor, "hotline_holiday_removed")
    return hotline


def do_remove_hotline(session: Session, *, actor: User | None, region: str) -> None:
    hotline = _existing(session, region)
    code = hotline.region
    session.delete(hotline)
    session.flush()
    audit.record(
        session, "hotline_removed", actor_user_id=actor.id if actor else None,
        object_type="hotline", object_id=code,
    )  # fmt: skip
