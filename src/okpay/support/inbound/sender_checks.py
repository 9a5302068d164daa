"""Whether a message's ``From:`` can be believed: the envelope sender and the receiving
MTA's trusted Authentication-Results (DMARC, SPF, DKIM)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr
from typing import Any

from okpay.core.i18n import N_, gettext
from okpay.settings import get_settings
from okpay.support.inbound import mime

WHY_ENVELOPE = N_("the envelope sender was %(address)s")


WHY_AUTH = N_("the receiving mail server's checks failed: %(results)s")


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
    value = mime.clean_line(value, limit=5000)
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
        authserv, results = parse_authentication_results(mime.unescape_8bit(str(raw)))
        if authserv in trusted:
            return results
    return []


def failed_results(results: list[tuple[str, str]]) -> tuple[tuple[str, ...], bool]:
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
        raw = parseaddr(mime.unescape_8bit(str(found[0])))[1] if found else None
    if not raw:
        return None
    return mime.clean_address(raw) or mime.clean_line(raw, limit=200)


def check_sender(msg: Message, address: str | None, envelope_from: str | None) -> SenderCheck:
    """What speaks against ``address`` (the ``From:``) being who sent ``msg``. A DMARC pass
    from a trusted header proves the ``From:`` domain, so an envelope sender of another
    address (a mailing service's bounce address, a forwarder) is then expected."""
    failed, dmarc_pass = failed_results(trusted_results(msg))
    envelope = None
    if get_settings().inbound_check_envelope and address is not None and not dmarc_pass:
        found = envelope_sender(msg, envelope_from)
        if found is not None and found != address:
            envelope = found
    return SenderCheck(envelope=envelope, failed=failed)


def why_unverified(check: SenderCheck) -> str:
    """The reasons in the current language, for a note."""
    reasons = []
    if check.envelope is not None:
        reasons.append(gettext(WHY_ENVELOPE, address=check.envelope))
    if check.failed:
        reasons.append(gettext(WHY_AUTH, results=", ".join(check.failed)))
    return "; ".join(reasons)
