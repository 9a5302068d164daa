"""Who is e-mailed about forum activity: followers about public answers only, never the
author of the post, never someone who unsubscribed; the accepted answer's author once."""

from __future__ import annotations

from okpay.community import categories, notify, posting, votes
from okpay.community.models import ForumPost, ForumThread
from okpay.identity.models import User
from tests.community.conftest import ANSWERER, ASKER, OTHER


def _ask(s, forum):  # type: ignore[no-untyped-def]
    return posting.do_create_thread(
        s,
        user=s.get(User, forum.asker),
        address="198.51.100.1",
        category=categories.get_by_slug(s, "general"),
        title="Where is the statement download?",
        body="I cannot find where to download a monthly statement.",
        locale="zh_CN",
    )


def test_held_answers_e_mail_nobody_and_unsubscribed_followers_are_skipped(
    db, forum, mailbox
) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        thread = _ask(s, forum)
        held = posting.do_reply(
            s,
            user=s.get(User, forum.answerer),
            address="198.51.100.2",
            thread=thread,
            body="Look here: https://statements.example/download",
        )
        assert held.visibility == "held"
        thread_id = thread.id
    assert mailbox.to(ASKER) == []
    with db.unit_of_work() as s:
        assert notify.do_unsubscribe(s, user_id=forum.asker, thread_id=thread_id)
    with db.unit_of_work() as s:
        thread = s.get(ForumThread, thread_id)
        posting.do_reply(
            s,
            user=s.get(User, forum.other),
            address="198.51.100.3",
            thread=thread,
            body="It is under Transactions, then Statement.",
        )
    assert mailbox.to(ASKER) == []  # unsubscribed
    assert mailbox.to(OTHER) == []  # their own post
    # The answerer follows the thread (they answered), even though their answer is held.
    assert len(mailbox.to(ANSWERER)) == 1


def test_accepting_mails_the_answer_author_once_in_their_language(db, forum, mailbox) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        thread = _ask(s, forum)
        post = posting.do_reply(
            s,
            user=s.get(User, forum.answerer),
            address="198.51.100.2",
            thread=thread,
            body="It is under Transactions, then Statement.",
        )
        post_id, thread_id = post.id, thread.id
    mailbox.clear()
    for _ in range(2):
        with db.unit_of_work() as s:
            votes.do_accept(
                s,
                user=s.get(User, forum.asker),
                thread=s.get(ForumThread, thread_id),
                post_id=post_id,
            )
    mails = mailbox.to(ANSWERER)
    assert len(mails) == 1
    assert str(mails[0]["Subject"]).startswith("Your answer was accepted")
    with db.unit_of_work(write=False) as s:
        assert s.get(ForumPost, post_id) is not None


def test_unsubscribe_tokens_are_signed() -> None:
    token = notify.unsubscribe_token(user_id=3, thread_id=9)
    assert notify.read_unsubscribe_token(token) == (3, 9)
    assert notify.read_unsubscribe_token(token[:-2] + "xx") is None
    assert notify.read_unsubscribe_token("not-a-token") is None
