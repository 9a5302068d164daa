"""The agent console's reports (/agent/reports) and their CSV downloads."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request
from starlette.responses import Response

from okpay.core import clock
from okpay.core.errors import DomainError, NotFound
from okpay.core.i18n import get_locale
from okpay.support import agent_pages
from okpay.support.console import reports as console_reports
from okpay.web.deps import ReadSession
from okpay.web.templating import render

router = agent_pages.agent_router()


def _report(db: ReadSession, start: str, end: str) -> console_reports.Report:
    today = clock.now().astimezone(console_reports.report_zone()).date()
    first, last = console_reports.check_range(start, end, today=today)
    return console_reports.report(db, start=first, end=last)


@router.get("/reports")
def reports(
    request: Request,
    agent: agent_pages.Agent,
    db: ReadSession,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    error = None
    try:
        result = _report(db, start, end)
    except DomainError as err:
        error = err.translated()
        result = _report(db, "", "")
    from okpay.support import charts

    return render(
        request,
        "support/agent_reports.html",
        report=result,
        error=error,
        query=urlencode({"start": result.start.isoformat(), "end": result.end.isoformat()}),
        day_chart=charts.day_bars(result.by_day),
        bar_chart=charts.horizontal_bars,
        locale=get_locale(),
        **agent_pages.labels(),
    )


@router.get("/reports/{name}.csv")
def report_csv(
    name: str,
    agent: agent_pages.Agent,
    db: ReadSession,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    result = _report(db, start, end)
    table = result.tables.get(name)
    if table is None:
        raise NotFound()
    filename = f"okpay-{name}-{result.start.isoformat()}-{result.end.isoformat()}.csv"
    return Response(
        console_reports.table_csv(table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
