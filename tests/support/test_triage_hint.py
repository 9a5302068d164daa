"""When triage is unsure of a new ticket's category, the agent's page offers the two best
categories as one-click choices (zh-CN and en), until staff choose one."""

from __future__ import annotations

from types import SimpleNamespace

from okpay.helpcenter import triage
from okpay.support import triage_hint
from tests.support.helpers import load, open_ticket
from tests.support.test_console import agent_client, post_on

VAGUE = {"subject": "账户出问题了", "body": "账户出问题了，请帮忙看看", "category": ""}


def test_the_unsure_rule() -> None:
    assert triage.is_unsure((("account_locked", 0.41), ("account_restricted", 0.31)))
    assert not triage.is_unsure((("account_locked", triage.UNSURE_BELOW), ("fees", 0.1)))
    assert not triage.is_unsure((("account_locked", 0.3),))  # nothing to offer beside it
    assert not triage.is_unsure(())


def test_suggestions_carry_the_two_best_categories(settings) -> None:  # type: ignore[no-untyped-def]
    vague = triage.suggest(VAGUE["subject"], VAGUE["body"])
    assert vague.unsure and len(vague.alternatives) == 2
    (first, p1), (second, p2) = vague.alternatives
    assert first == vague.category and p1 == vague.category_confidence and p1 >= p2
    assert {first, second} == {"account_locked", "account_restricted"}
    clear = triage.suggest("充值", "充值了200 银行扣了 但是余额没有加")
    assert clear.category == "topup" and not clear.unsure


def test_hint_ends_once_staff_choose() -> None:
    def event(kind: str, **data: object) -> SimpleNamespace:
        return SimpleNamespace(kind=kind, data=data)

    created = event("created", alternatives=["fees", "topup"])
    assert triage_hint.unsure_categories([created]) == ["fees", "topup"]  # type: ignore[list-item]
    assert triage_hint.unsure_categories([event("created", alternatives=[])]) == []  # type: ignore[list-item]
    later = [created, event("updated", tags=[[], ["vip"]])]
    assert triage_hint.unsure_categories(later) == ["fees", "topup"]  # type: ignore[arg-type]
    chosen = [*later, event("updated", category=["fees", "topup"])]
    assert triage_hint.unsure_categories(chosen) == []  # type: ignore[arg-type]


def test_agent_page_offers_both_categories(client, db) -> None:  # type: ignore[no-untyped-def]
    agent_client(client, db)
    number = open_ticket(db, **VAGUE, locale="zh_CN")
    ticket = load(db, number)
    assert ticket.category in {"account_locked", "account_restricted"}
    other = ({"account_locked", "account_restricted"} - {ticket.category}).pop()
    page = client.get(f"/agent/tickets/{number}", headers={"Accept-Language": "zh-CN"}).text
    assert 'data-testid="triage-hint"' in page
    assert "分类不确定：可能是" in page and "账户锁定" in page and "账户限制" in page
    assert f'data-testid="triage-choice-{other}"' in page
    english = client.get(f"/agent/tickets/{number}", headers={"Accept-Language": "en"}).text
    assert "maybe Account locked or Account restricted" in english or (
        "maybe Account restricted or Account locked" in english
    )
    done = post_on(
        client,
        f"/agent/tickets/{number}",
        f"/agent/tickets/{number}/update",
        {"category": other, "priority": ticket.priority, "tags": "", "references": ""},
    )
    assert done.status_code == 303
    assert load(db, number).category == other
    assert 'data-testid="triage-hint"' not in client.get(f"/agent/tickets/{number}").text


def test_sure_tickets_show_no_hint(client, db) -> None:  # type: ignore[no-untyped-def]
    agent_client(client, db)
    number = open_ticket(db)  # a top-up not arrived, chosen by the customer
    assert 'data-testid="triage-hint"' not in client.get(f"/agent/tickets/{number}").text
