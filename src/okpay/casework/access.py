"""Who may see and do what with a case: the one place casework's access checks live.

Customers see their own cases (through the ticket's access rule). Staff see every case, but
evidence (identity documents, proofs) only where they review it: supervisors and admins, and
agents of the case's team."""

from __future__ import annotations

from sqlalchemy.orm import Session

from okpay.casework.cases import TEAMS
from okpay.casework.models import Case
from okpay.core.errors import NotFound, PermissionDenied
from okpay.core.i18n import N_
from okpay.identity.models import User
from okpay.support import access as support_access
from okpay.support import agents as support_agents
from okpay.support.models import Ticket


class EvidenceNotAllowed(PermissionDenied):
    code = "evidence_not_allowed"
    message = N_("Only reviewers of this case's team may open its documents.")


def access_case(session: Session, *, user: User, case_id: int) -> Case:
    """The customer's own case (through its ticket); NotFound for anyone else's."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound()
    ticket = session.get(Ticket, case.ticket_id)
    if ticket is None:
        raise NotFound()
    support_access.access_ticket(session, user=user, number=ticket.number)
    return case


def staff_case(session: Session, *, agent: User, case_id: int) -> Case:
    """A case as staff see it (any case; the caller is staff)."""
    support_access.require_staff(agent)
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound()
    return case


def require_customer(user: User) -> None:
    """Customer-only actions (an emergency freeze is the account holder's own)."""
    if user.is_staff:
        raise PermissionDenied()


def can_view_evidence(session: Session, *, agent: User, case: Case) -> bool:
    if not agent.is_staff:
        return False
    if agent.role in ("supervisor", "admin"):
        return True
    # The team reviewing the case is its ticket's (set from the type when it opened, security
    # for a payment the customer did not make, and wherever it was escalated since).
    ticket = session.get(Ticket, case.ticket_id)
    team = ticket.team if ticket is not None else TEAMS.get(case.type)
    return support_agents.agent_team(session, agent) == team


def require_evidence_viewer(session: Session, *, agent: User, case: Case) -> None:
    if not can_view_evidence(session, agent=agent, case=case):
        raise EvidenceNotAllowed()
