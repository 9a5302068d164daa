"""The community forum's pages under /community: categories, a category's threads, a thread
with its answers, asking, answering, editing, votes, the accepted answer, and the
unsubscribe link from e-mails. Reading needs no sign-in."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from okpay.community import (
    access,
    categories,
    listing,
    moderation_pages,
    notify,
    posting,
    search,
    urls,
    votes,
)  # fmt: skip
from okpay.community.models import ForumCategory, ForumThread, Visibility
from okpay.core import context
from okpay.core.dbid import INT_MAX, DbId
from okpay.core.errors import DomainError, NotAuthenticated, NotFound
from okpay.core.i18n import N_, gettext
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
# The unsubscribe link's POST carries no CSRF token: mail programs send it by themselves
# (RFC 8058 one-click), and the signed token in the address is the only credential it needs.
unsubscribe_router = APIRouter(include_in_schema=False)

SortParam = Annotated[Literal["activity", "votes", "unanswered"], Query()]
SolvedParam = Annotated[Literal["", "yes", "no"], Query()]
Text = Annotated[str, Form(max_length=posting.render.BODY_MAX * 2)]
Title = Annotated[str, Form(max_length=posting.render.TITLE_MAX * 2)]
_REF = re.compile(r"^(\d{1,10})(?:-[a-z0-9-]*)?$")


def _address() -> str:
    return context.current().ip or ""


def _user(request: Request) -> User | None:
    user: User | None = request.state.user
    return user


def _canonical(path: str) -> str:
    return f"{get_settings().base_url}{path}"


def _sign_in(request: Request) -> User:
    user = _user(request)
    if user is None:
        raise NotAuthenticated(N_("Please sign in to post in the community."))
    return user


def _solved(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _list_page(
    request: Request, db: DbSession, *, category: ForumCategory | None, q: str, solved: str,
    sort: str, page: int,
) -> Response:  # fmt: skip
    cats = categories.list_categories(db)
    if q.strip():
        hits = search.search(db, query=q, locale=request.state.locale, limit=listing.PAGE_SIZE)
        found = [db.get(ForumThread, int(h.slug)) for h in hits]
        threads = [t for t in found if t is not None
                   and (category is None or t.category_id == category.id)]  # fmt: skip
        result = listing.ThreadPage(threads=threads, total=len(threads), page=1, pages=1,
                                    scores={})  # fmt: skip
        snippets = {int(h.slug): h.snippet for h in hits}
    else:
        result = listing.list_threads(
            db, category_id=category.id if category else None, solved=_solved(solved),
            sort=sort, page=page,  # type: ignore[arg-type]
        )  # fmt: skip
        snippets = {}
    path = f"/community/c/{category.slug}" if category else "/community"
    return render(
        request,
        "community/index.html",
        category=category,
        categories=cats,
        by_id={c.id: c for c in cats},
        name_of=categories.name_of,
        description_of=categories.description_of,
        page=result,
        snippets=snippets,
        users=listing.authors(db, {t.author_user_id for t in result.threads}),
        display_name=listing.display_name,
        thread_path=urls.thread_path,
        q=q,
        solved=solved,
        sort=sort,
        path=path,
        canonical=_canonical(path),
    )


@router.get("/community")
def index(
    request: Request, db: DbSession, q: Annotated[str, Query(max_length=200)] = "",
    solved: SolvedParam = "", sort: SortParam = "activity",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:  # fmt: skip
    return _list_page(request, db, category=None, q=q, solved=solved, sort=sort, page=page)


@router.get("/community/c/{slug}")
def category_page(
    request: Request, slug: Annotated[str, ...], db: DbSession,
    q: Annotated[str, Query(max_length=200)] = "", solved: SolvedParam = "",
    sort: SortParam = "activity", page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:  # fmt: skip
    category = categories.get_by_slug(db, slug[:40])
    if category is None:
        raise NotFound()
    return _list_page(request, db, category=category, q=q, solved=solved, sort=sort, page=page)


# ----------------------------------------------------------------------------- asking


def _new_page(
    request: Request, db: DbSession, *, values: dict[str, str],
    error: DomainError | None = None,
) -> Response:  # fmt: skip
    private = error if isinstance(error, posting.PrivateDataFound) else None
    return render(
        request,
        "community/new.html",
        status_code=error.status if error else 200,
        categories=categories.list_categories(db),
        name_of=categories.name_of,
        values=values,
        error=None if private or error is None else error.translated(),
        error_field=None if private or error is None else error.field,
        private=private,
        private_kinds=posting.kind_labels(private.kinds) if private else "",
        canonical=_canonical("/community/new"),
    )


@router.get("/community/new")
def new_form(
    request: Request, db: DbSession, category: Annotated[str, Query(max_length=40)] = ""
) -> Response:
    _sign_in(request)
    return _new_page(request, db, values={"category": category, "title": "", "body": ""})


@router.post("/community/new")
def new_submit(
    request: Request, db: DbSession, category: Annotated[str, Form(max_length=40)] = "",
    title: Title = "", body: Text = "", choice: Annotated[str, Form(max_length=10)] = "",
) -> Response:  # fmt: skip
    user = _sign_in(request)
    values = {"category": category, "title": title, "body": body}
    found = categories.get_by_slug(db, category)
    if found is None:
        err = DomainError(N_("Choose a category."), code="forum_category_required",
                          status=422, field="category")  # fmt: skip
        return _new_page(request, db, values=values, error=err)
    try:
        thread = posting.do_create_thread(
            db, user=user, address=_address(), category=found, title=title, body=body,
            locale=request.state.locale, mask_private_data=choice == "mask",
        )  # fmt: skip
    except DomainError as err:
        db.rollback()
        return _new_page(request, db, values=values, error=err)
    if thread.visibility == Visibility.held.value:
        flash(request, gettext("Your question is waiting for review by a moderator."), "info")
    else:
        flash(request, gettext("Your question is posted."), "success")
    return RedirectResponse(urls.thread_path(thread), status_code=303)


# ---------------------------------------------------------------------------- a thread


def _thread_id(ref: str) -> int:
    match = _REF.match(ref)
    if match is None or not 1 <= int(match.group(1)) <= INT_MAX:
        raise NotFound()
    return int(match.group(1))


def _thread_page(
    request: Request, db: DbSession, thread: ForumThread, *,
    reply: str = "", error: DomainError | None = None,
) -> Response:  # fmt: skip
    user = _user(request)
    posts = access.visible_posts(db, user, thread)
    users = listing.authors(db, {thread.author_user_id, *(p.author_user_id for p in posts)})
    question = next((p for p in posts if p.is_question), None)
    answers = [p for p in posts if not p.is_question]
    accepted = next((p for p in answers if p.id == thread.accepted_post_id), None)
    if accepted is not None:  # the accepted answer first, then by time
        answers = [accepted, *[p for p in answers if p is not accepted]]
    private = error if isinstance(error, posting.PrivateDataFound) else None
    category = db.get(ForumCategory, thread.category_id)
    return render(
        request,
        "community/thread.html",
        status_code=error.status if error else 200,
        thread=thread,
        category=category,
        category_name=categories.name_of(category) if category else "",
        question=question,
        answers=answers,
        users=users,
        display_name=listing.display_name,
        my_votes=votes.my_votes(db, user=user, post_ids=[p.id for p in answers]),
        can_accept=user is not None and (user.id == thread.author_user_id or user.is_staff),
        reply=reply,
        error=None if private or error is None else error.translated(),
        private=private,
        private_kinds=posting.kind_labels(private.kinds) if private else "",
        canonical=_canonical(urls.thread_path(thread)),
        description=posting.render.excerpt(question.body_markdown) if question else "",
        path=urls.thread_path(thread),
    )


@router.get("/community/t/{ref}")
def thread_page(request: Request, ref: str, db: DbSession) -> Response:
    user = _user(request)
    moved = db.get(ForumThread, _thread_id(ref))
    if moved is not None and moved.visibility == Visibility.moved and not (user and user.is_staff):
        # Its readers (and search engines) learn it continues privately; never its content.
        return moderation_pages.moved_thread_page(request, moved)
    thread = access.access_thread(db, user, _thread_id(ref))
    path = urls.thread_path(thread)
    if request.url.path != path:
        return RedirectResponse(path, status_code=301)
    return _thread_page(request, db, thread)


@router.post("/community/t/{thread_id}/reply")
def reply_submit(
    request: Request, thread_id: DbId, db: DbSession, body: Text = "",
    choice: Annotated[str, Form(max_length=10)] = "",
    official: Annotated[str, Form(max_length=3)] = "",
) -> Response:  # fmt: skip
    user = _sign_in(request)
    thread = access.access_thread(db, user, thread_id)
    try:
        post = posting.do_reply(
            db, user=user, address=_address(), thread=thread, body=body,
            official=official == "yes", mask_private_data=choice == "mask",
        )  # fmt: skip
    except DomainError as err:
        db.rollback()
        thread = access.access_thread(db, user, thread_id)
        return _thread_page(request, db, thread, reply=body, error=err)
    if post.visibility == Visibility.held.value:
        flash(request, gettext("Your answer is waiting for review by a moderator."), "info")
    return RedirectResponse(f"{urls.thread_path(thread)}#post-{post.id}", status_code=303)


@router.post("/community/p/{post_id}/vote")
def vote_submit(
    request: Request, post_id: DbId, db: DbSession,
    value: Annotated[int, Form(ge=-1, le=1)] = 0,
) -> Response:  # fmt: skip
    user = _sign_in(request)
    post, thread = access.access_post(db, user, post_id)
    try:
        votes.do_vote(db, user=user, post_id=post.id, value=value)
    except DomainError as err:
        db.rollback()
        flash(request, err.translated(), "error")
    return RedirectResponse(f"{urls.thread_path(thread)}#post-{post_id}", status_code=303)


@router.post("/community/t/{thread_id}/accept")
def accept_submit(
    request: Request, thread_id: DbId, db: DbSession,
    post_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:  # fmt: skip
    user = _sign_in(request)
    thread = access.access_thread(db, user, thread_id)
    chosen = int(post_id) if post_id.isdigit() and 0 < int(post_id) <= INT_MAX else None
    votes.do_accept(db, user=user, thread=thread, post_id=chosen)
    flash(request, gettext("The accepted answer is marked.") if chosen
          else gettext("The accepted answer is unmarked."), "success")  # fmt: skip
    return RedirectResponse(urls.thread_path(thread), status_code=303)


# ---------------------------------------------------------------------------- editing


def _edit_page(
    request: Request, *, post: Any, thread: ForumThread, values: dict[str, str],
    error: DomainError | None = None,
) -> Response:  # fmt: skip
    private = error if isinstance(error, posting.PrivateDataFound) else None
    return render(
        request,
        "community/edit.html",
        status_code=error.status if error else 200,
        post=post,
        thread=thread,
        values=values,
        thread_path=urls.thread_path(thread),
        error=None if private or error is None else error.translated(),
        private=private,
        private_kinds=posting.kind_labels(private.kinds) if private else "",
    )


def _own_post(request: Request, db: DbSession, post_id: int) -> tuple[Any, ForumThread]:
    user = _sign_in(request)
    post, thread = access.access_post(db, user, post_id)
    if post.author_user_id != user.id:
        raise NotFound()
    return post, thread


@router.get("/community/p/{post_id}/edit")
def edit_form(request: Request, post_id: DbId, db: DbSession) -> Response:
    post, thread = _own_post(request, db, post_id)
    values = {"title": thread.title if post.is_question else "", "body": post.body_markdown}
    return _edit_page(request, post=post, thread=thread, values=values)


@router.post("/community/p/{post_id}/edit")
def edit_submit(
    request: Request, post_id: DbId, db: DbSession, body: Text = "", title: Title = "",
    choice: Annotated[str, Form(max_length=10)] = "",
) -> Response:  # fmt: skip
    post, thread = _own_post(request, db, post_id)
    values = {"title": title, "body": body}
    try:
        posting.do_edit_post(
            db, user=_user(request), address=_address(), post=post, thread=thread, body=body,
            title=title if post.is_question else None, mask_private_data=choice == "mask",
        )  # fmt: skip
    except DomainError as err:
        db.rollback()
        post, thread = _own_post(request, db, post_id)
        return _edit_page(request, post=post, thread=thread, values=values, error=err)
    flash(request, gettext("Your changes are saved."), "success")
    return RedirectResponse(f"{urls.thread_path(thread)}#post-{post.id}", status_code=303)


# ------------------------------------------------------------------------ unsubscribing


@unsubscribe_router.get("/community/unsubscribe/{token}")
def unsubscribe_form(request: Request, token: str, db: DbSession) -> Response:
    """Asks before it acts: mail scanners open links, and a GET changes nothing."""
    found = notify.read_unsubscribe_token(token[:200])
    thread = db.get(ForumThread, found[1]) if found else None
    if found is None:
        raise NotFound()
    return render(request, "community/unsubscribe.html", token=token, thread=thread, done=False)


@unsubscribe_router.post("/community/unsubscribe/{token}")
def unsubscribe_submit(request: Request, token: str, db: DbSession) -> Response:
    found = notify.read_unsubscribe_token(token[:200])
    if found is None:
        raise NotFound()
    notify.do_unsubscribe(db, user_id=found[0], thread_id=found[1])
    thread = db.get(ForumThread, found[1])
    return render(request, "community/unsubscribe.html", token=token, thread=thread, done=True)
