"""Who may post in the forum, how often, and whether a new post is shown at once.

Every way of writing a post (question, answer, edit; page or API) asks :func:`check_may_post`
first and stores the post with :func:`visibility_for_new_post`:

- posting needs a signed-in account with a verified e-mail address, not barred from posting
  (:class:`~okpay.community.models.ForumBan`); reading needs nothing;
- at most :data:`POSTS_PER_USER` posts per user and :data:`POSTS_PER_ADDRESS` per address in
  :data:`WINDOW_SECONDS` (shared across app processes when Redis is configured), so a
  script cannot flood the forum from one account or from many accounts on one address;
- the first posts of a new account are held for a moderator when they contain a link:
  that is how spam arrives, and a held post is seen by its author and by staff only.

Staff are never held nor limited.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okpay.community.models import ForumBan, ForumPost, Visibility
from okpay.core import clock, ratelimit
from okpay.core.errors import NotAuthenticated, PermissionDenied
from okpay.core.i18n import N_, format_datetime
from okpay.identity.models import User

WINDOW_SECONDS = 600
POSTS_PER_USER = 6
POSTS_PER_ADDRESS = 12
#: An account younger than this, with no public post yet, is new.
NEW_ACCOUNT_AGE = timedelta(days=7)

_LINK = re.compile(
    r"(?i)(?:https?://|www\.|\]\(|<[a-z]+:|\b[a-z0-9-]+\.(?:com|cn|net|org|io|xyz|top|cc|me)\b)"
)


def active_ban(session: Session, user_id: int) -> ForumBan | None:
    """The user's ban from posting, if one is in force now."""
    ban = session.get(ForumBan, user_id)
    if ban is None or (ban.until is not None and ban.until <= clock.now()):
        return None
    return ban


def check_may_post(session: Session, *, user: User | None, address: str) -> None:
    """Refuse a post from this user at this address, with the reason in the user's language:
    not signed in, e-mail not verified, barred from posting, or posting too fast."""
    if user is None:
        raise NotAuthenticated(
            N_("Please sign in to post in the community."), code="forum_sign_in_required"
        )
    if user.is_staff:
        return
    if user.email_verified_at is None:
        raise PermissionDenied(
            N_("Please verify your e-mail address before posting in the community."),
            code="forum_email_unverified",
        )
    ban = active_ban(session, user.id)
    if ban is not None and ban.until is not None:
        raise PermissionDenied(
            N_("A moderator has barred you from posting in the community until %(until)s "
               "(reason: %(reason)s). You can still read it, and contact support if you think "
               "this is a mistake."),
            code="forum_banned", until=_LocalTime(ban.until), reason=ban.reason,
        )  # fmt: skip
    if ban is not None:
        raise PermissionDenied(
            N_("A moderator has barred you from posting in the community (reason: %(reason)s). "
               "You can still read it, and contact support if you think this is a mistake."),
            code="forum_banned", reason=ban.reason,
        )  # fmt: skip
    ratelimit.shared("forum_post_user", POSTS_PER_USER, WINDOW_SECONDS).check(str(user.id))
    ratelimit.shared("forum_post_address", POSTS_PER_ADDRESS, WINDOW_SECONDS).check(
        address or "unknown"
    )


class _LocalTime:
    """A time written in the language in force when the message is shown."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def __str__(self) -> str:
        return format_datetime(self.value, "minutes")


def has_link(text: str) -> bool:
    """True when ``text`` holds a web address or a Markdown link."""
    return _LINK.search(text) is not None


def is_new_account(session: Session, user: User) -> bool:
    """A recent account with nothing public in the forum yet."""
    if clock.now() - user.created_at >= NEW_ACCOUNT_AGE:
        return False
    public = session.scalar(
        select(func.count())
        .select_from(ForumPost)
        .where(ForumPost.author_user_id == user.id, ForumPost.visibility == Visibility.public)
    )
    return not public


def visibility_for_new_post(session: Session, *, user: User, text: str) -> Visibility:
    """Public, or held for a moderator when a new account's post contains a link."""
    if not user.is_staff and has_link(text) and is_new_account(session, user):
        return Visibility.held
    return Visibility.public
