"""Pages that belong to no domain: home and the language switcher (beside app.py, above
the domains: the switcher also saves a signed-in user's language)."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from okpay import __version__
from okpay.core.i18n import LANGUAGE_NAMES, gettext, html_lang, normalise, use_locale
from okpay.identity import profile as identity_profile
from okpay.identity import sign_in_pages
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.middleware import LANG_COOKIE
from okpay.web.redirects import safe_next
from okpay.web.templating import page_env, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

THEME_COLOUR = "#0f766e"


@router.get("/")
def home(request: Request) -> Response:
    """The welcome page; a signed-in person goes to where they work (console or wallet)."""
    user = request.state.user
    if user is not None:
        return RedirectResponse(sign_in_pages.landing_path(user), status_code=303)
    return render(request, "web/home.html")


@router.post("/language")
def switch_language(
    request: Request,
    db: DbSession,
    locale: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Set the language cookie (and the signed-in user's setting), then go back."""
    chosen = normalise(locale) or "zh_CN"
    user = request.state.user
    if user is not None and user.preferred_locale != chosen:
        identity_profile.do_update_profile(db, user=user, preferred_locale=chosen)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        chosen,
        max_age=365 * 86400,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )
    return response


# ------------------------------------------------------------------ installable web app
# The manifest, the service worker and the offline page it shows. The worker caches only
# the static shell and /offline (static/js/sw.js): never a page with account data, never an
# API answer.

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
SHELL_ASSETS = (
    "/offline",
    "/static/vendor/pico/pico.min.css",
    "/static/css/app.css",
    "/static/js/app.js",
    "/static/js/offline.js",
    "/static/img/mark.svg",
    "/static/img/icon-192.png",
)


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> Response:
    """The web app manifest: name, icons and colours for "add to home screen"."""
    body = {
        "name": "OKPay",
        "short_name": "OKPay",
        "description": gettext("Your wallet and the help to go with it."),
        "lang": html_lang(),
        "id": "/",
        "start_url": "/wallet",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f5f8f7",
        "theme_color": THEME_COLOUR,
        "icons": [
            {"src": "/static/img/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/img/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {
                "src": "/static/img/icon-maskable-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": "/static/img/mark.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache", "Vary": "Accept-Language, Cookie"},
    )


@functools.cache
def _service_worker_source() -> str:
    """static/js/sw.js with its cache named after the shell's content: a new version of any
    shell file makes a new cache, and the old one is dropped when the new worker starts."""
    digest = hashlib.sha256(__version__.encode())
    for asset in SHELL_ASSETS:
        if asset.startswith("/static/"):
            digest.update((STATIC_DIR / asset.removeprefix("/static/")).read_bytes())
    for template in ("offline.html", "base.html"):
        digest.update((STATIC_DIR.parent / "templates" / "web" / template).read_bytes())
    source = (STATIC_DIR / "js" / "sw.js").read_text(encoding="utf-8")
    return source.replace("__SHELL_VERSION__", digest.hexdigest()[:12]).replace(
        "__SHELL_ASSETS__", json.dumps(list(SHELL_ASSETS))
    )


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker, served from the root so its scope is the whole site."""
    return Response(
        _service_worker_source(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/offline")
def offline(request: Request) -> Response:
    """What the service worker shows when a page cannot be reached. It is cached, so it
    carries nothing about the visitor: no name, no token, both languages (offline.js shows
    the one last used)."""
    versions = []
    for code in LANGUAGE_NAMES:
        with use_locale(code):
            versions.append(
                {
                    "lang": html_lang(code),
                    "title": gettext("You are offline"),
                    "body": gettext(
                        "OKPay cannot be reached right now. Check your connection and try "
                        "again: nothing was sent while you were offline."
                    ),
                    "retry": gettext("Try again"),
                }
            )
    current = html_lang()
    versions.sort(key=lambda v: v["lang"] != current)  # the visitor's language first
    html = page_env().get_template("web/offline.html").render(versions=versions, lang=current)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(
        STATIC_DIR / "img" / "favicon-32.png",
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )
