"""Inbound e-mail: mail to the support address opens a ticket or joins one.

Two layers:

- :func:`receive` turns one raw message into a ticket, a customer message, an internal note
  or nothing, inside the caller's unit of work. It needs no SMTP: an IMAP poller or a test
  can call it directly. :func:`process` wraps it in its own unit of work (with a retry when
  two deliveries race on PostgreSQL).
- :func:`start_listener` runs an SMTP server (aiosmtpd) in a thread: ``okpay serve`` starts
  one on 127.0.0.1:OKPAY_MAIL_IN_PORT, ``okpay mail-in`` runs it alone. It accepts mail for
  the support address only and hands each message to :func:`process` on a thread pool.

Rules the code follows (docs/support.md, "E-mail channel"):

- ``From:`` is never proof of identity. A ticket is never attached to a user account because
  the address matches; the agent sees a tag and a note instead. Only the ticket's requester
  address may add to a ticket; mail from another address that names a ticket opens a new
  ticket, with a note for the agents.
- ``From:`` alone never makes a message the requester's own words. When the envelope sender
  (the SMTP ``MAIL FROM``, else the ``Return-Path`` the MTA wrote) is another address, or the
  receiving MTA's ``Authentication-Results`` (only from a trusted authserv-id,
  ``OKPAY_INBOUND_TRUSTED_AUTHSERV_IDS``) say DMARC, SPF or DKIM failed, a message that would
  join a ticket is added as an unverified message the agents see flagged: it changes nothing
  (no reopening, no status or SLA change, no files kept). A new ticket from such mail is
  tagged and noted for the agents.
- Automatic mail (auto-replies, bounces, mailing lists, our own mail coming back) is never
  answered and never opens a ticket. When it belongs to a ticket it becomes an internal note.
- Each sender address gets ``OKPAY_INBOUND_PER_HOUR`` messages an hour; above that the
  message is dropped, and the SMTP listener answers 451 so a real mail server tries later.
- The same Message-ID delivered twice is stored once.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import mimetypes
import re
import socket
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any

import nh3
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from okpay.core import context
from okpay.core.errors import DomainError, RateLimited, ValidationFailed
from okpay.core.i18n import N_, gettext, normalise, use_locale
from okpay.db import for_update, get_database, import_models
from okpay.identity import throttling as identity_throttling
from okpay.identity import users as identity_users
from okpay.identity import validation as identity_validation
from okpay.settings import get_settings
from okpay.support import files as support_files
from okpay.support import service
from okpay.support.models import Channel, Status, Ticket, TicketMessage

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 25 * 1024 * 1024
HTML_MAX = 200_000  # a cleaned HTML copy larger than this is not kept (the text is)
NOTE_EXCERPT = 600
EMAIL = Channel.email.value

# Tags agents see on e-mail tickets.
TAG_ACCOUNT_MATCH = "sender-matches-account"
TAG_UNVERIFIED = "unverified-reference"
TAG_FOLLOW_UP = "follow-up"
TAG_SENDER_UNVERIFIED = "sender-unverified"

NO_SUBJECT = N_("E-mail without a subject")
NO_TEXT = N_("(This e-mail had no text.)")
TRUNCATED = N_("[The rest of this e-mail was cut: it was longer than %(max)s characters.]")
NOTE_ACCOUNT_MATCH = N_(
    "The sender address matches an OKPay account. The sender of an e-mail can be forged: "
    "verify the customer before discussing or changing the account."
)
NOTE_UNVERIFIED = N_(
    "This e-mail refers to request %(number)s, which was opened from another address, so it "
    "was opened as a new request. Do not share anything about %(number)s with this sender."
)
NOTE_SENDER_UNVERIFIED = N_(
    "This e-mail could not be verified as coming from %(address)s (%(why)s). It may be "
    "forged: verify the customer another way before discussing or changing anything."
)
WHY_ENVELOPE = N_("the envelope sender was %(address)s")
WHY_AUTH = N_("the receiving mail server's checks failed: %(results)s")
NOTE_FOLLOW_UP = N_("The customer wrote again about closed request %(number)s.")
NOTE_REFUSED = N_("Files in the customer's e-mail that were not kept:")
NOTE_TOO_MANY = N_("only %(max)s files are kept per message")
NOTE_BOUNCE = N_("An e-mail to the customer could not be delivered.")
NOTE_AUTO_REPLY = N_("Automatic reply from the customer's mailbox (not answered):")
NOTE_QUOTE_EXCERPT = N_("What it said:")


@dataclass
class Received:
    """What became of one inbound message."""

    # created | added | unverified | duplicate | noted | ignored | rate_limited | refused
    outcome: str
    number: str | None = None
    reason: str = ""

    @property
    def smtp_reply(self) -> str:
        """The SMTP answer for this outcome."""
        if self.outcome == "rate_limited":
            return "451 4.7.1 Too many messages from this sender; try again later"
        if self.outcome == "refused":
            return "550 5.1.7 No usable sender address"
        return "250 2.0.0 OK"


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


# ------------------------------------------------------------------------------ parsing


def parse(raw: bytes) -> EmailMessage:
    """The message parsed with the modern email API."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _unescape_8bit(value: str) -> str:
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
            return _unescape_8bit(str(raw))
    return ""


