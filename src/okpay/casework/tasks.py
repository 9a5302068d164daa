"""Casework's background work, every minute: proposals past 72 hours expire, review clocks
that ran out are marked, decided cases whose ticket closed are done, and evidence past its
retention period is deleted."""

from __future__ import annotations

import logging

from okpay.casework import cases, evidence, proposals
from okpay.db import get_database
from okpay.jobs import periodic

log = logging.getLogger(__name__)


@periodic
def sweep_cases() -> None:
    """Expire proposals, mark review breaches, finish closed cases, purge old evidence."""
    with get_database().unit_of_work() as session:
        counts = {
            "expired": proposals.expire_due(session),
            "breached": len(cases.mark_breaches(session)),
            "done": cases.close_done_cases(session),
            "purged": evidence.purge_expired(session),
        }
    if any(counts.values()):
        log.info("casework sweep: %s", counts)
