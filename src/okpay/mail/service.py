"""Compose e-mail from templates in the recipient's language and queue it after commit."""

from __future__ import annotations

import functools
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, use_locale
from okpay.core.template_helpers import install_helpers
from okpay.jobs import enqueue_on_commit
from okpay.mail import tasks
from okpay.mail.models import OutboundEmail
from okpay.settings import get_settings

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@functools.cache
def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        # Subjects and text parts are plain text (escaping would corrupt them); the HTML
        # part is rendered by the autoescaping twin of this environment.
        autoescape=autoescape,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_helpers(env)
    return env


def render(template: str, context: dict[str, Any], locale: str) -> tuple[str, str, str]:
    """(subject, text, html) of ``mail/<template>.mail`` in ``locale``."""
    ctx = {"base_url": get_settings().base_url, **context}
    with use_locale(locale):
        plain = _env(False).get_template(f"mail/{template}.mail")
        rich = _env(True).get_template(f"mail/{template}.mail")
        subject = _block(plain, "subject", ctx).strip()
        text = _block(plain, "text", ctx).strip() + "\n"
        body_html = _block(rich, "html", ctx) if "html" in rich.blocks else None
        html = (
            _env(True)
            .get_template("mail/_layout.html")
            .render({**ctx, "subject": subject, "body_html": body_html, "text": text})
        )
    return subject, text, html


def _block(template: jinja2.Template, name: str, ctx: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(ctx)))


def check_header_value(value: str) -> None:
    """Header values never carry CR or LF (header injection)."""
    if "\r" in value or "\n" in value:
        raise ValidationFailed(
            N_("Line breaks are not allowed here."), code="line_break_not_allowed"
        )


def send_email(
    session: Session,
    *,
    to: str,
    template: str,
    locale: str,
    context: dict[str, Any] | None = None,
    user_id: int | None = None,
    headers: dict[str, str] | None = None,
) -> OutboundEmail:
    """Render and store an e-mail now; it is delivered by a job once the unit of work commits."""
    check_header_value(to)
    for value in (headers or {}).values():
        check_header_value(value)
    subject, text, html = render(template, context or {}, locale)
    check_header_value(subject)
    email = OutboundEmail(
        created_at=clock.now(),
        user_id=user_id,
        to_addr=to,
        template=template,
        locale=locale,
        subject=subject,
        text_body=text,
        html_body=html,
        message_id=make_msgid(domain=_mail_domain()),
        headers=headers or {},
        status="queued",
        attempts=0,
    )
    session.add(email)
    session.flush()
    enqueue_on_commit(session, tasks.deliver_email, email.id)
    return email


def _mail_domain() -> str:
    return urlsplit(get_settings().base_url).hostname or "okpay.local"


def list_recent(session: Session, *, limit: int = 100) -> list[OutboundEmail]:
    """The newest e-mails, for the dev mailbox."""
    return list(
        session.scalars(select(OutboundEmail).order_by(OutboundEmail.id.desc()).limit(limit))
    )


def get_email(session: Session, email_id: int) -> OutboundEmail | None:
    return session.get(OutboundEmail, email_id)
