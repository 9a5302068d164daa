"""The service centre as customers see it: the contact form, the confirmation, finding a request
by number, "My requests", a request's thread with messages, files, reminders and ratings, and
in-app feedback with a screenshot."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from okpay import __version__
from okpay.core import clock, context, ids
from okpay.core.dbid import BigDbId
from okpay.core.errors import DomainError
from okpay.core.i18n import format_size, gettext
from okpay.helpcenter import hotline_display
from okpay.helpcenter.taxonomy import CATEGORIES, category_label
from okpay.identity.access import CurrentUser
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import access, checks, customer, follow_up, messages, numbers, satisfaction, sla
from okpay.support import files as support_files
from okpay.support import tickets as ticket_tickets
from okpay.support.models import STATUS_LABELS, Channel, Ticket, label
from okpay.web.deps import DbSession, csrf_protect
from okpay.web.flash import flash
from okpay.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

Text = Annotated[str, Form(max_length=25_000)]
Short = Annotated[str, Form(max_length=400)]
Files = Annotated[list[UploadFile], Form()]
Kept = Annotated[list[str], Form()]
Key = Annotated[str, Query(max_length=64)]
FormKey = Annotated[str, Form(max_length=64)]
# The service's own checks give the specific message; these only bound what is read.
SERVICE_FIELDS = {"body": "description"}
# The emergency freeze's confirmation (casework's page; linked by path, not imported).
FREEZE_PAGE = "/account/emergency-freeze?source=suspicious"


def _user(request: Request) -> User | None:
    return getattr(request.state, "user", None)


def _ticket_url(ticket: Ticket, key: str, suffix: str = "") -> str:
    query = f"?key={quote(key)}" if key else ""
    return f"/support/requests/{ticket.number}{suffix}{query}"


def _uploads(files: list[UploadFile]) -> customer.Uploads:
    return customer.read_uploads((f.filename or "", f.file) for f in files)


# ----------------------------------------------------------------------- contact form


@dataclass(frozen=True)
class _Form:
    """A form that opens a ticket: its template, its file field and its throttle."""

    template: str
    file_field: str
    purpose: str


CONTACT = _Form("support/requests_contact.html", "attachments", "ticket")
FEEDBACK = _Form("support/feedback_form.html", "screenshot", "feedback")


def _show(
    request: Request,
    form: _Form,
    *,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    error: str | None = None,
    kept: list[dict[str, str]] | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    return render(
        request,
        form.template,
        status_code=status_code,
        **extra,
        values=values,
        errors=errors or {},
        error=error,
        kept=kept or [],
        categories=[(code, category_label(code)) for code in CATEGORIES],
        accept=support_files.ACCEPT,
        max_files=get_settings().upload_max_files,
    )


def _open_from_form(
    request: Request,
    db: DbSession,
    form: _Form,
    *,
    user: User | None,
    values: dict[str, str],
    check: Callable[[], dict[str, str]],
    uploaded: list[UploadFile],
    kept: list[str],
    build: Callable[[list[support_files.CheckedFile]], ticket_tickets.NewTicket],
) -> Response:
    """Throttle, check every field and file at once, open the ticket, and on any refusal show
    the form again with everything kept: the values, and the files that passed (parked)."""
    try:
        customer.check_throttle(db, user=user, purpose=form.purpose)
    except DomainError as err:
        return _show(request, form, values=values, error=err.translated(), status_code=err.status)
    uploads = _uploads(uploaded)
    errors = check()
    if uploads.errors:
        errors[form.file_field] = " ".join(uploads.errors)
    if errors:
        # The throttle's count is kept (the unit of work commits); nothing else was written.
        return _show(
            request, form, values=values, errors=errors,
            kept=customer.rekeep(kept, uploads.files), status_code=422,
        )  # fmt: skip
    files = [*customer.take_kept_files(db, kept), *uploads.files]
    try:
        ticket = ticket_tickets.do_open_ticket(db, build(files))
    except DomainError as err:
        db.rollback()
        field = SERVICE_FIELDS.get(err.field or "", err.field)
        return _show(
            request, form, values=values,
            errors={field: err.translated()} if field else {},
            error=None if field else err.translated(),
            kept=customer.keep_files(files), status_code=err.status,
        )  # fmt: skip
    return RedirectResponse(
        _ticket_url(ticket, access.access_key(ticket), "/sent"), status_code=303
    )


def _prefilled(
    request: Request, db: DbSession, *, region: str = "", category: str = "",
    reference: str = "", subject: str = "", description: str = "",
) -> Response:  # fmt: skip
    """The contact form with the signed-in user's name and address and what a link or
    another page handed over (anything not of the expected shape is dropped)."""
    user = _user(request)
    ref = reference.strip().upper()
    values = {
        "name": (user.name or "") if user else "",
        "email": user.email if user else "",
        "category": category if category in CATEGORIES else "",
        "reference": ref if ids.TX_REFERENCE.fullmatch(ref) else "",
        "subject": " ".join(subject.split())[:200],
        "description": description[:5000],
    }
    board = hotline_display.board(db, user=user, chosen=region)
    return _show(request, CONTACT, values=values, hotline_board=board, hotline_base="/help/contact")


@router.get("/help/contact")
def contact_form(
    request: Request,
    db: DbSession,
    region: Annotated[str, Query(max_length=4)] = "",
    category: Annotated[str, Query(max_length=40)] = "",
    reference: Annotated[str, Query(max_length=40)] = "",
    subject: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The contact form, signed in or not. A transaction's "report a problem" link fills in
    its reference, and an article's button the topic; anything else is dropped."""
    if "\n" in subject or "\r" in subject:
        subject = ""
    return _prefilled(
        request, db, region=region, category=category, reference=reference, subject=subject
    )


