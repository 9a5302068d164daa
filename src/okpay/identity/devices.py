"""A short human label for a browser or app ("Chrome on Windows"), for session lists."""

from __future__ import annotations

import re

_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("WeChat", re.compile(r"MicroMessenger/")),
    ("Opera", re.compile(r"OPR/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|HeadlessChrome/")),
    ("Safari", re.compile(r"Safari/")),
    ("OKPay app", re.compile(r"OKPay/")),
    ("curl", re.compile(r"^curl/")),
    ("Python", re.compile(r"python-httpx|python-requests")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("HarmonyOS", re.compile(r"HarmonyOS|OpenHarmony")),
    ("Linux", re.compile(r"Linux|X11")),
)


def device_label(user_agent: str | None) -> str:
    """ "Chrome / Windows" style label; "Unknown device" when nothing is recognised."""
    ua = user_agent or ""
    browser = next((name for name, rx in _BROWSERS if rx.search(ua)), "")
    system = next((name for name, rx in _SYSTEMS if rx.search(ua)), "")
    label = " / ".join(part for part in (browser, system) if part)
    return label[:100] or "Unknown device"
