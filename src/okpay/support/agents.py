"""Support agents: their team, and the canned responses they answer with."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.models import User
from okpay.support.models import CannedResponse, SupportAgent, Team, Ticket


def team_addresses(session: Session, team: str) -> list[tuple[str, str]]:
    """(e-mail, language) of every agent in ``team``."""
    rows = session.execute(
        select(User.email, User.preferred_locale)
        .join(SupportAgent, SupportAgent.user_id == User.id)
        .where(SupportAgent.team == team, User.status == "active")
    ).all()
    return [(email, locale or "zh_CN") for email, locale in rows]


def set_agent_team(session: Session, *, user: User, team: str) -> SupportAgent:
    if team not in Team.__members__:
        raise ValidationFailed(code="team_invalid", field="team")
    if not user.is_staff:
        raise ValidationFailed(
            N_("Only staff can join a support team."), code="not_staff", field="email"
        )
    row = session.get(SupportAgent, user.id)
    if row is None:
        row = SupportAgent(user_id=user.id, team=team)
        session.add(row)
    row.team = team
    session.flush()
    return row


def agent_team(session: Session, user: User) -> str | None:
    row = session.get(SupportAgent, user.id)
    return row.team if row else None


def canned_responses(session: Session, *, locale: str) -> list[CannedResponse]:
    stmt = select(CannedResponse).where(CannedResponse.locale == locale)
    return list(session.scalars(stmt.order_by(CannedResponse.title)))


def fill_placeholders(text: str, ticket: Ticket, agent: User) -> str:
    """{name}, {number}, {agent}, {subject} in a canned response; unknown ones stay as typed."""
    values = {
        "name": ticket.requester_name,
        "number": ticket.number,
        "agent": agent.display_name,
        "subject": ticket.subject,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)