def _header(msg: Message, name: str) -> str:
    """A header's decoded value; malformed encodings fall back to the raw text."""
    try:
        value = msg.get(name)
    except Exception:  # a header the email package cannot parse at all
        return _raw_header(msg, name)
    if value is None:
        return ""
    text = _unescape_8bit(str(value))
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


def _address(raw: str) -> str | None:
    try:
        return identity_validation.normalise_email(raw)
    except ValidationFailed:
        return None


def _sender(msg: EmailMessage, envelope_from: str | None) -> tuple[str, str | None]:
    """(display name, address) from From:, else from the envelope sender."""
    name, addr = "", None
    try:
        header = msg.get("From")
        found = list(getattr(header, "addresses", ()) or ())
    except Exception:
        found = []
    if found:
        name = _unescape_8bit(found[0].display_name or "")
        addr = _address(_unescape_8bit(found[0].addr_spec))
    else:
        parsed = parseaddr(_header(msg, "From"))
        name, addr = parsed[0], _address(parsed[1])
    if addr is None and envelope_from:
        addr = _address(envelope_from)
    return clean_line(name, limit=100), addr


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def detect_locale(msg: EmailMessage, sample: str) -> str:
    """zh_CN when the text has Chinese characters; else what Content-Language says; else en."""
    if _CJK.search(sample):
        return "zh_CN"
    for tag in re.split(r"[,\s]+", _header(msg, "Content-Language")):
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


def _leaf_parts(part: EmailMessage) -> Iterator[EmailMessage]:
    """Every non-multipart part. An attached message (message/rfc822) is yielded itself,
    then its own parts."""
    if part.get_content_maintype() == "multipart":
        for sub in part.iter_parts():
            yield from _leaf_parts(sub)  # type: ignore[arg-type]
        return
    yield part
    inner = _inner_message(part)
    if inner is not None:
        yield from _leaf_parts(inner)


def _inner_message(part: EmailMessage) -> EmailMessage | None:
    """The message inside a message/rfc822 part (a forwarded or returned e-mail)."""
    if part.get_content_type() != "message/rfc822":
        return None
    inner = part.get_payload()
    if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
        return inner[0]
    return None


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
    return html_to_text(source), source, bodies


FORWARDED = "---------- Forwarded message ----------"


def _forwarded(msg: EmailMessage, bodies: set[int]) -> list[str]:
    """E-mails attached to this one (a customer forwarding a suspicious message), as text
    blocks for the ticket: their headers and text. Their files count as attachments."""
    blocks = []
    for part in _leaf_parts(msg):
        inner = _inner_message(part)
        if inner is None or id(part) in bodies:
            continue
        text, _html, inner_bodies = _text_of(inner)
        bodies.add(id(part))
        bodies.update(inner_bodies)
        head = [
            f"{name}: {clean_line(_header(inner, name), limit=300)}"
            for name in ("From", "Date", "Subject", "To")
            if _header(inner, name)
        ]
        blocks.append("\n".join([FORWARDED, *head, "", text.strip()]))
    return blocks


