"""The balance-over-time chart, drawn on the server as SVG geometry (no script: the page's
Content-Security-Policy allows none inline, and a line chart does not need any)."""

from __future__ import annotations

from dataclasses import dataclass

from okpay.wallet.statements import BalancePoint

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 8, 8, 12, 24  # room for the date labels under the plot


@dataclass(frozen=True)
class BalanceChart:
    currency: str
    width: int
    height: int
    line: str  # polyline points, "x,y x,y …"
    area: str  # the same closed down to the baseline
    baseline_y: float
    top_y: float
    first: BalancePoint
    last: BalancePoint
    low: int
    high: int
    changes: list[BalancePoint]  # the first day, each day the balance moved, the last day


def balance_chart(currency: str, points: list[BalancePoint]) -> BalanceChart | None:
    """Geometry for a step-free line through each day's closing balance, on a scale from
    zero (or the lowest balance, if below) to the highest; None when there is nothing to
    draw."""
    if not points:
        return None
    balances = [p.balance for p in points]
    low, high = min(balances), max(balances)
    floor = min(0, low)
    span = (high - floor) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / (len(points) - 1) if len(points) > 1 else 0.0

    def x(i: int) -> float:
        return LEFT + (i * step if len(points) > 1 else plot_w / 2)

    def y(balance: int) -> float:
        return TOP + plot_h * (1 - (balance - floor) / span)

    coords = [(round(x(i), 1), round(y(p.balance), 1)) for i, p in enumerate(points)]
    line = " ".join(f"{cx},{cy}" for cx, cy in coords)
    baseline = round(y(floor), 1)
    area = f"{coords[0][0]},{baseline} {line} {coords[-1][0]},{baseline}"
    changes = [
        p
        for i, p in enumerate(points)
        if i in (0, len(points) - 1) or p.balance != points[i - 1].balance
    ]
    return BalanceChart(
        currency=currency,
        width=WIDTH,
        height=HEIGHT,
        line=line,
        area=area,
        baseline_y=baseline,
        top_y=round(y(high), 1),
        first=points[0],
        last=points[-1],
        low=low,
        high=high,
        changes=changes,
    )
