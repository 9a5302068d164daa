"""Hotlines tests create for themselves (a fresh database has none)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from okpay.helpcenter import hotlines

HK = ZoneInfo("Asia/Hong_Kong")


def add_hotline(  # type: ignore[no-untyped-def]
    db,
    region: str = "HK",
    number: str = "+852 2123 4567",
    zone: str = "Asia/Hong_Kong",
    languages: str = "zh-HK,yue,en",
    weekdays: str = "0-4",
    opens: str = "09:00",
    closes: str = "18:00",
    holidays: tuple[tuple[date, str], ...] = (),
    position: int = 0,
) -> None:
    with db.unit_of_work() as s:
        hotlines.do_add_hotline(
            s, actor=None, region=region, number=number, timezone=zone, languages=languages,
            position=position,
        )  # fmt: skip
        hotlines.do_set_hours(
            s, actor=None, region=region, weekdays=weekdays, opens=opens, closes=closes
        )
        for day, name in holidays:
            hotlines.do_add_holiday(s, actor=None, region=region, day=day, name=name)


def add_demo_set(db) -> None:  # type: ignore[no-untyped-def]
    """CN, HK, SG and US lines, as operators would configure them."""
    add_hotline(db, "CN", "400 820 1234", "Asia/Shanghai", "zh-CN,en", "0-5", "09:00", "21:00")
    add_hotline(db, "HK", position=1)
    add_hotline(db, "SG", "+65 6123 4567", "Asia/Singapore", "en,zh-CN", position=2)
    add_hotline(
        db, "US", "+1 800-555-0199", "America/New_York", "en,es", "0-4", "08:00", "20:00",
        position=3,
    )  # fmt: skip


def local(zone: ZoneInfo, *args: int) -> datetime:
    """A wall-clock time in ``zone`` as a UTC instant: local(HK, 2026, 12, 7, 10, 0)."""
    return datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]
