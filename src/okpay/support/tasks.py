"""Service-centre background work, every minute: the SLA sweep and live-chat time-outs."""

from __future__ import annotations

import logging

from okpay.db import get_database
from okpay.jobs import periodic
from okpay.support import chat, follow_up

log = logging.getLogger(__name__)


@periodic
def sweep_sla() -> None:
    """Warn before SLA targets are missed, record breaches, close long-resolved tickets."""
    with get_database().unit_of_work() as session:
        counts = follow_up.sweep(session)
    if any(counts.values()):
        log.info("support sweep: %s", counts)


@periodic
def expire_chats() -> None:
    """Chats nobody accepted in time become tickets; their customers are told."""
    with get_database().unit_of_work() as session:
        missed = chat.expire_waiting(session)
    if missed:
        log.info("live chat: %s chats missed", len(missed))