def _part_bytes(part: EmailMessage) -> bytes:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes()
        return b""  # message/delivery-status and the like: not a file
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _attachments(msg: EmailMessage, bodies: set[int]) -> list[tuple[str, bytes]]:
    """(file name, content) of every part that is not the message's text."""
    found = []
    for n, part in enumerate(_leaf_parts(msg), start=1):
        if id(part) in bodies:
            continue
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        filename = _unescape_8bit(filename) if filename else None
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "text" and not filename and disposition != "attachment":
            continue  # another rendering of the text, not a file
        data = _part_bytes(part)
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
    subject = clean_line(_header(msg, "Subject"), limit=1000)
    ids = message_ids(_header(msg, "Message-ID"))
    references = message_ids(_header(msg, "In-Reply-To")) + message_ids(_header(msg, "References"))
    body, html, bodies = _text_of(msg)
    automatic = automatic_reason(msg, envelope_from, address)
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


# ------------------------------------------------------------------------- HTML mail

_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
               "pre", "table", "hr", "ul", "ol", "section", "article", "footer"}  # fmt: skip
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.link: tuple[str, int] | None = None  # href, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "td" or tag == "th":
            self.parts.append("\t")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self.link = (href, len(self.parts)) if re.match(r"https?://", href, re.I) else None

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a" and self.link is not None:
            # Where a link really goes matters (a customer reporting a phishing e-mail).
            href, start = self.link
            if href not in "".join(self.parts[start:]):
                self.parts.append(f" <{clean_line(href, limit=500)}>")
            self.link = None

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(source: str) -> str:
    """Readable text from an HTML e-mail: blocks become lines; scripts and styles vanish."""
    parser = _TextExtractor()
    parser.feed(source)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_SAFE_TAGS = {"a", "b", "strong", "i", "em", "u", "s", "p", "br", "div", "span", "ul", "ol",
              "li", "blockquote", "pre", "code", "table", "thead", "tbody", "tfoot", "tr", "td",
              "th", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "small", "sub", "sup"}  # fmt: skip


_SAFE_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"},
                    "th": {"colspan", "rowspan"}}  # fmt: skip


def sanitise_html(source: str, *, drop_quotes: bool = False) -> str | None:
    """A copy of an HTML e-mail safe to show as is: a small set of tags, no scripts, styles,
    event handlers or images (remote images are tracking pixels), links with safe schemes
    only. ``drop_quotes`` removes quoted history (blockquote) from replies. None when
    nothing readable is left or the copy is too large to keep."""
    removed = {"script", "style", "title", "head", "template", "noscript", "object", "svg",
               "math", "iframe", "textarea", "select"}  # fmt: skip
    if drop_quotes:
        removed.add("blockquote")
    clean = nh3.clean(
        source,
        tags=_SAFE_TAGS - removed,
        clean_content_tags=removed,
        attributes=_SAFE_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()
    if not clean or len(clean) > HTML_MAX or not html_to_text(clean):
        return None
    return clean


# ----------------------------------------------------------------- automatic mail


_AUTO_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)


def own_addresses() -> set[str]:
    """Addresses OKPay sends from or receives at: mail from them is our own coming back."""
    s = get_settings()
    found = set()
    for raw in (s.support_address, s.mail_from, s.security_alert_address):
        addr = parseaddr(raw)[1].strip().lower()
        if addr:
            found.add(addr)
    return found


def automatic_reason(
    msg: EmailMessage, envelope_from: str | None, sender: str | None
) -> str | None:
    """Why this message was sent by a machine (so it must never be answered), or None."""
    if sender and sender in own_addresses():
        return "own_address"
    if msg.get("X-OKPay-Ticket") is not None:
        return "own_mail"
    if msg.get_content_type() == "multipart/report" or any(
        p.get_content_type() in ("message/delivery-status", "message/disposition-notification")
        for p in _leaf_parts(msg)
    ):
        return "bounce"
    # The null sender: the SMTP envelope's MAIL FROM:<>, or the Return-Path an MTA wrote.
    if envelope_from == "" or _header(msg, "Return-Path").replace(" ", "") == "<>":
        return "bounce"
    if sender and _AUTO_SENDERS.match(sender):
        return "bounce"
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_submitted"
    if _header(msg, "Precedence").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "precedence"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response"):
        if msg.get(name) is not None:
            return "auto_reply"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "mailing_list"
    if msg.get("X-Loop") is not None and any(
        a in _header(msg, "X-Loop").lower() for a in own_addresses()
    ):
        return "own_mail"
    return None


