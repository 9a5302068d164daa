"""Staff moderation of the forum: hide and restore posts and threads, lock and pin threads,
review held posts, bar users from posting.

Moderation never deletes: it changes who can read a post (:class:`Visibility`) and records
who did it and why on the row and in the audit log. :func:`check_moderator` is the one
access check: staff (agents, supervisors, admins) moderate; anyone else is refused. Readers'
reports are in :mod:`okpay.community.moderation_reports`, the staff queue in
:mod:`okpay.community.moderation_queue`; moving a thread into a private ticket belongs to
support (``okpay.support.forum_tickets``), which sits above the forum.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from okpay.community.models import ForumBan, ForumPost, ForumThread, Visibility
from okpay.core import audit, clock
from okpay.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from okpay.core.i18n import N_, use_locale
from okpay.identity import validation as identity_validation
from okpay.identity.models import User
from okpay.mail.service import send_email
from okpay.settings import get_settings

REASON_MAX = 300


def is_moderator(user: User | None) -> bool:
    """Staff moderate the forum (the same roles that use the agent console)."""
    return user is not None and user.is_staff


def check_moderator(user: User | None) -> User:
    """The one access check for moderation: the user, if staff; refused otherwise."""
    if user is None:
        raise NotAuthenticated()
    if not is_moderator(user):
        raise PermissionDenied(
            N_("Only OKPay staff can moderate the community."), code="forum_moderator_only"
        )
    return user


def check_reason(raw: str, *, required: bool = True) -> str:
    """A moderator's reason: one line, at most :data:`REASON_MAX` characters."""
    value = identity_validation.check_name(raw, field="reason", max_length=REASON_MAX)
    if required and not value:
        raise ValidationFailed(
            N_("Please give a reason: the author and other moderators will see it."),
            code="forum_reason_required",
            field="reason",
        )
    return value


def thread_link(thread: ForumThread) -> str:
    """The thread's address (the forum's page for it)."""
    return f"{get_settings().base_url.rstrip('/')}/community/t/{thread.id}"


def get_post(session: Session, post_id: int) -> tuple[ForumPost, ForumThread]:
    """A post and its thread, whatever their visibility (staff see everything)."""
    post = session.get(ForumPost, post_id)
    thread = session.get(ForumThread, post.thread_id) if post is not None else None
    if post is None or thread is None:
        raise NotFound()
    return post, thread


def get_thread(session: Session, thread_id: int) -> ForumThread:
    thread = session.get(ForumThread, thread_id)
    if thread is None:
        raise NotFound()
    return thread


def _moderate(row: ForumPost | ForumThread, moderator: User, visibility: str, reason: str) -> None:
    row.visibility = visibility
    row.moderated_by_user_id = moderator.id
    row.moderation_reason = reason


def _check_not_moved(thread: ForumThread) -> None:
    if thread.visibility == Visibility.moved.value:
        raise Conflict(
            N_("This thread was moved into a private request."), code="forum_thread_moved"
        )


def do_hide_post(session: Session, *, moderator: User, post_id: int, reason: str) -> ForumPost:
    """Hide a post from readers (kept for the record); its author is told by e-mail."""
    check_moderator(moderator)
    reason = check_reason(reason)
    post, thread = get_post(session, post_id)
    _check_not_moved(thread)
    was = post.visibility
    _moderate(post, moderator, Visibility.hidden.value, reason)
    if post.is_question:
        _moderate(thread, moderator, Visibility.hidden.value, reason)
    audit.record(session, "forum_post_hidden", actor_user_id=moderator.id,
                 subject_user_id=post.author_user_id, object_type="forum_post",
                 object_id=post.id, reason=reason, was=was)  # fmt: skip
    if was != Visibility.hidden.value:
        mail_author(session, post, thread, "community_post_hidden", reason=reason)
    session.flush()
    return post


def do_unhide_post(session: Session, *, moderator: User, post_id: int, reason: str) -> ForumPost:
    """Show a hidden post again."""
    check_moderator(moderator)
    reason = check_reason(reason)
    post, thread = get_post(session, post_id)
    _check_not_moved(thread)
    _moderate(post, moderator, Visibility.public.value, reason)
    if post.is_question and thread.visibility == Visibility.hidden.value:
        _moderate(thread, moderator, Visibility.public.value, reason)
    audit.record(session, "forum_post_unhidden", actor_user_id=moderator.id,
                 subject_user_id=post.author_user_id, object_type="forum_post",
                 object_id=post.id, reason=reason)  # fmt: skip
    session.flush()
    return post


def do_set_thread_hidden(
    session: Session, *, moderator: User, thread_id: int, hidden: bool, reason: str
) -> ForumThread:
    """Hide a whole thread (its question and answers disappear with it) or show it again."""
    check_moderator(moderator)
    reason = check_reason(reason)
    thread = get_thread(session, thread_id)
    _check_not_moved(thread)
    visibility = Visibility.hidden if hidden else Visibility.public
    _moderate(thread, moderator, visibility.value, reason)
    audit.record(session, "forum_thread_hidden" if hidden else "forum_thread_unhidden",
                 actor_user_id=moderator.id, subject_user_id=thread.author_user_id,
                 object_type="forum_thread", object_id=thread.id, reason=reason)  # fmt: skip
    session.flush()
    return thread


