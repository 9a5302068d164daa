"""Service-centre background work: the SLA sweep, every minute."""

from __future__ import annotations

import logging

from okpay.db import get_database
from okpay.support import service
from okpay.worker import periodic

log = logging.getLogger(__name__)


@periodic
def sweep_sla() -> None:
    """Warn before SLA targets are missed, record breaches, close long-resolved tickets."""
    with get_database().unit_of_work() as session:
        counts = service.sweep(session)
    if any(counts.values()):
        log.info("support sweep: %s", counts)
