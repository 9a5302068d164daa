"""`okpay support hotlines`: operators configure the hotlines by region (number, languages,
opening hours in the region's time zone, holidays), and the demo's lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

import typer

from okpay.core.console import console_session as _session

app = typer.Typer(
    help="Hotlines by region: numbers, languages, service hours, holidays.", no_args_is_help=True
)


@app.command("list")
def hotline_list() -> None:
    """Every hotline with its hours and whether it is open now."""
    from zoneinfo import ZoneInfo

    from okpay.helpcenter import hotline_display, hotlines

    with _session(write=False) as s:
        lines = hotlines.list_hotlines(s)
        if not lines:
            typer.echo("no hotlines: add one with `okpay support hotlines add`")
        for line in lines:
            card = hotline_display.card(line, visitor_zone=ZoneInfo(line.timezone))
            hours = ", ".join(f"{d}={'-'.join(w)}" for d, w in sorted(line.hours.items())) or "-"
            typer.echo(
                f"{line.region}  {card.number}  {line.timezone}  {','.join(line.languages)}  "
                f"hours(0=Mon) {hours}  {'OPEN' if card.open_now else 'closed'}"
            )
            for h in line.holidays:
                typer.echo(f"    holiday {h.day} {h.name}")


@app.command("add")
def hotline_add(
    region: Annotated[str, typer.Argument(help="CN, HK, MO, TW, SG, US, EU…")],
    number: Annotated[str, typer.Argument(help="e.g. +852 2123 4567 or a local number")],
    timezone: Annotated[str, typer.Option(help="IANA zone of the hours, e.g. Asia/Hong_Kong")],
    languages: Annotated[str, typer.Option(help="best first, e.g. zh-HK,yue,en")],
    position: Annotated[int, typer.Option(help="order on the page")] = 0,
) -> None:
    """Add a region's hotline (closed until you set its hours)."""
    from okpay.helpcenter import hotlines

    with _session() as s:
        line = hotlines.do_add_hotline(
            s, actor=None, region=region, number=number, timezone=timezone,
            languages=languages, position=position,
        )  # fmt: skip
        typer.echo(f"added {line.region} {hotlines.display_number(line.number)}")