def do_set_thread_locked(
    session: Session, *, moderator: User, thread_id: int, locked: bool, reason: str = ""
) -> ForumThread:
    """Lock a thread (no new answers; it stays readable) or unlock it."""
    check_moderator(moderator)
    reason = check_reason(reason, required=False)
    thread = get_thread(session, thread_id)
    _check_not_moved(thread)
    thread.is_locked = locked
    thread.moderated_by_user_id = moderator.id
    if reason:
        thread.moderation_reason = reason
    audit.record(session, "forum_thread_locked" if locked else "forum_thread_unlocked",
                 actor_user_id=moderator.id, object_type="forum_thread", object_id=thread.id,
                 reason=reason)  # fmt: skip
    session.flush()
    return thread


def do_set_thread_pinned(
    session: Session, *, moderator: User, thread_id: int, pinned: bool
) -> ForumThread:
    """Pin a thread at the top of its category, or unpin it."""
    check_moderator(moderator)
    thread = get_thread(session, thread_id)
    _check_not_moved(thread)
    thread.is_pinned = pinned
    audit.record(session, "forum_thread_pinned" if pinned else "forum_thread_unpinned",
                 actor_user_id=moderator.id, object_type="forum_thread",
                 object_id=thread.id)  # fmt: skip
    session.flush()
    return thread


def do_review_held_post(
    session: Session, *, moderator: User, post_id: int, approve: bool, reason: str = ""
) -> ForumPost:
    """Approve a held post (it becomes public) or reject it (hidden, with a reason); a held
    question takes its thread with it. The author is told either way."""
    check_moderator(moderator)
    post, thread = get_post(session, post_id)
    if post.visibility != Visibility.held.value:
        raise Conflict(N_("This post is not waiting for review any more."),
                       code="forum_post_not_held")  # fmt: skip
    reason = check_reason(reason, required=not approve)
    visibility = Visibility.public if approve else Visibility.hidden
    _moderate(post, moderator, visibility.value, reason)
    if post.is_question and thread.visibility == Visibility.held.value:
        _moderate(thread, moderator, visibility.value, reason)
    if approve and not post.is_question:
        thread.reply_count += 1
        thread.last_activity_at = max(thread.last_activity_at, post.created_at)
    audit.record(session, "forum_post_approved" if approve else "forum_post_rejected",
                 actor_user_id=moderator.id, subject_user_id=post.author_user_id,
                 object_type="forum_post", object_id=post.id, reason=reason)  # fmt: skip
    template = "community_post_approved" if approve else "community_post_hidden"
    mail_author(session, post, thread, template, reason=reason)
    session.flush()
    return post


def do_ban_user(
    session: Session, *, moderator: User, user_id: int, reason: str,
    until: datetime | None = None,
) -> ForumBan:  # fmt: skip
    """Bar a user from posting (reading stays open), until ``until`` or for good. Banning
    again replaces the earlier ban."""
    check_moderator(moderator)
    reason = check_reason(reason)
    target = session.get(User, user_id)
    if target is None:
        raise NotFound()
    if target.is_staff:
        raise Conflict(N_("Staff accounts cannot be barred from the community."),
                       code="forum_ban_staff")  # fmt: skip
    now = clock.now()
    if until is not None and until <= now:
        raise ValidationFailed(N_("The end of the ban must be in the future."),
                               code="forum_ban_until_past", field="until")  # fmt: skip
    ban = session.get(ForumBan, user_id)
    if ban is None:
        ban = ForumBan(user_id=user_id)
        session.add(ban)
    ban.banned_by_user_id = moderator.id
    ban.reason = reason
    ban.created_at = now
    ban.until = until
    audit.record(session, "forum_user_banned", actor_user_id=moderator.id,
                 subject_user_id=user_id, object_type="user", object_id=user_id,
                 reason=reason, until=until.isoformat() if until else None)  # fmt: skip
    session.flush()
    return ban


def do_unban_user(session: Session, *, moderator: User, user_id: int) -> None:
    """Lift a user's ban from posting."""
    check_moderator(moderator)
    ban = session.get(ForumBan, user_id)
    if ban is None:
        raise NotFound()
    session.delete(ban)
    audit.record(session, "forum_user_unbanned", actor_user_id=moderator.id,
                 subject_user_id=user_id, object_type="user", object_id=user_id)  # fmt: skip
    session.flush()


def mail_author(
    session: Session, post: ForumPost, thread: ForumThread, template: str, *, reason: str
) -> None:
    """E-mail a post's author, in their language, that a moderator hid or approved it."""
    author = session.get(User, post.author_user_id)
    if author is None or author.is_staff:
        return
    locale = author.preferred_locale or thread.locale or "zh-CN"
    with use_locale(locale):
        send_email(
            session,
            to=author.email,
            template=template,
            locale=locale,
            user_id=author.id,
            context={
                "name": author.name or author.email.split("@", 1)[0],
                "title": thread.title,
                "reason": reason,
                "link": thread_link(thread),
                "is_question": post.is_question,
            },
        )
