"""Readers' reports of forum posts, and how staff settle them.

Any signed-in reader may report someone else's post they can see, once, for one of
:data:`REASONS` (with a note). Reports wait in the staff queue. When
:data:`AUTO_HIDE_REPORTERS` different readers have reported a public post, it is hidden at
once pending review: a moderator then upholds the reports (the post stays hidden) or
dismisses them (a post hidden only by the reports is shown again).
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.community import moderation
from okpay.community.models import ForumPost, ForumReport, ReportStatus, Visibility
from okpay.core import audit, clock, ratelimit
from okpay.core.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.identity import validation as identity_validation
from okpay.identity.models import User

REASONS = ("spam", "abuse", "personal_data", "scam", "other")
REASON_LABELS = {
    "spam": N_("Spam or advertising"),
    "abuse": N_("Abusive or offensive"),
    "personal_data": N_("Shows personal data"),
    "scam": N_("Scam or phishing"),
    "other": N_("Something else"),
}
NOTE_MAX = 500
#: Distinct readers whose reports hide a public post until a moderator has looked.
AUTO_HIDE_REPORTERS = 3
REPORTS_PER_USER = 20
REPORT_WINDOW_SECONDS = 3600
#: The moderation reason on a post the reports hid (shown to staff, in their language).
AUTO_HIDDEN_REASON = "reported"


def reason_label(reason: str) -> str:
    """A report reason in the current language."""
    return gettext(REASON_LABELS[reason]) if reason in REASON_LABELS else reason


def _readable(post: ForumPost, thread_visibility: str) -> bool:
    return post.visibility == Visibility.public.value and (
        thread_visibility == Visibility.public.value
    )


def do_report_post(
    session: Session, *, user: User | None, post_id: int, reason: str, note: str = ""
) -> ForumReport:
    """Report a post for a moderator. Refused: signed out, a post the reader cannot see
    (404), their own post, an unknown reason, a second report of the same post, too many
    reports in an hour."""
    if user is None:
        raise NotAuthenticated(
            N_("Please sign in to report a post."), code="forum_sign_in_required"
        )
    post = session.get(ForumPost, post_id)
    thread = moderation.get_thread(session, post.thread_id) if post is not None else None
    if post is None or thread is None or not _readable(post, thread.visibility):
        raise NotFound()
    if post.author_user_id == user.id:
        raise ValidationFailed(N_("You cannot report your own post."),
                               code="forum_report_own_post")  # fmt: skip
    if reason not in REASONS:
        raise ValidationFailed(N_("Please choose why you are reporting this post."),
                               code="forum_report_reason_invalid", field="reason")  # fmt: skip
    note = identity_validation.check_name(note, field="note", max_length=NOTE_MAX)
    if _existing(session, post.id, user.id) is not None:
        raise Conflict(N_("You have already reported this post. A moderator will look at it."),
                       code="forum_already_reported")  # fmt: skip
    ratelimit.shared("forum_report_user", REPORTS_PER_USER, REPORT_WINDOW_SECONDS).check(
        str(user.id)
    )
    report = ForumReport(
        post_id=post.id, reporter_user_id=user.id, reason=reason, note=note,
        status=ReportStatus.open.value, created_at=clock.now(),
    )  # fmt: skip
    try:
        with session.begin_nested():  # two reports at once: the unique key picks one
            session.add(report)
            session.flush()
    except IntegrityError:
        raise Conflict(N_("You have already reported this post. A moderator will look at it."),
                       code="forum_already_reported") from None  # fmt: skip
    audit.record(session, "forum_post_reported", actor_user_id=user.id,
                 subject_user_id=post.author_user_id, object_type="forum_post",
                 object_id=post.id, reason=reason)  # fmt: skip
    if open_reporter_count(session, post.id) >= AUTO_HIDE_REPORTERS:
        _hide_pending_review(session, post)
    session.flush()
    return report


def _existing(session: Session, post_id: int, user_id: int) -> ForumReport | None:
    return session.scalar(
        select(ForumReport).where(
            ForumReport.post_id == post_id, ForumReport.reporter_user_id == user_id
        )
    )


def open_reporter_count(session: Session, post_id: int) -> int:
    """How many different readers have an open report on the post."""
    return (
        session.scalar(
            select(func.count(func.distinct(ForumReport.reporter_user_id))).where(
                ForumReport.post_id == post_id, ForumReport.status == ReportStatus.open.value
            )
        )
        or 0
    )


def _hide_pending_review(session: Session, post: ForumPost) -> None:
    """Hide a post the readers reported enough (no moderator yet: the queue shows it)."""
    if post.visibility != Visibility.public.value:
        return
    post.visibility = Visibility.hidden.value
    post.moderated_by_user_id = None
    post.moderation_reason = AUTO_HIDDEN_REASON
    audit.record(session, "forum_post_auto_hidden", subject_user_id=post.author_user_id,
                 object_type="forum_post", object_id=post.id,
                 reporters=AUTO_HIDE_REPORTERS)  # fmt: skip


def was_hidden_by_reports(post: ForumPost) -> bool:
    """True while a post is hidden by readers' reports and no moderator has decided yet."""
    return (
        post.visibility == Visibility.hidden.value
        and post.moderated_by_user_id is None
        and post.moderation_reason == AUTO_HIDDEN_REASON
    )


def do_resolve_reports(
    session: Session, *, moderator: User, post_id: int, upheld: bool, reason: str = ""
) -> int:
    """Settle every open report on a post: upheld hides the post (if it is not hidden yet,
    with ``reason``), dismissed shows again a post only the reports had hidden. Returns how
    many reports were settled."""
    moderation.check_moderator(moderator)
    post, _thread = moderation.get_post(session, post_id)
    reports = list(
        session.scalars(
            select(ForumReport).where(
                ForumReport.post_id == post.id, ForumReport.status == ReportStatus.open.value
            )
        )
    )
    if not reports:
        raise Conflict(N_("These reports were already settled."), code="forum_reports_settled")
    now = clock.now()
    status = ReportStatus.upheld if upheld else ReportStatus.dismissed
    for report in reports:
        report.status = status.value
        report.resolved_at = now
        report.resolved_by_user_id = moderator.id
    if upheld and (post.visibility == Visibility.public.value or was_hidden_by_reports(post)):
        text = moderation.check_reason(reason, required=False) or reason_label(
            Counter(r.reason for r in reports).most_common(1)[0][0]
        )
        if was_hidden_by_reports(post):
            post.moderated_by_user_id = moderator.id
            post.moderation_reason = text
            moderation.mail_author(session, post, _thread, "community_post_hidden", reason=text)
        else:
            moderation.do_hide_post(session, moderator=moderator, post_id=post.id, reason=text)
    elif not upheld and was_hidden_by_reports(post):
        post.visibility = Visibility.public.value
        post.moderated_by_user_id = moderator.id
        post.moderation_reason = ""
    audit.record(session, "forum_reports_upheld" if upheld else "forum_reports_dismissed",
                 actor_user_id=moderator.id, subject_user_id=post.author_user_id,
                 object_type="forum_post", object_id=post.id, count=len(reports))  # fmt: skip
    session.flush()
    return len(reports)
