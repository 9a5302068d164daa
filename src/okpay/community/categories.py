"""The forum's sections: a default set in both languages, kept in step by an idempotent sync
(`okpay community categories sync`, run by `okpay demo load` and so by `make run`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.community.models import ForumCategory
from okpay.core.errors import Conflict, ValidationFailed
from okpay.core.i18n import N_, get_locale


@dataclass(frozen=True)
class DefaultCategory:
    slug: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str


DEFAULTS = (
    DefaultCategory(
        "account-security", "账户与安全", "Account and security",
        "登录、密码、双重认证、账户锁定与身份验证。",
        "Signing in, passwords, two-factor authentication, locked accounts and verification.",
    ),
    DefaultCategory(
        "topup-withdrawal", "充值与提现", "Top-ups and withdrawals",
        "银行卡与银行转账充值、提现到银行账户、到账时间。",
        "Topping up by card or bank transfer, withdrawing to a bank account, arrival times.",
    ),
    DefaultCategory(
        "transfers", "转账与跨境", "Transfers and cross-border",
        "向他人转账、跨境汇款、汇率与手续费。",
        "Sending money at home and abroad, exchange rates and fees.",
    ),
    DefaultCategory(
        "payments-merchants", "付款与商户", "Payments and merchants",
        "向商户付款、退款、交易争议与商户接入。",
        "Paying merchants, refunds, disputes and accepting OKPay as a merchant.",
    ),
    DefaultCategory(
        "general", "使用交流", "Using OKPay",
        "使用技巧、建议与其他问题。",
        "Tips, suggestions and everything else.",
    ),
)  # fmt: skip

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


def name_of(category: ForumCategory, locale: str | None = None) -> str:
    """The category's name in the page's language."""
    return category.name_zh if (locale or get_locale()) == "zh_CN" else category.name_en


def description_of(category: ForumCategory, locale: str | None = None) -> str:
    zh = (locale or get_locale()) == "zh_CN"
    return category.description_zh if zh else category.description_en


def list_categories(session: Session) -> list[ForumCategory]:
    return list(
        session.scalars(select(ForumCategory).order_by(ForumCategory.position, ForumCategory.id))
    )


def get_by_slug(session: Session, slug: str) -> ForumCategory | None:
    return session.scalar(select(ForumCategory).where(ForumCategory.slug == slug))


def do_sync(session: Session) -> int:
    """Add the default categories that are missing (names staff changed are kept); returns
    how many were added."""
    existing = {c.slug for c in list_categories(session)}
    added = 0
    for position, default in enumerate(DEFAULTS):
        if default.slug in existing:
            continue
        session.add(ForumCategory(position=position * 10, **default.__dict__))
        added += 1
    session.flush()
    return added


def do_add(
    session: Session,
    *,
    slug: str,
    name_zh: str,
    name_en: str,
    description_zh: str = "",
    description_en: str = "",
    position: int | None = None,
) -> ForumCategory:
    """A new category (operators add them from the CLI)."""
    if not _SLUG.match(slug):
        raise ValidationFailed(
            N_("A category's short name uses lower-case letters, digits and hyphens."),
            code="forum_category_slug",
            field="slug",
        )
    names = (name_zh.strip(), name_en.strip())
    if not all(0 < len(n) <= 80 for n in names):
        raise ValidationFailed(N_("Give the category a name in both languages."),
                               code="forum_category_name", field="name")  # fmt: skip
    if get_by_slug(session, slug) is not None:
        raise Conflict(N_("That category already exists."), code="forum_category_exists")
    if position is None:
        position = max((c.position for c in list_categories(session)), default=0) + 10
    row = ForumCategory(
        slug=slug, name_zh=names[0], name_en=names[1], position=position,
        description_zh=description_zh[:300], description_en=description_en[:300],
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row
