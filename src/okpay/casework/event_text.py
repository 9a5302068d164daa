"""The ticket events casework writes (a case opened, moved, late; a proposal; another held
payment) as sentences in support's event history (:mod:`okpay.support.event_text`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from okpay.casework.models import (
    ACTION_LABELS,
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    PROPOSAL_STATUS_LABELS,
    label,
)
from okpay.core.i18n import gettext
from okpay.support import event_text
from okpay.support.event_text import EventFacts


def _name(labels: dict[str, str], value: Any) -> str:
    return label(labels, str(value)) if value else "—"


def _opened(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "%(actor)s opened case #%(case)s: %(type)s",
        actor=f.actor, case=d.get("case_id", "—"), type=_name(CASE_TYPE_LABELS, d.get("case_type")),
    )  # fmt: skip


def _status(f: EventFacts, d: Mapping[str, Any]) -> str:
    values = {
        "case": d.get("case_id", "—"),
        "old": _name(CASE_STATUS_LABELS, d.get("old")),
        "new": _name(CASE_STATUS_LABELS, d.get("new")),
    }
    if f.acted:
        return gettext(
            "%(actor)s moved case #%(case)s from %(old)s to %(new)s", actor=f.actor, **values
        )
    return gettext("Case #%(case)s moved from %(old)s to %(new)s", **values)


def _breached(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext("Case #%(case)s missed its review deadline", case=d.get("case_id", "—"))


def _joined(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext("Another held payment was added to case #%(case)s", case=d.get("case_id", "—"))


def _proposal(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "Proposal #%(proposal)s (%(action)s): %(status)s",
        proposal=d.get("proposal_id", "—"), action=_name(ACTION_LABELS, d.get("action")),
        status=_name(PROPOSAL_STATUS_LABELS, d.get("status")),
    )  # fmt: skip


def register() -> None:
    """Add casework's kinds to the event history (once; later calls change nothing)."""
    event_text.add_renderer("case_opened", _opened)
    event_text.add_renderer("case_status", _status)
    event_text.add_renderer("case_breached", _breached)
    event_text.add_renderer("risk_review_joined", _joined)
    event_text.add_renderer("case_proposal", _proposal)


register()
