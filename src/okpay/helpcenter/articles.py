"""Help articles as Markdown files with front matter, and how an article becomes HTML.

A file ``articles/<locale>/<slug>.md`` looks like::

    ---
    title: 忘记密码怎么办
    category: login_password
    questions: [忘记密码了怎么登录, ...]
    related: [account-locked, enable-2fa]
    action: reset_password
    ---
    Markdown body; wallet figures as placeholders: {{ fee.withdrawal_percent }}%.

Placeholders are filled from :mod:`okpay.helpcenter.facts` in a sandboxed Jinja
environment (staff edit bodies on the web), Markdown is rendered by markdown-it and the HTML
cleaned by nh3, so an article can never carry a script.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import nh3
from jinja2 import StrictUndefined
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from okpay.helpcenter import facts

ARTICLES_DIR = Path(__file__).resolve().parent / "articles"
LOCALES = ("zh_CN", "en")
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


@dataclass
class ArticleSource:
    """One article in one language, as written."""

    slug: str
    locale: str
    title: str
    category: str
    body: str
    questions: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    action: str | None = None


class ArticleFormatError(ValueError):
    """A file or edit that is not a valid article (missing title, bad placeholder...)."""


def parse(text: str, *, slug: str, locale: str) -> ArticleSource:
    """An article from a Markdown file's text with front matter."""
    post = frontmatter.loads(text)
    meta: dict[str, Any] = post.metadata
    title = str(meta.get("title") or "").strip()
    category = str(meta.get("category") or "").strip()
    if not title or not category:
        raise ArticleFormatError(f"{locale}/{slug}: title and category are required")
    questions = [str(q).strip() for q in meta.get("questions") or [] if str(q).strip()]
    related = [str(r).strip() for r in meta.get("related") or [] if str(r).strip()]
    action = meta.get("action")
    return ArticleSource(
        slug=slug,
        locale=locale,
        title=title,
        category=category,
        body=post.content.strip() + "\n",
        questions=questions,
        related=related,
        action=str(action) if action else None,
    )


def dump(source: ArticleSource) -> str:
    """The file text for ``source`` (front matter and body), as ``okpay kb export`` writes."""
    meta: dict[str, Any] = {"title": source.title, "category": source.category}
    if source.questions:
        meta["questions"] = source.questions
    if source.related:
        meta["related"] = source.related
    if source.action:
        meta["action"] = source.action
    return str(frontmatter.dumps(frontmatter.Post(source.body, **meta))) + "\n"


def load_directory(root: Path = ARTICLES_DIR) -> list[ArticleSource]:
    """Every article under ``root/<locale>/*.md``, sorted by slug then locale."""
    found = []
    for locale in LOCALES:
        for path in sorted((root / locale).glob("*.md")):
            found.append(parse(path.read_text(encoding="utf-8"), slug=path.stem, locale=locale))
    return found


@functools.cache
def _sandbox() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def fill_placeholders(body: str) -> str:
    """Replace ``{{ fee.x }}`` and friends with the wallet's current figures."""
    try:
        return _sandbox().from_string(body).render(**facts.facts())
    except TemplateError as exc:
        raise ArticleFormatError(f"placeholder problem: {exc}") from exc


@functools.cache
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


ALLOWED_TAGS = {
    "p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote",
    "a", "table", "thead", "tbody", "tr", "th", "td", "br", "hr",
}  # fmt: skip


def to_html(body: str) -> str:
    """Safe HTML for an article body (placeholders filled, Markdown rendered, cleaned)."""
    rendered = _markdown().render(fill_placeholders(body))
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def to_text(body: str) -> str:
    """Plain text of an article body, for the index and snippets (without the hotline
    block's marker: the numbers change with the configuration, the index does not)."""
    text = html.unescape(nh3.clean(to_html(body), tags=set()))
    return text.replace(facts.HOTLINES_MARKER, "").strip()


def split_at_hotlines(rendered: str) -> list[str]:
    """An article's HTML cut where its ``{{ hotlines }}`` block goes: one part when it has
    none, two when the page must put the live hotline table between them."""
    marker = f"<p>{facts.HOTLINES_MARKER}</p>"
    if marker in rendered:
        return rendered.split(marker, 1)
    return [rendered.replace(facts.HOTLINES_MARKER, "")]
