"""Translations and locale-aware formatting.

Source strings are English; catalogs for zh_CN and en live in ``okpay/locale`` as .po files
and are compiled in memory at start-up, so there is no build step that can go stale. The
locale of the running request is held in a context variable, set by the web middleware
(user's setting, then the language cookie, then Accept-Language, then zh-CN).
"""

from __future__ import annotations

import contextvars
import functools
import gettext as _gettext
import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}
DISPLAY_TIMEZONE = {"zh_CN": "Asia/Shanghai", "en": "Asia/Shanghai"}

_locale: contextvars.ContextVar[str] = contextvars.ContextVar(
    "okpay_locale", default=DEFAULT_LOCALE
)


@functools.cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalog for ``locale`` (NullTranslations if it has none)."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return _gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


def get_locale() -> str:
    """The locale of the running request or job."""
    return _locale.get()


def set_locale(locale: str) -> contextvars.Token[str]:
    """Switch the current locale; returns a token for :func:`reset_locale`."""
    return _locale.set(normalise(locale) or DEFAULT_LOCALE)


def reset_locale(token: contextvars.Token[str]) -> None:
    _locale.reset(token)


class use_locale:
    """``with use_locale("en"): ...`` renders in that locale (e-mails to other users)."""

    def __init__(self, locale: str | None) -> None:
        self.locale = locale or DEFAULT_LOCALE

    def __enter__(self) -> str:
        self._token = set_locale(self.locale)
        return get_locale()

    def __exit__(self, *exc: object) -> None:
        reset_locale(self._token)


def gettext(message: str, **params: Any) -> str:
    """Translate ``message`` into the current locale, then fill ``%(name)s`` params."""
    text = translations(get_locale()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    """Plural-aware translation; ``n`` is available as ``%(num)d``."""
    text = translations(get_locale()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


def pgettext(context: str, message: str, **params: Any) -> str:
    """``message`` as meant in ``context`` (a word the catalog has in another sense: a
    short tab label "Requests" beside the count "Requests")."""
    text = translations(get_locale()).pgettext(context, message)
    return text % params if params else text


_ = gettext


def lazy_gettext(message: str, **params: Any) -> LazyProxy:
    """A string translated when it is rendered, in the locale in force then."""
    return LazyProxy(gettext, message, enable_cache=False, **params)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now."""
    return message


def normalise(tag: str | None) -> str | None:
    """Map a language tag ("zh-cn", "zh-Hans", "en-GB") to a supported locale, or None."""
    if not tag:
        return None
    tag = tag.strip().replace("-", "_")
    if tag in LOCALES:
        return tag
    try:
        parsed = Locale.parse(tag)
    except (ValueError, UnknownLocaleError):
        return None
    if parsed.language == "zh":
        return "zh_CN"
    if parsed.language == "en":
        return "en"
    return None


def parse_accept_language(header: str | None) -> Iterable[str]:
    """Tags from an Accept-Language header, best first."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _sep, params = piece.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > 0:
            weighted.append((-q, index, tag.strip()))
    return [tag for _q, _i, tag in sorted(weighted)]


def negotiate(*, user_pref: str | None, cookie: str | None, accept_language: str | None) -> str:
    """Pick the locale: user's setting, then cookie, then Accept-Language, then zh-CN."""
    for candidate in (user_pref, cookie):
        found = normalise(candidate)
        if found:
            return found
    for tag in parse_accept_language(accept_language):
        found = normalise(tag)
        if found:
            return found
    return DEFAULT_LOCALE


def html_lang(locale: str | None = None) -> str:
    """The BCP 47 tag for <html lang>: zh-CN or en."""
    return (locale or get_locale()).replace("_", "-")


def format_datetime(value: datetime | None, fmt: str = "medium") -> str:
    """A timestamp in the current locale and display time zone."""
    if value is None:
        return ""
    locale = get_locale()
    zone = babel_dates.get_timezone(DISPLAY_TIMEZONE[locale])
    if fmt == "minutes":
        # A promise to a person ("we will reply by …"): the day, the minute and the zone,
        # never seconds: "2026年11月22日 18:41 中国标准时间",
        # "Nov 22, 2026 18:41 China Standard Time".
        day = babel_dates.format_date(value.astimezone(zone), "medium", locale=locale)
        return f"{day} {babel_dates.format_time(value, 'HH:mm zzzz', tzinfo=zone, locale=locale)}"
    return babel_dates.format_datetime(value, fmt, tzinfo=zone, locale=locale)


def format_date(value: date | datetime | None, fmt: str = "medium") -> str:
    """A date in the current locale."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(babel_dates.get_timezone(DISPLAY_TIMEZONE[get_locale()]))
    return babel_dates.format_date(value, fmt, locale=get_locale())


def format_timedelta_seconds(seconds: float) -> str:
    """A duration in words ("3 minutes", "3分钟")."""
    return babel_dates.format_timedelta(
        max(1, int(seconds)), threshold=1.0, locale=get_locale(), format="long"
    )


def format_size(size: int) -> str:
    """A file size for people ("10 MB", "512 KB"), with the locale's digits."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            value = babel_numbers.format_decimal(round(size / factor, 1), locale=get_locale())
            return f"{value} {unit}"
    return f"{size} B"


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (ISO 4217 via CLDR: CNY 2, JPY 0)."""
    return int(babel_numbers.get_currency_precision(currency))


def format_money(minor_units: int, currency: str) -> str:
    """An amount held in integer minor units, formatted for the current locale
    ("¥1,234.50", "US$12.00", "JP¥500"). Never goes through a float."""
    from decimal import Decimal

    exponent = currency_exponent(currency)
    value = Decimal(minor_units).scaleb(-exponent)
    return babel_numbers.format_currency(
        value, currency, locale=get_locale(), currency_digits=True, decimal_quantization=True
    )


def country_name(code: str) -> str:
    """A country's name in the current language ("JP" → "日本" / "Japan")."""
    try:
        return str(Locale.parse(get_locale()).territories.get(code.upper(), code))
    except (ValueError, UnknownLocaleError):
        return code


def language_choices() -> Mapping[str, str]:
    return LANGUAGE_NAMES
