"""Server-rendered SVG charts for the reports page: no script, nothing to load, readable
without colour (every bar carries its number as a title and in the table beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from okpay.core.i18n import gettext

WIDTH = 720
HEIGHT = 220
PAD = 28


def day_bars(by_day: Sequence[tuple[date, int, int]]) -> Markup:
    """Created and resolved requests per day, side by side."""
    if not by_day:
        return Markup("")
    top = max(max(c, r) for _d, c, r in by_day) or 1
    slot = (WIDTH - 2 * PAD) / len(by_day)
    bar = max(1.0, slot / 2 - 1)
    plot = HEIGHT - 2 * PAD
    created, resolved = gettext("Created"), gettext("Resolved")
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(gettext("Requests by day"))}">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'class="axis"/>',
        f'<text x="{PAD}" y="{PAD - 10}" class="tick">{top}</text>',
    ]
    for i, (day, c, r) in enumerate(by_day):
        x = PAD + i * slot
        for offset, value, kind, name in (
            (0.0, c, "created", created),
            (bar, r, "resolved", resolved),
        ):
            h = plot * value / top
            parts.append(
                f'<rect class="bar-{kind}" x="{x + offset:.1f}" y="{HEIGHT - PAD - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{day.isoformat()} '
                f"{escape(name)}: {value}</title></rect>"
            )
        if len(by_day) <= 14 or i % max(1, len(by_day) // 10) == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" class="tick">{day:%m-%d}</text>'
            )
    parts.append(
        f'<rect class="bar-created" x="{WIDTH - 200}" y="6" width="10" height="10"/>'
        f'<text x="{WIDTH - 186}" y="15" class="tick">{escape(created)}</text>'
        f'<rect class="bar-resolved" x="{WIDTH - 110}" y="6" width="10" height="10"/>'
        f'<text x="{WIDTH - 96}" y="15" class="tick">{escape(resolved)}</text>'
    )
    parts.append("</svg>")
    # Safe: numbers and dates we format, and labels passed through escape().
    return Markup("".join(parts))  # noqa: S704


def horizontal_bars(rows: Sequence[Sequence[object]], *, title: str) -> Markup:
    """One bar per (label, count) row, labels escaped."""
    items = [(str(r[0]), int(str(r[1]))) for r in rows if str(r[1]).isdigit()]
    if not items:
        return Markup("")
    top = max(n for _l, n in items) or 1
    row_h = 22
    label_w = 200
    height = row_h * len(items) + 8
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}">'
    ]
    for i, (name, n) in enumerate(items):
        y = 4 + i * row_h
        w = (WIDTH - label_w - 60) * n / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" class="tick" text-anchor="end">'
            f"{escape(name[:30])}</text>"
            f'<rect class="bar-created" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
            f'height="{row_h - 6}"><title>{escape(name)}: {n}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" class="tick">{n}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part escaped above
