"""Help-centre and triage JSON API under /api/v1: thin routes over the services.

Search, triage and deflection events answer without sign-in (the contact form calls them as
people type) and are rate-limited per address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from okpay.core.errors import NotFound
from okpay.core.i18n import normalise
from okpay.helpcenter import articles as art
from okpay.helpcenter import related as more
from okpay.helpcenter import schemas as s
from okpay.helpcenter import service, triage
from okpay.helpcenter.ratelimit import limit
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.settings import get_settings
from okpay.web.deps import DbSession, ReadSession

router = APIRouter(prefix="/api/v1", tags=["help centre"])

Staff = Annotated[User, Depends(require_role(Role.agent, Role.supervisor, Role.admin))]


def request_locale(request: Request, lang: str | None) -> str:
    """``lang`` (zh, zh-CN, en...) if given and known, else the request's language."""
    return normalise(lang) or request.state.locale


def hit_out(hit: service.Hit) -> s.SearchResult:
    return s.SearchResult(
        slug=hit.slug,
        title=hit.title,
        category=hit.category,
        score=hit.score,
        snippet=str(hit.snippet),
        url=f"/help/articles/{hit.slug}",
        locale=hit.locale,
    )


@router.get("/help/search", response_model=s.SearchOut)
def search(
    request: Request,
    db: ReadSession,
    q: Annotated[str, Query(max_length=service.MAX_QUERY)] = "",
    lang: Annotated[str | None, Query(max_length=16)] = None,
    limit_: Annotated[int, Query(alias="limit", ge=1, le=50)] = 10,
) -> s.SearchOut:
    """Articles for a question in Chinese or English (or pinyin), best first; then
    ``related``: results from elsewhere on the site (solved community threads)."""
    limit("search", get_settings().help_search_per_minute)
    locale = request_locale(request, lang)
    hits = service.search(db, query=q, locale=locale, limit=limit_)
    extra = more.related(db, query=q, locale=locale, limit=min(limit_, 3))
    return s.SearchOut(
        query=q,
        results=[hit_out(h) for h in hits],
        related=[
            s.RelatedResult(
                title=r.title, url=r.url, snippet=str(r.snippet), source=r.source, locale=r.locale
            )
            for r in extra
        ],
    )


@router.get("/help/articles/{slug}", response_model=s.ArticleOut)
def article(
    slug: str, request: Request, db: DbSession, lang: Annotated[str | None, Query()] = None
) -> s.ArticleOut:
    row = service.get_article(db, slug=slug, locale=request_locale(request, lang))
    if row is None:
        raise NotFound()
    return s.ArticleOut(
        slug=row.slug,
        locale=row.locale,
        title=row.title,
        category=row.category,
        html="".join(art.split_at_hotlines(art.to_html(row.body))),
        questions=list(row.questions),
        related=list(row.related),
        version=row.version,
        updated_at=row.updated_at,
    )


@router.post("/help/articles/{slug}/votes", response_model=s.VoteOut, status_code=201)
def vote(slug: str, body: s.VoteIn, request: Request, db: DbSession) -> s.VoteOut:
    """ "Was this helpful?" with an optional comment."""
    limit("events", get_settings().help_events_per_minute)
    service.do_vote(
        db,
        slug=slug,
        locale=request_locale(request, body.locale),
        helpful=body.helpful,
        comment=body.comment,
        user=request.state.user,
    )
    summary = service.vote_summary(db, slug=slug)
    return s.VoteOut(helpful=summary.helpful, not_helpful=summary.not_helpful)


@router.post("/help/deflection", status_code=204)
def deflection_event(body: s.DeflectionIn, request: Request, db: DbSession) -> Response:
    """The contact form reports suggestions shown, clicked, and whether the visitor went on."""
    limit("events", get_settings().help_events_per_minute)
    service.do_record_deflection(
        db, visit_id=body.visit, kind=body.kind, slug=body.slug, query=body.query
    )
    return Response(status_code=204)


@router.get("/help/deflection/stats", response_model=s.DeflectionStatsOut)
def deflection_stats(_staff: Staff, db: ReadSession) -> s.DeflectionStatsOut:
    stats = service.deflection_stats(db)
    return s.DeflectionStatsOut(
        visits_with_suggestions=stats.visits_with_suggestions,
        visits_with_click=stats.visits_with_click,
        deflected=stats.deflected,
        rate=round(stats.rate, 4),
    )


@router.post("/triage", response_model=s.TriageOut)
def suggest_triage(body: s.TriageIn, request: Request) -> s.TriageOut:
    """Suggested category and priority for a message, with the model's confidence."""
    limit("triage", get_settings().triage_per_minute)
    return triage_out(triage.suggest(body.subject, body.body))


def triage_out(suggestion: triage.Suggestion) -> s.TriageOut:
    return s.TriageOut(
        category=suggestion.category,
        priority=suggestion.priority,
        confidence=round(suggestion.confidence, 4),
        category_confidence=round(suggestion.category_confidence, 4),
        priority_confidence=round(suggestion.priority_confidence, 4),
        unsure=suggestion.unsure,
        alternatives=[
            s.TriageAlternative(category=code, confidence=round(p, 4))
            for code, p in suggestion.alternatives
        ],
    )


@router.post("/triage/corrections", response_model=s.CorrectionOut, status_code=201)
def correct_triage(body: s.CorrectionIn, staff: Staff, db: DbSession) -> s.CorrectionOut:
    """An agent's corrected category and priority for a message (kept for retraining)."""
    row = service.do_record_triage_correction(
        db,
        subject=body.subject,
        body=body.body,
        corrected_category=body.category,
        corrected_priority=body.priority,
        by=staff,
        ticket_ref=body.ticket_ref,
    )
    return s.CorrectionOut(
        id=row.id,
        suggested_category=row.suggested_category,
        suggested_priority=row.suggested_priority,
        corrected_category=row.corrected_category,
        corrected_priority=row.corrected_priority,
        corrected_at=row.corrected_at,
    )