def _bounced_ticket(session: Session, msg: EmailMessage, mail: InboundMail) -> Ticket | None:
    """The ticket a bounce or auto-reply is about: our header or ids in the returned copy,
    then the threading headers and subject of the message itself."""
    numbers: list[str] = []
    ids = list(mail.references)
    for part in _leaf_parts(msg):
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            original = _inner_message(part)
        elif ctype == "text/rfc822-headers":
            original = BytesParser(policy=policy.default).parsebytes(
                _part_bytes(part), headersonly=True
            )
        else:
            continue
        if original is None:
            continue
        numbers.append(_header(original, "X-OKPay-Ticket"))
        for name in ("Message-ID", "In-Reply-To", "References"):
            ids += message_ids(_header(original, name))
    for number in numbers:
        ticket = service.get_ticket(session, number) if number else None
        if ticket is not None:
            return ticket
    return find_ticket(session, references=ids, subject=mail.subject)


def _delivery_status(msg: EmailMessage) -> str:
    """A one-line summary of a delivery-status report (recipient, status, diagnostic)."""
    for part in _leaf_parts(msg):
        if part.get_content_type() != "message/delivery-status":
            continue
        fields: dict[str, str] = {}
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, Message):
                continue
            for key in ("Final-Recipient", "Status", "Diagnostic-Code"):
                if block.get(key) and key not in fields:
                    fields[key] = clean_line(str(block.get(key)), limit=300)
        return "; ".join(f"{k}: {v}" for k, v in fields.items())
    return ""


# --------------------------------------------------------------------- quoted history

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


# -------------------------------------------------------------------- sender checks


@dataclass(frozen=True)
class SenderCheck:
    """What speaks against a message's ``From:``: an envelope sender that is another address,
    and the failed results of a trusted Authentication-Results header."""

    envelope: str | None = None
    failed: tuple[str, ...] = ()

    @property
    def suspicious(self) -> bool:
        """True when the message must not be taken as the ``From:`` address's own words."""
        return self.envelope is not None or bool(self.failed)

    def data(self) -> dict[str, Any]:
        """The reasons as JSON for a ticket event or context."""
        found: dict[str, Any] = {}
        if self.envelope is not None:
            found["envelope"] = self.envelope
        if self.failed:
            found["failed"] = list(self.failed)
        return found


def trusted_authserv_ids() -> set[str]:
    """The authserv-ids whose Authentication-Results we believe (the setting, lower-cased)."""
    raw = get_settings().inbound_trusted_authserv_ids
    return {x.strip().lower() for x in raw.split(",") if x.strip()}


_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([a-z]+)", re.I)


def parse_authentication_results(value: str) -> tuple[str, list[tuple[str, str]]]:
    """(authserv-id, [(method, result), …]) of one Authentication-Results value (RFC 8601),
    lower-cased; comments are dropped."""
    value = clean_line(value, limit=5000)
    for _ in range(5):  # comments may nest
        value = _COMMENT.sub(" ", value)
    head, *rest = value.split(";")
    words = head.split()
    authserv = words[0].lower() if words else ""
    results = []
    for part in rest:
        match = _RESULT.match(part)
        if match:
            results.append((match.group(1).lower(), match.group(2).lower()))
    return authserv, results


def trusted_results(msg: Message) -> list[tuple[str, str]]:
    """The results of the topmost Authentication-Results header from a trusted authserv-id.
    The receiving MTA adds its header on top; anything below it may come from the sender."""
    trusted = trusted_authserv_ids()
    if not trusted:
        return []
    for raw in msg.get_all("Authentication-Results") or []:
        authserv, results = parse_authentication_results(_unescape_8bit(str(raw)))
        if authserv in trusted:
            return results
    return []


