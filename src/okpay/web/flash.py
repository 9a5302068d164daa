"""One-shot messages shown on the next page (after a redirect), kept in a signed cookie."""

from __future__ import annotations

import json

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request

from okpay.settings import get_settings

COOKIE = "okpay_flash"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().secret_key, salt="flash")


def flash(request: Request, message: str, category: str = "info") -> None:
    """Show ``message`` (already translated) on the next page this browser renders."""
    pending = getattr(request.state, "flash_out", None)
    if pending is None:
        pending = request.state.flash_out = []
    pending.append({"m": message, "c": category})


def pop_flashes(request: Request) -> list[dict[str, str]]:
    """Messages carried over from the previous response, plus any added for this one."""
    raw = request.cookies.get(COOKIE)
    carried: list[dict[str, str]] = []
    if raw and not getattr(request.state, "flash_consumed", False):
        try:
            carried = list(_serializer().loads(raw))
        except (BadSignature, json.JSONDecodeError, TypeError):
            carried = []
    request.state.flash_consumed = True
    current = getattr(request.state, "flash_out", None) or []
    request.state.flash_out = []
    return carried + current


def cookie_update(state: dict[str, object], had_cookie: bool) -> tuple[str, str] | None:
    """What to do with the flash cookie once the route has run: ("set", value) to carry
    messages to the next page, ("clear", "") once they were shown, or None."""
    pending = state.get("flash_out")
    if pending:
        return "set", _serializer().dumps(pending)
    if state.get("flash_consumed") and had_cookie:
        return "clear", ""
    return None
