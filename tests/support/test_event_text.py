"""The ticket's event history reads as sentences (issue 15): every kind support and casework
write has its own, in English and Chinese, with names instead of ids, labels instead of codes
and times in the reader's zone: never ``channel=web team=frontline`` or an ISO timestamp."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import okpay
from okpay.casework import event_text as case_event_text  # noqa: F401 - registers its kinds
from okpay.core.i18n import use_locale
from okpay.support import event_text
from okpay.support.models import TicketEvent

AGENT, OTHER, CUSTOMER = 7, 8, 9
NAMES = {AGENT: "张小明", OTHER: "Wang Fang", CUSTOMER: "李华"}
DUE = "2026-12-06T06:49:05.045166+00:00"

# One example of each kind, as its writer stores it (see record_event calls in src/okpay).
SAMPLES: dict[str, tuple[int | None, dict[str, Any]]] = {
    "created": (None, {"channel": "web", "team": "frontline", "priority": "high",
                       "category": "topup", "rule": "default", "suggested_category": "topup",
                       "confidence": 0.983}),
    "reopened": (CUSTOMER, {"channel": "email"}),
    "status": (AGENT, {"old": "new", "new": "pending_customer"}),
    "assigned": (AGENT, {"old": None, "assignee_id": OTHER}),
    "first_reply": (AGENT, {}),
    "reply": (AGENT, {"message_id": 12}),
    "note": (AGENT, {"message_id": 13}),
    "updated": (AGENT, {"priority": ["normal", "urgent"], "category": ["topup", "withdrawal"],
                        "tags": [[], ["vip", "bank"]], "references": [[], ["TX-20261121-AB"]]}),
    "escalated": (AGENT, {"old": "frontline", "new": "security"}),
    "chat_started": (None, {"chat_id": 3}),
    "chat_accepted": (AGENT, {"chat_id": 3}),
    "chat_ended": (AGENT, {"chat_id": 3, "by": "agent"}),
    "chat_missed": (None, {"chat_id": 3}),
    "rated": (CUSTOMER, {"rating": 4}),
    "reminder": (CUSTOMER, {"old_priority": "normal", "priority": "high"}),
    "sla_warning": (None, {"target": "first_reply", "due": DUE}),
    "sla_breach": (None, {"target": "resolution", "due": DUE}),
    "team_alerted": (None, {"team": "security", "recipients": 2}),
    "attachments_purged": (None, {"count": 3, "reason": "case_retention"}),
    "mail_files_refused": (None, {"message_id": 5}),
    "mail_sender_note": (None, {"message_id": 5}),
    "mail_bounce": (None, {"message_id": 5, "reason": "bounce"}),
    "mail_auto_reply": (None, {"message_id": 5, "reason": "auto_reply"}),
    "unverified_message": (None, {"message_id": 5, "envelope": "x@evil.example",
                                  "failed": ["spf=fail"], "files": ["a.pdf"]}),
    "case_opened": (CUSTOMER, {"case_id": 2, "case_type": "dispute"}),
    "case_status": (AGENT, {"case_id": 2, "old": "submitted", "new": "in_review"}),
    "case_breached": (None, {"case_id": 2}),
    "risk_review_joined": (None, {"case_id": 2, "entry": "held"}),
    "case_proposal": (None, {"proposal_id": 4, "action": "refund", "status": "pending"}),
}  # fmt: skip

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
DUMP = re.compile(r"\b\w+=\S")
CODES = re.compile(
    r"\b(frontline|pending_customer|in_review|topup|first_reply|case_retention|auto_reply)\b"
)


def _written_kinds() -> set[str]:
    """Every literal event kind in the source: record_event(…, "kind") and event="kind"."""
    kinds: set[str] = set()
    root = Path(okpay.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        kinds.update(re.findall(r"record_event\(\s*[\w.]+,\s*[\w.()]+,\s*\"(\w+)\"", text))
        kinds.update(re.findall(r"\bevent=\"(\w+)\"", text))
        kinds.update(re.findall(r"event=\"(\w+)\" if", text))
        kinds.update(re.findall(r"else \"(mail_\w+)\"", text))
        kinds.update(re.findall(r"_note\([^)]*?\"(mail_\w+)\"", text, flags=re.S))
    kinds.update({"reply", "note"})  # written as "note" if internal else "reply"
    kinds.add("unverified_message")  # written through UNVERIFIED_EVENT
    return kinds


def test_every_kind_written_in_the_source_has_a_sentence() -> None:
    written = _written_kinds()
    assert {"created", "status", "case_opened", "mail_bounce", "case_proposal"} <= written
    assert written <= event_text.known_kinds(), written - event_text.known_kinds()
    assert written <= set(SAMPLES), written - set(SAMPLES)


def _sentence(kind: str) -> str:
    actor, data = SAMPLES[kind]
    return event_text.sentence(
        kind, data, actor_id=actor, names=NAMES, requester="李华", requester_id=CUSTOMER
    )


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_kind_reads_as_a_sentence(kind: str, locale: str) -> None:
    with use_locale(locale):
        text = _sentence(kind)
    assert text.strip()
    assert not ISO.search(text), text
    assert not DUMP.search(text), text
    assert not CODES.search(text), text
    assert "None" not in text and "{" not in text and "%(" not in text, text
    if locale == "zh_CN":
        assert re.search(r"[\u4e00-\u9fff]", text), text  # Chinese, not English
        assert not re.search(r"\b(the|was|request|changed)\b", text), text


def test_the_issue_s_example_and_names_labels_and_times() -> None:
    with use_locale("zh_CN"):
        created = event_text.sentence(
            "created", SAMPLES["created"][1], actor_id=None, names=NAMES, requester="张小明"
        )
        assert created.startswith("张小明 通过联系表单创建了请求 · 一线客服 · 高")
        assert "0.983" not in created and "default" not in created
        assigned = _sentence("assigned")
        assert "张小明" in assigned and "Wang Fang" in assigned
        breach = _sentence("sla_breach")
        assert "2026/12/6 14:49" in breach  # Beijing time, the reader's zone
        assert "；" in _sentence("updated")  # clauses joined the Chinese way
    with use_locale("en"):
        assert _sentence("status") == "张小明 changed the status from New to Pending customer"
        assert _sentence("reopened").startswith("李华 wrote again")  # the requester acted
        assert _sentence("case_proposal").startswith("Proposal #4 (")


def test_an_unknown_kind_or_odd_data_is_still_a_sentence() -> None:
    with use_locale("en"):
        unknown = event_text.sentence(
            "something_new", {"a": 1, "b": "x"}, actor_id=AGENT, names=NAMES, requester="Li"
        )
        assert unknown == "张小明 changed the request"
        system = event_text.sentence(
            "something_new", {"a": 1}, actor_id=None, names={}, requester="Li"
        )
        assert system == "The request was changed"
        odd = event_text.sentence(
            "updated", {"priority": "high"}, actor_id=AGENT, names=NAMES, requester="Li"
        )
        assert "=" not in odd
        gone = event_text.sentence("status", {"old": "new", "new": "open"}, actor_id=99,
                                   names=NAMES, requester="Li")  # fmt: skip
        assert gone.startswith("another agent")


def test_history_lines_carry_the_time_in_the_reader_s_zone() -> None:
    row = TicketEvent(
        ticket_id=1,
        at=datetime(2026, 12, 6, 6, 49, 5, 45166, tzinfo=UTC),
        actor_user_id=AGENT,
        kind="reply",
        data={"message_id": 1},
    )
    with use_locale("zh_CN"):
        (line,) = event_text.history([row], names=NAMES, requester="李华")
    assert line.text == "张小明 回复了客户"
    assert line.at == "2026/12/6 14:49" and not ISO.search(line.at)
    assert event_text.mentioned_people(
        [
            TicketEvent(
                ticket_id=1,
                at=row.at,
                actor_user_id=AGENT,
                kind="assigned",
                data={"assignee_id": OTHER, "old": CUSTOMER},
            )
        ]
    ) == {AGENT, OTHER, CUSTOMER}
