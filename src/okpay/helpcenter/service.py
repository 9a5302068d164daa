# Kept whole because its ideas are each small; issue 17 (help answers) splits it as it grows.
"""Help-centre logic: syncing articles from the repository, staff edits with history, votes,
search over the current articles, deflection counts and triage corrections.

Services flush and never commit: the request's or command's unit of work does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.db import database_of
from okpay.helpcenter import articles as art
from okpay.helpcenter import learning
from okpay.helpcenter.intent import Example
from okpay.helpcenter.models import (
    Article,
    ArticleOrigin,
    ArticleRevision,
    ArticleVote,
    DeflectionEvent,
    DeflectionKind,
    TriageCorrection,
)
from okpay.helpcenter.search import HELP_RELEVANCE, Hit, SearchDoc, SearchIndex
from okpay.helpcenter.taxonomy import CATEGORIES, PRIORITIES
from okpay.identity.models import Role, User
from okpay.settings import get_settings

log = logging.getLogger(__name__)

EDITOR_ROLES = frozenset({Role.supervisor.value, Role.admin.value})
MAX_QUERY = 200


class ArticleInvalid(DomainError):
    code = "article_invalid"
    status = 422
    message = N_("The article could not be saved: %(reason)s")


class QueryTooLong(DomainError):
    code = "query_too_long"
    status = 422
    message = N_("Please shorten your question to %(max)s characters or fewer.")


# ------------------------------------------------------------------------------ actions


@dataclass(frozen=True)
class Action:
    """The self-service button an article ends with."""

    code: str
    label: str
    path: str  # the page it leads to; may carry a query string


ACTIONS: dict[str, tuple[str, str]] = {
    "reset_password": (N_("Reset your password"), "/password/forgot"),
    "enable_2fa": (N_("Turn on two-factor authentication"), "/account/security"),
    "update_profile": (N_("Update your details"), "/account"),
    "see_history": (N_("See your transaction history"), "/wallet/history"),
    "see_fees": (N_("See the fee schedule"), "/wallet/fees"),
    "start_chat": (N_("Start a chat"), "/help/chat"),
    "appeal": (N_("Appeal a restriction"), "/help/contact?category=account_restricted"),
    "raise_limits": (N_("Ask for higher limits"), "/help/contact?category=limit_increase"),
    "report_suspicious": (
        N_("Report suspicious activity"),
        "/help/contact?category=suspicious_activity",
    ),
    "email_support": (N_("Write to support"), "/help/contact?category=contact_support"),
    "contact_support": (N_("Contact support"), "/help/contact"),
}


def action_for(article: Article, available_paths: Iterable[str]) -> Action | None:
    """The article's button. A page that does not exist yet (the wallet's history, live chat)
    falls back to contacting support with the article's category filled in."""
    if not article.action or article.action not in ACTIONS:
        return None
    label, path = ACTIONS[article.action]
    if path.split("?", 1)[0] not in set(available_paths):
        label, path = ACTIONS["contact_support"]
    if path == "/help/contact":
        path = f"/help/contact?category={article.category}"
    return Action(article.action, label, path)


# ------------------------------------------------------------------------------ articles


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_web_edits: int = 0


def _fields(source: art.ArticleSource) -> dict[str, Any]:
    return {
        "title": source.title,
        "category": source.category,
        "questions": list(source.questions),
        "related": list(source.related),
        "action": source.action,
        "body": source.body,
    }


def check_article(source: art.ArticleSource) -> None:
    """ArticleInvalid unless the article has a known category and action and renders."""
    import re

    if not re.match(art.SLUG_PATTERN, source.slug) or len(source.slug) > 80:
        raise ArticleInvalid(reason="slug", field="slug")
    if source.locale not in art.LOCALES:
        raise ArticleInvalid(reason="locale", field="locale")
    if source.category not in CATEGORIES:
        raise ArticleInvalid(reason=source.category, field="category")
    if source.action and source.action not in ACTIONS:
        raise ArticleInvalid(reason=source.action, field="action")
    if not source.title.strip() or len(source.title) > 200:
        raise ArticleInvalid(reason="title", field="title")
    try:
        art.to_html(source.body)
    except art.ArticleFormatError as exc:
        raise ArticleInvalid(reason=str(exc), field="body") from exc