@router.post("/help/contact/prefill")
def contact_prefill(
    request: Request,
    db: DbSession,
    subject: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
    title: Annotated[str, Form(max_length=400)] = "",
    body: Annotated[str, Form(max_length=40_000)] = "",
) -> Response:
    """The contact form filled in with what the user typed elsewhere (the forum's "send it
    to us privately instead" posts its own ``title`` and ``body``): posted, so personal data
    never travels in an address."""
    return _prefilled(request, db, subject=subject or title, description=description or body)


@router.post("/help/contact")
def contact_submit(
    request: Request,
    db: DbSession,
    subject: Short = "",
    description: Text = "",
    name: Short = "",
    email: Short = "",
    category: Short = "",
    reference: Short = "",
    attachments: Files = [],  # noqa: B006 - FastAPI copies defaults
    kept: Kept = [],  # noqa: B006
    freeze: Short = "",
) -> Response:
    user = _user(request)
    values_freeze = "yes" if freeze == "yes" and user is not None else ""
    form = customer.ContactForm(
        subject=subject, description=description, name=name, email=email,
        category=category, reference=reference,
    )  # fmt: skip
    values = {k: getattr(form, k) for k in customer.ContactForm.__dataclass_fields__}
    if user is not None:
        values["email"] = user.email
    values["freeze"] = values_freeze
    response = _open_from_form(
        request, db, CONTACT, user=user, values=values, check=lambda: form.check(user),
        uploaded=attachments, kept=kept,
        build=lambda files: ticket_tickets.NewTicket(
            channel=Channel.web.value, subject=form.subject, body=form.description,
            name=form.name, email=form.email, user=user, category=form.category or None,
            references=form.reference, files=files, locale=request.state.locale,
        ),
    )  # fmt: skip
    if values_freeze and response.status_code == 303:
        # The customer also asked to freeze: casework's confirmation page does it (support
        # does not act on the wallet), with the request they just sent noted.
        flash(request, gettext("We have your request. Now confirm the freeze."), "success")
        return RedirectResponse(FREEZE_PAGE, status_code=303)
    return response


@router.get("/support/requests/{number}/sent")
def sent(request: Request, number: str, db: DbSession, key: Key = "") -> Response:
    ticket = customer.open_for(db, number=number, user=_user(request), key=key)
    return render(
        request,
        "support/requests_sent.html",
        ticket=ticket,
        due=sla.promised_reply_at(ticket),
        link=_ticket_url(ticket, key),
    )


