"""Help-centre pages: home with search as you type, results, articles with their button and
"was this helpful?", and staff editing with history. The contact form with its article
suggestions is the service centre's (support/pages.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.core.dbid import DbId
from okpay.core.errors import DomainError, NotFound
from okpay.core.i18n import gettext
from okpay.helpcenter import articles as art
from okpay.helpcenter import hotline_display, service
from okpay.helpcenter import related as more
from okpay.helpcenter.taxonomy import CATEGORIES, category_label
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.web.deps import DbSession, ReadSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Editor = Annotated[User, Depends(require_role(Role.supervisor, Role.admin))]
QueryText = Annotated[str, Query(max_length=service.MAX_QUERY)]


def _paths(request: Request) -> set[str]:
    """Every page path the app serves (so an article's button never leads to a 404)."""
    cached: set[str] | None = getattr(request.app.state, "help_page_paths", None)
    if cached is None:
        cached = set()
        pending = list(request.app.routes)
        while pending:
            route = pending.pop()
            if getattr(route, "path", None):
                cached.add(route.path)
            inner = getattr(route, "original_router", None) or getattr(route, "router", None)
            if inner is not None and inner is not route:
                pending.extend(getattr(inner, "routes", []))
        request.app.state.help_page_paths = cached
    return cached


def _is_editor(request: Request) -> bool:
    user = request.state.user
    return user is not None and user.role in service.EDITOR_ROLES


@router.get("/help")
def home(request: Request, db: ReadSession, q: QueryText = "") -> Response:
    locale = request.state.locale
    by_category: dict[str, list[service.Article]] = {}
    for row in service.list_articles(db, locale=locale):
        by_category.setdefault(row.category, []).append(row)
    hits = service.search(db, query=q, locale=locale, limit=10) if q.strip() else []
    related = more.related(db, query=q, locale=locale, limit=3)
    board = None
    if q.strip() and not hits and not related:  # the empty state offers the hotline
        board = hotline_display.board(db, user=request.state.user)
    return render(
        request,
        "helpcenter/home.html",
        q=q,
        hits=hits,
        related=related,
        hotline_board=board,
        hotline_base="/help/contact",  # other regions: the contact page's hotlines
        by_category=by_category,
        category_label=category_label,
    )


@router.get("/help/suggest")
def suggest(request: Request, db: ReadSession, q: QueryText = "") -> Response:
    """The results list alone, for search as you type (htmx)."""
    locale = request.state.locale
    hits = service.search(db, query=q, locale=locale, limit=6) if q.strip() else []
    related = more.related(db, query=q, locale=locale, limit=3)
    return render(request, "helpcenter/_results.html", q=q, hits=hits, related=related)


@router.get("/help/articles/{slug}")
def article(
    request: Request,
    slug: str,
    db: DbSession,
    region: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    locale = request.state.locale
    row = service.get_article(db, slug=slug, locale=locale)
    if row is None:
        raise NotFound()
    parts = art.split_at_hotlines(art.to_html(row.body))
    board = None
    if len(parts) == 2:  # the article shows the live hotline table
        board = hotline_display.board(db, user=request.state.user, chosen=region)
    return render(
        request,
        "helpcenter/article.html",
        article=row,
        html_parts=parts,
        hotline_board=board,
        hotline_base=f"/help/articles/{slug}",
        action=service.action_for(row, _paths(request)),
        related=service.get_articles_by_slug(db, slugs=row.related, locale=locale),
        votes=service.vote_summary(db, slug=slug),
        category_label=category_label,
        can_edit=_is_editor(request),
    )


@router.post("/help/articles/{slug}/vote")
def vote(
    request: Request,
    slug: str,
    db: DbSession,
    helpful: Annotated[str, Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    service.do_vote(
        db,
        slug=slug,
        locale=request.state.locale,
        helpful=helpful == "yes",
        comment=comment,
        user=request.state.user,
    )
    flash(request, gettext("Thank you for your feedback."), "success")
    return RedirectResponse(f"/help/articles/{slug}#vote", status_code=303)


# ---------------------------------------------------------------------- staff editing


@router.get("/help/articles/{slug}/edit")
def edit_form(request: Request, slug: str, db: DbSession, _editor: Editor) -> Response:
    row = service.get_article(db, slug=slug, locale=request.state.locale)
    if row is None:
        raise NotFound()
    return _edit_page(request, row=row, values=None)


def _edit_page(
    request: Request,
    *,
    row: service.Article,
    values: dict[str, str] | None,
    error: DomainError | None = None,
) -> Response:
    values = values or {
        "title": row.title,
        "category": row.category,
        "questions": "\n".join(row.questions),
        "related": ", ".join(row.related),
        "action": row.action or "",
        "body": row.body,
        "note": "",
    }
    return render(
        request,
        "helpcenter/edit.html",
        status_code=error.status if error else 200,
        article=row,
        values=values,
        categories=[(code, category_label(code)) for code in CATEGORIES],
        actions=[
            ("", "—"),
            *[(code, gettext(label)) for code, (label, _p) in service.ACTIONS.items()],
        ],
        error=error.translated() if error else None,
        error_field=error.field if error else None,
    )


@router.post("/help/articles/{slug}/edit")
def edit_save(
    request: Request,
    slug: str,
    db: DbSession,
    editor: Editor,
    title: Annotated[str, Form(max_length=200)],
    category: Annotated[str, Form(max_length=40)],
    body: Annotated[str, Form(max_length=50_000)],
    questions: Annotated[str, Form(max_length=5000)] = "",
    related: Annotated[str, Form(max_length=1000)] = "",
    action: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
    locale: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    row = service.get_article(db, slug=slug, locale=locale or request.state.locale)
    if row is None:
        raise NotFound()
    values = {
        "title": title,
        "category": category,
        "questions": questions,
        "related": related,
        "action": action,
        "body": body,
        "note": note,
    }
    try:
        service.do_edit_article(
            db,
            editor=editor,
            slug=slug,
            locale=row.locale,
            title=title,
            category=category,
            questions=questions.splitlines(),
            related=[r for r in related.replace("，", ",").split(",")],
            action=action or None,
            body=body,
            note=note,
        )
    except DomainError as err:
        db.rollback()
        return _edit_page(request, row=row, values=values, error=err)
    flash(request, gettext("The article was saved as a new version."), "success")
    return RedirectResponse(f"/help/articles/{slug}", status_code=303)


@router.get("/help/articles/{slug}/history")
def history(request: Request, slug: str, db: DbSession, _editor: Editor) -> Response:
    row = service.get_article(db, slug=slug, locale=request.state.locale)
    if row is None:
        raise NotFound()
    return render(
        request,
        "helpcenter/history.html",
        article=row,
        revisions=service.list_revisions(db, article=row),
        comments=service.recent_comments(db, slug=slug),
        votes=service.vote_summary(db, slug=slug),
    )


@router.get("/help/articles/{slug}/history/{version}")
def revision(
    request: Request, slug: str, version: DbId, db: DbSession, _editor: Editor
) -> Response:
    row = service.get_article(db, slug=slug, locale=request.state.locale)
    if row is None:
        raise NotFound()
    rev = service.get_revision(db, article=row, version=version)
    return render(request, "helpcenter/revision.html", article=row, revision=rev)