def _revise(
    session: Session, article: Article, *, origin: ArticleOrigin, by: User | None, note: str
) -> None:
    session.add(
        ArticleRevision(
            article_id=article.id,
            version=article.version,
            title=article.title,
            category=article.category,
            questions=list(article.questions),
            related=list(article.related),
            action=article.action,
            body=article.body,
            origin=origin.value,
            note=note[:200],
            edited_at=article.updated_at,
            edited_by_id=by.id if by else None,
        )
    )


def do_sync(session: Session, *, root: Path = art.ARTICLES_DIR, force: bool = False) -> SyncResult:
    """Load the repository's article files. An article last edited on the web is left alone
    unless ``force`` (export it with `okpay kb export` first to keep the edit)."""
    result = SyncResult()
    existing = {(a.slug, a.locale): a for a in session.scalars(select(Article))}
    now = clock.now()
    for source in art.load_directory(root):
        check_article(source)
        fields = _fields(source)
        row = existing.get((source.slug, source.locale))
        if row is None:
            row = Article(
                slug=source.slug,
                locale=source.locale,
                version=1,
                origin=ArticleOrigin.file.value,
                updated_at=now,
                **fields,
            )
            session.add(row)
            session.flush()
            _revise(session, row, origin=ArticleOrigin.file, by=None, note="okpay kb sync")
            result.created += 1
            continue
        if all(getattr(row, k) == v for k, v in fields.items()):
            result.unchanged += 1
            continue
        if row.origin == ArticleOrigin.web.value and not force:
            result.skipped_web_edits += 1
            continue
        for key, value in fields.items():
            setattr(row, key, value)
        row.version += 1
        row.origin = ArticleOrigin.file.value
        row.updated_at = now
        row.updated_by_id = None
        _revise(session, row, origin=ArticleOrigin.file, by=None, note="okpay kb sync")
        result.updated += 1
    session.flush()
    return result


def get_article(session: Session, *, slug: str, locale: str) -> Article | None:
    """The article in ``locale``, or in the other language if it has no translation."""
    rows = list(session.scalars(select(Article).where(Article.slug == slug)))
    if not rows:
        return None
    for row in rows:
        if row.locale == locale:
            return row
    return rows[0]


def list_articles(session: Session, *, locale: str) -> list[Article]:
    """Every article in ``locale`` (with the other language's where it has no translation)."""
    chosen: dict[str, Article] = {}
    for row in session.scalars(select(Article).order_by(Article.slug, Article.locale)):
        if row.slug not in chosen or row.locale == locale:
            chosen[row.slug] = row
    return sorted(chosen.values(), key=lambda a: (a.category, a.slug))


def get_articles_by_slug(session: Session, *, slugs: Sequence[str], locale: str) -> list[Article]:
    """Articles for ``slugs`` in that order, in ``locale`` where translated."""
    if not slugs:
        return []
    found: dict[str, Article] = {}
    for row in session.scalars(select(Article).where(Article.slug.in_(list(slugs)))):
        if row.slug not in found or row.locale == locale:
            found[row.slug] = row
    return [found[s] for s in slugs if s in found]


def do_edit_article(
    session: Session,
    *,
    editor: User,
    slug: str,
    locale: str,
    title: str,
    category: str,
    questions: list[str],
    related: list[str],
    action: str | None,
    body: str,
    note: str = "",
) -> Article:
    """Save a staff edit as a new version (the old one stays in the history); audited."""
    from okpay.core.errors import PermissionDenied

    if editor.role not in EDITOR_ROLES:
        raise PermissionDenied()
    source = art.ArticleSource(
        slug=slug,
        locale=locale,
        title=title.strip(),
        category=category,
        body=body.replace("\r\n", "\n").strip() + "\n",
        questions=[q.strip() for q in questions if q.strip()],
        related=[r.strip() for r in related if r.strip()],
        action=action or None,
    )
    check_article(source)
    row = session.scalar(select(Article).where(Article.slug == slug, Article.locale == locale))
    now = clock.now()
    if row is None:
        row = Article(slug=slug, locale=locale, version=0, **_fields(source))
        session.add(row)
    else:
        for key, value in _fields(source).items():
            setattr(row, key, value)
    row.version += 1
    row.origin = ArticleOrigin.web.value
    row.updated_at = now
    row.updated_by_id = editor.id
    session.flush()
    _revise(session, row, origin=ArticleOrigin.web, by=editor, note=note)
    audit.record(
        session,
        "help_article_edited",
        actor_user_id=editor.id,
        object_type="help_article",
        object_id=f"{slug}/{locale}",
        version=row.version,
    )
    session.flush()
    return row


