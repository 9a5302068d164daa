"""The Jinja2 environment for pages: one loader over every domain's templates, with the
helpers every environment shares (gettext bound to the request's locale, formatting)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
from babel import UnknownLocaleError
from babel import numbers as babel_numbers
from starlette.requests import Request
from starlette.responses import HTMLResponse

from okpay.core.i18n import get_locale
from okpay.core.template_helpers import install_helpers
from okpay.web.redirects import return_path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
DOMAINS_WITH_TEMPLATES = (
    "web",
    "identity",
    "mail",
    "wallet",
    "risk",
    "helpcenter",
    "community",
    "support",
    "casework",
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
    env.globals["return_path"] = return_path
    env.globals["currency_name"] = currency_name
    return env


def currency_name(currency: str) -> str:
    """A currency's name in the page's language ("CNY" → "人民币" / "Chinese Yuan")."""
    try:
        return str(babel_numbers.get_currency_name(currency, locale=get_locale()))
    except (ValueError, UnknownLocaleError):
        return currency


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
