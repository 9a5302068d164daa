"""Staff as the console lists them: agents with their teams, names by id, one staff member."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.models import STAFF_ROLES, User
from okpay.support.models import (
    SupportAgent,
)


@dataclass(frozen=True)
class AgentInfo:
    id: int
    name: str
    email: str
    team: str | None


def list_agents(session: Session) -> list[AgentInfo]:
    """Every active staff member, with their team (assignment choices)."""
    rows = session.execute(
        select(User.id, User.name, User.email, SupportAgent.team)
        .outerjoin(SupportAgent, SupportAgent.user_id == User.id)
        .where(User.role.in_([r.value for r in STAFF_ROLES]), User.status == "active")
        .order_by(User.name, User.id)
    ).all()
    return [AgentInfo(i, n or e.split("@")[0], e, t) for i, n, e, t in rows]


def agent_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.name, User.email).where(User.id.in_(wanted)))
    return {i: n or e.split("@")[0] for i, n, e in rows}


def get_staff(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_staff:
        raise ValidationFailed(
            N_("Choose an agent from the list."), code="assignee_invalid", field="assignee"
        )
    return user
