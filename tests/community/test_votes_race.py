"""Votes under concurrency: the same user voting twice at once keeps one vote and a true
score; many users voting at once lose none (PostgreSQL, real parallel connections)."""

from __future__ import annotations

import threading

import pytest

from okpay.community import categories, posting, votes
from okpay.community.models import ForumPost, ForumVote
from okpay.identity import operators
from okpay.identity.models import Role, User
from tests.helpers import PASSWORD


def _answer(db, forum) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        thread = posting.do_create_thread(
            s,
            user=s.get(User, forum.asker),
            address="198.51.100.1",
            category=categories.get_by_slug(s, "general"),
            title="Which fee applies abroad?",
            body="Which fee applies to a transfer to Hong Kong?",
            locale="en",
        )
        post = posting.do_reply(
            s,
            user=s.get(User, forum.answerer),
            address="198.51.100.2",
            thread=thread,
            body="The cross-border fee shown before you confirm.",
        )
        return post.id


def _run_at_once(db, jobs) -> list[BaseException]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(user_id: int, value: int) -> None:
        try:
            barrier.wait()
            with db.unit_of_work() as s:
                votes.do_vote(s, user=s.get(User, user_id), post_id=post_id, value=value)
        except BaseException as exc:
            errors.append(exc)

    post_id = jobs[0][2]
    threads = [threading.Thread(target=run, args=(u, v)) for u, v, _p in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres_only
def test_same_user_voting_twice_at_once_counts_once(db, forum) -> None:  # type: ignore[no-untyped-def]
    post_id = _answer(db, forum)
    errors = _run_at_once(db, [(forum.other, 1, post_id), (forum.other, 1, post_id)])
    assert errors == []
    with db.unit_of_work(write=False) as s:
        assert s.query(ForumVote).count() == 1
        assert s.get(ForumPost, post_id).score == 1


@pytest.mark.postgres_only
def test_many_voters_at_once_lose_no_vote(db, forum) -> None:  # type: ignore[no-untyped-def]
    post_id = _answer(db, forum)
    with db.unit_of_work() as s:
        voters = [
            operators.do_create_user(
                s, email=f"voter{i}@example.com", password=PASSWORD, role=Role.customer
            ).id
            for i in range(8)
        ]
    errors = _run_at_once(db, [(v, 1, post_id) for v in voters])
    assert errors == []
    with db.unit_of_work(write=False) as s:
        assert s.get(ForumPost, post_id).score == 8


def test_changing_and_withdrawing_keeps_the_score_true(db, forum) -> None:  # type: ignore[no-untyped-def]
    post_id = _answer(db, forum)
    for value, expected in ((1, 1), (1, 1), (-1, -1), (0, 0), (0, 0), (-1, -1)):
        with db.unit_of_work() as s:
            post = votes.do_vote(s, user=s.get(User, forum.other), post_id=post_id, value=value)
            assert post.score == expected
