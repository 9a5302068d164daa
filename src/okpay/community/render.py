"""Post bodies and titles: Markdown rendered once when written, and titles checked.

A post is read by everyone, so its HTML is made safe when it is stored: markdown-it-py renders
CommonMark with raw HTML turned off (``<script>`` stays text), and nh3 keeps only an
allow-list of tags and attributes. Links keep http, https and mailto addresses only (no
``javascript:``) and get ``rel="nofollow ugc noopener"``; images are not allowed at all, so a
post cannot load a picture from somewhere else (a tracking pixel) or break the page.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from typing import Any

import nh3

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_

TITLE_MIN = 6
TITLE_MAX = 200
BODY_MIN = 10
BODY_MAX = 20_000

ALLOWED_TAGS = {
    "p", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "a", "br", "hr",
    "h3", "h4", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
LINK_REL = "nofollow ugc noopener"


@functools.cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )
    md.disable("image")
    return md


def to_html(markdown: str) -> str:
    """Safe HTML for a post's Markdown."""
    rendered = _markdown().render(markdown)
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel=LINK_REL,
    )


def to_text(markdown: str) -> str:
    """The plain text of a post (for search, snippets and meta descriptions)."""
    return html.unescape(nh3.clean(to_html(markdown), tags=set())).strip()


def excerpt(markdown: str, length: int = 160) -> str:
    """The start of a post's text on one line, cut at ``length`` characters."""
    flat = re.sub(r"\s+", " ", to_text(markdown))
    return flat if len(flat) <= length else flat[: length - 1].rstrip() + "…"


def _has_control(text: str, *, allow_newlines: bool) -> bool:
    for ch in text:
        if allow_newlines and ch in "\n\r\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\u200d":
            return True
    return False


def check_title(title: str) -> str:
    """The title trimmed, or a refusal: plain text on one line, 6 to 200 characters."""
    if _has_control(title, allow_newlines=False):
        raise ValidationFailed(
            N_("The title must be one line of plain text."),
            code="forum_title_invalid",
            field="title",
        )
    clean = " ".join(title.split())
    if not TITLE_MIN <= len(clean) <= TITLE_MAX:
        raise ValidationFailed(
            N_("The title must be between %(min)s and %(max)s characters."),
            code="forum_title_length",
            field="title",
            min=TITLE_MIN,
            max=TITLE_MAX,
        )
    return clean


def check_body(body: str) -> str:
    """The body with Windows line ends made plain, or a refusal (length, control characters)."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if _has_control(text, allow_newlines=True):
        raise ValidationFailed(
            N_("The text contains characters that cannot be shown."),
            code="forum_body_invalid",
            field="body",
        )
    if not BODY_MIN <= len(text) <= BODY_MAX:
        raise ValidationFailed(
            N_("The text must be between %(min)s and %(max)s characters."),
            code="forum_body_length",
            field="body",
            min=BODY_MIN,
            max=BODY_MAX,
        )
    return text
