"""Risk background work: forget counter buckets no feature reads any more."""

from __future__ import annotations

import logging
import time

from okpay.db import get_database
from okpay.jobs import periodic
from okpay.risk import counters

log = logging.getLogger(__name__)
EVERY_SECONDS = 3600  # a scan of the counter table: hourly is plenty
_last_run = 0.0


@periodic
def prune_risk_counters_job() -> None:
    """Ten-minute buckets older than a day and daily ones older than 90 days go (hourly)."""
    global _last_run
    if time.monotonic() - _last_run < EVERY_SECONDS and _last_run:
        return
    _last_run = time.monotonic()
    with get_database().unit_of_work() as session:
        removed = counters.prune(session)
    if removed:
        log.info("risk counter buckets pruned: %s", removed)
