"""Who money goes to, as a sender may learn it: lookups are budgeted, names are masked.

A signed-in customer must not be able to use the send page, the API or a batch to find out
in bulk which e-mail addresses and phone numbers belong to OKPay users, or who they are:

- every lookup of someone the sender has not paid before costs one unit of a budget per
  hour and per day (``OKPAY_RECIPIENT_LOOKUPS_PER_HOUR`` / ``_PER_DAY``, shared through
  Redis when configured); people already paid, and the sender themself, are free. The cost
  is counted before anything is answered and is the same whether the address exists, so a
  refusal (429) says nothing about existence;
- wallet.batch checks the sender's standing, limits and balance before the recipient, so
  an item that could not be sent anyway answers the same for a known and an unknown address;
- until the sender has paid that person, the review shows the name masked as Alipay does
  ("*伟"; for names in Latin letters "J*** S.") next to the masked address: enough to
  confirm a person one knows, not enough to learn a stranger's name."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import ratelimit
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.db import one_of
from okpay.identity import directory as identity_directory
from okpay.identity import validation as identity_validation
from okpay.identity.models import AccountStatus
from okpay.settings import get_settings
from okpay.wallet import errors
from okpay.wallet.models import Operation, OperationType

HOUR, DAY = 3600.0, 86400.0


class TooManyNewRecipients(ValidationFailed):
    code = "too_many_new_recipients"
    message = N_(
        "This names %(count)s people you have not paid before, more than the %(limit)s new "
        "recipients you can look up at a time. Please send to fewer new people at once."
    )


def charge_lookups(sender_id: int, references: Iterable[str], *, free: Iterable[str] = ()) -> None:
    """Count the lookups of ``references`` (distinct, less the ``free`` ones: people the
    sender has paid before, or the sender) against the sender's hourly and daily budgets;
    RateLimited when either would be exceeded, TooManyNewRecipients when the request
    alone is larger than a whole budget."""
    cost = len(set(references) - set(free))
    if cost <= 0:
        return
    settings = get_settings()
    most = min(settings.recipient_lookups_per_hour, settings.recipient_lookups_per_day)
    if cost > most:  # waiting would not help: say so rather than "try again later"
        raise TooManyNewRecipients(count=cost, limit=most)
    key = str(sender_id)
    hourly = ratelimit.shared("recipient-lookups-hour", settings.recipient_lookups_per_hour, HOUR)
    daily = ratelimit.shared("recipient-lookups-day", settings.recipient_lookups_per_day, DAY)
    hourly.check(key, cost)
    daily.check(key, cost)


def paid_before(session: Session, *, sender_id: int, user_ids: Iterable[int]) -> set[int]:
    """Of ``user_ids``, those the sender has sent a transfer to before."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return set()
    dialect = session.get_bind().dialect.name
    return set(
        session.scalars(
            select(Operation.counterparty_user_id)
            .where(
                Operation.user_id == sender_id,
                one_of(dialect, Operation.counterparty_user_id, wanted),
                Operation.type == OperationType.transfer.value,
            )
            .distinct()
        )
    )


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))


def mask_name(name: str) -> str:
    """A name shown to someone who has not paid that person before.

    Chinese (and other CJK) names keep their last character, one star for each other one:
    "张伟" → "*伟", "欧阳娜娜" → "***娜". Names in other scripts keep the first letter of the
    first word and the initial of the last: "John Smith" → "J*** S.", "Madonna" → "M***"."""
    name = " ".join(name.split())
    if not name:
        return ""
    if any(_is_cjk(ch) for ch in name):
        chars = [ch for ch in name if not ch.isspace() and ch not in "·•"]
        if len(chars) == 1:
            return "*"
        return "*" * (len(chars) - 1) + chars[-1]
    words = name.split(" ")
    masked = f"{words[0][0]}***"
    if len(words) > 1:
        masked += f" {words[-1][0]}."
    return masked


def review_label(recipient: identity_directory.Recipient, *, known: bool) -> str:
    """How the recipient appears before the sender confirms: the full name only when the
    sender has paid them before (``known``), always with the e-mail address masked."""
    if known:
        return recipient.label
    return identity_validation.counterparty_label(mask_name(recipient.name), recipient.email)


def check_recipient(
    target: identity_directory.Recipient | None, *, sender_id: int
) -> identity_directory.Recipient:
    """Refuse a recipient who was not found, is the sender, or cannot receive."""
    if target is None:
        raise errors.RecipientNotFound(field="recipient")
    if target.id == sender_id:
        raise errors.TransferToSelf(field="recipient")
    if target.status == AccountStatus.closed.value:
        raise errors.RecipientCannotReceive(field="recipient")
    return target
