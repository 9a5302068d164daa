"""The community moderation queue in the agent console (/agent/community) and every staff
moderation action as a form post (from the queue or from the thread page's inline controls).
Routes are thin: community.moderation*, and support.forum_tickets for moving a thread into a
private ticket, do the work and check who may."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Form, Query, Request
from starlette.responses import Response

from okpay.community import moderation, moderation_queue, moderation_reports
from okpay.core import clock
from okpay.core.dbid import DbId
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_, format_datetime, gettext
from okpay.support import agent_pages, forum_tickets
from okpay.web.deps import DbSession
from okpay.web.flash import flash
from okpay.web.redirects import safe_next
from okpay.web.templating import render

router = agent_pages.agent_router()

TABS = {
    "reports": N_("Open reports"),
    "held": N_("Held for review"),
    "hidden": N_("Recently hidden"),
    "bans": N_("Barred users"),
}
#: Ban lengths a moderator picks from, in days (0: for good).
BAN_DAYS = (1, 7, 30, 0)
QUEUE = "/agent/community"

Text = Annotated[str, Form(max_length=2000)]


@router.get("/community")
def queue(
    request: Request,
    agent: agent_pages.Agent,
    db: DbSession,
    tab: Annotated[str, Query(max_length=20)] = "reports",
) -> Response:
    """The moderation queue, one tab at a time."""
    if tab not in TABS:
        tab = "reports"
    rows: object
    if tab == "reports":
        rows = moderation_queue.open_reports(db, moderator=agent)
    elif tab == "held":
        rows = moderation_queue.held_posts(db, moderator=agent)
    elif tab == "hidden":
        rows = moderation_queue.hidden_posts(db, moderator=agent)
    else:
        rows = moderation_queue.active_bans(db, moderator=agent)
    return render(
        request,
        "support/agent_community.html",
        section="community",
        mod_tab=tab,
        tabs={k: gettext(v) for k, v in TABS.items()},
        counts=moderation_queue.counts(db, moderator=agent),
        rows=rows,
        reason_label=moderation_reports.reason_label,
        name=moderation_queue.display_name,
        when=lambda value: format_datetime(value, "minutes"),
        ban_days=BAN_DAYS,
        thread_path=lambda thread: f"/community/t/{thread.id}",
    )


def _act(request: Request, db: DbSession, next_url: str, change: Callable[[], str]) -> Response:
    """Run one moderation action; flash its result (or the refusal) and go back."""
    back = safe_next(next_url, QUEUE)
    try:
        message = change()
    except DomainError as err:
        db.rollback()
        flash(request, err.translated(), "error")
        return agent_pages.redirect(back)
    flash(request, message, "success")
    return agent_pages.redirect(back)


@router.post("/community/posts/{post_id}/hide")
def hide_post(
    request: Request, post_id: DbId, agent: agent_pages.Agent, db: DbSession,
    reason: Text = "", next: Text = "",
) -> Response:  # fmt: skip
    def change() -> str:
        moderation.do_hide_post(db, moderator=agent, post_id=post_id, reason=reason)
        return gettext("The post is hidden.")

    return _act(request, db, next, change)


@router.post("/community/posts/{post_id}/unhide")
def unhide_post(
    request: Request, post_id: DbId, agent: agent_pages.Agent, db: DbSession,
    reason: Text = "", next: Text = "",
) -> Response:  # fmt: skip
    def change() -> str:
        moderation.do_unhide_post(db, moderator=agent, post_id=post_id, reason=reason)
        return gettext("The post is shown again.")

    return _act(request, db, next, change)


@router.post("/community/posts/{post_id}/review")
def review_post(
    request: Request, post_id: DbId, agent: agent_pages.Agent, db: DbSession,
    decision: Text = "", reason: Text = "", next: Text = "",
) -> Response:  # fmt: skip
    def change() -> str:
        if decision not in ("approve", "reject"):
            raise ValidationFailed(code="decision_invalid", field="decision")
        moderation.do_review_held_post(
            db, moderator=agent, post_id=post_id, approve=decision == "approve", reason=reason
        )
        if decision == "approve":
            return gettext("The post is approved and now public.")
        return gettext("The post is rejected and stays hidden.")

    return _act(request, db, next, change)


@router.post("/community/posts/{post_id}/reports")
def resolve_reports(
    request: Request, post_id: DbId, agent: agent_pages.Agent, db: DbSession,
    outcome: Text = "", reason: Text = "", next: Text = "",
) -> Response:  # fmt: skip
    def change() -> str:
        if outcome not in ("upheld", "dismissed"):
            raise ValidationFailed(code="outcome_invalid", field="outcome")
        moderation_reports.do_resolve_reports(
            db, moderator=agent, post_id=post_id, upheld=outcome == "upheld", reason=reason
        )
        if outcome == "upheld":
            return gettext("Reports upheld: the post is hidden.")
        return gettext("Reports dismissed: the post stays visible.")

    return _act(request, db, next, change)


@router.post("/community/threads/{thread_id}/{action}")
def thread_action(
    request: Request, thread_id: DbId, action: str, agent: agent_pages.Agent, db: DbSession,
    reason: Text = "", next: Text = "",
) -> Response:  # fmt: skip
    """Hide, unhide, lock, unlock, pin, unpin or move a thread into a private ticket."""

    def change() -> str:
        if action in ("hide", "unhide"):
            moderation.do_set_thread_hidden(
                db, moderator=agent, thread_id=thread_id, hidden=action == "hide", reason=reason
            )
            return (
                gettext("The thread is hidden.")
                if action == "hide"
                else gettext("The thread is shown again.")
            )
        if action in ("lock", "unlock"):
            moderation.do_set_thread_locked(
                db, moderator=agent, thread_id=thread_id, locked=action == "lock", reason=reason
            )
            return (
                gettext("The thread is locked.")
                if action == "lock"
                else gettext("The thread is open for answers again.")
            )
        if action in ("pin", "unpin"):
            moderation.do_set_thread_pinned(
                db, moderator=agent, thread_id=thread_id, pinned=action == "pin"
            )
            return (
                gettext("The thread is pinned.")
                if action == "pin"
                else gettext("The thread is no longer pinned.")
            )
        if action == "move-to-ticket":
            ticket = forum_tickets.do_move_thread_to_ticket(
                db, moderator=agent, thread_id=thread_id, reason=reason
            )
            return gettext(
                "The thread is now the private request %(number)s.", number=ticket.number
            )
        raise ValidationFailed(code="action_invalid")

    if action == "move-to-ticket" and not next:
        next = QUEUE
    return _act(request, db, next, change)


@router.post("/community/users/{user_id}/ban")
def ban_user(
    request: Request, user_id: DbId, agent: agent_pages.Agent, db: DbSession,
    reason: Text = "", days: Text = "", confirm: Text = "", next: Text = "",
) -> Response:  # fmt: skip
    def change() -> str:
        if confirm != "yes":
            raise ValidationFailed(
                N_("Please tick the box to confirm the ban."), code="confirm_required",
                field="confirm",
            )  # fmt: skip
        try:
            length = int(days or "0")
        except ValueError:
            length = -1
        if length not in BAN_DAYS:
            raise ValidationFailed(code="ban_days_invalid", field="days")
        until = clock.now() + timedelta(days=length) if length else None
        moderation.do_ban_user(db, moderator=agent, user_id=user_id, reason=reason, until=until)
        return gettext("The user can no longer post in the community.")

    return _act(request, db, next, change)


@router.post("/community/users/{user_id}/unban")
def unban_user(
    request: Request, user_id: DbId, agent: agent_pages.Agent, db: DbSession, next: Text = ""
) -> Response:
    def change() -> str:
        moderation.do_unban_user(db, moderator=agent, user_id=user_id)
        return gettext("The user can post in the community again.")

    return _act(request, db, next, change)
