"""Who may post in the forum, how often, and which new posts wait for a moderator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from okpay.community import guard
from okpay.community.models import ForumBan, Visibility
from okpay.core import clock as clock_module
from okpay.core.errors import NotAuthenticated, PermissionDenied, RateLimited
from okpay.core.i18n import use_locale
from okpay.identity.models import Role
from tests.community.moderation_helpers import load_user, make_thread, make_user


def check(db, user_id: int | None, address: str = "203.0.113.7") -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        user = load_user(s, user_id) if user_id is not None else None
        guard.check_may_post(s, user=user, address=address)


def ban(db, user_id: int, by: int, until=None) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        s.add(ForumBan(user_id=user_id, banned_by_user_id=by, reason="spam",
                       created_at=clock_module.now(), until=until))  # fmt: skip


def test_signed_out_readers_cannot_post(db) -> None:
    with pytest.raises(NotAuthenticated) as err:
        check(db, None)
    assert err.value.code == "forum_sign_in_required"


def test_an_unverified_email_cannot_post(db) -> None:
    user = make_user(db, "new@example.com", verified=False)
    with pytest.raises(PermissionDenied) as err:
        check(db, user)
    assert err.value.code == "forum_email_unverified"


def test_a_ban_for_good_refuses_posting(db) -> None:
    staff = make_user(db, "mod@example.com", role=Role.agent)
    user = make_user(db, "spammer@example.com")
    ban(db, user, staff)
    with pytest.raises(PermissionDenied) as err:
        check(db, user)
    assert err.value.code == "forum_banned"
    with use_locale("zh-CN"):
        assert "spam" in err.value.translated() and "禁止" in err.value.translated()


def test_a_ban_until_a_time_ends_at_that_time(db, clock) -> None:
    staff = make_user(db, "mod@example.com", role=Role.agent)
    user = make_user(db, "rude@example.com")
    ban(db, user, staff, until=clock.now + timedelta(days=1))
    with pytest.raises(PermissionDenied) as err:
        check(db, user)
    with use_locale("en"):
        shown = err.value.translated()
    assert "until Nov 22, 2026" in shown and "reason: spam" in shown
    clock.advance(days=1, seconds=1)
    check(db, user)


def test_posts_per_user_are_limited(db, settings) -> None:
    user = make_user(db, "busy@example.com")
    for n in range(guard.POSTS_PER_USER):
        check(db, user, address=f"198.51.100.{n}")
    with pytest.raises(RateLimited) as err:
        check(db, user, address="198.51.100.200")
    assert err.value.retry_after > 0
    # Someone else is not affected.
    check(db, make_user(db, "calm@example.com"), address="198.51.100.201")


def test_posts_per_address_are_limited_across_accounts(db, settings) -> None:
    users = [make_user(db, f"sock{n}@example.com") for n in range(guard.POSTS_PER_ADDRESS + 1)]
    for user in users[:-1]:
        check(db, user, address="192.0.2.9")
    with pytest.raises(RateLimited):
        check(db, users[-1], address="192.0.2.9")
    check(db, users[-1], address="192.0.2.10")


def test_staff_are_neither_limited_nor_held(db, settings) -> None:
    staff = make_user(db, "agent@example.com", role=Role.agent, age_days=0)
    for _ in range(guard.POSTS_PER_USER + guard.POSTS_PER_ADDRESS + 1):
        check(db, staff, address="192.0.2.50")
    with db.unit_of_work() as s:
        user = load_user(s, staff)
        assert (
            guard.visibility_for_new_post(s, user=user, text="见 https://okpay.example/help")
            == Visibility.public
        )


@pytest.mark.parametrize(
    "text",
    [
        "便宜换汇 https://spam.example",
        "加我 www.spam.example",
        "[点这里](http://x.example)",
        "访问 cheap-fx.xyz",
    ],
)
def test_a_new_accounts_post_with_a_link_is_held(db, text) -> None:
    user = make_user(db, "fresh@example.com", age_days=1)
    with db.unit_of_work() as s:
        assert (
            guard.visibility_for_new_post(s, user=load_user(s, user), text=text) == Visibility.held
        )


def test_a_new_accounts_post_without_a_link_is_public(db) -> None:
    user = make_user(db, "fresh@example.com", age_days=1)
    with db.unit_of_work() as s:
        visibility = guard.visibility_for_new_post(
            s, user=load_user(s, user), text="提现 500.00 元要多久？"
        )
    assert visibility == Visibility.public


def test_an_older_account_or_one_with_a_public_post_is_not_held(db) -> None:
    old = make_user(db, "old@example.com", age_days=30)
    known = make_user(db, "known@example.com", age_days=1)
    make_thread(db, known)
    with db.unit_of_work() as s:
        for user_id in (old, known):
            assert (
                guard.visibility_for_new_post(
                    s, user=load_user(s, user_id), text="https://okpay.example/help"
                )
                == Visibility.public
            )