def _failed_results(results: list[tuple[str, str]]) -> tuple[tuple[str, ...], bool]:
    """(the failures that count, whether DMARC passed). A DMARC pass or fail decides alone (it
    is the check of the ``From:`` domain); without one, an SPF fail or softfail or a DKIM fail
    with no DKIM pass beside it counts."""
    dmarc = {r for m, r in results if m == "dmarc"}
    if "fail" in dmarc:
        return ("dmarc=fail",), False
    if "pass" in dmarc:
        return (), True
    failed = [f"spf={r}" for m, r in results if m == "spf" and r in ("fail", "softfail")]
    dkim = {r for m, r in results if m == "dkim"}
    if "fail" in dkim and "pass" not in dkim:
        failed.append("dkim=fail")
    return tuple(dict.fromkeys(failed)), False


def envelope_sender(msg: Message, envelope_from: str | None) -> str | None:
    """The envelope sender: what the inbound path was given (SMTP ``MAIL FROM``), else the
    topmost ``Return-Path`` (written by the delivering MTA); None when neither is known. An
    address that does not parse comes back as its cleaned text."""
    raw = envelope_from
    if raw is None:
        found = msg.get_all("Return-Path") or []
        raw = parseaddr(_unescape_8bit(str(found[0])))[1] if found else None
    if not raw:
        return None
    return _address(raw) or clean_line(raw, limit=200)


def check_sender(msg: Message, address: str | None, envelope_from: str | None) -> SenderCheck:
    """What speaks against ``address`` (the ``From:``) being who sent ``msg``. A DMARC pass
    from a trusted header proves the ``From:`` domain, so an envelope sender of another
    address (a mailing service's bounce address, a forwarder) is then expected."""
    failed, dmarc_pass = _failed_results(trusted_results(msg))
    envelope = None
    if get_settings().inbound_check_envelope and address is not None and not dmarc_pass:
        found = envelope_sender(msg, envelope_from)
        if found is not None and found != address:
            envelope = found
    return SenderCheck(envelope=envelope, failed=failed)


def _why(check: SenderCheck) -> str:
    """The reasons in the current language, for a note."""
    reasons = []
    if check.envelope is not None:
        reasons.append(gettext(WHY_ENVELOPE, address=check.envelope))
    if check.failed:
        reasons.append(gettext(WHY_AUTH, results=", ".join(check.failed)))
    return "; ".join(reasons)


# ------------------------------------------------------------------------- tickets


def find_ticket(session: Session, *, references: list[str], subject: str) -> Ticket | None:
    """The ticket a message answers: by threading headers (our replies' Message-IDs, a
    ticket's thread id), else by the request number in the subject."""
    if references:
        ticket_id = session.scalar(
            select(TicketMessage.ticket_id)
            .where(TicketMessage.email_message_id.in_(references))
            .order_by(TicketMessage.id.desc())
            .limit(1)
        )
        if ticket_id is not None:
            return session.get(Ticket, ticket_id)
        found = session.scalar(
            select(Ticket).where(Ticket.thread_message_id.in_(references)).limit(1)
        )
        if found is not None:
            return found
    number = service.normalise_number(subject)
    return service.get_ticket(session, number) if number else None


