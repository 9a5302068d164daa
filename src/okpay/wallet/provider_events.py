"""Provider plumbing: external references, recorded provider events, and finding the
operations a provider's webhook or a reconciliation pass is about."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.db import table_of
from okpay.wallet.models import Operation, OperationStatus


def set_external_ref(session: Session, *, operation_id: int, external_ref: str) -> None:
    session.execute(
        update(table_of(Operation))
        .where(table_of(Operation).c.id == operation_id)
        .values(external_ref=external_ref, updated_at=clock.now())
    )


def record_provider_event(session: Session, *, provider: str, event_id: str, kind: str) -> bool:
    """Remember an event; False if it was seen before (then it must not be applied again)."""
    from okpay.wallet.models import ProviderEvent

    if session.scalar(
        select(ProviderEvent.id).where(
            ProviderEvent.provider == provider, ProviderEvent.event_id == event_id
        )
    ):
        return False
    session.add(
        ProviderEvent(
            provider=provider, event_id=event_id[:80], kind=kind[:40], received_at=clock.now()
        )
    )
    session.flush()
    return True


def find_by_external_ref(session: Session, external_ref: str) -> Operation | None:
    if not external_ref:
        return None
    return session.scalar(select(Operation).where(Operation.external_ref == external_ref))


def find_by_reference(session: Session, reference: str) -> Operation | None:
    if not reference:
        return None
    return session.scalar(select(Operation).where(Operation.reference == reference.strip().upper()))


def pending_provider_operations(session: Session, *, limit: int = 50) -> list[Operation]:
    """Withdrawals and bank top-ups waiting for the provider (the dev sandbox page)."""
    return list(
        session.scalars(
            select(Operation)
            .where(Operation.status == OperationStatus.pending.value, Operation.method == "bank")
            .order_by(Operation.id.desc())
            .limit(limit)
        )
    )
