"""A ticket's event history as sentences in the reader's language and time zone:
"张小明 通过联系表单创建了请求 · 一线客服 · 高", never ``channel=web team=frontline`` or an
ISO timestamp. One renderer per event kind; higher layers (casework) add theirs for the kinds
they write with :func:`add_renderer`. A kind nobody knows still reads as a sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from okpay.core.i18n import N_, format_datetime, gettext
from okpay.helpcenter.taxonomy import category_label
from okpay.support.models import (
    AGENT_STATUS_LABELS,
    CHANNEL_LABELS,
    PRIORITY_LABELS,
    TEAM_LABELS,
    TicketEvent,
    label,
)


@dataclass(frozen=True)
class EventFacts:
    """What a renderer may use besides the event's data: who acted (a name, never empty),
    the names of the people the data mentions by id, and the requester's name."""

    actor: str
    names: Mapping[int, str]
    requester: str
    acted: bool  # a person acted (False: OKPay itself, a timer, the mail server)


Renderer = Callable[[EventFacts, Mapping[str, Any]], str]


@dataclass(frozen=True)
class HistoryLine:
    kind: str
    text: str
    at: str  # when, formatted for the reader


_renderers: dict[str, Renderer] = {}


def add_renderer(kind: str, renderer: Renderer) -> None:
    """Let a higher layer say in words what its event ``kind`` means."""
    _renderers[kind] = renderer


def known_kinds() -> set[str]:
    return set(_renderers)


# ------------------------------------------------------------------------------ values


def team(value: Any) -> str:
    return label(TEAM_LABELS, str(value)) if value else "—"


def channel(value: Any) -> str:
    return label(CHANNEL_LABELS, str(value)) if value else "—"


def status(value: Any) -> str:
    return label(AGENT_STATUS_LABELS, str(value)) if value else "—"


def priority(value: Any) -> str:
    return label(PRIORITY_LABELS, str(value)) if value else "—"


def category(value: Any) -> str:
    return category_label(str(value)) if value else "—"


