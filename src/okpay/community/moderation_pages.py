"""The readers' side of moderation as HTML: reporting a post from the thread page, and the
notice that replaces a thread staff moved into a private request. Staff actions and the
queue are in the agent console (okpay.support.agent_community_pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from okpay.community import moderation_reports
from okpay.community.models import ForumThread, Visibility
from okpay.core.dbid import DbId
from okpay.core.errors import DomainError, NotFound
from okpay.core.i18n import gettext
from okpay.identity.access import CurrentUser
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.redirects import safe_next
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Text = Annotated[str, Form(max_length=2000)]


@router.post("/community/posts/{post_id}/report")
def report_post(
    request: Request, post_id: DbId, user: CurrentUser, db: DbSession,
    reason: Text = "", note: Text = "", next: Text = "",
) -> Response:  # fmt: skip
    """A reader's report from the thread page; back to the thread with the outcome."""
    back = safe_next(next, "/community")
    try:
        moderation_reports.do_report_post(db, user=user, post_id=post_id, reason=reason, note=note)
    except NotFound:
        raise
    except DomainError as err:
        db.rollback()
        flash(request, err.translated(), "error")
        return RedirectResponse(back, status_code=303)
    flash(request, gettext("Thank you. A moderator will look at this post."), "success")
    return RedirectResponse(back, status_code=303)


def moved_thread_page(request: Request, thread: ForumThread) -> Response:
    """What a thread's address shows once staff moved it into a private request: a short
    notice, never the content, kept out of search engines."""
    response = render(request, "community/moderation_moved.html", thread=thread)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@router.get("/community/moved/{thread_id}")
def moved_notice(request: Request, thread_id: DbId, db: DbSession) -> Response:
    """The notice for a moved thread (the thread page shows the same at its own address)."""
    thread = _moved_thread(db, thread_id)
    return moved_thread_page(request, thread)


def _moved_thread(db: Session, thread_id: int) -> ForumThread:
    thread = db.get(ForumThread, thread_id)
    if thread is None or thread.visibility != Visibility.moved.value:
        raise NotFound()
    return thread
