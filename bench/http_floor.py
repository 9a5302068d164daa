"""The HTTP floor of bench/ledger.py: a bare FastAPI app, served exactly as `okpay serve`
serves OKPay (uvicorn, same workers and options), with two routes:

- ``POST /transfer`` ``{"a": account id, "b": account id}``: the plain-SQL transfer of
  bench/floor_sql.py, no authentication, no idempotency, no i18n, no middleware;
- ``GET /healthz``: ``{"status": "ok"}``, the bare app's health check.

    OKPAY_BENCH_FLOOR_URL=... OKPAY_BENCH_FLOOR_OP=1 python bench/http_floor.py --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))


class Pair(BaseModel):
    a: int
    b: int


def create_app() -> Any:
    from fastapi import FastAPI
    from floor_sql import PlainTransfer
    from starlette.responses import JSONResponse

    from okpay.db import Database

    db = Database(os.environ["OKPAY_BENCH_FLOOR_URL"])  # OKPay's engine and pool settings
    plain = PlainTransfer(db.dialect, int(os.environ["OKPAY_BENCH_FLOOR_OP"]))
    write = db.engine.execution_options(okpay_write=True)
    app = FastAPI()

    @app.post("/transfer", status_code=201)
    def transfer(pair: Pair) -> JSONResponse:
        with write.connect() as conn:
            plain(conn, pair.a, pair.b)
        return JSONResponse({"status": "ok"}, status_code=201)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(  # the options of `okpay serve` (okpay.cli.serve)
        "http_floor:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,
        log_level="info",
    )


if __name__ == "__main__":
    main()
