"""The two best categories to offer an agent when triage was unsure of a new ticket.

``tickets.do_create`` records them on the ticket's "created" event (``alternatives``) when
``triage.Suggestion.unsure``; the agent's ticket page shows "maybe A or B" with both as
one-click choices until a member of staff changes the category.
"""

from __future__ import annotations

from collections.abc import Sequence

from okpay.support.models import TicketEvent


def unsure_categories(events: Sequence[TicketEvent]) -> list[str]:
    """The two categories triage hesitated between, or [] once staff chose one (or when
    triage was sure)."""
    offered: list[str] = []
    for event in events:
        data = event.data or {}
        if event.kind == "created":
            offered = [str(c) for c in data.get("alternatives") or []][:2]
        elif event.kind == "updated" and "category" in data:
            return []
    return offered if len(offered) == 2 else []
