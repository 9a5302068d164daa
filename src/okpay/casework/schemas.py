"""Casework API bodies and answers (request bodies refuse unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvidenceRead(BaseModel):
    id: int
    kind: str
    kind_label: str
    filename: str
    content_type: str
    size: int
    created_at: datetime


class ChangeRead(BaseModel):
    label: str
    before: str
    after: str
    changed: bool


class ProposalRead(BaseModel):
    id: int
    case_id: int
    action: str
    action_label: str
    params: dict[str, Any]
    reason: str
    changes: list[ChangeRead]
    status: str
    status_label: str
    needs_approval: bool
    proposed_by: int
    proposed_at: datetime
    expires_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str | None
    result: dict[str, Any]


class CaseRead(BaseModel):
    """A case as its customer sees it."""

    id: int
    type: str
    type_label: str
    status: str
    status_label: str
    ticket_number: str
    details: dict[str, Any]
    statement: str
    info_request: str | None
    decision_reason: str | None
    decided_at: datetime | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    evidence: list[EvidenceRead]


class StaffCaseRead(CaseRead):
    user_id: int | None
    team: str
    priority: str
    proposals: list[ProposalRead]
    checklist: list[dict[str, Any]]
    breached: bool


class CaseSummary(BaseModel):
    id: int
    type: str
    type_label: str
    status: str
    status_label: str
    ticket_number: str
    user_id: int | None
    team: str
    due_at: datetime | None
    created_at: datetime


class CaseList(BaseModel):
    items: list[CaseSummary]


class FreezeOut(BaseModel):
    status: str
    case_id: int
    ticket_number: str
    message: str


class FreezeIn(_Strict):
    note: str = Field(default="", max_length=2000)


class ProposalIn(_Strict):
    action: str = Field(max_length=40)
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(max_length=2000)


class ApproveIn(_Strict):
    note: str = Field(default="", max_length=2000)


class ReasonIn(_Strict):
    reason: str = Field(max_length=2000)


class InfoRequestIn(_Strict):
    message: str = Field(max_length=4000)


class PolicyRule(BaseModel):
    action: str
    action_label: str
    approval_required: bool
    single_limit_cny: int | None
    approver_roles: list[str]


class PolicyIn(_Strict):
    approval_required: bool
    single_limit_cny: int | None = Field(default=None, ge=0, le=10**12)
    approver_roles: list[str] = Field(max_length=3)


class PendingApproval(BaseModel):
    proposal: ProposalRead
    case: CaseSummary