@app.command("set")
def hotline_set(
    region: Annotated[str, typer.Argument()],
    number: Annotated[str | None, typer.Option()] = None,
    timezone: Annotated[str | None, typer.Option()] = None,
    languages: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a hotline's number, time zone or languages."""
    from okpay.helpcenter import hotlines

    with _session() as s:
        hotlines.do_update_hotline(
            s, actor=None, region=region, number=number, timezone=timezone, languages=languages
        )
    typer.echo(f"changed {region.upper()}")


@app.command("set-hours")
def hotline_hours(
    region: Annotated[str, typer.Argument()],
    weekdays: Annotated[str, typer.Argument(help="0 = Monday: 0-4, 5, 0-5…")],
    opens: Annotated[str, typer.Argument(help="HH:MM local time, or 'closed'")],
    closes: Annotated[str, typer.Argument(help="HH:MM (24:00 allowed)")] = "",
) -> None:
    """Open the line on WEEKDAYS from OPENS to CLOSES (or close them with 'closed')."""
    from okpay.helpcenter import hotlines

    closed = opens.lower() == "closed"
    with _session() as s:
        hotlines.do_set_hours(
            s, actor=None, region=region, weekdays=weekdays, opens="" if closed else opens,
            closes=closes, closed=closed,
        )  # fmt: skip
    typer.echo(f"hours of {region.upper()} set")


@app.command("add-holiday")
def hotline_holiday(
    region: Annotated[str, typer.Argument()],
    day: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    name: Annotated[str, typer.Argument()] = "",
) -> None:
    """Close the line on DAY."""
    from okpay.helpcenter import hotlines

    with _session() as s:
        hotlines.do_add_holiday(s, actor=None, region=region, day=_date(day), name=name)
    typer.echo(f"{region.upper()} closed on {day}")


@app.command("remove-holiday")
def hotline_unholiday(
    region: Annotated[str, typer.Argument()], day: Annotated[str, typer.Argument()]
) -> None:
    """Open the line on DAY again."""
    from okpay.helpcenter import hotlines

    with _session() as s:
        hotlines.do_remove_holiday(s, actor=None, region=region, day=_date(day))
    typer.echo(f"{region.upper()} open again on {day}")


@app.command("remove")
def hotline_remove(region: Annotated[str, typer.Argument()]) -> None:
    """Remove a region's hotline."""
    from okpay.helpcenter import hotlines

    with _session() as s:
        hotlines.do_remove_hotline(s, actor=None, region=region)
    typer.echo(f"removed {region.upper()}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        typer.echo(f"not a date: {text!r} (use YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None


# Obviously demo, valid-format numbers (phonenumbers accepts them); hours are local time.
DEMO_HOTLINES: tuple[tuple[str, str, str, str, dict[str, list[str]]], ...] = (
    ("CN", "400 820 1234", "Asia/Shanghai", "zh-CN,en",
     {str(d): ["09:00", "21:00"] for d in range(5)} | {"5": ["09:00", "18:00"]}),
    ("HK", "+852 2123 4567", "Asia/Hong_Kong", "zh-HK,yue,en",
     {str(d): ["09:00", "18:00"] for d in range(5)} | {"5": ["09:00", "13:00"]}),
    ("MO", "+853 2821 2345", "Asia/Macau", "zh-HK,yue,pt",
     {str(d): ["09:00", "18:00"] for d in range(5)}),
    ("TW", "+886 2 2123 4567", "Asia/Taipei", "zh-TW,en",
     {str(d): ["09:00", "18:00"] for d in range(5)}),
    ("SG", "+65 6123 4567", "Asia/Singapore", "en,zh-CN,ms",
     {str(d): ["09:00", "18:00"] for d in range(5)}),
    ("US", "+1 800-555-0199", "America/New_York", "en,es,zh-CN",
     {str(d): ["08:00", "20:00"] for d in range(5)}),
    ("EU", "+32 2 234 56 78", "Europe/Brussels", "en,de,fr,zh-CN",
     {str(d): ["09:00", "17:00"] for d in range(5)}),
)  # fmt: skip
DEMO_HOLIDAYS = (
    ("CN", date(2027, 1, 1), "元旦"),
    ("CN", date(2027, 2, 6), "春节"),
    ("CN", date(2027, 2, 7), "春节"),
    ("CN", date(2027, 2, 8), "春节"),
    ("HK", date(2026, 12, 25), "聖誕節"),
    ("HK", date(2026, 12, 26), "聖誕節翌日"),
    ("HK", date(2027, 1, 1), "一月一日"),
    ("MO", date(2026, 12, 20), "澳門特別行政區成立紀念日"),
    ("TW", date(2027, 1, 1), "中華民國開國紀念日"),
    ("SG", date(2026, 12, 25), "Christmas Day"),
    ("US", date(2026, 12, 25), "Christmas Day"),
    ("US", date(2027, 1, 1), "New Year's Day"),
    ("EU", date(2026, 12, 25), "Christmas Day"),
    ("EU", date(2027, 1, 1), "New Year's Day"),
)


def load_demo(echo: Callable[[str], None]) -> None:
    """The demo's hotlines for CN, HK, MO, TW, SG, US and the EU (each only once)."""
    from okpay.helpcenter import hotlines

    added = 0
    with _session() as s:
        for position, (region, number, zone, languages, hours) in enumerate(DEMO_HOTLINES):
            if hotlines.get_hotline(s, region) is not None:
                continue
            line = hotlines.do_add_hotline(
                s, actor=None, region=region, number=number, timezone=zone,
                languages=languages, position=position,
            )  # fmt: skip
            line.hours = hours
            for where, day, name in DEMO_HOLIDAYS:
                if where == region:
                    hotlines.do_add_holiday(s, actor=None, region=region, day=day, name=name)
            added += 1
    if added:
        echo(f"hotlines: {added} regions (okpay support hotlines list)")
