"""Wallet background work: every minute, forget idempotency keys past their lifetime; on
demand, ask the provider for a released withdrawal's payout."""

from __future__ import annotations

import logging

from okpay.db import get_database
from okpay.jobs import job, periodic
from okpay.wallet import flows, payouts

log = logging.getLogger(__name__)


def prune_idempotency_keys(*, max_batches: int = 20) -> int:
    """Delete expired idempotency keys in batches, each its own short transaction (so a
    backlog never holds one long lock); returns how many went."""
    total = 0
    for _ in range(max_batches):
        with get_database().unit_of_work() as session:
            removed = flows.prune_keys(session)
        total += removed
        if removed == 0:
            break
    return total


@periodic
def prune_idempotency_keys_job() -> None:
    removed = prune_idempotency_keys()
    if removed:
        log.info("idempotency keys pruned: %s", removed)


@job(retries=5, retry_delay=30)
def request_payout_job(operation_id: int) -> None:
    """A held withdrawal a reviewer released: ask the provider for its payout (queued once
    the release commits; the provider is asked with the operation's reference, so a retry
    never pays twice)."""
    payouts.request_payout(operation_id)