def when(value: Any) -> str:
    """A timestamp stored in the data (ISO text or a datetime) in the reader's zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return ""
    return format_datetime(value, "short") if isinstance(value, datetime) else ""


def person(facts: EventFacts, user_id: Any) -> str:
    if isinstance(user_id, int) and user_id in facts.names:
        return facts.names[user_id]
    return gettext("another agent")


def listing(values: Any) -> str:
    if isinstance(values, list | tuple):
        return ", ".join(str(v) for v in values) or "—"
    return str(values) if values not in (None, "") else "—"


def target_name(value: Any) -> str:
    if value == "first_reply":
        return gettext("first reply")
    return gettext("resolution")


# ------------------------------------------------------------------------------ kinds


def _created(f: EventFacts, d: Mapping[str, Any]) -> str:
    text = gettext(
        "%(actor)s opened the request via %(channel)s · %(team)s · %(priority)s · %(category)s",
        actor=f.actor, channel=channel(d.get("channel")), team=team(d.get("team")),
        priority=priority(d.get("priority")), category=category(d.get("category")),
    )  # fmt: skip
    suggested = d.get("suggested_category")
    if suggested and suggested != d.get("category"):
        text += " · " + gettext("suggested category: %(category)s", category=category(suggested))
    return text


def _reopened(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "%(actor)s wrote again through %(channel)s and the request was reopened",
        actor=f.actor, channel=channel(d.get("channel")),
    )  # fmt: skip


def _status(f: EventFacts, d: Mapping[str, Any]) -> str:
    values = {"old": status(d.get("old")), "new": status(d.get("new"))}
    if f.acted:
        return gettext(
            "%(actor)s changed the status from %(old)s to %(new)s", actor=f.actor, **values
        )
    return gettext("The status changed from %(old)s to %(new)s", **values)


def _assigned(f: EventFacts, d: Mapping[str, Any]) -> str:
    assignee = d.get("assignee_id")
    if assignee is None:
        return gettext("%(actor)s unassigned the request", actor=f.actor)
    name = person(f, assignee)
    if name == f.actor:
        return gettext("%(actor)s took the request", actor=f.actor)
    return gettext("%(actor)s assigned the request to %(assignee)s", actor=f.actor, assignee=name)


def _updated(f: EventFacts, d: Mapping[str, Any]) -> str:
    parts = []
    for field, name_of, text in (
        ("priority", priority, gettext("the priority from %(old)s to %(new)s")),
        ("category", category, gettext("the category from %(old)s to %(new)s")),
    ):
        pair = d.get(field)
        if isinstance(pair, list | tuple) and len(pair) == 2:
            parts.append(text % {"old": name_of(pair[0]), "new": name_of(pair[1])})
    for field, text in (
        ("tags", gettext("the tags to %(values)s")),
        ("references", gettext("the linked transactions to %(values)s")),
    ):
        pair = d.get(field)
        if isinstance(pair, list | tuple) and len(pair) == 2:
            parts.append(text % {"values": listing(pair[1])})
    if not parts:
        return gettext("%(actor)s changed the request", actor=f.actor)
    return gettext(
        "%(actor)s changed %(changes)s", actor=f.actor, changes=gettext("; ").join(parts)
    )


def _escalated(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "%(actor)s passed the request from the %(old)s team to the %(new)s team",
        actor=f.actor, old=team(d.get("old")), new=team(d.get("new")),
    )  # fmt: skip


def _chat_ended(f: EventFacts, d: Mapping[str, Any]) -> str:
    if d.get("by") == "customer":
        return gettext("%(actor)s ended the live chat", actor=f.actor if f.acted else f.requester)
    if f.acted:
        return gettext("%(actor)s ended the live chat", actor=f.actor)
    return gettext("The live chat ended")


def _rated(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "%(actor)s rated the answer %(rating)s out of 5", actor=f.actor, rating=d.get("rating", "—")
    )


def _reminder(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "%(actor)s sent a reminder; the priority went from %(old)s to %(new)s",
        actor=f.actor, old=priority(d.get("old_priority")), new=priority(d.get("priority")),
    )  # fmt: skip


def _sla_warning(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "The %(target)s target is due soon, at %(due)s",
        target=target_name(d.get("target")), due=when(d.get("due")) or "—",
    )  # fmt: skip


def _sla_breach(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "The %(target)s target was missed; it was due at %(due)s",
        target=target_name(d.get("target")), due=when(d.get("due")) or "—",
    )  # fmt: skip


def _team_alerted(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "The %(team)s team was alerted by e-mail (%(count)s recipients)",
        team=team(d.get("team")), count=d.get("recipients", "—"),
    )  # fmt: skip


def _purged(f: EventFacts, d: Mapping[str, Any]) -> str:
    return gettext(
        "%(count)s files were deleted under our retention policy", count=d.get("count", "—")
    )


def _simple(text: str, *, with_actor: bool = True) -> Renderer:
    def render(f: EventFacts, d: Mapping[str, Any]) -> str:
        return gettext(text, actor=f.actor) if with_actor else gettext(text)

    return render


_SIMPLE = {
    "first_reply": N_("%(actor)s sent the first reply"),
    "reply": N_("%(actor)s replied to the customer"),
    "note": N_("%(actor)s added an internal note"),
    "chat_started": N_("%(actor)s started a live chat"),
    "chat_accepted": N_("%(actor)s accepted the live chat"),
}
_SYSTEM = {
    "chat_missed": N_("Nobody accepted the live chat in time; it continues by e-mail"),
    "mail_files_refused": N_("Files attached to an e-mail were not kept (see the note)"),
    "mail_sender_note": N_("A note about the e-mail's sender was added"),
    "mail_bounce": N_("An e-mail to the customer could not be delivered"),
    "mail_auto_reply": N_("The customer's mail server sent an automatic reply"),
    "unverified_message": N_(
        "An e-mail that could not be verified as the customer's arrived; "
        "the customer does not see it"
    ),
}

_BUILT_IN: dict[str, Renderer] = {
    "created": _created,
    "reopened": _reopened,
    "status": _status,
    "assigned": _assigned,
    "updated": _updated,
    "escalated": _escalated,
    "chat_ended": _chat_ended,
    "rated": _rated,
    "reminder": _reminder,
    "sla_warning": _sla_warning,
    "sla_breach": _sla_breach,
    "team_alerted": _team_alerted,
    "attachments_purged": _purged,
    **{kind: _simple(text) for kind, text in _SIMPLE.items()},
    **{kind: _simple(text, with_actor=False) for kind, text in _SYSTEM.items()},
}
for _kind, _renderer in _BUILT_IN.items():
    add_renderer(_kind, _renderer)

# Kinds a customer's own action writes: with no signed-in actor, the requester acted.
REQUESTER_KINDS = frozenset({"created", "reopened", "chat_started", "rated", "reminder"})


def _unknown(f: EventFacts, d: Mapping[str, Any]) -> str:
    if f.acted:
        return gettext("%(actor)s changed the request", actor=f.actor)
    return gettext("The request was changed")


def sentence(
    kind: str,
    data: Mapping[str, Any] | None,
    *,
    actor_id: int | None,
    names: Mapping[int, str],
    requester: str,
    requester_id: int | None = None,
) -> str:
    """One event as a sentence in the current language."""
    acted = actor_id is not None or kind in REQUESTER_KINDS
    if actor_id is not None and actor_id == requester_id:
        actor = requester
    elif actor_id is not None:
        actor = names.get(actor_id) or gettext("another agent")
    elif kind in REQUESTER_KINDS:
        actor = requester
    else:
        actor = "OKPay"
    facts = EventFacts(actor=actor, names=names, requester=requester, acted=acted)
    renderer = _renderers.get(kind, _unknown)
    try:
        return renderer(facts, data or {})
    except (KeyError, TypeError, ValueError):  # odd old data: still a sentence
        return _unknown(facts, {})


def mentioned_people(events: Iterable[TicketEvent]) -> set[int]:
    """The user ids an event history names (actors and assignees), to look their names up."""
    ids: set[int] = set()
    for e in events:
        if e.actor_user_id:
            ids.add(e.actor_user_id)
        for key in ("assignee_id", "old"):
            value = (e.data or {}).get(key)
            if e.kind == "assigned" and isinstance(value, int):
                ids.add(value)
    return ids


def history(
    events: Iterable[TicketEvent],
    *,
    names: Mapping[int, str],
    requester: str,
    requester_id: int | None = None,
) -> list[HistoryLine]:
    """The ticket's events as sentences with their time, oldest first."""
    return [
        HistoryLine(
            kind=e.kind,
            text=sentence(
                e.kind,
                e.data,
                actor_id=e.actor_user_id,
                names=names,
                requester=requester,
                requester_id=requester_id,
            ),
            at=format_datetime(e.at, "short"),
        )
        for e in events
    ]
