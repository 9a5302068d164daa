"""Demo threads for `okpay demo load`: a few realistic questions in Chinese and English, one
solved with an official answer (added once; safe to run again)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.community import categories, posting, votes
from okpay.community.models import ForumThread
from okpay.identity import users as identity_users


@dataclass(frozen=True)
class DemoAnswer:
    author: str
    body: str
    official: bool = False
    accepted: bool = False


@dataclass(frozen=True)
class DemoThread:
    category: str
    author: str
    locale: str
    title: str
    body: str
    answers: tuple[DemoAnswer, ...] = ()


DEMO_THREADS = (
    DemoThread(
        "topup-withdrawal", "li.wei@demo.okpay.example", "zh_CN",
        "银行转账充值多久能到账？",
        "昨天下午用工商银行网银给 OKPay 钱包转账充值了 500 元，到现在余额还没变化。"
        "请问银行转账充值一般要多久？需要我提供什么吗？",
        (
            DemoAnswer("wang.fang@demo.okpay.example",
                       "我上周也遇到过，工作日下午三点以后转的第二个工作日才到，耐心等一下。"),
            DemoAnswer(
                "agent@demo.okpay.example",
                "您好！银行转账充值通常在 **1–2 个工作日** 内到账，节假日顺延。\n\n"
                "1. 请在「交易记录」中确认充值申请的状态；\n"
                "2. 超过 2 个工作日仍未到账，请通过[联系客服](/help/contact?category=topup)"
                "提交请求，"
                "附上银行回单（请勿在社区公开发布卡号）。",
                official=True, accepted=True,
            ),
        ),
    ),
    DemoThread(
        "account-security", "emma.clark@demo.okpay.example", "en",
        "How do I set up two-factor authentication?",
        "I would like to protect my wallet with an authenticator app. Where is the setting, "
        "and what happens if I lose my phone?",
        (
            DemoAnswer("li.wei@demo.okpay.example",
                       "It is under **My account → Security**. "
                       "Keep the recovery codes somewhere safe!"),
        ),
    ),
    DemoThread(
        "transfers", "wang.fang@demo.okpay.example", "zh_CN",
        "给香港的朋友转账，汇率按什么时候算？",
        "准备给在香港读书的表妹转 2000 元人民币，"
        "想知道汇率是发起时锁定还是到账时计算，手续费多少？",
    ),
)  # fmt: skip


def load(session: Session) -> int:
    """Add the demo threads that are missing; returns how many were added."""
    categories.do_sync(session)
    added = 0
    for demo in DEMO_THREADS:
        if session.scalar(select(ForumThread.id).where(ForumThread.title == demo.title)):
            continue
        author = identity_users.get_user_by_email(session, demo.author)
        category = categories.get_by_slug(session, demo.category)
        if author is None or category is None:
            continue
        if author.email_verified_at is None:
            author.email_verified_at = author.created_at
        thread = posting.do_create_thread(
            session, user=author, address="", category=category, title=demo.title,
            body=demo.body, locale=demo.locale,
        )  # fmt: skip
        for answer in demo.answers:
            who = identity_users.get_user_by_email(session, answer.author)
            if who is None:
                continue
            if who.email_verified_at is None:
                who.email_verified_at = who.created_at
            post = posting.do_reply(
                session, user=who, address="", thread=thread, body=answer.body,
                official=answer.official,
            )  # fmt: skip
            if answer.accepted:
                votes.do_accept(session, user=author, thread=thread, post_id=post.id)
        added += 1
    return added
