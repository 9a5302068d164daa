"""Forum moderation services: reports and their threshold, hiding, locking, pinning, held
posts, bans; every staff action audited, every refusal leaving nothing behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from okpay.community import guard, moderation, moderation_queue, moderation_reports
from okpay.community.models import ForumBan, ForumPost, ForumReport, ForumThread, Visibility
from okpay.core.audit import AuditEvent
from okpay.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from okpay.identity.models import Role
from tests.community.moderation_helpers import load_user, make_thread, make_user


@pytest.fixture
def forum(db):  # type: ignore[no-untyped-def]
    """A moderator, an asker, a reader who answered, and the thread."""
    mod = make_user(db, "mod@example.com", role=Role.agent)
    asker = make_user(db, "asker@example.com", locale="zh-CN")
    reader = make_user(db, "reader@example.com", locale="en")
    thread, posts = make_thread(db, asker, answers=((reader, "加我微信换汇，便宜"),))
    return {"mod": mod, "asker": asker, "reader": reader, "thread": thread, "posts": posts}


def report(db, user_id, post_id, reason="spam", note=""):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        user = load_user(s, user_id) if user_id is not None else None
        return moderation_reports.do_report_post(
            s, user=user, post_id=post_id, reason=reason, note=note
        ).id


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def post_of(db, post_id):  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        post = s.get(ForumPost, post_id)
        s.expunge(post)
        return post


def thread_of(db, thread_id):  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        thread = s.get(ForumThread, thread_id)
        s.expunge(thread)
        return thread


def as_user(db, actor_id, fn, **kw):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return fn(s, moderator=load_user(s, actor_id), **kw)


def test_a_reader_reports_someone_elses_post(db, forum) -> None:
    answer = forum["posts"][1]
    report(db, forum["asker"], answer, "scam", "asks to move money outside OKPay")
    with db.unit_of_work(write=False) as s:
        row = s.scalars(select(ForumReport)).one()
        assert (row.reason, row.status, row.note) == (
            "scam",
            "open",
            "asks to move money outside OKPay",
        )
        assert s.scalars(select(AuditEvent.action)).all().count("forum_post_reported") == 1
    assert post_of(db, answer).visibility == "public"


def test_reporting_your_own_post_is_refused(db, forum) -> None:
    with pytest.raises(ValidationFailed) as err:
        report(db, forum["reader"], forum["posts"][1])
    assert err.value.code == "forum_report_own_post"
    assert count(db, ForumReport) == 0


def test_one_report_per_user_per_post(db, forum) -> None:
    report(db, forum["asker"], forum["posts"][1])
    with pytest.raises(Conflict) as err:
        report(db, forum["asker"], forum["posts"][1], "abuse")
    assert err.value.code == "forum_already_reported"
    assert count(db, ForumReport) == 1


@pytest.mark.parametrize(
    ("reason", "note", "code"),
    [
        ("nonsense", "", "forum_report_reason_invalid"),
        ("", "", "forum_report_reason_invalid"),
        ("other", "x" * 501, "too_long"),
        ("other", "line\nbreak", "line_break_not_allowed"),
        ("other", "bell\x07", "control_characters"),
    ],
)
def test_bad_report_input_is_refused_and_nothing_stored(db, forum, reason, note, code) -> None:
    with pytest.raises(ValidationFailed) as err:
        report(db, forum["asker"], forum["posts"][1], reason, note)
    assert err.value.code == code
    assert count(db, ForumReport) == 0


def test_signed_out_readers_cannot_report(db, forum) -> None:
    with pytest.raises(NotAuthenticated):
        report(db, None, forum["posts"][1])


def test_reports_of_posts_the_reader_cannot_see_are_not_found(db, forum) -> None:
    answer = forum["posts"][1]
    as_user(db, forum["mod"], moderation.do_hide_post, post_id=answer, reason="spam")
    for post_id in (answer, 999_999):
        with pytest.raises(NotFound):
            report(db, forum["asker"], post_id)
    assert count(db, ForumReport) == 0


def test_reports_are_rate_limited_per_user(db, forum, settings) -> None:
    others = [
        make_user(db, f"p{n}@example.com") for n in range(moderation_reports.REPORTS_PER_USER + 1)
    ]
    posts = [make_thread(db, other)[1][0] for other in others]
    for post_id in posts[:-1]:
        report(db, forum["reader"], post_id)
    with pytest.raises(RateLimited):
        report(db, forum["reader"], posts[-1])
    assert count(db, ForumReport) == moderation_reports.REPORTS_PER_USER


def test_three_reporters_hide_a_post_pending_review(db, forum) -> None:
    answer = forum["posts"][1]
    third = make_user(db, "third@example.com")
    report(db, forum["asker"], answer)
    report(db, forum["mod"], answer, "abuse")
    assert post_of(db, answer).visibility == "public"
    report(db, third, answer, "scam")
    post = post_of(db, answer)
    assert post.visibility == "hidden" and moderation_reports.was_hidden_by_reports(post)
    with db.unit_of_work(write=False) as s:
        rows = moderation_queue.open_reports(s, moderator=load_user(s, forum["mod"]))
    assert [(r.post.id, r.count) for r in rows] == [(answer, 3)]
    assert dict(rows[0].reasons) == {"spam": 1, "abuse": 1, "scam": 1}


def test_dismissing_reports_shows_an_auto_hidden_post_again(db, forum, mailbox) -> None:
    answer = forum["posts"][1]
    for n in range(3):
        report(db, make_user(db, f"r{n}@example.com"), answer)
    settled = as_user(
        db, forum["mod"], moderation_reports.do_resolve_reports, post_id=answer, upheld=False
    )
    assert settled == 3
    assert post_of(db, answer).visibility == "public"
    with pytest.raises(Conflict):
        as_user(
            db, forum["mod"], moderation_reports.do_resolve_reports, post_id=answer, upheld=False
        )


def test_upholding_reports_hides_the_post_and_tells_its_author(db, forum, mailbox) -> None:
    answer = forum["posts"][1]
    report(db, forum["asker"], answer, "scam")
    as_user(db, forum["mod"], moderation_reports.do_resolve_reports, post_id=answer, upheld=True)
    post = post_of(db, answer)
    assert post.visibility == "hidden" and post.moderated_by_user_id == forum["mod"]
    # The reason is the report's reason in words, never its raw code.
    assert post.moderation_reason not in ("", "scam", moderation_reports.AUTO_HIDDEN_REASON)
    mail = mailbox.last("reader@example.com")
    assert "hid your answer" in mailbox.text(mail)
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(ForumReport.status)).all() == ["upheld"]


def test_customers_cannot_moderate(db, forum) -> None:
    actions = [
        (moderation.do_hide_post, {"post_id": forum["posts"][1], "reason": "x"}),
        (moderation.do_set_thread_locked, {"thread_id": forum["thread"], "locked": True}),
        (moderation.do_set_thread_pinned, {"thread_id": forum["thread"], "pinned": True}),
        (moderation.do_ban_user, {"user_id": forum["reader"], "reason": "x"}),
        (moderation_reports.do_resolve_reports, {"post_id": forum["posts"][1], "upheld": True}),
        (moderation_queue.open_reports, {}),
    ]
    for fn, kw in actions:
        with pytest.raises(PermissionDenied):
            as_user(db, forum["asker"], fn, **kw)
    assert post_of(db, forum["posts"][1]).visibility == "public"
    assert count(db, ForumBan) == 0


def test_hiding_needs_a_reason_and_is_audited(db, forum, mailbox) -> None:
    answer = forum["posts"][1]
    with pytest.raises(ValidationFailed) as err:
        as_user(db, forum["mod"], moderation.do_hide_post, post_id=answer, reason="  ")
    assert err.value.code == "forum_reason_required"
    as_user(
        db, forum["mod"], moderation.do_hide_post, post_id=answer, reason="Off-platform exchange"
    )
    assert post_of(db, answer).visibility == "hidden"
    as_user(db, forum["mod"], moderation.do_unhide_post, post_id=answer, reason="Explained")
    assert post_of(db, answer).visibility == "public"
    with db.unit_of_work(write=False) as s:
        actions = s.scalars(
            select(AuditEvent.action).where(AuditEvent.actor_user_id == forum["mod"])
        ).all()
    assert actions == ["forum_post_hidden", "forum_post_unhidden"]
    # The author is told in their own language (English here).
    assert "Off-platform exchange" in mailbox.text(mailbox.last("reader@example.com"))


def test_hiding_the_question_hides_the_thread(db, forum) -> None:
    as_user(db, forum["mod"], moderation.do_hide_post, post_id=forum["posts"][0], reason="spam")
    assert thread_of(db, forum["thread"]).visibility == "hidden"
    as_user(db, forum["mod"], moderation.do_unhide_post, post_id=forum["posts"][0], reason="ok")
    assert thread_of(db, forum["thread"]).visibility == "public"


def test_lock_and_pin(db, forum) -> None:
    as_user(
        db, forum["mod"], moderation.do_set_thread_locked, thread_id=forum["thread"], locked=True
    )
    as_user(
        db, forum["mod"], moderation.do_set_thread_pinned, thread_id=forum["thread"], pinned=True
    )
    thread = thread_of(db, forum["thread"])
    assert thread.is_locked and thread.is_pinned
    as_user(
        db, forum["mod"], moderation.do_set_thread_locked, thread_id=forum["thread"], locked=False
    )
    assert not thread_of(db, forum["thread"]).is_locked


def test_a_held_post_approved_becomes_public(db, forum, mailbox) -> None:
    newbie = make_user(db, "newbie@example.com", age_days=1)
    thread, posts = make_thread(db, newbie, body="看这里 https://cheap-fx.example")
    with db.unit_of_work() as s:
        for row in (s.get(ForumThread, thread), s.get(ForumPost, posts[0])):
            row.visibility = Visibility.held.value
    with db.unit_of_work(write=False) as s:
        held = moderation_queue.held_posts(s, moderator=load_user(s, forum["mod"]))
    assert [r.post.id for r in held] == posts
    as_user(db, forum["mod"], moderation.do_review_held_post, post_id=posts[0], approve=True)
    assert post_of(db, posts[0]).visibility == "public"
    assert thread_of(db, thread).visibility == "public"
    mail = mailbox.last("newbie@example.com")  # in Chinese: the thread's language
    assert f"/community/t/{thread}" in mailbox.text(mail)
    assert "公开" in str(mail["Subject"])
    with pytest.raises(Conflict):
        as_user(db, forum["mod"], moderation.do_review_held_post, post_id=posts[0], approve=True)


def test_a_held_post_rejected_needs_a_reason_and_stays_hidden(db, forum) -> None:
    newbie = make_user(db, "newbie@example.com", age_days=1)
    _thread, posts = make_thread(db, newbie)
    with db.unit_of_work() as s:
        s.get(ForumPost, posts[0]).visibility = Visibility.held.value
    with pytest.raises(ValidationFailed):
        as_user(db, forum["mod"], moderation.do_review_held_post, post_id=posts[0], approve=False)
    assert post_of(db, posts[0]).visibility == "held"
    as_user(
        db,
        forum["mod"],
        moderation.do_review_held_post,
        post_id=posts[0],
        approve=False,
        reason="spam link",
    )
    assert post_of(db, posts[0]).visibility == "hidden"


def test_a_banned_user_cannot_post_until_unbanned(db, forum, clock) -> None:
    as_user(db, forum["mod"], moderation.do_ban_user, user_id=forum["reader"], reason="spam",
            until=clock.now + timedelta(days=7))  # fmt: skip
    with db.unit_of_work() as s, pytest.raises(PermissionDenied) as err:
        guard.check_may_post(s, user=load_user(s, forum["reader"]), address="192.0.2.1")
    assert err.value.code == "forum_banned"
    with db.unit_of_work(write=False) as s:
        bans = moderation_queue.active_bans(s, moderator=load_user(s, forum["mod"]))
    assert [b.ban.user_id for b in bans] == [forum["reader"]]
    as_user(db, forum["mod"], moderation.do_unban_user, user_id=forum["reader"])
    with db.unit_of_work() as s:
        guard.check_may_post(s, user=load_user(s, forum["reader"]), address="192.0.2.1")


def test_bans_refuse_staff_past_end_times_and_no_reason(db, forum, clock) -> None:
    other_mod = make_user(db, "mod2@example.com", role=Role.supervisor)
    cases = [
        ({"user_id": other_mod, "reason": "x"}, Conflict),
        (
            {"user_id": forum["reader"], "reason": "x", "until": clock.now - timedelta(hours=1)},
            ValidationFailed,
        ),
        ({"user_id": forum["reader"], "reason": ""}, ValidationFailed),
        ({"user_id": 987_654, "reason": "x"}, NotFound),
    ]
    for kw, error in cases:
        with pytest.raises(error):
            as_user(db, forum["mod"], moderation.do_ban_user, **kw)
    assert count(db, ForumBan) == 0