def _lock_message_id(session: Session, message_id: str) -> None:
    """Serialise deliveries of one Message-ID, so two copies arriving at once cannot both
    open a ticket (SQLite write transactions are serial already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:id))"), {"id": message_id})


def _duplicate(session: Session, message_id: str) -> Ticket | None:
    ticket_id = session.scalar(
        select(TicketMessage.ticket_id).where(TicketMessage.email_message_id == message_id).limit(1)
    )
    return session.get(Ticket, ticket_id) if ticket_id is not None else None


def _rate_key(address: str) -> str:
    key = f"mail-in:{address}"
    if len(key) > 100:  # the throttle key column's size
        key = "mail-in:#" + hashlib.sha256(address.encode()).hexdigest()[:40]
    return key


def _check_rate(session: Session, address: str) -> bool:
    try:
        identity_throttling.check_rate(
            session,
            _rate_key(address),
            limit=get_settings().inbound_per_hour,
            window=timedelta(hours=1),
        )
    except RateLimited:
        return False
    return True


def _fit_body(body: str, locale: str) -> str:
    """The text as a ticket message takes it: the limit respected, never empty."""
    body = body.strip()
    with use_locale(locale):
        if not body:
            return gettext(NO_TEXT)
        if len(body) > service.BODY_MAX:
            tail = "\n\n" + gettext(TRUNCATED, max=service.BODY_MAX)
            return body[: service.BODY_MAX - len(tail)].rstrip() + tail
    return body


_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv|答复|回复|回覆|转发|轉寄)\s*[:：]\s*)+", re.I)
_BRACKET_NUMBER = re.compile(r"\[\s*OK[-\s]?\d{4}[-\s]?\d{1,9}\s*\]", re.I)


def _new_subject(subject: str, locale: str) -> str:
    """The subject of a new ticket: reply prefixes and our old "[OK-…]" numbers removed."""
    value = _BRACKET_NUMBER.sub(" ", subject)
    value = _REPLY_PREFIX.sub("", value)
    value = re.sub(r"\s+", " ", value).strip()
    if not value:
        with use_locale(locale):
            value = gettext(NO_SUBJECT)
    return value[: service.SUBJECT_MAX]


def _check_files(
    attachments: list[tuple[str, bytes]], locale: str
) -> tuple[list[support_files.CheckedFile], list[str]]:
    """Files that pass the upload checks, and a line for each one refused (with the reason)."""
    kept: list[support_files.CheckedFile] = []
    refused: list[str] = []
    limit = get_settings().upload_max_files
    with use_locale(locale):
        for filename, data in attachments:
            name = support_files.clean_filename(filename)
            if len(kept) >= limit:
                refused.append(f"{name}: {gettext(NOTE_TOO_MANY, max=limit)}")
                continue
            try:
                kept.append(support_files.check_upload(filename, data))
            except support_files.UploadRejected as err:
                refused.append(f"{name}: {err.translated()}")
    return kept, refused


def _note(session: Session, ticket: Ticket, lines: list[str], event: str, **data: Any) -> None:
    body = "\n".join(line for line in lines if line)
    if body:
        service.do_system_note(
            session, ticket=ticket, body=body[: service.BODY_MAX], channel=EMAIL, event=event,
            **data,
        )  # fmt: skip


def _refused_note(session: Session, ticket: Ticket, refused: list[str]) -> None:
    if refused:
        with use_locale(ticket.locale):
            head = gettext(NOTE_REFUSED)
        _note(session, ticket, [head, *(f"- {r}" for r in refused)], "mail_files_refused",
              count=len(refused))  # fmt: skip


def receive(session: Session, raw: bytes, *, envelope_from: str | None = None) -> Received:
    """File one inbound message (see the module docstring for the rules). Only flushes: the
    caller's unit of work commits, and the acknowledgement e-mail leaves after that."""
    msg = parse(raw)
    mail = read(msg, envelope_from=envelope_from)
    if mail.automatic is not None:
        return _automatic(session, msg, mail)
    if mail.address is None:
        log.info("inbound mail without a usable sender refused")
        return Received("refused", reason="no_sender")
    if mail.message_id is not None:
        _lock_message_id(session, mail.message_id)
        seen = _duplicate(session, mail.message_id)
        if seen is not None:
            log.info("inbound mail %s already filed on %s", mail.message_id, seen.number)
            return Received("duplicate", seen.number)
    check = check_sender(msg, mail.address, envelope_from)
    # Counted against the real sender when it is known to differ: forged mail must not use up
    # the customer's own hourly allowance.
    if not _check_rate(session, check.envelope or mail.address):
        log.warning("inbound mail from %s dropped: over the hourly limit", mail.address)
        return Received("rate_limited", reason="rate_limited")

    ticket = find_ticket(session, references=mail.references, subject=mail.subject)
    if ticket is not None:
        # Read it again under a row lock: an agent or the sweep may be changing its status.
        lock = for_update(session.get_bind().dialect.name)
        ticket = session.scalars(
            select(Ticket)
            .where(Ticket.id == ticket.id)
            .with_for_update(**lock)
            .execution_options(populate_existing=True)
        ).one()
    if ticket is not None and ticket.requester_email != mail.address:
        return _open(session, mail, check, unverified=ticket.number)
    if ticket is not None and ticket.status == Status.closed.value:
        return _open(session, mail, check, follow_up=ticket.number)
    if ticket is not None and check.suspicious:
        return _add_unverified(session, ticket, mail, check)
    if ticket is not None:
        return _add(session, ticket, mail)
    return _open(session, mail, check)


