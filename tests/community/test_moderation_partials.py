"""The moderation controls the forum's thread page includes under each post and at the top of
a thread: who sees which control, and that they post to the right place with a CSRF token."""

from __future__ import annotations

from types import SimpleNamespace

from okpay.community.models import ForumPost, ForumThread
from okpay.core.i18n import use_locale
from okpay.web.templating import page_env


def _thread(**kw) -> ForumThread:  # type: ignore[no-untyped-def]
    values = {"id": 7, "author_user_id": 1, "visibility": "public", "is_locked": False,
              "is_pinned": False, "moderation_reason": ""}  # fmt: skip
    return ForumThread(**{**values, **kw})


def _post(**kw) -> ForumPost:  # type: ignore[no-untyped-def]
    values = {"id": 70, "thread_id": 7, "author_user_id": 2, "visibility": "public",
              "moderation_reason": "", "is_question": False}  # fmt: skip
    return ForumPost(**{**values, **kw})


def _user(uid: int, staff: bool = False):  # type: ignore[no-untyped-def]
    return SimpleNamespace(id=uid, is_staff=staff)


def render(name: str, **ctx) -> str:  # type: ignore[no-untyped-def]
    request = SimpleNamespace(url=SimpleNamespace(path="/community/t/7"))
    with use_locale("zh-CN"):
        return (
            page_env()
            .get_template(f"community/{name}")
            .render(csrf_token="tok", request=request, **ctx)
        )


def test_guests_see_no_controls() -> None:
    assert "form" not in render("_post_moderation.html", post=_post(), thread=_thread(), user=None)
    html = render("_thread_moderation.html", thread=_thread(), user=None)
    assert "form" not in html


def test_a_reader_can_report_someone_elses_post_but_not_their_own() -> None:
    html = render("_post_moderation.html", post=_post(), thread=_thread(), user=_user(3))
    assert 'action="/community/posts/70/report"' in html
    assert 'name="csrf_token" value="tok"' in html and 'name="next" value="/community/t/7"' in html
    assert "举报" in html and "/agent/" not in html
    own = render("_post_moderation.html", post=_post(), thread=_thread(), user=_user(2))
    assert "report" not in own


def test_staff_get_the_moderation_actions_inline() -> None:
    html = render("_post_moderation.html", post=_post(), thread=_thread(), user=_user(9, True))
    assert 'action="/agent/community/posts/70/hide"' in html
    assert 'action="/agent/community/users/2/ban"' in html and 'name="confirm"' in html
    held = render(
        "_post_moderation.html",
        post=_post(visibility="held"),
        thread=_thread(),
        user=_user(9, True),
    )
    assert 'action="/agent/community/posts/70/review"' in held and "等待审核" in held
    hidden = render(
        "_post_moderation.html", post=_post(visibility="hidden", moderation_reason="广告"),
        thread=_thread(), user=_user(9, True),
    )  # fmt: skip
    assert "/unhide" in hidden and "广告" in hidden


def test_thread_controls_for_staff_and_the_locked_notice_for_everyone() -> None:
    locked = _thread(is_locked=True)
    assert "已锁定" in render("_thread_moderation.html", thread=locked, user=None)
    html = render("_thread_moderation.html", thread=locked, user=_user(9, True))
    for action in ("unlock", "pin", "hide", "move-to-ticket"):
        assert f'action="/agent/community/threads/7/{action}"' in html
    assert "/agent/" not in render("_thread_moderation.html", thread=_thread(), user=_user(3))


def test_text_in_the_controls_is_escaped() -> None:
    post = _post(visibility="hidden", moderation_reason="<script>alert(1)</script>")
    html = render("_post_moderation.html", post=post, thread=_thread(), user=_user(9, True))
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
