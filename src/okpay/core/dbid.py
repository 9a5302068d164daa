"""Row ids as the outside world sends them: checked against the column's range before they
reach the database.

A number larger than the column can hold is not "not found" to the database: SQLite refuses
to bind an integer above 2⁶³−1 and PostgreSQL answers "integer out of range" once a value
passes the column's type (2³¹−1 for INTEGER keys). Without a check both became 500s. Every
id that arrives in a path, a query, a JSON body or a form goes through one of these types,
so an impossible id is refused as invalid input (422, the usual error body) before any SQL.

- ``DbId``: rows keyed by an INTEGER column (users, sessions, payment methods, e-mails,
  help-centre revisions).
- ``BigDbId``: rows keyed by ``okpay.db.BigId`` (operations, FX quotes, tickets and their
  attachments, chats).
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval

INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1

# Plain constraints (not a FastAPI Path/Query), so one type serves path, query, form and
# JSON-body fields alike, and the bounds show in /openapi.json.
DbId = Annotated[int, Interval(ge=1, le=INT_MAX)]
BigDbId = Annotated[int, Interval(ge=1, le=BIGINT_MAX)]


def in_range(value: int, *, big: bool = False) -> bool:
    """Whether ``value`` can be the key of a row (``big`` for BigId columns)."""
    return 1 <= value <= (BIGINT_MAX if big else INT_MAX)


def parse_id(text: str, *, big: bool = False) -> int | None:
    """An id typed into a form field, or None when it cannot name a row: not plain ASCII
    digits (``"²".isdigit()`` is true, yet ``int("²")`` fails), or out of the column's range."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if in_range(value, big=big) else None
