"""Callback requests: when a hotline is closed or busy, the customer leaves a number and a
preferred time; that opens a ticket on channel ``phone`` whose first-reply due time is the
callback's own (the preferred time, or two opening hours of the line from now), and the
agent's call log (/agent/phone) marks the callback done on that same ticket.

Services flush, never commit; the acknowledgement e-mail leaves after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, country_name, gettext, use_locale
from okpay.helpcenter import hotline_display, hotlines
from okpay.helpcenter.hotline_models import Hotline
from okpay.identity import throttling as identity_throttling
from okpay.identity.models import User
from okpay.support import sla, tickets
from okpay.support.callback_models import Callback, CallbackStatus
from okpay.support.models import Channel, Ticket

# "As soon as possible" is due after this much of the line's opening time.
ASAP_OPEN_SECONDS = 2 * 3600
# A preferred time is at least this far ahead and at most this far.
MIN_NOTICE = timedelta(minutes=15)
MAX_AHEAD = timedelta(days=14)
# Callbacks to one number per day (stops someone flooding a stranger's phone with our calls).
PER_NUMBER_PER_DAY = 3
DAY = timedelta(days=1)
NOTE_MAX = 2000
TAG = "callback"


@dataclass(frozen=True)
class CallbackRequest:
    """What the customer asked for."""

    region: str
    number: str
    preferred: str = ""  # "" = as soon as possible; else "YYYY-MM-DDTHH:MM" in the line's zone
    note: str = ""
    name: str = ""
    email: str = ""
    locale: str | None = None


def check_hotline(session: Session, region: str) -> Hotline:
    hotline = hotlines.get_hotline(session, region)
    if hotline is None:
        raise ValidationFailed(
            N_("Choose the hotline of your region."), code="hotline_unknown", field="region"
        )
    return hotline


def check_preferred(hotline: Hotline, raw: str, *, now: datetime) -> datetime | None:
    """The preferred time as a UTC instant (None = as soon as possible): in the future,
    within two weeks, and within the line's opening hours."""
    text = (raw or "").strip()
    if not text:
        return None
    schedule = hotlines.Schedule.of(hotline)
    try:
        local = datetime.fromisoformat(text[:32])
    except ValueError as exc:
        raise ValidationFailed(
            N_("Choose a date and time for our call."), code="callback_time_invalid",
            field="preferred",
        ) from exc  # fmt: skip
    at = local.replace(tzinfo=schedule.zone) if local.tzinfo is None else local
    if at < now + MIN_NOTICE or at > now + MAX_AHEAD:
        raise ValidationFailed(
            N_("Choose a time between 15 minutes and two weeks from now."),
            code="callback_time_out_of_range", field="preferred",
        )  # fmt: skip
    if not schedule.is_open(at):
        raise ValidationFailed(
            N_("The hotline is closed then. Choose a time within its service hours."),
            code="callback_time_closed", field="preferred",
        )  # fmt: skip
    return at


def due_time(hotline: Hotline, preferred: datetime | None, *, now: datetime) -> datetime:
    """When the callback is due: at the preferred time, else after two opening hours."""
    if preferred is not None:
        return preferred
    due = hotlines.Schedule.of(hotline).add_open_time(now, ASAP_OPEN_SECONDS)
    return due or now + timedelta(seconds=ASAP_OPEN_SECONDS)


def check_note(raw: str) -> str:
    note = (raw or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            N_("Please keep the note under 2,000 characters."), code="callback_note_too_long",
            field="note",
        )  # fmt: skip
    return note


