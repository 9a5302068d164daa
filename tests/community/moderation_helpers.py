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