# ---------------------------------------------------------------------------- finding


@router.get("/support/requests/find")
def find_form(request: Request, number: Annotated[str, Query(max_length=40)] = "") -> Response:
    return render(request, "support/requests_find.html", values={"number": number, "email": ""})


@router.post("/support/requests/find")
def find_submit(request: Request, db: DbSession, number: Short = "", email: Short = "") -> Response:
    """Same page whatever matched: the link goes only to the requester's own address."""
    values = {"number": number, "email": email}
    errors = {}
    if numbers.normalise_number(number) is None:
        errors["number"] = gettext("Request numbers look like OK-2026-000123.")
    if not email.strip():
        errors["email"] = gettext("Please enter a valid e-mail address.")
    if errors:
        return render(
            request, "support/requests_find.html", status_code=422, values=values, errors=errors
        )
    try:
        customer.find_and_send_link(db, number=number, email=email)
    except DomainError as err:
        return render(
            request, "support/requests_find.html", status_code=err.status, values=values,
            error=err.translated(),
        )  # fmt: skip
    return render(request, "support/requests_find_sent.html", email=email.strip())


@router.get("/support/requests")
def my_requests(request: Request, db: DbSession, user: CurrentUser) -> Response:
    tickets = access.list_requests_of(db, user=user)
    return render(
        request,
        "support/requests_list.html",
        tickets=tickets,
        status_label=lambda code: label(STATUS_LABELS, code),
    )


# --------------------------------------------------------------------------- the thread


def _ticket_page(
    request: Request,
    db: DbSession,
    ticket: Ticket,
    key: str,
    *,
    error: str | None = None,
    error_field: str | None = None,
    message: str = "",
    status_code: int = 200,
    template: str = "support/requests_ticket.html",
) -> Response:
    return render(
        request,
        template,
        status_code=status_code,
        view=customer.customer_view(db, ticket, now=clock.now()),
        ticket=ticket,
        key=key,
        url=lambda suffix="": _ticket_url(ticket, key, suffix),
        error=error,
        error_field=error_field,
        message=message,
        accept=support_files.ACCEPT,
        category_label=category_label,
        format_size=format_size,
    )


@router.get("/support/requests/{number}")
def ticket_page(request: Request, number: str, db: DbSession, key: Key = "") -> Response:
    ticket = customer.open_for(db, number=number, user=_user(request), key=key)
    return _ticket_page(request, db, ticket, key)


@router.post("/support/requests/{number}/messages")
def add_message(
    request: Request,
    number: str,
    db: DbSession,
    body: Text = "",
    key: FormKey = "",
    attachments: Files = [],  # noqa: B006
) -> Response:
    ticket = customer.open_for(db, number=number, user=_user(request), key=key)
    uploads = _uploads(attachments)
    if uploads.errors:
        return _ticket_page(
            request, db, ticket, key, error=" ".join(uploads.errors),
            error_field="attachments", message=body, status_code=422,
        )  # fmt: skip
    try:
        messages.do_customer_message(
            db, ticket=ticket, body=body, channel=Channel.web.value, author=_user(request),
            files=uploads.files,
        )  # fmt: skip
    except DomainError as err:
        db.rollback()
        ticket = customer.open_for(db, number=number, user=_user(request), key=key)
        return _ticket_page(
            request, db, ticket, key, error=err.translated(), error_field=err.field or "body",
            message=body, status_code=err.status,
        )  # fmt: skip
    flash(request, gettext("Your message was added. We will reply as soon as we can."), "success")
    return RedirectResponse(_ticket_url(ticket, key) + "#thread-end", status_code=303)


@router.post("/support/requests/{number}/reminder")
def remind(request: Request, number: str, db: DbSession, key: FormKey = "") -> Response:
    ticket = customer.open_for(db, number=number, user=_user(request), key=key)
    try:
        follow_up.do_request_reminder(db, ticket=ticket, actor=_user(request))
    except DomainError as err:
        db.rollback()
        flash(request, err.translated(), "error")
    else:
        flash(request, gettext("Thank you. We have told the team and moved your request up."),
              "success")  # fmt: skip
    return RedirectResponse(_ticket_url(ticket, key), status_code=303)


