"""Forum rows for moderation tests, written through the models: the forum's own services
(posting, Markdown) belong to the forum work, and these tests must not depend on them."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from okpay.community.models import ForumCategory, ForumPost, ForumThread
from okpay.core import clock
from okpay.identity import operators as identity_operators
from okpay.identity.models import Role, User
from tests.helpers import PASSWORD


def make_user(
    db,
    email: str,
    *,
    role: Role = Role.customer,
    verified: bool = True,
    age_days: int = 30,
    locale: str | None = None,
) -> int:  # type: ignore[no-untyped-def]
    """A user whose account is ``age_days`` old."""
    with db.unit_of_work() as s:
        user = identity_operators.do_create_user(
            s,
            email=email,
            password=PASSWORD,
            role=role,
            verified=verified,
            name=email.split("@")[0].title(),
            locale=locale,
        )
        user.created_at = clock.now() - timedelta(days=age_days)
        return user.id


def load_user(s, user_id: int) -> User:  # type: ignore[no-untyped-def]
    user = s.get(User, user_id)
    assert user is not None
    return user


def make_thread(
    db,
    author_id: int,
    *,
    title: str = "充值没有到账怎么办？",
    body: str = "我昨天银行转账充值 100 元，还没到账。",
    answers: tuple[tuple[int, str], ...] = (),
    locale: str = "zh-CN",
) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    """A public thread with its question and ``answers`` ((author id, text), …): the thread id
    and the post ids, question first."""
    with db.unit_of_work() as s:
        category = s.query(ForumCategory).filter_by(slug="wallet").one_or_none()
        if category is None:
            category = ForumCategory(slug="wallet", name_zh="钱包", name_en="Wallet")
            s.add(category)
            s.flush()
        now = clock.now()
        thread = ForumThread(
            category_id=category.id,
            author_user_id=author_id,
            title=title,
            locale=locale,
            created_at=now,
            last_activity_at=now,
            reply_count=len(answers),
        )
        s.add(thread)
        s.flush()
        posts = []
        for index, (user_id, text) in enumerate(((author_id, body), *answers)):
            post = ForumPost(
                thread_id=thread.id,
                author_user_id=user_id,
                is_question=index == 0,
                body_markdown=text,
                body_html=f"<p>{escape(text)}</p>",
                created_at=now + timedelta(seconds=index),
            )
            s.add(post)
            s.flush()
            posts.append(post.id)
        return thread.id, posts


def seed_moderation_queue(db, *, customer: int, agent: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """What the staff queue and the moved-thread notice show in page tests: a reported
    answer, a held post, a barred user and a thread moved into a private request."""
    from okpay.community import moderation, moderation_reports
    from okpay.community.models import Visibility
    from okpay.support import forum_tickets

    spammer = make_user(db, "fx-dealer@example.com")
    newbie = make_user(db, "newbie@example.com", age_days=1)
    thread, posts = make_thread(
        db, customer, title="跨境转账到香港要多久？", body="我想给香港的家人转账，一般多久到账？",
        answers=((spammer, "加我微信，场外换汇汇率更好，当天到账！"),),
    )  # fmt: skip
    _held_thread, held = make_thread(
        db, newbie, title="新手提问：充值方式", body="请看这个教程 https://fx-deals.example/topup"
    )
    moved, _moved_posts = make_thread(
        db, customer, title="我的账户被限制了", body="我的账户今天被限制提现，怎么办？"
    )
    with db.unit_of_work() as s:
        s.get(ForumPost, held[0]).visibility = Visibility.held.value
        s.get(ForumThread, _held_thread).visibility = Visibility.held.value
    with db.unit_of_work() as s:
        moderation_reports.do_report_post(
            s, user=load_user(s, customer), post_id=posts[1], reason="scam",
            note="让大家私下换汇",
        )  # fmt: skip
        moderation.do_ban_user(s, moderator=load_user(s, agent), user_id=newbie, reason="广告链接")
        forum_tickets.do_move_thread_to_ticket(s, moderator=load_user(s, agent), thread_id=moved)
    return {"forum_thread": thread, "moved_thread": moved}
