"""Reading a MIME message safely: header values (8-bit and broken encodings included),
message ids, addresses, and walking its parts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from email.message import EmailMessage, Message

from okpay.core.errors import ValidationFailed
from okpay.identity import validation as identity_validation


def unescape_8bit(value: str) -> str:
    """Raw 8-bit header bytes (clients that skip encoded words) come out of the parser as
    surrogate escapes: read them as UTF-8, else as GB18030 (Chinese clients)."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", "replace")


def _raw_header(msg: Message, name: str) -> str:
    for key, raw in msg.raw_items():
        if key.lower() == name.lower():
            return unescape_8bit(str(raw))
    return ""


def header(msg: Message, name: str) -> str:
    """A header's decoded value; malformed encodings fall back to the raw text."""
    try:
        value = msg.get(name)
    except Exception:  # a header the email package cannot parse at all
        return _raw_header(msg, name)
    if value is None:
        return ""
    text = unescape_8bit(str(value))
    if "\ufffd" in text:  # raw 8-bit text the parser gave up on: read it ourselves
        return _raw_header(msg, name) or text
    return text


def clean_line(value: str, *, limit: int = 200) -> str:
    """One line of text from a header: line breaks (also those hidden in encoded words),
    tabs and control characters become spaces; runs of spaces collapse."""
    value = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in value or "")
    return re.sub(r"\s+", " ", value).strip()[:limit]


_MSG_ID = re.compile(r"<[^<>\s]{1,246}>")


def message_ids(value: str) -> list[str]:
    """The ``<id@host>`` tokens of a Message-ID, In-Reply-To or References header."""
    return list(dict.fromkeys(_MSG_ID.findall(value or "")))


def clean_address(raw: str) -> str | None:
    """The address in its canonical form, or None when it is not a usable address."""
    try:
        return identity_validation.normalise_email(raw)
    except ValidationFailed:
        return None


def leaf_parts(part: EmailMessage) -> Iterator[EmailMessage]:
    """Every non-multipart part. An attached message (message/rfc822) is yielded itself,
    then its own parts."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from leaf_parts(sub)  # type: ignore[arg-type]
        return
    yield part
    inner = inner_message(part)
    if inner is not None:
        yield from leaf_parts(inner)


def inner_message(part: EmailMessage) -> EmailMessage | None:
    """The message inside a message/rfc822 part (a forwarded or returned e-mail)."""
    if part.get_content_type() != "message/rfc822":
        return None
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
        return inner[0]
    return None


def part_bytes(part: EmailMessage) -> bytes:
    """A part's content as bytes (an attached message as its full source)."""
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes()
        return b""  # message/delivery-status and the like: not a file
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""
