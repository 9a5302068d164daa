"""Where a page may send the browser next: the one check for every ``next`` parameter."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.routing import Match

MAX_NEXT_LENGTH = 2000


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site, else ``default``: never an open redirect.

    Accepted: a relative path starting with one "/" ("/wallet?tab=cny"). Refused: anything
    with a scheme or host ("https://evil.example", "//evil.example"), a backslash (browsers
    read "/\\evil.example" as "//evil.example"), any control, space or separator character
    (browsers drop tabs and line breaks, which turns "/\\t/evil.example" into
    "//evil.example"), and anything longer than 2,000 characters."""
    if not target or len(target) > MAX_NEXT_LENGTH:
        return default
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(not ch.isprintable() or ch.isspace() for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def return_path(request: Request) -> str:
    """The page to come back to on this site after a detour (switching language, signing in
    again): this page itself when it was fetched with GET; after a form was posted, the page
    that held the form (the same-site Referer), because the posted page cannot be fetched
    again. Without a usable Referer, the nearest page above the posted one that can be
    fetched ("/wallet/send" for "/wallet/send/review"); "/" when there is none."""
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return safe_next(request.url.path + (f"?{query}" if query else ""))
    candidates = []
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.url.netloc and parts.scheme in ("http", "https"):
            candidates.append((parts.path, parts.query))
    path = request.url.path.rstrip("/")
    while path:
        candidates.append((path, ""))
        path = path.rsplit("/", 1)[0]
    for path, query in candidates:
        target = safe_next(path + (f"?{query}" if query else ""), default="")
        if target and _can_get(request, path):
            return target
    return "/"


def _can_get(request: Request, path: str) -> bool:
    """Whether a page of this app answers GET at ``path``."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)
