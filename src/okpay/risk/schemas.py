"""Risk admin API bodies and answers (request bodies refuse unknown fields)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleIn(_Strict):
    code: str = Field(max_length=48, examples=["night_large_transfer"])
    description: str = Field(default="", max_length=500)
    operations: list[str] = Field(max_length=20, examples=[["transfer", "withdrawal"]])
    condition: str = Field(max_length=2000, examples=["amount_cny >= 5000 and new_device_24h"])
    score: int = Field(ge=0, le=100)
    outcome: str = Field(max_length=10, description="step_up, hold or block")
    reason: str = Field(max_length=32, description="The customer-facing reason's key")
    note: str = Field(default="", max_length=500, description="Why (kept with the version)")


class RuleUpdateIn(RuleIn):
    expected_version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Refused with 409 rule_changed if stale"
    )


class StatusIn(_Strict):
    status: str = Field(max_length=10, description="draft, shadow, live or paused")
    note: str = Field(default="", max_length=500)
    expected_version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class BacktestIn(_Strict):
    days: int = Field(default=30, ge=1, le=90)


class DraftBacktestIn(_Strict):
    rule: RuleIn
    days: int = Field(default=30, ge=1, le=90)


class RuleOut(BaseModel):
    id: int
    code: str
    description: str
    description_text: str = Field(description="The description in the reader's language")
    operations: list[str]
    condition: str
    score: int
    outcome: str
    reason: str
    status: str
    version: int
    updated_at: datetime
    updated_by: str
    hits_24h: int | None = None
    hits_7d: int | None = None


class ChangeOut(BaseModel):
    field: str
    before: str
    after: str


class VersionOut(BaseModel):
    version: int
    snapshot: dict[str, Any]
    changes: list[ChangeOut]
    note: str
    changed_by: str
    changed_at: datetime


class RuleDetailOut(RuleOut):
    versions: list[VersionOut]


class CustomerHitsOut(BaseModel):
    user_id: int
    name: str
    email: str
    hits: int


class DayHitsOut(BaseModel):
    day: date
    hits: int


class AgreementOut(BaseModel):
    stored: int
    agree: int
    stored_only: int
    backtest_only: int
    unlinked: int


class BacktestOut(BaseModel):
    rule: str
    days: int
    since: datetime
    until: datetime
    operations: int
    evaluated: int
    hits: int
    customers: int
    top_customers: list[CustomerHitsOut]
    by_day: list[DayHitsOut]
    agreement: AgreementOut | None
    seconds: float


class DecisionOut(BaseModel):
    id: int
    user_id: int
    operation: str
    operation_id: int | None
    reference: str | None
    amount: int | None
    currency: str | None
    outcome: str
    step_up: bool
    score: int
    reason: str | None
    fired: list[dict[str, Any]]
    features: dict[str, Any]
    created_at: datetime


class DecisionListOut(BaseModel):
    items: list[DecisionOut]
    next_before: int | None