def _open(
    session: Session, mail: InboundMail, check: SenderCheck, *, unverified: str | None = None,
    follow_up: str | None = None,
) -> Received:  # fmt: skip
    assert mail.address is not None
    files, refused = _check_files(mail.attachments, mail.locale)
    tags = []
    account = identity_users.get_user_by_email(session, mail.address)
    if account is not None:
        tags.append(TAG_ACCOUNT_MATCH)
    if unverified:
        tags.append(TAG_UNVERIFIED)
    if follow_up:
        tags.append(TAG_FOLLOW_UP)
    if check.suspicious:
        tags.append(TAG_SENDER_UNVERIFIED)
    ctx: dict[str, Any] = {}
    if follow_up:
        ctx["follow_up_of"] = follow_up
    if unverified:
        ctx["refers_to"] = unverified
    if check.suspicious:
        ctx["sender_check"] = check.data()
    ticket = service.do_open_ticket(
        session,
        service.NewTicket(
            channel=EMAIL,
            subject=_new_subject(mail.subject, mail.locale),
            body=_fit_body(mail.text, mail.locale),
            name=mail.name,
            email=mail.address,
            files=files,
            locale=mail.locale,
            body_html=sanitise_html(mail.html) if mail.html else None,
            email_message_id=mail.message_id,
            tags=tags,
            context=ctx,
        ),
    )
    with use_locale(ticket.locale):
        notes = [
            gettext(NOTE_SENDER_UNVERIFIED, address=mail.address, why=_why(check))
            if check.suspicious
            else "",
            gettext(NOTE_FOLLOW_UP, number=follow_up) if follow_up else "",
            gettext(NOTE_UNVERIFIED, number=unverified) if unverified else "",
            gettext(NOTE_ACCOUNT_MATCH) if account is not None else "",
        ]
    _note(session, ticket, notes, "mail_sender_note")
    _refused_note(session, ticket, refused)
    log.info("inbound mail opened %s", ticket.number)
    return Received("created", ticket.number)


def _add(session: Session, ticket: Ticket, mail: InboundMail) -> Received:
    files, refused = _check_files(mail.attachments, ticket.locale)
    service.do_customer_message(
        session,
        ticket=ticket,
        body=_fit_body(strip_quoted(mail.text), ticket.locale),
        channel=EMAIL,
        files=files,
        body_html=sanitise_html(mail.html, drop_quotes=True) if mail.html else None,
        email_message_id=mail.message_id,
    )
    _refused_note(session, ticket, refused)
    log.info("inbound mail added to %s", ticket.number)
    return Received("added", ticket.number)


def _add_unverified(
    session: Session, ticket: Ticket, mail: InboundMail, check: SenderCheck
) -> Received:
    """Mail in the requester's name that could not be verified: kept for the agents, flagged,
    and nothing else. Its files are listed by name only (they are not the customer's)."""
    author = f"{mail.name} <{mail.address}>" if mail.name else str(mail.address)
    service.do_unverified_message(
        session,
        ticket=ticket,
        body=_fit_body(strip_quoted(mail.text), ticket.locale),
        channel=EMAIL,
        author_name=author,
        email_message_id=mail.message_id,
        files=[support_files.clean_filename(name) for name, _data in mail.attachments][:20],
        **check.data(),
    )
    log.warning("inbound mail for %s not verified as the requester's: %s", ticket.number,
                check.data())  # fmt: skip
    return Received("unverified", ticket.number)


