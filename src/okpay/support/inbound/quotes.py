"""Quoted history in replies ("On … wrote:", "在 … 写道：", Outlook blocks, ">" lines)."""

from __future__ import annotations

import re

_QUOTE_HEADER = re.compile(r"^\s*\*?(from|发件人|寄件者)\s*\*?\s*[:：]", re.I)


# "From: ICBC\nTo: my wallet" typed by a customer is not a quote: a date line must follow.
_QUOTE_HEADER_NEXT = re.compile(
    r"^\s*\*?(sent|date|发送时间|时间|日期|寄件日期)\s*\*?\s*[:：]", re.I
)


_CUT_LINES = [
    re.compile(r"^\s*-{2,}\s*(original message|原始邮件|原始郵件|回复的原邮件)\s*-{2,}", re.I),
    re.compile(r"^.{0,300}(写道|寫道)\s*[：:]\s*$"),
    re.compile(r"^\s*le\s.{0,300}\sa écrit\s*:\s*$", re.I),
]


_ON_LINE = re.compile(r"^\s*on\s", re.I)


_WROTE = re.compile(r"on\s.{0,300}\swrote\s*:", re.I)


def strip_quoted(body: str) -> str:
    """A reply without the history it quotes: cut at "On … wrote:", "在 … 写道：",
    "-----Original Message-----", an Outlook "From:/发件人:" block, and drop lines quoted with
    ">". If nothing would be left, the text is kept as it was."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        # "On Sat, 21 Nov 2026 at 10:00, Li Hua <li@example.com>\nwrote:" wraps in some clients.
        attribution = (" ".join(x.strip() for x in lines[i : i + k]) for k in (1, 2, 3))
        if any(p.match(line) for p in _CUT_LINES) or (
            _ON_LINE.match(line) and any(_WROTE.fullmatch(a) for a in attribution)
        ):
            cut = i
            break
        if _QUOTE_HEADER.match(line) and any(
            _QUOTE_HEADER_NEXT.match(nxt) for nxt in lines[i + 1 : i + 5]
        ):
            cut = i
            # An Outlook separator line right above belongs to the quote too.
            if i > 0 and re.fullmatch(r"\s*_{8,}\s*", lines[i - 1]):
                cut = i - 1
            break
    kept = [line for line in lines[:cut] if not re.match(r"^\s*[>＞]", line)]
    result = "\n".join(kept).strip()
    return result if result else body.strip()
