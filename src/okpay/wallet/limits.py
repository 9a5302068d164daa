"""Limits per operation by verification level: per transaction, per day and per month (in the
operation's currency, converted to CNY for the daily and monthly totals). Per-account
overrides granted after review: wallet.overrides; usage counted against limits: wallet.usage."""

from __future__ import annotations

from dataclasses import dataclass

# CNY minor units. Level 0 unverified, 1 identity verified, 2 enhanced.
LIMITS: dict[str, dict[int, tuple[int, int, int]]] = {
    #              per transaction, per day,     per month
    "topup": {
        0: (500_000, 1_000_000, 2_000_000),
        1: (5_000_000, 10_000_000, 50_000_000),
        2: (20_000_000, 50_000_000, 200_000_000),
    },
    "withdrawal": {
        0: (200_000, 500_000, 1_000_000),
        1: (5_000_000, 5_000_000, 30_000_000),
        2: (20_000_000, 20_000_000, 100_000_000),
    },
    "transfer": {
        0: (200_000, 500_000, 1_000_000),
        1: (5_000_000, 10_000_000, 50_000_000),
        2: (20_000_000, 50_000_000, 200_000_000),
    },
    "payment": {
        0: (200_000, 500_000, 1_000_000),
        1: (5_000_000, 10_000_000, 50_000_000),
        2: (20_000_000, 50_000_000, 200_000_000),
    },
}


@dataclass(frozen=True)
class LimitSet:
    per_transaction: int
    daily: int
    monthly: int


def limits_for(operation: str, level: int) -> LimitSet:
    table = LIMITS[operation]
    per_tx, daily, monthly = table[min(max(level, 0), max(table))]
    return LimitSet(per_tx, daily, monthly)
