"""The Jinja2 environment for pages: one loader over every domain's templates, gettext bound
to the request's locale, and formatting helpers."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from okpay import __version__
from okpay.core import i18n

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DOMAINS_WITH_TEMPLATES = ("web", "identity", "mail", "wallet", "helpcenter", "support", "casework")


def install_helpers(env: jinja2.Environment) -> None:
    """gettext bound to the current locale, plus formatting filters."""
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda s, **kw: i18n.gettext(s, **kw),
        lambda s, p, n, **kw: i18n.ngettext(s, p, n, **kw),
        newstyle=True,
    )
    env.globals["_"] = i18n.gettext
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


@functools.cache
def page_env() -> jinja2.Environment:
    """The environment for HTML pages (autoescaped)."""
    dirs = [str(PACKAGE_DIR / d / "templates") for d in DOMAINS_WITH_TEMPLATES]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(dirs),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_helpers(env)
    return env


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the layout's context (user, CSRF token, flashes, language)."""
    from okpay.web.flash import pop_flashes

    ctx = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "flashes": pop_flashes(request),
        "dev_mode": request.app.state.settings.is_dev,
        **context,
    }
    html = page_env().get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status_code)
