"""What people did, as examples the intent model learns from (``intent.py``).

A visit to the contact form that showed suggestions for what the visitor typed, in which
they opened one and then did not send a request, is a question that article answered: the
words they typed become one more "question people ask" for it. To keep one visitor (or a
script) from teaching the search engine, a (question, article) pair counts only when at
least :data:`MIN_VISITS` different visits made it, and only the most recent
:data:`MAX_EXAMPLES` pairs are used.

The model learns when the index is built: at `okpay kb sync`, after an article changes, and
when a process starts.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from okpay.helpcenter import text as tx
from okpay.helpcenter.intent import Example
from okpay.helpcenter.models import DeflectionEvent, DeflectionKind

MIN_VISITS = 2
MAX_EXAMPLES = 5000
_SCAN = 50_000  # the newest click events looked at


def deflected_examples(session: Session) -> list[Example]:
    """(question, article) pairs from contact-form visits a suggestion answered."""
    try:
        clicks = session.execute(
            select(
                DeflectionEvent.id,
                DeflectionEvent.visit_id,
                DeflectionEvent.query,
                DeflectionEvent.slug,
            )
            .where(
                DeflectionEvent.kind == DeflectionKind.clicked.value,
                DeflectionEvent.slug.is_not(None),
                DeflectionEvent.query != "",
            )
            .order_by(DeflectionEvent.id.desc())
            .limit(_SCAN)
        ).all()
        if not clicks:
            return []
        # A request sent after the click comes later: only newer events can cancel one.
        submitted = set(
            session.scalars(
                select(DeflectionEvent.visit_id)
                .where(
                    DeflectionEvent.kind == DeflectionKind.submitted.value,
                    DeflectionEvent.id > min(c.id for c in clicks),
                )
                .distinct()
            )
        )
    except DBAPIError:  # no schema yet (a fresh clone before `okpay db upgrade`)
        session.rollback()
        return []
    visits: dict[tuple[str, str], set[str]] = defaultdict(set)
    order: dict[tuple[str, str], None] = {}
    for _id, visit_id, query, slug in clicks:
        if visit_id in submitted or slug is None:
            continue
        key = (tx.normalise(query).strip(), slug)
        if key[0]:
            visits[key].add(visit_id)
            order.setdefault(key, None)
    kept = [key for key in order if len(visits[key]) >= MIN_VISITS]
    return [Example(text=text, slug=slug) for text, slug in kept[:MAX_EXAMPLES]]
