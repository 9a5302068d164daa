"""The payment provider's webhook under /api/v1/webhooks (signed events)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from okpay.wallet import flows
from okpay.wallet import schemas as s
from okpay.wallet.providers import get_provider

webhooks = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@webhooks.post(
    "/sandbox",
    include_in_schema=True,
    openapi_extra={
        "parameters": [
            {
                "name": "OKPay-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "maxLength": 512},
                "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of 't.body'>",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": s.ProviderEventIn.model_json_schema()}},
        },
    },
    responses={400: {"description": "bad signature header or body (a specific error code)"}},
)
async def sandbox_webhook(request: Request) -> JSONResponse:
    """Events from the payment provider, signed with `OKPay-Signature: t=…,v1=…`. A bad
    signature header or a body that does not fit the event's schema is a 400 with a
    specific code; an event that does not match the ledger is answered
    `reconciliation_exception` and recorded for operators, never applied."""
    from starlette.concurrency import run_in_threadpool

    body = await request.body()
    raw = get_provider().verify_webhook(body, request.headers.get("okpay-signature", ""))
    event = s.parse_provider_event(raw)
    outcome = await run_in_threadpool(flows.handle_provider_event, event)
    return JSONResponse(outcome.as_json())
