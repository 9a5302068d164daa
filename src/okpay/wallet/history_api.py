"""The transaction history over JSON: filters, keyset pagination and the CSV export (the
history page uses the same query parameters and cursors)."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from okpay.core.dbid import parse_id
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.core.money import check_currency, parse_amount
from okpay.identity.access import CurrentUser
from okpay.wallet import history as wallet_history
from okpay.wallet import schemas as s
from okpay.wallet import statements
from okpay.web.deps import ReadSession

router = APIRouter(prefix="/api/v1/wallet", tags=["wallet"])


def encode_cursor(created_at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        at, _, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        created_at, activity_id = datetime.fromisoformat(at), parse_id(row_id, big=True)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            N_("This page link is not valid."), code="cursor_invalid", field="cursor"
        ) from exc
    # A cursor we made carries a UTC time and a row id; anything else was edited by hand
    # (a time without zone, or an id no column can hold, would only fail in the database).
    if created_at.tzinfo is None or activity_id is None:
        raise ValidationFailed(
            N_("This page link is not valid."), code="cursor_invalid", field="cursor"
        )
    return created_at, activity_id


@dataclass
class HistoryQuery:
    """The history filters as query parameters, shared by the API, the page and both exports."""

    start: date | None = None
    end: date | None = None
    type: str | None = None
    status: str | None = None
    currency: str | None = None
    min_amount: str | None = None
    max_amount: str | None = None
    q: str | None = None

    def filters(self) -> wallet_history.HistoryFilter:
        """Checked filters; amounts are read in the chosen currency (CNY when none is)."""
        cur = check_currency(self.currency) if self.currency else None
        amount_currency = cur or "CNY"

        def amount(value: str | None, field: str) -> int | None:
            return parse_amount(value, amount_currency, field=field) if value else None

        return wallet_history.HistoryFilter(
            start=self.start,
            end=self.end,
            type=self.type or None,
            status=self.status or None,
            currency=cur,
            min_amount=amount(self.min_amount, "min_amount"),
            max_amount=amount(self.max_amount, "max_amount"),
            text=(self.q or "").strip()[:100] or None,
        )

    def params(self) -> dict[str, Any]:
        return asdict(self)


HistoryParams = Annotated[HistoryQuery, Depends()]


@router.get("/history", response_model=s.HistoryPage)
def history(
    user: CurrentUser,
    db: ReadSession,
    query: HistoryParams,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> s.HistoryPage:
    """Your transaction history, newest first, with filters and keyset pagination."""
    filters = query.filters()
    rows = wallet_history.history(
        db, user_id=user.id, filters=filters, limit=limit + 1, before=decode_cursor(cursor)
    )
    page, more = rows[:limit], len(rows) > limit
    return s.HistoryPage(
        items=[s.activity_out(a) for a in page],
        next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if more and page else None,
    )


@router.get(
    "/history/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}}
)
def history_export(user: CurrentUser, db: ReadSession, query: HistoryParams) -> Response:
    """The filtered history as CSV (text cells that could run as formulas are neutralised)."""
    return csv_response(statements.export_csv(db, user_id=user.id, filters=query.filters()))


def csv_response(body: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="okpay-transactions.csv"'},
    )
