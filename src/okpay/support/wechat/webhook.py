"""The platform's server-to-server webhook at /webhooks/wechat: GET answers the URL check
by echoing ``echostr``; POST takes a follower's message, stores it once and answers
"success" at once (the platform waits 5 seconds at most), filing it in a job after commit.
Unsigned, wrongly signed, stale, oversized or garbled pushes are refused with nothing stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse

from okpay.db import get_database
from okpay.settings import get_settings
from okpay.support.wechat import inbound, messages, signature

# Outside /api (the platform is configured with this URL) and so outside the OpenAPI
# document, which lists /api only; docs/wechat.md describes it.
router = APIRouter(prefix="/webhooks/wechat", include_in_schema=False)

Param = Annotated[str, Query(max_length=128)]
Echo = Annotated[str, Query(max_length=256)]


def _check(sig: str, timestamp: str, nonce: str) -> None:
    signature.check_signature(
        token=get_settings().wechat_token, signature=sig, timestamp=timestamp, nonce=nonce
    )


@router.get(
    "",
    response_class=PlainTextResponse,
    responses={403: {"description": "not signed with our token, or a stale timestamp"}},
)
def verify(
    signature: Param = "", timestamp: Param = "", nonce: Param = "", echostr: Echo = ""
) -> PlainTextResponse:
    """The platform's URL check: `echostr` echoed when the signature is ours."""
    _check(signature, timestamp, nonce)
    return PlainTextResponse(echostr)


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > messages.MAX_BODY_BYTES:
        raise messages.MessageTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > messages.MAX_BODY_BYTES:
            raise messages.MessageTooLarge()
    return bytes(body)


def accept(body: bytes) -> None:
    """Parse a push whose signature was checked, and store it once (its own unit of work)."""
    incoming = messages.parse(body)
    with get_database().unit_of_work() as session:
        inbound.record_incoming(session, incoming)


@router.post(
    "",
    response_class=PlainTextResponse,
    responses={
        400: {"description": "garbled XML, a DTD or entities, or missing fields"},
        403: {"description": "not signed with our token, or a stale timestamp"},
        413: {"description": "body over 64 KiB"},
    },
)
async def receive(
    request: Request, signature: Param = "", timestamp: Param = "", nonce: Param = ""
) -> PlainTextResponse:
    """A follower's message (XML). Answered `success` at once; filed into a ticket after."""
    _check(signature, timestamp, nonce)
    body = await _read_capped(request)
    await run_in_threadpool(accept, body)
    return PlainTextResponse("success")
