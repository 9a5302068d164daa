"""One-shot messages shown on the next page (after a redirect), kept in a signed cookie."""

from __future__ import annotations

import json

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from okpay.settings import get_settings

COOKIE = "okpay_flash"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().secret_key, salt="flash")


def flash(request: Request, message: str, category: str = "info") -> None:
    """Show ``message`` (already translated) on the next page this browser renders."""
    pending = request.state.__dict__.setdefault("flash_out", [])
    pending.append({"m": message, "c": category})


def pop_flashes(request: Request) -> list[dict[str, str]]:
    """Messages carried over from the previous response, plus any added for this one."""
    raw = request.cookies.get(COOKIE)
    carried: list[dict[str, str]] = []
    if raw and not request.state.__dict__.get("flash_consumed"):
        try:
            carried = list(_serializer().loads(raw))
        except (BadSignature, json.JSONDecodeError, TypeError):
            carried = []
    request.state.flash_consumed = True
    current = request.state.__dict__.pop("flash_out", [])
    return carried + current


def commit_flashes(request: Request, response: Response) -> None:
    """Store pending messages for the next page, or clear the ones just shown."""
    pending = request.state.__dict__.get("flash_out")
    if pending:
        response.set_cookie(
            COOKIE,
            _serializer().dumps(pending),
            httponly=True,
            samesite="lax",
            secure=get_settings().secure_cookies,
            max_age=300,
        )
    elif request.state.__dict__.get("flash_consumed") and request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE)