def _automatic(session: Session, msg: EmailMessage, mail: InboundMail) -> Received:
    """Machine-sent mail is never answered. A bounce or auto-reply about a ticket becomes an
    internal note on it; anything else is only logged."""
    reason = mail.automatic or ""
    sender = mail.address or "<>"
    if reason in ("own_address", "own_mail", "mailing_list", "precedence"):
        log.info("inbound mail from %s ignored: %s", sender, reason)
        return Received("ignored", reason=reason)
    ticket = _bounced_ticket(session, msg, mail)
    if ticket is None:
        log.info("inbound automatic mail from %s ignored: %s, no ticket", sender, reason)
        return Received("ignored", reason=reason)
    if mail.message_id is not None:
        _lock_message_id(session, mail.message_id)
        if _duplicate(session, mail.message_id) is not None:
            return Received("duplicate", ticket.number, reason=reason)
    if not _check_rate(session, sender):
        return Received("rate_limited", reason=reason)
    excerpt = _fit_body(strip_quoted(mail.text), ticket.locale)[:NOTE_EXCERPT]
    with use_locale(ticket.locale):
        if reason == "bounce":
            lines = [gettext(NOTE_BOUNCE), _delivery_status(msg), gettext(NOTE_QUOTE_EXCERPT),
                     excerpt]  # fmt: skip
        else:
            lines = [gettext(NOTE_AUTO_REPLY), excerpt]
    message = service.do_system_note(
        session, ticket=ticket, body="\n".join(x for x in lines if x), channel=EMAIL,
        event="mail_bounce" if reason == "bounce" else "mail_auto_reply", reason=reason,
    )  # fmt: skip
    message.email_message_id = mail.message_id
    log.info("inbound %s from %s noted on %s", reason, sender, ticket.number)
    return Received("noted", ticket.number, reason=reason)


# -------------------------------------------------------------------------- delivery


def process(raw: bytes, *, envelope_from: str | None = None, peer: str | None = None) -> Received:
    """Receive one message in its own unit of work. Two deliveries racing on PostgreSQL
    (the same sender's rate row, the same Message-ID) are retried."""
    context.set_current(context.RequestContext(ip=peer, user_agent="smtp", channel=EMAIL))
    db = get_database()
    for attempt in range(3):
        try:
            with db.unit_of_work() as session:
                return receive(session, raw, envelope_from=envelope_from)
        except (IntegrityError, DBAPIError) as exc:
            if attempt == 2 or not _retryable(exc):
                raise
            time.sleep(0.05 * (attempt + 1))
        except DomainError as err:
            # Something in the message no channel accepts (e.g. a subject of only control
            # characters after cleaning). Keep nothing, say why in the log, answer nothing.
            log.warning("inbound mail not filed: %s %s", err.code, err.params)
            return Received("ignored", reason=err.code)
    raise AssertionError("unreachable")


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01")  # serialization failure, deadlock


class SupportMailHandler:
    """aiosmtpd handler: mail for the support address only, filed on a thread pool."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        wanted = parseaddr(get_settings().support_address)[1].lower()
        if parseaddr(address)[1].strip().lower() != wanted:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        # The null sender of bounces, MAIL FROM:<>, arrives as "<>".
        sender = "" if envelope.mail_from in (None, "", "<>") else envelope.mail_from
        call = functools.partial(process, raw, envelope_from=sender, peer=peer)
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        except Exception:
            log.exception("inbound mail could not be filed; asking the sender to retry")
            return "451 4.3.0 Temporary failure; please try again later"
        return result.smtp_reply


class MailListener(Controller):
    """The SMTP listener in a thread of its own; ``port=0`` picks a free port (tests).
    ``.port`` is the port it listens on; ``.stop()`` ends it."""

    def __init__(
        self, *, host: str, port: int, workers: int = 4, max_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mail-in")
        super().__init__(
            SupportMailHandler(self.executor),
            hostname=host,
            port=port,
            data_size_limit=max_bytes,
            ident="OKPay support mail",
            server_hostname=host,
            timeout=120,
        )
        self._sock: socket.socket | None = None

    def _create_server(self) -> Any:
        assert self._sock is not None
        return self.loop.create_server(self._factory_invoker, sock=self._sock)

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.hostname else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.hostname, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(100)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._sock = sock
        super().start()

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert=no_assert)
        self.executor.shutdown(wait=True)


def start_listener(
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    workers: int = 4,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> MailListener:
    """Start the inbound SMTP listener (``port`` None: OKPAY_MAIL_IN_PORT; 0: a free one)."""
    import_models()
    listener = MailListener(
        host=host,
        port=get_settings().mail_in_port if port is None else port,
        workers=workers,
        max_bytes=max_bytes,
    )
    listener.start()
    log.info("inbound mail on %s:%s for %s", host, listener.port, get_settings().support_address)
    return listener


def count_tickets(session: Session) -> int:
    """Tickets opened by e-mail (the bench checks that every message became one)."""
    return int(session.scalar(select(func.count()).where(Ticket.channel == EMAIL)) or 0)