def list_revisions(session: Session, *, article: Article) -> list[ArticleRevision]:
    return list(
        session.scalars(
            select(ArticleRevision)
            .where(ArticleRevision.article_id == article.id)
            .order_by(ArticleRevision.version.desc())
        )
    )


def get_revision(session: Session, *, article: Article, version: int) -> ArticleRevision:
    row = session.scalar(
        select(ArticleRevision).where(
            ArticleRevision.article_id == article.id, ArticleRevision.version == version
        )
    )
    if row is None:
        raise NotFound()
    return row


# ------------------------------------------------------------------------------ votes


@dataclass(frozen=True)
class VoteSummary:
    helpful: int
    not_helpful: int


def do_vote(
    session: Session, *, slug: str, locale: str, helpful: bool, comment: str, user: User | None
) -> ArticleVote:
    """Record "was this helpful?" for an article that exists."""
    if get_article(session, slug=slug, locale=locale) is None:
        raise NotFound()
    comment = comment.strip()
    if len(comment) > 2000:
        raise ValidationFailed(field="comment")
    vote = ArticleVote(
        slug=slug,
        locale=locale,
        helpful=helpful,
        comment=comment,
        user_id=user.id if user else None,
        created_at=clock.now(),
    )
    session.add(vote)
    session.flush()
    return vote


def vote_summary(session: Session, *, slug: str) -> VoteSummary:
    rows = session.execute(
        select(ArticleVote.helpful, func.count())
        .where(ArticleVote.slug == slug)
        .group_by(ArticleVote.helpful)
    ).all()
    counts = {bool(h): int(n) for h, n in rows}
    return VoteSummary(helpful=counts.get(True, 0), not_helpful=counts.get(False, 0))


def recent_comments(session: Session, *, slug: str, limit: int = 20) -> list[ArticleVote]:
    return list(
        session.scalars(
            select(ArticleVote)
            .where(ArticleVote.slug == slug, ArticleVote.comment != "")
            .order_by(ArticleVote.created_at.desc())
            .limit(limit)
        )
    )


# ------------------------------------------------------------------------------ search

_index_lock = threading.Lock()
_index: tuple[tuple[Any, ...], SearchIndex] | None = None


def documents_from_sources(sources: Iterable[art.ArticleSource]) -> list[SearchDoc]:
    """Search documents (one per slug, both languages) from article sources."""
    grouped: dict[str, dict[str, Any]] = {}
    for s in sources:
        doc = grouped.setdefault(
            s.slug, {"category": s.category, "titles": {}, "questions": {}, "bodies": {}}
        )
        doc["titles"][s.locale] = s.title
        doc["questions"][s.locale] = list(s.questions)
        try:
            doc["bodies"][s.locale] = art.to_text(s.body)
        except art.ArticleFormatError:
            doc["bodies"][s.locale] = s.body
    return [SearchDoc(slug=slug, **fields) for slug, fields in sorted(grouped.items())]


def source_of(row: Article) -> art.ArticleSource:
    """An article row as its Markdown source (what `okpay kb export` writes back)."""
    return art.ArticleSource(
        slug=row.slug,
        locale=row.locale,
        title=row.title,
        category=row.category,
        body=row.body,
        questions=list(row.questions or []),
        related=list(row.related or []),
        action=row.action,
    )


def _corpus_key(session: Session | None, database: str | None = None) -> tuple[Any, ...]:
    """What the index is built from: the repository's files, or this database's articles
    (``database``: which one ``session`` reads, when not its own bind's)."""
    if session is None:
        return ("files",)
    try:
        count, latest, versions = session.execute(
            select(func.count(Article.id), func.max(Article.updated_at), func.sum(Article.version))
        ).one()
    except DBAPIError:  # no schema yet (a fresh clone before `okpay db upgrade`)
        session.rollback()
        return ("files",)
    if not count:
        return ("files",)
    return ("db", database or database_of(session), count, latest, versions)


def search_index(session: Session | None) -> SearchIndex:
    """The index over the current articles: the database's, or the repository's files while
    the database has none. Checked on every call. When an article has changed since the
    index was built, the next one is built on a background thread while this one goes on
    answering (a build takes seconds; nobody waits for it), except the first time and with
    ``OKPAY_JOBS_IMMEDIATE`` (tests), when the caller builds it."""
    global _index
    key = _corpus_key(session)
    current = _index
    if current is not None and current[0] == key:
        return current[1]
    if current is not None and session is not None and not get_settings().jobs_immediate:
        _rebuild_in_background(session)
        return current[1]
    with _index_lock:
        if _index is not None and _index[0] == key:
            return _index[1]
        return _build(session, key)


