"""Writing in the forum: a new question, an answer, an edit. Each checks who may post
(guard), runs the privacy guard, renders the Markdown once and decides whether the post is
shown at once or held; e-mails to followers are queued after commit (notify).

The privacy guard: when the title or body holds personal data and the author has not chosen
to post it masked, :class:`PrivateDataFound` is raised with the kinds found; the page shows
the form again with a warning and three choices, the API answers 422 ``forum_private_data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from okpay.community import guard, notify, privacy, render
from okpay.community.access import can_see_thread
from okpay.community.models import (
    ForumCategory,
    ForumPost,
    ForumSubscription,
    ForumThread,
    Visibility,
)
from okpay.core import clock
from okpay.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.helpcenter import hotlines as helpcenter_hotlines
from okpay.identity.models import User


class PrivateDataFound(ValidationFailed):
    """The text holds personal data and the author has not chosen to mask it."""

    code = "forum_private_data"
    message = N_(
        "Your post seems to contain personal data (%(kinds)s). Everyone can read the "
        "community: edit it, post it with those parts hidden, or send it to us privately."
    )

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        super().__init__(kinds="")

    def translated(self) -> str:
        return gettext(self.message, kinds=kind_labels(self.kinds))

    def as_json(self) -> dict[str, Any]:
        body = super().as_json()
        body["error"]["kinds"] = self.kinds
        return body


def kind_labels(kinds: list[str]) -> str:
    """The kinds of personal data in the current language, joined ("银行卡号、手机号码")."""
    sep = "、" if gettext("card number") != "card number" else ", "
    return sep.join(gettext(privacy.KIND_LABELS[k]) for k in kinds)


@dataclass(frozen=True)
class Checked:
    """A title and body that passed the checks, masked if the author chose so."""

    title: str
    body: str
    masked_kinds: list[str]


def check_text(
    session: Session, *, title: str | None, body: str, mask_private_data: bool
) -> Checked:
    """Validate a title (when there is one) and a body, then run the privacy guard (OKPay's
    own published hotline numbers are not personal data)."""
    clean_title = render.check_title(title) if title is not None else ""
    clean_body = render.check_body(body)
    ours = {h.number for h in helpcenter_hotlines.list_hotlines(session)}
    found = privacy.kinds(
        privacy.scan(clean_title, exempt_phones=ours) + privacy.scan(clean_body, exempt_phones=ours)
    )
    if found and not mask_private_data:
        raise PrivateDataFound(found)
    masked: list[str] = []
    if found:
        clean_title, title_kinds = privacy.mask(clean_title, exempt_phones=ours)
        clean_body, body_kinds = privacy.mask(clean_body, exempt_phones=ours)
        masked = [k for k in privacy.KINDS if k in set(title_kinds) | set(body_kinds)]
    return Checked(title=clean_title, body=clean_body, masked_kinds=masked)


def _subscribe(session: Session, *, thread: ForumThread, user: User) -> None:
    from sqlalchemy import select

    found = session.scalar(
        select(ForumSubscription).where(
            ForumSubscription.thread_id == thread.id, ForumSubscription.user_id == user.id
        )
    )
    if found is None:
        with session.begin_nested():
            session.add(ForumSubscription(thread_id=thread.id, user_id=user.id,
                                          created_at=clock.now()))  # fmt: skip


def _post(
    session: Session, *, thread: ForumThread, user: User, checked: Checked, address: str,
    is_question: bool, official: bool,
) -> ForumPost:  # fmt: skip
    now = clock.now()
    post = ForumPost(
        thread_id=thread.id,
        author_user_id=user.id,
        is_question=is_question,
        body_markdown=checked.body,
        body_html=render.to_html(checked.body),
        is_official=official and user.is_staff,
        visibility=guard.visibility_for_new_post(
            session, user=user, text=f"{checked.title}\n{checked.body}"
        ).value,
        masked_kinds=",".join(checked.masked_kinds),
        score=0,
        posted_from=(address or "")[:45],
        created_at=now,
    )
    session.add(post)
    session.flush()
    return post


def do_create_thread(
    session: Session,
    *,
    user: User | None,
    address: str,
    category: ForumCategory,
    title: str,
    body: str,
    locale: str,
    mask_private_data: bool = False,
) -> ForumThread:
    """A new question: the thread and its first post (held when the guard says so)."""
    guard.check_may_post(session, user=user, address=address)
    assert user is not None
    checked = check_text(session, title=title, body=body, mask_private_data=mask_private_data)
    now = clock.now()
    thread = ForumThread(
        category_id=category.id, author_user_id=user.id, title=checked.title,
        locale=locale, created_at=now, last_activity_at=now, reply_count=0, view_count=0,
        is_locked=False, is_pinned=False, visibility=Visibility.public.value,
    )  # fmt: skip
    session.add(thread)
    session.flush()
    post = _post(session, thread=thread, user=user, checked=checked, address=address,
                 is_question=True, official=False)  # fmt: skip
    thread.visibility = post.visibility
    _subscribe(session, thread=thread, user=user)
    return thread


def do_reply(
    session: Session,
    *,
    user: User | None,
    address: str,
    thread: ForumThread,
    body: str,
    official: bool = False,
    mask_private_data: bool = False,
) -> ForumPost:
    """An answer in a thread; followers are e-mailed once it is public and committed."""
    guard.check_may_post(session, user=user, address=address)
    assert user is not None
    if not can_see_thread(user, thread):
        raise NotFound()
    if thread.is_locked and not user.is_staff:
        raise Conflict(N_("This thread is locked: it takes no new answers."),
                       code="forum_thread_locked")  # fmt: skip
    if thread.visibility != Visibility.public.value and not user.is_staff:
        raise Conflict(N_("You can answer once this question has been reviewed."),
                       code="forum_thread_not_public")  # fmt: skip
    checked = check_text(session, title=None, body=body, mask_private_data=mask_private_data)
    post = _post(session, thread=thread, user=user, checked=checked, address=address,
                 is_question=False, official=official)  # fmt: skip
    if post.visibility == Visibility.public.value:
        thread.reply_count += 1
        thread.last_activity_at = post.created_at
        notify.new_reply(session, thread=thread, post=post)
    _subscribe(session, thread=thread, user=user)
    return post


def do_edit_post(
    session: Session,
    *,
    user: User | None,
    address: str,
    post: ForumPost,
    thread: ForumThread,
    body: str,
    title: str | None = None,
    mask_private_data: bool = False,
) -> ForumPost:
    """The author's edit of their own post (staff edit others' through moderation)."""
    if user is None or not can_see_thread(user, thread):
        raise NotFound()
    if post.author_user_id != user.id:
        raise PermissionDenied(N_("You can only edit your own posts."), code="forum_not_author")
    if post.visibility in (Visibility.hidden.value, Visibility.moved.value):
        raise NotFound()
    guard.check_may_post(session, user=user, address=address)
    checked = check_text(
        session,
        title=title if post.is_question and title is not None else None,
        body=body,
        mask_private_data=mask_private_data,
    )
    if post.is_question and title is not None:
        thread.title = checked.title
    post.body_markdown = checked.body
    post.body_html = render.to_html(checked.body)
    kinds = set(filter(None, post.masked_kinds.split(","))) | set(checked.masked_kinds)
    post.masked_kinds = ",".join(k for k in privacy.KINDS if k in kinds)
    post.edited_at = clock.now()
    if guard.visibility_for_new_post(session, user=user, text=checked.body) == Visibility.held:
        post.visibility = Visibility.held.value
        if post.is_question:
            thread.visibility = Visibility.held.value
    session.flush()
    return post
