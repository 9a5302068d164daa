"""create_app(): the FastAPI application with every domain's routers, pages and middleware."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

import okpay.models  # noqa: F401 - every table registered (foreign keys across domains)
from okpay import __version__
from okpay.db import get_database
from okpay.identity import required_steps as identity_required_steps
from okpay.identity import sessions as identity_sessions
from okpay.settings import Settings, configure, get_settings
from okpay.web import errors
from okpay.web.health import HealthCheck, ReadinessCheck, WarmUp
from okpay.web.middleware import (
    BodyLimitMiddleware,
    RequestMiddleware,
    StaticHeadersMiddleware,
    routes_taking_files,
)

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"

log = logging.getLogger(__name__)

API_DESCRIPTION = """
The OKPay JSON API. Authenticate with `POST /api/v1/auth/login`, then send the returned
token as `Authorization: Bearer <token>`. Errors are `{"error": {"code", "message"}}` with the
message in the language of `Accept-Language` (zh-CN or en). See docs/api.md.
"""


def _warm_up(settings: Settings, upload_routes: Callable[[], object]) -> WarmUp:
    """What a web process prepares before it takes traffic (``/readyz`` says when): FastAPI's
    analysis of every route (about 1 s), the help search index (a few seconds), so the first
    person to search does not wait for it, and the triage model (trained the first time),
    so the first person to write does not."""
    if not settings.warms_up:
        return WarmUp([])
    from okpay.helpcenter import service as help_service
    from okpay.helpcenter import triage

    def search_index() -> None:
        with get_database().read_unit_of_work() as session:
            help_service.search_index(session)

    return WarmUp(
        [("routes", upload_routes), ("help_search", search_index), ("triage", triage.current_model)]
    )


def create_app(settings: Settings | None = None, *, start_worker: bool = False) -> FastAPI:
    """Build the application. ``start_worker`` runs background jobs inside this process."""
    if settings is not None:
        configure(settings)
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        consumer = None
        if start_worker:
            from okpay.worker import start_embedded_worker

            consumer = start_embedded_worker()
        warm_up.start()
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)

    app = FastAPI(
        title="OKPay API",
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    _template_globals()

    from okpay import site_pages
    from okpay.casework import agent_api as casework_agent_api
    from okpay.casework import agent_pages as casework_agent_pages
    from okpay.casework import agent_queue_pages as casework_agent_queue_pages
    from okpay.casework import api as casework_api
    from okpay.casework import pages as casework_pages
    from okpay.casework import start_pages as casework_start_pages
    from okpay.community import api as community_api
    from okpay.community import moderation_api as community_moderation_api
    from okpay.community import moderation_pages as community_moderation_pages
    from okpay.community import pages as community_pages
    from okpay.helpcenter import api as helpcenter_api
    from okpay.helpcenter import hotline_api as helpcenter_hotline_api
    from okpay.helpcenter import pages as helpcenter_pages
    from okpay.identity import account_pages as identity_account_pages
    from okpay.identity import api as identity_api
    from okpay.identity import required_step_pages as identity_required_step_pages
    from okpay.identity import reset_pages as identity_reset_pages
    from okpay.identity import sign_in_pages as identity_sign_in_pages
    from okpay.mail import pages as mail_pages
    from okpay.risk import admin_api as risk_admin_api
    from okpay.risk import pages as risk_pages
    from okpay.support import agent_api as support_agent_api
    from okpay.support import agent_community_pages as support_agent_community_pages
    from okpay.support import agent_pages as support_agent_pages
    from okpay.support import agent_phone_pages as support_agent_phone_pages
    from okpay.support import agent_report_pages as support_agent_report_pages
    from okpay.support import api as support_api
    from okpay.support import callback_api as support_callback_api
    from okpay.support import callback_pages as support_callback_pages
    from okpay.support import chat_api as support_chat_api
    from okpay.support import chat_pages as support_chat_pages
    from okpay.support import chat_sockets as support_chat_sockets
    from okpay.support import forum_tickets_api as support_forum_tickets_api
    from okpay.support import hotline_pages as support_hotline_pages
    from okpay.support import pages as support_pages
    from okpay.support.wechat import bind_pages as wechat_bind_pages
    from okpay.support.wechat import console_pages as wechat_console_pages
    from okpay.support.wechat import sandbox_pages as wechat_sandbox_pages
    from okpay.support.wechat import webhook as wechat_webhook
    from okpay.wallet import admin_api as wallet_admin_api
    from okpay.wallet import api as wallet_api
    from okpay.wallet import checkout_pages as wallet_checkout_pages
    from okpay.wallet import funding_pages as wallet_funding_pages
    from okpay.wallet import history_api as wallet_history_api
    from okpay.wallet import history_pages as wallet_history_pages
    from okpay.wallet import merchant_api as wallet_merchant_api
    from okpay.wallet import pages as wallet_pages
    from okpay.wallet import reconciliation_pages as wallet_reconciliation_pages
    from okpay.wallet import review_api as wallet_review_api
    from okpay.wallet import sandbox_pages as wallet_sandbox_pages
    from okpay.wallet import send_pages as wallet_send_pages
    from okpay.wallet import webhook_api as wallet_webhook_api

    # First: routes are matched in order, and a check behind every router would be
    # compared with each of their routes first (a load balancer asks every few seconds).
    def database_answers() -> None:
        with get_database().one_statement(write=False) as session:
            session.execute(text("SELECT 1"))

    upload_routes = functools.cache(lambda: routes_taking_files(app.routes))
    warm_up = _warm_up(settings, upload_routes)  # the lifespan above starts it
    health = HealthCheck(database_answers)
    app.add_api_route("/healthz", health, include_in_schema=False)
    app.add_api_route("/readyz", ReadinessCheck(health, warm_up), include_in_schema=False)
    # FastAPI tries the routers in this order, every route of each in turn: the money API,
    # which carries most requests, first.
    app.include_router(wallet_api.router)
    app.include_router(identity_api.router)
    app.include_router(wallet_history_api.router)
    app.include_router(wallet_review_api.router)
    app.include_router(wallet_webhook_api.webhooks)
    app.include_router(wallet_admin_api.admin)
    app.include_router(wallet_merchant_api.merchant)
    app.include_router(site_pages.router)
    app.include_router(identity_sign_in_pages.router)
    app.include_router(identity_reset_pages.router)
    app.include_router(identity_account_pages.router)
    app.include_router(identity_required_step_pages.router)
    app.include_router(wallet_pages.router)
    app.include_router(wallet_funding_pages.router)
    app.include_router(wallet_send_pages.router)
    app.include_router(wallet_history_pages.router)
    app.include_router(wallet_pages.public)
    app.include_router(wallet_checkout_pages.checkout)
    app.include_router(wallet_reconciliation_pages.staff)
    app.include_router(risk_pages.staff)
    app.include_router(risk_admin_api.admin)
    app.include_router(helpcenter_api.router)
    app.include_router(helpcenter_hotline_api.router)
    app.include_router(helpcenter_pages.router)
    app.include_router(community_api.router)
    app.include_router(community_pages.router)
    app.include_router(community_pages.unsubscribe_router)
    app.include_router(support_api.router)
    app.include_router(support_pages.router)
    app.include_router(support_callback_pages.router)
    app.include_router(support_callback_api.router)
    app.include_router(support_chat_api.router)
    app.include_router(support_chat_pages.router)
    app.include_router(support_chat_sockets.router)
    app.include_router(casework_api.router)
    app.include_router(casework_agent_api.router)
    app.include_router(casework_pages.router)
    app.include_router(casework_start_pages.router)
    app.include_router(support_agent_api.router)
    app.include_router(support_agent_pages.router)
    app.include_router(support_agent_phone_pages.router)
    app.include_router(support_hotline_pages.router)
    app.include_router(support_agent_report_pages.router)
    app.include_router(community_moderation_api.router)
    app.include_router(community_moderation_pages.router)
    app.include_router(support_forum_tickets_api.router)
    app.include_router(support_agent_community_pages.router)
    app.include_router(casework_agent_pages.router)
    app.include_router(casework_agent_queue_pages.router)
    app.include_router(wechat_webhook.router)
    app.include_router(wechat_bind_pages.router)
    app.include_router(wechat_bind_pages.api)
    app.include_router(wechat_console_pages.router)
    if settings.is_dev:
        app.include_router(mail_pages.router)
        # WeChat's sandbox first: the payment sandbox's /dev/sandbox/{reference}/{outcome}
        # would otherwise take /dev/sandbox/wechat/send.
        app.include_router(wechat_sandbox_pages.dev)
        app.include_router(wechat_sandbox_pages.pages)
        app.include_router(wallet_sandbox_pages.dev)

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OKPay API</title>'
            '<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head>'
            '<body><div id="swagger-ui"></div>'
            '<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>'
            '<script src="/static/js/api-docs.js"></script></body></html>'
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Added first, so it runs inside RequestMiddleware (language, headers for its refusals).
    app.add_middleware(BodyLimitMiddleware, settings=settings, upload_routes=upload_routes)
    app.add_middleware(
        RequestMiddleware,
        settings=settings,
        resolve_session=identity_sessions.resolve_for_request,
        step_gate=identity_required_steps.check_request,
    )
    app.add_middleware(StaticHeadersMiddleware, settings=settings)
    return app


def _template_globals() -> None:
    from okpay.identity.models import status_label, status_reason_label
    from okpay.web.templating import page_env

    env = page_env()
    # ``account_status_label`` for the layout: pages pass their own ``status_label`` (an
    # operation's or a ticket's), which would otherwise show the account's status as a code.
    env.globals.update(
        status_label=status_label,
        account_status_label=status_label,
        status_reason_label=status_reason_label,
    )


def serve_app() -> FastAPI:
    """Factory for `okpay serve` (uvicorn --factory): settings from the environment, jobs in-process
    unless a separate worker runs them."""
    settings = get_settings()
    return create_app(settings, start_worker=settings.embedded_worker)
