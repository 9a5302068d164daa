"""One pure-ASGI middleware for what every request needs before its route runs:

- the client's address (through trusted proxies only) and device, for audit rows;
- who is signed in (session cookie for pages, bearer token for the API);
- the language (user's setting, cookie, Accept-Language, zh-CN);
- the CSRF binding (session, or an anonymous cookie) and the security headers.

BodyLimitMiddleware, inside it, caps request bodies before any route reads them.

It runs in the event loop, so the context variables it sets are seen by the route, its
dependencies and the error handlers (which FastAPI runs in copies of this context)."""

from __future__ import annotations

import ipaddress
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from http.cookies import SimpleCookie
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from okpay import replica
from okpay.core import context, i18n
from okpay.core.errors import DomainError
from okpay.core.i18n import N_, format_size
from okpay.core.security import csrf_token, hash_token, new_token
from okpay.settings import Settings
from okpay.web import flash

SESSION_COOKIE = "okpay_session"
DEVICE_COOKIE = "okpay_device"
ANON_COOKIE = "okpay_anon"
LANG_COOKIE = "okpay_lang"
# "This browser has been signed in here": a form refused after the session ended then says
# so and offers to sign in again, where a stranger's stale form only says it expired.
KNOWN_COOKIE = "okpay_known"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                return {}
            return {k: m.value for k, m in jar.items()}
    return {}


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


def client_ip(scope: Scope, settings: Settings) -> str | None:
    """The peer address; X-Forwarded-For is believed only from configured proxies."""
    peer = (scope.get("client") or (None, None))[0]
    if not settings.trusted_proxies or peer is None:
        return peer
    try:
        trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        if not any(ipaddress.ip_address(peer) in net for net in trusted):
            return peer
    except ValueError:
        return peer
    forwarded = _header(scope, b"x-forwarded-for")
    if not forwarded:
        return peer
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            if not any(ipaddress.ip_address(hop) in net for net in trusted):
                return hop
        except ValueError:
            return peer
    return hops[0] if hops else peer


def client_country(scope: Scope, settings: Settings) -> str | None:
    """The two-letter country from the configured proxy header, if any and well formed."""
    if not settings.country_header:
        return None
    value = (
        (_header(scope, settings.country_header.lower().encode("latin-1")) or "").strip().upper()
    )
    return value if len(value) == 2 and value.isalpha() and value not in ("XX", "T1") else None


SessionResolver = Callable[[str, str], Any]
# (user, method, path) -> the DomainError that refuses the request, or None: a step the
# signed-in user must finish before anything else (identity.required_steps.check_request).
StepGate = Callable[[Any, str, str], DomainError | None]


