"""Case evidence: identity documents and proofs, the most sensitive data OKPay holds.

Stored encrypted at rest (support.files encrypts every attachment), opened only by the case's
reviewers (casework.access), each view audited and each image watermarked with the viewer and
the time; never attached to e-mails; deleted once the case has been done for the retention
period (the decision and its reason stay)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from okpay.casework import access, cases
from okpay.casework.models import Case, CaseEvidence, CaseStatus
from okpay.core import audit, clock
from okpay.core.errors import NotFound
from okpay.core.i18n import format_datetime
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import customer as support_customer
from okpay.support import messages as ticket_messages
from okpay.support.models import TicketAttachment

INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


def view(session: Session, *, case: Case, agent: User, evidence_id: int, inline: bool) -> Response:
    """One evidence file for a reviewer: audited, images watermarked with who and when."""
    access.require_evidence_viewer(session, agent=agent, case=case)
    row = session.get(CaseEvidence, evidence_id)
    if row is None or row.case_id != case.id:
        raise NotFound()
    attachment = session.get(TicketAttachment, row.attachment_id)
    if attachment is None:
        raise NotFound()
    now = clock.now()
    mark = f"OKPay · {agent.display_name} · {agent.email} · {format_datetime(now, 'minutes')}"
    response = support_customer.download(
        attachment,
        inline=inline and attachment.content_type in INLINE_TYPES,
        watermark=mark if attachment.content_type.startswith("image/") else None,
    )
    audit.record(
        session, "case_evidence_viewed", actor_user_id=agent.id, subject_user_id=case.user_id,
        object_type="case_evidence", object_id=row.id, case_id=case.id, kind=row.kind,
        filename=attachment.filename, inline=inline,
    )  # fmt: skip
    return response


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete the evidence of cases done longer ago than the retention period (files and
    their rows; the decision and its reason stay). Returns how many cases were purged."""
    now = now or clock.now()
    cutoff = now - timedelta(days=get_settings().evidence_retention_days)
    due = list(
        session.scalars(
            select(Case)
            .where(
                Case.status == CaseStatus.done.value,
                Case.closed_at < cutoff,
                Case.evidence_purged_at.is_(None),
            )
            .limit(200)
        )
    )
    for case in due:
        ticket = cases.ticket_of(session, case)
        ticket_messages.do_purge_attachments(session, ticket=ticket, reason="case_retention")
        case.evidence_purged_at = now
        audit.record(
            session, "case_evidence_purged", subject_user_id=case.user_id, object_type="case",
            object_id=case.id,
        )  # fmt: skip
    session.flush()
    return len(due)
