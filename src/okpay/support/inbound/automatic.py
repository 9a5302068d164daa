"""Automatic mail (bounces, auto-replies, mailing lists, our own mail coming back): how it
is recognised, so that it is never answered and never opens a ticket."""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from email.utils import parseaddr

from okpay.settings import get_settings
from okpay.support.inbound import mime

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
        for p in mime.leaf_parts(msg)
    ):
        return "bounce"
    # The null sender: the SMTP envelope's MAIL FROM:<>, or the Return-Path an MTA wrote.
    if envelope_from == "" or mime.header(msg, "Return-Path").replace(" ", "") == "<>":
        return "bounce"
    if sender and _AUTO_SENDERS.match(sender):
        return "bounce"
    auto = mime.header(msg, "Auto-Submitted").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_submitted"
    if mime.header(msg, "Precedence").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return "precedence"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response"):
        if msg.get(name) is not None:
            return "auto_reply"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "mailing_list"
    if msg.get("X-Loop") is not None and any(
        a in mime.header(msg, "X-Loop").lower() for a in own_addresses()
    ):
        return "own_mail"
    return None


def delivery_status(msg: EmailMessage) -> str:
    """A one-line summary of a delivery-status report (recipient, status, diagnostic)."""
    for part in mime.leaf_parts(msg):
        if part.get_content_type() != "message/delivery-status":
            continue
        fields: dict[str, str] = {}
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if not isinstance(block, Message):
                continue
            for key in ("Final-Recipient", "Status", "Diagnostic-Code"):
                if block.get(key) and key not in fields:
                    fields[key] = mime.clean_line(str(block.get(key)), limit=300)
        return "; ".join(f"{k}: {v}" for k, v in fields.items())
    return ""