class RequestMiddleware:
    """Request context, language and the signed-in user. ``resolve_session`` turns a session
    token and its kind ("web" or "api") into (user, session row) or None; the app passes
    identity's (web is a toolkit below the domains and imports none of them). ``step_gate``,
    if given, may refuse a signed-in user's request before any route runs (a step they
    must finish first): the API gets the error, pages a redirect, websockets a close."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        resolve_session: SessionResolver,
        step_gate: StepGate | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.resolve_session = resolve_session
        self.step_gate = step_gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path.startswith("/static/") or path in ("/healthz", "/readyz"):
            await self.app(scope, receive, send)
            return
        is_api = path.startswith("/api/")
        cookies = _cookies(scope)
        ua = _header(scope, b"user-agent")
        ctx_token = context.set_current(
            context.RequestContext(
                ip=client_ip(scope, self.settings),
                user_agent=ua,
                channel="api" if is_api else "web",
                country=client_country(scope, self.settings),
            )
        )

        user, user_session, session_token = None, None, None
        if is_api:
            auth = _header(scope, b"authorization") or ""
            if auth[:7].lower() == "bearer ":
                session_token = auth[7:].strip()
                kind = "api"
        else:
            session_token = cookies.get(SESSION_COOKIE)
            kind = "web"
        if session_token:
            found = await run_in_threadpool(self.resolve_session, session_token, kind)
            if found is not None:
                user, user_session = found

        locale = i18n.negotiate(
            user_pref=getattr(user, "preferred_locale", None),
            cookie=cookies.get(LANG_COOKIE),
            accept_language=_header(scope, b"accept-language"),
        )
        locale_token = i18n.set_locale(locale)

        set_cookies: list[str] = []
        anon = cookies.get(ANON_COOKIE)
        if user_session is not None and session_token:
            binding = hash_token(session_token)
        else:
            if not anon or len(anon) > 64:
                anon = new_token(16)
                set_cookies.append(self._cookie(ANON_COOKIE, anon, max_age=None))
            binding = anon
        if user is not None and not is_api and cookies.get(KNOWN_COOKIE) != "1":
            set_cookies.append(self._cookie(KNOWN_COOKIE, "1", max_age=400 * 86400))
        device = cookies.get(DEVICE_COOKIE)
        if not is_api and (not device or len(device) > 64):
            device = new_token(24)
            set_cookies.append(self._cookie(DEVICE_COOKIE, device, max_age=400 * 86400))

        state = scope.setdefault("state", {})
        state.update(
            user=user,
            user_session=user_session,
            locale=locale,
            csrf_binding=binding,
            csrf_token=csrf_token(binding),
            device_token=device,
            is_api=is_api,
            # A session cookie came (even one no longer valid), or this browser has been
            # signed in here before: see web.errors (a refused form after the session ended).
            signed_in_before=bool(session_token) or cookies.get(KNOWN_COOKIE) == "1",
        )

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                _security_headers(headers, self.settings)
                if "content-language" not in headers:
                    headers["Content-Language"] = i18n.html_lang(locale)
                for cookie in set_cookies:
                    headers.append("Set-Cookie", cookie)
                update = flash.cookie_update(state, flash.COOKIE in cookies)
                if update is not None:
                    action, value = update
                    headers.append(
                        "Set-Cookie",
                        self._cookie(flash.COOKIE, value, max_age=300)
                        if action == "set"
                        else f"{flash.COOKIE}=; Path=/; Max-Age=0",
                    )
            await send(message)

        # Read-your-writes on a read replica: writes and reads are this user's (okpay.replica).
        acting_token = replica.acting_for.set(f"user:{user.id}" if user is not None else None)
        refusal = (
            self.step_gate(user, scope.get("method", "GET"), path)
            if self.step_gate is not None and user is not None
            else None
        )
        try:
            if refusal is None:
                await self.app(scope, receive, send_wrapper)
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                from okpay.web import errors

                response = await errors.domain_error(Request(scope, receive), refusal)
                await response(scope, receive, send_wrapper)
        finally:
            replica.acting_for.reset(acting_token)
            i18n.reset_locale(locale_token)
            context.reset(ctx_token)

    def _cookie(self, name: str, value: str, *, max_age: int | None) -> str:
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.settings.secure_cookies:
            parts.append("Secure")
        return "; ".join(parts)


def _security_headers(headers: MutableHeaders, settings: Settings) -> None:
    if "content-security-policy" not in headers:
        headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("X-Frame-Options", "DENY")
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if settings.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


class StaticHeadersMiddleware:
    """Security headers for the paths RequestMiddleware skips (static files, health)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Content-Security-Policy", CSP)
            await send(message)

        await self.app(scope, receive, send_wrapper)


# --------------------------------------------------------------------- request body caps


class RequestTooLarge(DomainError):
    code = "request_too_large"
    status = 413
    message = N_("This request is too large: at most %(limit)s can be sent at once.")


class UploadRequestTooLarge(RequestTooLarge):
    message = N_(
        "The files are too large together: at most %(limit)s can be sent at once. "
        "Please send fewer or smaller files."
    )