def do_request_callback(
    session: Session, *, user: User | None, request: CallbackRequest
) -> tuple[Ticket, Callback]:
    """Open a phone ticket asking us to call the customer back, with its own due time."""
    now = clock.now()
    hotline = check_hotline(session, request.region)
    number = hotlines.check_number(request.number, region=hotline.region)
    preferred = check_preferred(hotline, request.preferred, now=now)
    note = check_note(request.note)
    identity_throttling.check_rate(
        session, f"support-callback-number:{number}", limit=PER_NUMBER_PER_DAY, window=DAY
    )
    due = due_time(hotline, preferred, now=now)
    locale = request.locale or (user.preferred_locale if user else None)
    with use_locale(locale):
        zone = hotlines.Schedule.of(hotline).zone
        shown = hotlines.display_number(number)
        lines = [
            gettext(
                "Please call me back on %(number)s (hotline: %(region)s).",
                number=shown, region=country_name(hotline.region),
            ),
            gettext("Preferred time: %(when)s", when=hotline_display.when(preferred, zone))
            if preferred
            else gettext("Preferred time: as soon as possible"),
        ]  # fmt: skip
        if note:
            lines += ["", note]
        subject = gettext("Callback request: %(number)s", number=shown)
    ticket = tickets.do_open_ticket(
        session,
        tickets.NewTicket(
            channel=Channel.phone.value, subject=subject, body="\n".join(lines),
            name=request.name, email=request.email, user=user, locale=locale, tags=[TAG],
            context={"callback_region": hotline.region},
        ),
    )  # fmt: skip
    # The callback's own SLA: the first reply is the call, due when the customer asked.
    ticket.first_reply_due_at = due
    sla.refresh_next_due(ticket)
    callback = Callback(
        ticket_id=ticket.id, region=hotline.region, number=number, preferred_at=preferred,
        due_at=due, status=CallbackStatus.requested.value, created_at=now,
    )  # fmt: skip
    session.add(callback)
    session.flush()
    audit.record(
        session, "callback_requested", actor_user_id=user.id if user else None,
        subject_user_id=user.id if user else None, object_type="ticket", object_id=ticket.number,
        region=hotline.region,
    )  # fmt: skip
    return ticket, callback


@dataclass(frozen=True)
class DueCallback:
    """A callback waiting for an agent, with its ticket."""

    callback: Callback
    ticket: Ticket
    number: str  # as dialled: "+852 2123 4567"
    overdue: bool


def list_due(session: Session, *, limit: int = 50) -> list[DueCallback]:
    """Callbacks not made yet, soonest due first (the agent's phone page)."""
    now = clock.now()
    rows = session.execute(
        select(Callback, Ticket)
        .join(Ticket, Ticket.id == Callback.ticket_id)
        .where(Callback.status == CallbackStatus.requested.value)
        .order_by(Callback.due_at, Callback.id)
        .limit(limit)
    ).all()
    return [
        DueCallback(cb, t, hotlines.display_number(cb.number), cb.due_at <= now) for cb, t in rows
    ]


def pending_for(session: Session, ticket: Ticket) -> Sequence[Callback]:
    """The ticket's callbacks not made yet."""
    return session.scalars(
        select(Callback).where(
            Callback.ticket_id == ticket.id, Callback.status == CallbackStatus.requested.value
        )
    ).all()


def do_mark_done(session: Session, *, ticket: Ticket, agent: User) -> int:
    """The agent logged a call on this ticket: its pending callbacks are done (a conditional
    update, so two agents logging at once mark each callback once). Returns how many."""
    now = clock.now()
    result = session.execute(
        update(Callback)
        .where(Callback.ticket_id == ticket.id, Callback.status == CallbackStatus.requested.value)
        .values(status=CallbackStatus.done.value, done_at=now, done_by_id=agent.id)
        .execution_options(synchronize_session="fetch")
    )
    done = int(getattr(result, "rowcount", 0) or 0)
    if done:
        if ticket.first_replied_at is None:
            ticket.first_replied_at = now  # the call was our first answer
            sla.refresh_next_due(ticket)
        audit.record(
            session, "callback_done", actor_user_id=agent.id,
            subject_user_id=ticket.requester_user_id, object_type="ticket",
            object_id=ticket.number,
        )  # fmt: skip
    session.flush()
    return done
