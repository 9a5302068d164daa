"""The community forum's JSON API under /api/v1/community: thin routes over the services.

Reading needs no sign-in; writing needs a signed-in account with a verified e-mail (the guard
decides, as on the pages)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from okpay.community import access, categories, listing, posting, urls, votes
from okpay.community import schemas as s
from okpay.community.models import ForumPost, ForumThread
from okpay.core import context
from okpay.core.dbid import DbId
from okpay.core.errors import NotFound
from okpay.core.i18n import get_locale
from okpay.identity.models import User
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/community", tags=["community"])


def _address() -> str:
    return context.current().ip or ""


def _author(users: dict[int, User], user_id: int) -> s.AuthorRead:
    user = users.get(user_id)
    return s.AuthorRead(name=listing.display_name(user), is_staff=bool(user and user.is_staff))


def _summary(thread: ForumThread, users: dict[int, User], score: int) -> s.ThreadSummary:
    return s.ThreadSummary(
        id=thread.id, title=thread.title, url=urls.thread_path(thread),
        category_id=thread.category_id, locale=thread.locale,
        author=_author(users, thread.author_user_id),
        solved=thread.accepted_post_id is not None, is_pinned=thread.is_pinned,
        is_locked=thread.is_locked, reply_count=thread.reply_count, score=score,
        created_at=thread.created_at, last_activity_at=thread.last_activity_at,
    )  # fmt: skip


def thread_read(db: Session, thread: ForumThread, user: User | None) -> s.ThreadRead:
    posts = access.visible_posts(db, user, thread)
    users = listing.authors(db, {thread.author_user_id, *(p.author_user_id for p in posts)})
    mine = votes.my_votes(db, user=user, post_ids=[p.id for p in posts])
    summary = _summary(thread, users, sum(p.score for p in posts))
    return s.ThreadRead(
        **summary.model_dump(),
        accepted_post_id=thread.accepted_post_id,
        visibility=thread.visibility,
        posts=[_post(p, users, thread, mine.get(p.id, 0)) for p in posts],
    )


def _post(post: ForumPost, users: dict[int, User], thread: ForumThread, my_vote: int) -> s.PostRead:
    return s.PostRead(
        id=post.id, is_question=post.is_question, author=_author(users, post.author_user_id),
        html=post.body_html, markdown=post.body_markdown, is_official=post.is_official,
        is_accepted=post.id == thread.accepted_post_id, visibility=post.visibility,
        masked_kinds=[k for k in post.masked_kinds.split(",") if k], score=post.score,
        my_vote=my_vote, created_at=post.created_at, edited_at=post.edited_at,
    )  # fmt: skip


@router.get("/categories", response_model=list[s.CategoryRead])
def list_categories(db: DbSession) -> list[s.CategoryRead]:
    """The forum's sections, named in the reader's language."""
    return [
        s.CategoryRead(
            id=c.id,
            slug=c.slug,
            name=categories.name_of(c),
            description=categories.description_of(c),
        )
        for c in categories.list_categories(db)
    ]


@router.get("/threads", response_model=s.ThreadList)
def list_threads(
    db: DbSession,
    category: Annotated[str | None, Query(max_length=40)] = None,
    solved: bool | None = None,
    sort: Literal["activity", "votes", "unanswered"] = "activity",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    q: Annotated[str, Query(max_length=200)] = "",
) -> s.ThreadList:
    """Public threads, pinned first; ``q`` searches them instead (best match first)."""
    from okpay.community import search

    category_id = None
    if category:
        found = categories.get_by_slug(db, category)
        if found is None:
            raise NotFound()
        category_id = found.id
    if q.strip():
        hits = search.search(db, query=q, locale=get_locale(), limit=listing.PAGE_SIZE)
        rows = [db.get(ForumThread, int(h.slug)) for h in hits]
        threads = [
            t
            for t in rows
            if t is not None and (category_id is None or t.category_id == category_id)
        ]
        if solved is not None:
            threads = [t for t in threads if (t.accepted_post_id is not None) == solved]
        users = listing.authors(db, {t.author_user_id for t in threads})
        return s.ThreadList(threads=[_summary(t, users, 0) for t in threads],
                            total=len(threads), page=1, pages=1)  # fmt: skip
    result = listing.list_threads(db, category_id=category_id, solved=solved, sort=sort, page=page)
    users = listing.authors(db, {t.author_user_id for t in result.threads})
    return s.ThreadList(
        threads=[_summary(t, users, result.scores.get(t.id, 0)) for t in result.threads],
        total=result.total, page=result.page, pages=result.pages,
    )  # fmt: skip


@router.get("/threads/{thread_id}", response_model=s.ThreadRead)
def get_thread(thread_id: DbId, request: Request, db: DbSession) -> s.ThreadRead:
    user = request.state.user
    return thread_read(db, access.access_thread(db, user, thread_id), user)


@router.post("/threads", response_model=s.ThreadRead, status_code=201)
def create_thread(body: s.ThreadCreate, request: Request, db: DbSession) -> s.ThreadRead:
    """Ask a question. Personal data in it is refused (422 ``forum_private_data`` with the
    kinds found) unless ``mask_private_data`` is true: then it is posted masked."""
    user = request.state.user
    category = categories.get_by_slug(db, body.category)
    if category is None:
        raise NotFound()
    thread = posting.do_create_thread(
        db, user=user, address=_address(), category=category, title=body.title,
        body=body.body, locale=get_locale(), mask_private_data=body.mask_private_data,
    )  # fmt: skip
    return thread_read(db, thread, user)


@router.post("/threads/{thread_id}/posts", response_model=s.PostRead, status_code=201)
def reply(thread_id: DbId, body: s.ReplyCreate, request: Request, db: DbSession) -> s.PostRead:
    """Answer a question (staff may badge it as the official answer)."""
    user = request.state.user
    thread = access.access_thread(db, user, thread_id)
    post = posting.do_reply(
        db, user=user, address=_address(), thread=thread, body=body.body,
        official=body.official, mask_private_data=body.mask_private_data,
    )  # fmt: skip
    users = listing.authors(db, {post.author_user_id})
    return _post(post, users, thread, 0)


@router.patch("/posts/{post_id}", response_model=s.PostRead)
def edit(post_id: DbId, body: s.PostUpdate, request: Request, db: DbSession) -> s.PostRead:
    """Edit your own post (and the title, for a question)."""
    user = request.state.user
    post, thread = access.access_post(db, user, post_id)
    posting.do_edit_post(
        db, user=user, address=_address(), post=post, thread=thread, body=body.body,
        title=body.title, mask_private_data=body.mask_private_data,
    )  # fmt: skip
    users = listing.authors(db, {post.author_user_id})
    mine = votes.my_votes(db, user=user, post_ids=[post.id])
    return _post(post, users, thread, mine.get(post.id, 0))


@router.put("/posts/{post_id}/vote", response_model=s.VoteOut)
def vote(post_id: DbId, body: s.VoteIn, request: Request, db: DbSession) -> s.VoteOut:
    """Vote an answer up (+1) or down (−1), or withdraw your vote (0)."""
    post = votes.do_vote(db, user=request.state.user, post_id=post_id, value=body.value)
    return s.VoteOut(post_id=post.id, score=post.score, my_vote=body.value)


@router.put("/threads/{thread_id}/accepted", response_model=s.ThreadRead)
def accept(thread_id: DbId, body: s.AcceptIn, request: Request, db: DbSession) -> s.ThreadRead:
    """The asker (or staff) accepts an answer, changes it, or withdraws it (null)."""
    user = request.state.user
    thread = access.access_thread(db, user, thread_id)
    votes.do_accept(db, user=user, thread=thread, post_id=body.post_id)
    return thread_read(db, thread, user)
