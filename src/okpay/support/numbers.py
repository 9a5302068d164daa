"""Request numbers: OK-2026-000123, as people type them, and the next one of the year."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.support.models import TicketCounter

# "OK-2026-000123" in any case, with or without brackets, also typed as "ok 2026 123".
NUMBER_PATTERN = re.compile(r"\bOK[-\s]?(\d{4})[-\s]?(\d{1,9})\b", re.IGNORECASE)


def format_number(year: int, sequence: int) -> str:
    return f"OK-{year}-{sequence:06d}"


def normalise_number(raw: str) -> str | None:
    """A request number as people type it ("ok-2026-123", "OK 2026 000123", full-width
    characters) in its canonical form, or None."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    match = NUMBER_PATTERN.fullmatch(text) or NUMBER_PATTERN.search(text)
    if match is None:
        return None
    return format_number(int(match.group(1)), int(match.group(2)))


def next_number(session: Session) -> str:
    """The next request number of the current year, from a counter row.

    On PostgreSQL the counter is bumped in its own short transaction, so tickets being opened
    at the same time do not queue behind each other's whole unit of work; a ticket that is
    then rolled back leaves a gap in the numbers, which is harmless. SQLite has one writer at
    a time anyway, so there the counter is part of the ticket's own transaction."""
    year = clock.now().year
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        with bind.engine.begin() as conn:
            return format_number(year, int(conn.execute(_bump(pg_insert, year)).scalar_one()))
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return format_number(year, int(session.execute(_bump(sqlite_insert, year)).scalar_one()))


def _bump(insert: Any, year: int) -> Any:
    """INSERT … ON CONFLICT DO UPDATE on the year's counter, returning the new value."""
    return (
        insert(TicketCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(
            index_elements=[TicketCounter.year], set_={"last": TicketCounter.last + 1}
        )
        .returning(TicketCounter.last)
    )
