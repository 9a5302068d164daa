"""Forum moderation as JSON: a reader's report (POST /api/v1/community/posts/{id}/report)
and the staff queue and actions under /api/v1/community/moderation. Moving a thread into a
private ticket is support's (POST /api/v1/community/moderation/threads/{id}/move-to-ticket,
okpay.support.forum_tickets_api)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from okpay.community import moderation, moderation_queue, moderation_reports
from okpay.community import moderation_schemas as s
from okpay.community.models import ForumBan, ForumPost, ForumThread
from okpay.core.dbid import DbId
from okpay.identity.access import CurrentUser
from okpay.web.deps import DbSession

router = APIRouter(prefix="/api/v1/community", tags=["community moderation"])


def post_read(post: ForumPost) -> s.PostModerationRead:
    return s.PostModerationRead(
        id=post.id, thread_id=post.thread_id, author_user_id=post.author_user_id,
        is_question=post.is_question, visibility=post.visibility,
        moderation_reason=post.moderation_reason,
        excerpt=moderation_queue.excerpt(post.body_markdown), created_at=post.created_at,
    )  # fmt: skip


def thread_read(thread: ForumThread) -> s.ThreadModerationRead:
    return s.ThreadModerationRead(
        id=thread.id, title=thread.title, visibility=thread.visibility,
        is_locked=thread.is_locked, is_pinned=thread.is_pinned,
        moderation_reason=thread.moderation_reason,
        moved_to_ticket_number=thread.moved_to_ticket_number,
    )  # fmt: skip


def ban_read(ban: ForumBan) -> s.BanRead:
    return s.BanRead(
        user_id=ban.user_id, reason=ban.reason, created_at=ban.created_at, until=ban.until,
        banned_by_user_id=ban.banned_by_user_id,
    )  # fmt: skip


@router.post("/posts/{post_id}/report", response_model=s.ReportRead, status_code=201)
def report_post(
    post_id: DbId, body: s.ReportCreate, user: CurrentUser, db: DbSession
) -> s.ReportRead:
    """Report someone else's post to the moderators (once per post)."""
    report = moderation_reports.do_report_post(
        db, user=user, post_id=post_id, reason=body.reason, note=body.note
    )
    return s.ReportRead(id=report.id, post_id=report.post_id, reason=report.reason,
                        status=report.status, created_at=report.created_at)  # fmt: skip


@router.get("/moderation/queue", response_model=s.QueueRead)
def queue(user: CurrentUser, db: DbSession) -> s.QueueRead:
    """Staff: open reports (one entry per post), held posts, hidden posts, barred users."""
    reports = moderation_queue.open_reports(db, moderator=user)
    return s.QueueRead(
        reports=[
            s.ReportGroupRead(
                post=post_read(r.post),
                thread_title=r.thread.title,
                count=r.count,
                reasons=dict(r.reasons),
                notes=r.notes,
                first_at=r.first_at,
            )
            for r in reports
        ],
        held=[post_read(r.post) for r in moderation_queue.held_posts(db, moderator=user)],
        hidden=[post_read(r.post) for r in moderation_queue.hidden_posts(db, moderator=user)],
        bans=[ban_read(b.ban) for b in moderation_queue.active_bans(db, moderator=user)],
    )


@router.post("/moderation/posts/{post_id}/hide", response_model=s.PostModerationRead)
def hide_post(
    post_id: DbId, body: s.ReasonIn, user: CurrentUser, db: DbSession
) -> s.PostModerationRead:
    """Staff: hide a post (a reason is required; the author is told)."""
    return post_read(
        moderation.do_hide_post(db, moderator=user, post_id=post_id, reason=body.reason)
    )


@router.post("/moderation/posts/{post_id}/unhide", response_model=s.PostModerationRead)
def unhide_post(
    post_id: DbId, body: s.ReasonIn, user: CurrentUser, db: DbSession
) -> s.PostModerationRead:
    """Staff: show a hidden post again."""
    return post_read(
        moderation.do_unhide_post(db, moderator=user, post_id=post_id, reason=body.reason)
    )


@router.post("/moderation/posts/{post_id}/review", response_model=s.PostModerationRead)
def review_post(
    post_id: DbId, body: s.ReviewIn, user: CurrentUser, db: DbSession
) -> s.PostModerationRead:
    """Staff: approve a held post, or reject it with a reason."""
    post = moderation.do_review_held_post(
        db, moderator=user, post_id=post_id, approve=body.approve, reason=body.reason
    )
    return post_read(post)


@router.post("/moderation/posts/{post_id}/reports/resolve", response_model=s.ResolvedRead)
def resolve_reports(
    post_id: DbId, body: s.ResolveIn, user: CurrentUser, db: DbSession
) -> s.ResolvedRead:
    """Staff: uphold (hide the post) or dismiss every open report on a post."""
    settled = moderation_reports.do_resolve_reports(
        db, moderator=user, post_id=post_id, upheld=body.outcome == "upheld", reason=body.reason
    )
    return s.ResolvedRead(settled=settled)


@router.post("/moderation/threads/{thread_id}/hidden", response_model=s.ThreadModerationRead)
def set_hidden(
    thread_id: DbId, body: s.ThreadFlagIn, user: CurrentUser, db: DbSession
) -> s.ThreadModerationRead:
    """Staff: hide a thread (value true) or show it again (false); a reason is required."""
    return thread_read(moderation.do_set_thread_hidden(
        db, moderator=user, thread_id=thread_id, hidden=body.value, reason=body.reason
    ))  # fmt: skip


@router.post("/moderation/threads/{thread_id}/locked", response_model=s.ThreadModerationRead)
def set_locked(
    thread_id: DbId, body: s.ThreadFlagIn, user: CurrentUser, db: DbSession
) -> s.ThreadModerationRead:
    """Staff: lock a thread (no new answers) or unlock it."""
    return thread_read(moderation.do_set_thread_locked(
        db, moderator=user, thread_id=thread_id, locked=body.value, reason=body.reason
    ))  # fmt: skip


@router.post("/moderation/threads/{thread_id}/pinned", response_model=s.ThreadModerationRead)
def set_pinned(
    thread_id: DbId, body: s.ThreadFlagIn, user: CurrentUser, db: DbSession
) -> s.ThreadModerationRead:
    """Staff: pin a thread at the top of its category, or unpin it."""
    return thread_read(
        moderation.do_set_thread_pinned(db, moderator=user, thread_id=thread_id, pinned=body.value)
    )


@router.put("/moderation/bans/{user_id}", response_model=s.BanRead)
def ban_user(user_id: DbId, body: s.BanIn, user: CurrentUser, db: DbSession) -> s.BanRead:
    """Staff: bar a user from posting, until a time or for good (replaces an earlier ban)."""
    return ban_read(
        moderation.do_ban_user(
            db, moderator=user, user_id=user_id, reason=body.reason, until=body.until
        )
    )


@router.delete("/moderation/bans/{user_id}", status_code=204)
def unban_user(user_id: DbId, user: CurrentUser, db: DbSession) -> Response:
    """Staff: lift a user's ban."""
    moderation.do_unban_user(db, moderator=user, user_id=user_id)
    return Response(status_code=204)
