"""Forum search with the help centre's engine (Chinese-aware tokens, synonyms, pinyin, fuzzy
English): one document per public thread, its title, question and the accepted answer.

Solved threads are also offered to the help centre's search and the contact form's
suggestions, below the articles, through :mod:`okpay.helpcenter.related`; this module
registers that source when it is imported (``okpay.models`` imports it)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okpay.community import render
from okpay.community.models import ForumPost, ForumThread, Visibility
from okpay.core.i18n import gettext
from okpay.helpcenter import related
from okpay.helpcenter.search import Hit, SearchDoc, SearchIndex

MAX_QUERY = 200

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[Any, ...], SearchIndex, dict[int, bool]]] = {}


def _key(session: Session) -> tuple[Any, ...]:
    threads = session.execute(
        select(func.count(ForumThread.id), func.max(ForumThread.last_activity_at)).where(
            ForumThread.visibility == Visibility.public.value
        )
    ).one()
    posts = session.execute(
        select(func.count(ForumPost.id), func.max(ForumPost.edited_at), func.sum(ForumPost.id))
    ).one()
    solved = session.scalar(select(func.sum(func.coalesce(ForumThread.accepted_post_id, 0))))
    return (*threads, *posts, solved)


def _build(session: Session) -> tuple[SearchIndex, dict[int, bool]]:
    threads = list(
        session.scalars(
            select(ForumThread).where(ForumThread.visibility == Visibility.public.value)
        )
    )
    posts: dict[int, list[ForumPost]] = {}
    for post in session.scalars(
        select(ForumPost).where(
            ForumPost.visibility == Visibility.public.value,
            ForumPost.thread_id.in_([t.id for t in threads] or [0]),
        )
    ):
        posts.setdefault(post.thread_id, []).append(post)
    docs = []
    solved: dict[int, bool] = {}
    for t in threads:
        parts = [
            render.to_text(p.body_markdown)
            for p in posts.get(t.id, [])
            if p.is_question or p.id == t.accepted_post_id or p.is_official
        ]
        docs.append(
            SearchDoc(
                slug=str(t.id),
                category=str(t.category_id),
                titles={t.locale: t.title},
                questions={},
                bodies={t.locale: "\n".join(parts)},
            )
        )
        solved[t.id] = t.accepted_post_id is not None
    return SearchIndex(docs, learn=False), solved


def _index(session: Session) -> tuple[SearchIndex, dict[int, bool]]:
    url = session.get_bind().engine.url.render_as_string()
    key = _key(session)
    found = _cache.get(url)
    if found is not None and found[0] == key:
        return found[1], found[2]
    with _lock:
        index, solved = _build(session)
        _cache[url] = (key, index, solved)
        return index, solved


def search(
    session: Session, *, query: str, locale: str, limit: int = 20, solved_only: bool = False
) -> list[Hit]:
    """Public threads for ``query``, best first."""
    query = query[:MAX_QUERY]
    if not query.strip():
        return []
    index, solved = _index(session)
    hits = index.search(query, locale=locale, limit=max(limit * 3, 30) if solved_only else limit)
    if solved_only:
        hits = [h for h in hits if solved.get(int(h.slug))]
    return hits[:limit]


def _thread_url(session: Session, thread_id: int) -> str:
    from okpay.community.urls import thread_path

    thread = session.get(ForumThread, thread_id)
    return thread_path(thread) if thread is not None else f"/community/t/{thread_id}"


def solved_threads(session: Session, query: str, locale: str, limit: int) -> list[related.Related]:
    """Solved threads for the help centre's search (registered below)."""
    label = gettext("Community")
    return [
        related.Related(
            title=hit.title,
            url=_thread_url(session, int(hit.slug)),
            snippet=hit.snippet,
            source=label,
            locale=hit.locale,
            score=hit.score,
        )
        for hit in search(
            session, query=query, locale=locale, limit=min(limit, 3), solved_only=True
        )
    ]


related.register_source(solved_threads)
