"""Binding WeChat from the signed-in customer area: the page at /account/wechat ("绑定微信")
and its JSON twin. Each shows a fresh one-time code to send to the Official Account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from okpay.core.errors import DomainError
from okpay.core.i18n import format_datetime
from okpay.identity.access import CurrentUser
from okpay.support.wechat import binding, followers
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
api = APIRouter(prefix="/api/v1/support/wechat", tags=["support"])
PAGE = "support/wechat_bind.html"


def _context(db: DbSession, user: CurrentUser) -> dict[str, Any]:
    follower = binding.bound_follower(db, user)
    return {
        "bound_openid": followers.mask_openid(follower.openid) if follower else None,
        "minutes": binding.CODE_MINUTES,
    }


@router.get("/account/wechat")
def bind_page(request: Request, user: CurrentUser, db: DbSession) -> Response:
    return render(request, PAGE, **_context(db, user))


@router.post("/account/wechat/code")
def new_code(request: Request, user: CurrentUser, db: DbSession) -> Response:
    try:
        issued = binding.do_issue_code(db, user=user)
    except DomainError as err:
        return render(
            request, PAGE, status_code=err.status, error=err.translated(), **_context(db, user)
        )
    return render(
        request,
        PAGE,
        code=issued.display,
        expires_at=format_datetime(issued.expires_at),
        **_context(db, user),
    )


class BindCodeRead(BaseModel):
    """A one-time code to send to the Official Account as a message (10 minutes, once)."""

    code: str
    expires_at: datetime


@api.post("/bind-code", response_model=BindCodeRead, status_code=201)
def create_bind_code(user: CurrentUser, db: DbSession) -> BindCodeRead:
    """A new binding code for the signed-in customer (earlier unused codes stop working).
    `rate_limited` after 5 codes an hour."""
    issued = binding.do_issue_code(db, user=user)
    return BindCodeRead(code=issued.display, expires_at=issued.expires_at)