def _build(session: Session | None, key: tuple[Any, ...]) -> SearchIndex:
    """Build the index for ``key`` from ``session`` and keep it (under ``_index_lock``)."""
    global _index
    examples: list[Example] = []
    if key[0] == "files" or session is None:
        sources: Iterable[art.ArticleSource] = art.load_directory()
    else:
        sources = [source_of(r) for r in session.scalars(select(Article))]
        examples = learning.deflected_examples(session)
    index = SearchIndex(documents_from_sources(sources), examples=examples)
    _index = (key, index)
    return index


def _rebuild_in_background(session: Session) -> None:
    """Start building the index anew from the database ``session`` reads, unless a build is
    already under way (that one, or the next call after it, catches this change too)."""
    if not _index_lock.acquire(blocking=False):
        return
    bind, database = session.get_bind(), database_of(session)

    def rebuild() -> None:
        try:
            with Session(bind) as own:
                _build(own, _corpus_key(own, database))
        except Exception:
            log.exception("help search: rebuilding the index failed; the old one still answers")
        finally:
            _index_lock.release()

    threading.Thread(target=rebuild, name="help-search-index", daemon=True).start()


def search(session: Session | None, *, query: str, locale: str, limit: int = 10) -> list[Hit]:
    """Relevant articles for ``query``, best first, titled in ``locale`` (none when nothing
    passes :data:`~okpay.helpcenter.search.HELP_RELEVANCE`)."""
    if len(query) > MAX_QUERY:
        raise QueryTooLong(max=MAX_QUERY, field="q")
    limit = max(1, min(int(limit), 50))
    return search_index(session).search(query, locale=locale, limit=limit, relevance=HELP_RELEVANCE)


# ------------------------------------------------------------------------------ deflection


def do_record_deflection(
    session: Session, *, visit_id: str, kind: str, slug: str | None = None, query: str = ""
) -> DeflectionEvent:
    """One event of a contact-form visit: suggestions shown, one clicked, or form submitted."""
    if kind not in {k.value for k in DeflectionKind}:
        raise ValidationFailed(field="kind")
    event = DeflectionEvent(
        visit_id=visit_id, kind=kind, slug=slug, query=query[:500], created_at=clock.now()
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class DeflectionStats:
    visits_with_suggestions: int
    visits_with_click: int
    deflected: int  # clicked a suggestion and never went on to submit

    @property
    def rate(self) -> float:
        return (
            self.deflected / self.visits_with_suggestions if self.visits_with_suggestions else 0.0
        )


def deflection_stats(session: Session) -> DeflectionStats:
    """How often a clicked suggestion ended the visit without a request."""

    def visits(kind: DeflectionKind) -> set[str]:
        return set(
            session.scalars(
                select(DeflectionEvent.visit_id)
                .where(DeflectionEvent.kind == kind.value)
                .distinct()
            )
        )

    shown, clicked, submitted = (
        visits(DeflectionKind.shown),
        visits(DeflectionKind.clicked),
        visits(DeflectionKind.submitted),
    )
    return DeflectionStats(
        visits_with_suggestions=len(shown | clicked),
        visits_with_click=len(clicked),
        deflected=len(clicked - submitted),
    )


# ------------------------------------------------------------------------------ triage


def do_record_triage_correction(
    session: Session,
    *,
    subject: str,
    body: str,
    corrected_category: str,
    corrected_priority: str,
    by: User | None,
    ticket_ref: str | None = None,
) -> TriageCorrection:
    """Keep an agent's correction of the suggestion for this text (used by `okpay triage
    train`). The suggestion is recomputed here, so the caller cannot misreport it."""
    from okpay.helpcenter import triage

    if corrected_category not in CATEGORIES:
        raise ValidationFailed(field="category")
    if corrected_priority not in PRIORITIES:
        raise ValidationFailed(field="priority")
    suggestion = triage.suggest(subject, body)
    row = TriageCorrection(
        subject=subject[:300],
        body=body,
        suggested_category=suggestion.category,
        suggested_priority=suggestion.priority,
        confidence=suggestion.confidence,
        corrected_category=corrected_category,
        corrected_priority=corrected_priority,
        ticket_ref=ticket_ref,
        corrected_by_id=by.id if by else None,
        corrected_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def list_triage_corrections(
    session: Session, *, limit: int | None = None
) -> list[TriageCorrection]:
    stmt = select(TriageCorrection).order_by(TriageCorrection.id)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))
