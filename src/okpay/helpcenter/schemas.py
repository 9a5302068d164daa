"""Request and response bodies of the help-centre and triage API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchResult(BaseModel):
    slug: str
    title: str
    category: str
    score: float
    snippet: str = Field(description="HTML: the text is escaped, matches wrapped in <mark>")
    url: str
    locale: str


class RelatedResult(BaseModel):
    """A result from elsewhere on the site, shown below the articles."""

    title: str
    url: str
    snippet: str = Field(description="HTML: the text is escaped, matches wrapped in <mark>")
    source: str = Field(description="Where it comes from, in the reader's language")
    locale: str
    slug: str = ""


class SearchOut(BaseModel):
    query: str
    results: list[SearchResult]
    related: list[RelatedResult] = []


class ArticleOut(BaseModel):
    slug: str
    locale: str
    title: str
    category: str
    html: str
    questions: list[str]
    related: list[str]
    version: int
    updated_at: datetime


class VoteIn(_Strict):
    helpful: bool
    comment: str = Field("", max_length=2000)
    locale: str | None = Field(None, max_length=8)


class VoteOut(BaseModel):
    helpful: int
    not_helpful: int


class TriageIn(_Strict):
    subject: str = Field("", max_length=300)
    body: str = Field("", max_length=20_000)


class TriageAlternative(BaseModel):
    category: str = Field(description="A category code, e.g. `topup`.")
    confidence: float = Field(description="The model's probability for it, 0 to 1.")


class TriageOut(BaseModel):
    category: str
    priority: str
    confidence: float
    category_confidence: float
    priority_confidence: float
    unsure: bool = Field(
        False,
        description="True when the best category's probability is below 0.6: show the two "
        "`alternatives` and let a person choose.",
    )
    alternatives: list[TriageAlternative] = Field(
        default_factory=list,
        description="The two most probable categories, best first (the first is `category`).",
    )


class CorrectionIn(_Strict):
    subject: str = Field("", max_length=300)
    body: str = Field("", max_length=20_000)
    category: str = Field(max_length=40)
    priority: str = Field(max_length=16)
    ticket_ref: str | None = Field(None, max_length=40)


class CorrectionOut(BaseModel):
    id: int
    suggested_category: str
    suggested_priority: str
    corrected_category: str
    corrected_priority: str
    corrected_at: datetime


class DeflectionIn(_Strict):
    visit: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    kind: str = Field(max_length=16)
    slug: str | None = Field(None, max_length=80)
    query: str = Field("", max_length=500)


class DeflectionStatsOut(BaseModel):
    visits_with_suggestions: int
    visits_with_click: int
    deflected: int
    rate: float
