"""More results after the articles: a hook for the layers above the help centre.

The help centre cannot import the forum (the forum sits above it), yet help search and the
contact form's suggestions should show solved community threads below the articles. A
higher layer registers a source here at import time; the help pages and API call
:func:`related` after their own search. A source that fails never breaks help search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Related:
    """One result from another part of the site."""

    title: str
    url: str
    snippet: Markup
    source: str  # what it is, in the reader's language ("用户社区")
    locale: str
    score: float = 0.0


Source = Callable[[Session, str, str, int], list[Related]]
_sources: list[Source] = []


def register_source(fn: Source) -> Source:
    """Add a source of related results: ``fn(session, query, locale, limit)``."""
    if fn not in _sources:
        _sources.append(fn)
    return fn


def related(session: Session | None, *, query: str, locale: str, limit: int = 5) -> list[Related]:
    """Results of every registered source for ``query``, at most ``limit`` in all."""
    if session is None or not query.strip():
        return []
    found: list[Related] = []
    for source in list(_sources):
        try:
            with session.begin_nested():
                found.extend(source(session, query, locale, limit))
        except Exception:  # extra results are a help, never a failure
            log.exception("related results source failed")
    return found[:limit]
