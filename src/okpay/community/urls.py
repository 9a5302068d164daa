"""Addresses of forum threads: ``/community/t/<id>-<words of the title>``."""

from __future__ import annotations

import re

from okpay.community.models import ForumThread

_SLUG_WORD = re.compile(r"[a-z0-9]+")


def slug_of(title: str) -> str:
    """A short readable address part from the title's Latin words ("" for all-Chinese)."""
    words = _SLUG_WORD.findall(title.lower())
    slug = "-".join(words)[:60].strip("-")
    return slug


def thread_path(thread: ForumThread) -> str:
    slug = slug_of(thread.title)
    return f"/community/t/{thread.id}-{slug}" if slug else f"/community/t/{thread.id}"
