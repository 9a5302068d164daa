"""HTML e-mail: readable text from it, and a sanitised copy safe to show agents."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

from okpay.support.inbound import mime

HTML_MAX = 200_000  # a cleaned HTML copy larger than this is not kept (the text is)


_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
               "pre", "table", "hr", "ul", "ol", "section", "article", "footer"}  # fmt: skip


_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.link: tuple[str, int] | None = None  # href, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "td" or tag == "th":
            self.parts.append("\t")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.link = (href, len(self.parts)) if re.match(r"https?://", href, re.I) else None

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a" and self.link is not None:
            # Where a link really goes matters (a customer reporting a phishing e-mail).
            href, start = self.link
            if href not in "".join(self.parts[start:]):
                self.parts.append(f" <{mime.clean_line(href, limit=500)}>")
            self.link = None

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(source: str) -> str:
    """Readable text from an HTML e-mail: blocks become lines; scripts and styles vanish."""
    parser = _TextExtractor()
    parser.feed(source)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_SAFE_TAGS = {"a", "b", "strong", "i", "em", "u", "s", "p", "br", "div", "span", "ul", "ol",
              "li", "blockquote", "pre", "code", "table", "thead", "tbody", "tfoot", "tr", "td",
              "th", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "small", "sub", "sup"}  # fmt: skip


_SAFE_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"},
                    "th": {"colspan", "rowspan"}}  # fmt: skip


def sanitise_html(source: str, *, drop_quotes: bool = False) -> str | None:
    """A copy of an HTML e-mail safe to show as is: a small set of tags, no scripts, styles,
    event handlers or images (remote images are tracking pixels), links with safe schemes
    only. ``drop_quotes`` removes quoted history (blockquote) from replies. None when
    nothing readable is left or the copy is too large to keep."""
    removed = {"script", "style", "title", "head", "template", "noscript", "object", "svg",
               "math", "iframe", "textarea", "select"}  # fmt: skip
    if drop_quotes:
        removed.add("blockquote")
    clean = nh3.clean(
        source,
        tags=_SAFE_TAGS - removed,
        clean_content_tags=removed,
        attributes=_SAFE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()
    if not clean or len(clean) > HTML_MAX or not html_to_text(clean):
        return None
    return clean