@router.get("/support/requests/{number}/rate")
def rate_form(request: Request, number: str, db: DbSession, key: Key = "") -> Response:
    ticket = customer.open_for(db, number=number, user=_user(request), key=key)
    return _ticket_page(request, db, ticket, key, template="support/requests_rate.html")


@router.post("/support/requests/{number}/rate")
def rate_submit(
    request: Request,
    number: str,
    db: DbSession,
    rating: Short = "",
    comment: Text = "",
    key: FormKey = "",
    back: Short = "",
) -> Response:
    ticket = customer.open_for(db, number=number, user=_user(request), key=key)
    template = "support/requests_rate.html" if back == "rate" else "support/requests_ticket.html"
    try:
        satisfaction.do_rate(
            db, ticket=ticket, rating=customer.check_rating(rating), comment=comment,
            actor=_user(request),
        )  # fmt: skip
    except DomainError as err:
        db.rollback()
        ticket = customer.open_for(db, number=number, user=_user(request), key=key)
        return _ticket_page(
            request, db, ticket, key, error=err.translated(), error_field="rating",
            message=comment, status_code=err.status, template=template,
        )  # fmt: skip
    flash(request, gettext("Thank you for rating our help."), "success")
    suffix = "/rate" if back == "rate" else ""
    return RedirectResponse(_ticket_url(ticket, key, suffix) + "#rating", status_code=303)


@router.get("/support/requests/{number}/files/{attachment_id}")
def attachment(
    request: Request, number: str, attachment_id: BigDbId, db: DbSession, key: Key = ""
) -> Response:
    ticket = customer.open_for(db, number=number, user=_user(request), key=key)
    return customer.download(customer.customer_attachment(db, ticket, attachment_id))


# -------------------------------------------------------------------------- feedback

PAGE_MAX = 500


def _page_address(raw: str) -> str:
    """The page the feedback came from, kept only if it is one of ours (a path, or an address
    on our own base URL), without control characters."""
    value = re.sub(r"[\x00-\x1f\x7f]", "", raw or "").strip()[:PAGE_MAX]
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//"):
        base = urlsplit(get_settings().base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            return ""
        value = parts.path + (f"?{parts.query}" if parts.query else "")
    return value


@router.get("/support/feedback")
def feedback_form(
    request: Request,
    user: CurrentUser,
    page: Annotated[str, Query(alias="from", max_length=PAGE_MAX)] = "",
) -> Response:
    return _show(request, FEEDBACK, values={"page": _page_address(page), "description": ""})


@router.post("/support/feedback")
def feedback_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    description: Text = "",
    page: Short = "",
    screenshot: Files = [],  # noqa: B006
    kept: Kept = [],  # noqa: B006
) -> Response:
    values = {"page": _page_address(page), "description": description}

    def check() -> dict[str, str]:
        try:
            checks.check_body(description)
        except DomainError as err:
            return {"description": err.translated()}
        return {}

    def build(files: list[support_files.CheckedFile]) -> ticket_tickets.NewTicket:
        text = checks.check_body(description)
        first_line = text.split("\n", 1)[0]
        summary = first_line[:60] + ("…" if len(first_line) > 60 else "")
        return ticket_tickets.NewTicket(
            channel=Channel.feedback.value,
            subject=gettext("Feedback: %(summary)s", summary=summary),
            body=text,
            user=user,
            files=files,
            locale=request.state.locale,
            context=_feedback_context(request, values["page"]),
        )

    return _open_from_form(
        request, db, FEEDBACK, user=user, values=values, check=check, uploaded=screenshot,
        kept=kept, build=build,
    )  # fmt: skip


def _feedback_context(request: Request, page: str) -> dict[str, Any]:
    agent = context.current().user_agent or request.headers.get("user-agent", "")
    return {"page": page, "user_agent": agent[:400], "app_version": __version__}
