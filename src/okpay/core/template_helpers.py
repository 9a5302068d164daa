"""What every Jinja2 environment shares, pages and e-mail alike: gettext bound to the current
locale, and formatting helpers and filters."""

from __future__ import annotations

import re

import jinja2
from markupsafe import Markup, escape

from okpay import __version__
from okpay.core import i18n


def install_helpers(env: jinja2.Environment) -> None:
    """gettext bound to the current locale, plus formatting filters."""
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda s, **kw: i18n.gettext(s, **kw),
        lambda s, p, n, **kw: i18n.ngettext(s, p, n, **kw),
        newstyle=True,
        pgettext=lambda c, s, **kw: i18n.pgettext(c, s, **kw),
    )
    env.globals["_"] = i18n.gettext
    env.globals["_code"] = gettext_code
    env.globals["get_locale"] = i18n.get_locale
    env.globals["html_lang"] = i18n.html_lang
    env.globals["languages"] = i18n.LANGUAGE_NAMES
    env.globals["app_version"] = __version__
    env.filters["datetime"] = i18n.format_datetime
    env.filters["date"] = i18n.format_date
    env.globals["money"] = i18n.format_money
    env.globals["country_name"] = i18n.country_name
    env.filters["linkify"] = linkify
    env.filters["paragraphs"] = paragraphs


def gettext_code(message: str, **params: str) -> Markup:
    """Translate ``message`` and fill its ``%(name)s`` params as literal code (a rule's code,
    a condition): each one escaped and shown in <code>, the words around them escaped."""
    text = escape(i18n.gettext(message))
    return text % {k: Markup("<code>%s</code>") % v for k, v in params.items()}


_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escape ``text`` and turn http(s) URLs in it into links."""
    escaped = str(escape(text))
    # Safe: the text was escaped first; only our own <a> tags are added around URLs.
    return Markup(_URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped))  # noqa: S704


def paragraphs(text: str) -> Markup:
    """Plain text as HTML paragraphs with links (the HTML part of e-mails)."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return Markup(  # noqa: S704 - built from linkify's escaped output
        "".join(f"<p>{linkify(block).replace(chr(10), Markup('<br>'))}</p>" for block in blocks)
    )
