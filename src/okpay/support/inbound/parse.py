"""Parsing an inbound message into what the service centre needs: sender, subject,
threading ids, text (HTML-only mail and forwarded messages included), language, files."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr

from okpay.core.i18n import normalise
from okpay.support.inbound import automatic as automatic_mail
from okpay.support.inbound import html_mail, mime


@dataclass
class InboundMail:
    """The parts of a message that matter to the service centre, cleaned."""

    name: str
    address: str | None
    subject: str
    message_id: str | None
    references: list[str]
    text: str
    html: str | None
    locale: str
    attachments: list[tuple[str, bytes]] = field(default_factory=list)
    automatic: str | None = None  # why it is automatic mail, or None


def parse(raw: bytes) -> EmailMessage:
    """The message parsed with the modern email API."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _sender(msg: EmailMessage, envelope_from: str | None) -> tuple[str, str | None]:
    """(display name, address) from From:, else from the envelope sender."""
    name, addr = "", None
    try:
        header = msg.get("From")
        found = list(getattr(header, "addresses", ()) or ())
    except Exception:
        found = []
    if found:
        name = mime.unescape_8bit(found[0].display_name or "")
        addr = mime.clean_address(mime.unescape_8bit(found[0].addr_spec))
    else:
        parsed = parseaddr(mime.header(msg, "From"))
        name, addr = parsed[0], mime.clean_address(parsed[1])
    if addr is None and envelope_from:
        addr = mime.clean_address(envelope_from)
    return mime.clean_line(name, limit=100), addr


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def detect_locale(msg: EmailMessage, sample: str) -> str:
    """zh_CN when the text has Chinese characters; else what Content-Language says; else en."""
    if _CJK.search(sample):
        return "zh_CN"
    for tag in re.split(r"[,\s]+", mime.header(msg, "Content-Language")):
        locale = normalise(tag)
        if locale in ("zh_CN", "en"):
            return locale
    return "en"


def _decode(part: EmailMessage) -> str:
    """A text part's content; GB2312/GBK declared mail is read as GB18030 (its superset, which
    Chinese clients actually send), unknown charsets as UTF-8, bad bytes replaced."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    charset = (part.get_content_charset() or "utf-8").lower()
    if charset in ("gb2312", "gbk", "x-gbk", "cp936", "euc-cn"):
        charset = "gb18030"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _text_of(msg: EmailMessage) -> tuple[str, str | None, set[int]]:
    """(text, HTML source of HTML-only mail, ids of the parts that were the text)."""
    plain = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    bodies = {id(p) for p in (plain, rich) if p is not None}
    text = _decode(plain) if plain is not None else ""  # type: ignore[arg-type]
    if text.strip() or rich is None:
        return text, None, bodies
    # HTML only, or an empty text alternative beside it.
    source = _decode(rich)  # type: ignore[arg-type]
    return html_mail.html_to_text(source), source, bodies


FORWARDED = "---------- Forwarded message ----------"


def _forwarded(msg: EmailMessage, bodies: set[int]) -> list[str]:
    """E-mails attached to this one (a customer forwarding a suspicious message), as text
    blocks for the ticket: their headers and text. Their files count as attachments."""
    blocks = []
    for part in mime.leaf_parts(msg):
        inner = mime.inner_message(part)
        if inner is None or id(part) in bodies:
            continue
        text, _html, inner_bodies = _text_of(inner)
        bodies.add(id(part))
        bodies.update(inner_bodies)
        head = [
            f"{name}: {mime.clean_line(mime.header(inner, name), limit=300)}"
            for name in ("From", "Date", "Subject", "To")
            if mime.header(inner, name)
        ]
        blocks.append("\n".join([FORWARDED, *head, "", text.strip()]))
    return blocks


def _attachments(msg: EmailMessage, bodies: set[int]) -> list[tuple[str, bytes]]:
    """(file name, content) of every part that is not the message's text."""
    found = []
    for n, part in enumerate(mime.leaf_parts(msg), start=1):
        if id(part) in bodies:
            continue
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        filename = mime.unescape_8bit(filename) if filename else None
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "text" and not filename and disposition != "attachment":
            continue  # another rendering of the text, not a file
        data = mime.part_bytes(part)
        if not data and not filename:
            continue
        if not filename:
            ext = mimetypes.guess_extension(part.get_content_type()) or ".bin"
            filename = f"attachment-{n}{ext}"
        found.append((str(filename), data))
    return found


def read(msg: EmailMessage, *, envelope_from: str | None = None) -> InboundMail:
    """Everything :func:`receive` needs from a parsed message."""
    name, address = _sender(msg, envelope_from)
    subject = mime.clean_line(mime.header(msg, "Subject"), limit=1000)
    ids = mime.message_ids(mime.header(msg, "Message-ID"))
    references = mime.message_ids(mime.header(msg, "In-Reply-To")) + mime.message_ids(
        mime.header(msg, "References")
    )
    body, html, bodies = _text_of(msg)
    automatic = automatic_mail.automatic_reason(msg, envelope_from, address)
    if automatic is None:
        body = "\n\n".join(x for x in [body.strip(), *_forwarded(msg, bodies)] if x)
    return InboundMail(
        name=name,
        address=address,
        subject=subject,
        message_id=ids[0] if ids else None,
        references=list(dict.fromkeys(references)),
        text=body,
        html=html,
        locale=detect_locale(msg, f"{subject}\n{body[:5000]}"),
        attachments=_attachments(msg, bodies) if automatic is None else [],
        automatic=automatic,
    )