class _BodyOverCap(Exception):
    """Raised into the app from receive() once the body passes its cap."""


def _takes_files(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, UploadFile):
        return True
    return any(_takes_files(arg) for arg in typing.get_args(annotation))


def _body_params(dependant: Any) -> Iterator[Any]:
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _body_params(sub)


def routes_taking_files(routes: Sequence[BaseRoute]) -> list[tuple[re.Pattern[str], set[str]]]:
    """The path patterns and methods of every route with a file parameter: they may receive
    bodies up to the upload cap. Found from the routes themselves, so a new upload route
    cannot be forgotten."""
    from fastapi import routing

    # Newer FastAPI keeps included routers as one entry each (iter_route_contexts opens
    # them); older versions list every route flat.
    contexts: Iterable[Any] = getattr(routing, "iter_route_contexts", lambda r: r)(routes)
    found = []
    for entry in contexts:
        route = getattr(entry, "original_route", entry)
        if isinstance(route, routing.APIRoute) and any(
            _takes_files(field.field_info.annotation) for field in _body_params(route.dependant)
        ):
            found.append((entry.path_regex, set(entry.methods or ())))
    return found


class BodyLimitMiddleware:
    """Refuses a request body over its cap before any route parses it (413, in the user's
    language): by Content-Length at once, and by counting what arrives when the length is
    missing or lies. Without it a multipart upload is spooled to disk in full before any
    size check runs.

    Runs inside RequestMiddleware, so the refusal has the request's language and headers."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        upload_routes: Callable[[], Sequence[tuple[re.Pattern[str], set[str]]]] = tuple,
    ) -> None:
        self.app = app
        self.settings = settings
        # Asked the first time a body passes the common cap (finding the routes that take
        # files means FastAPI analysing every route: about a second, which a process should
        # not spend before its first request; the warm-up asks for it ahead).
        self.find_upload_routes = upload_routes
        self._upload_routes: Sequence[tuple[re.Pattern[str], set[str]]] | None = None

    @property
    def upload_routes(self) -> Sequence[tuple[re.Pattern[str], set[str]]]:
        if self._upload_routes is None:
            self._upload_routes = self.find_upload_routes()
        return self._upload_routes

    def _takes_files(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        method = scope.get("method", "")
        return any(
            (not methods or method in methods) and pattern.match(path)
            for pattern, methods in self.upload_routes
        )

    def _limit(self, scope: Scope, size: int) -> tuple[int, bool]:
        """The cap for a body of ``size`` bytes (so far) to this route, and whether it is
        the upload cap. Under the common cap no route need be looked up."""
        if size <= self.settings.request_max_bytes or not self._takes_files(scope):
            return self.settings.request_max_bytes, False
        return self.settings.upload_request_limit, True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            declared = int(_header(scope, b"content-length") or -1)
        except ValueError:
            declared = -1  # the server refuses a malformed length; count what arrives
        limit, uploads = self._limit(scope, declared)
        if declared > limit:
            await self._refuse(scope, receive, send, limit, uploads)
            return

        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over, limit, uploads
            if over:
                raise _BodyOverCap
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not uploads:
                    limit, uploads = self._limit(scope, received)
                if received > limit:
                    over = True
                    raise _BodyOverCap
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to the cut body is replaced by ours below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            # Whatever the app made of the cut body (FastAPI turns it into a 400), the
            # answer is the cap; any other error keeps its normal handling.
            if not over or started:
                raise
        if over and not started:
            await self._refuse(scope, receive, send, limit, uploads)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, limit: int, uploads: bool
    ) -> None:
        from okpay.web import errors

        kind = UploadRequestTooLarge if uploads else RequestTooLarge
        # The rest of the body is never read: tell the client the connection ends here.
        err = kind(limit=format_size(limit), headers={"Connection": "close"})
        response = await errors.domain_error(Request(scope, receive), err)
        await response(scope, receive, send)
