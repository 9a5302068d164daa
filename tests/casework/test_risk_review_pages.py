"""The risk review case in the agent console: "why was this held?" (rules, versions, the
values they read, in the agent's language) and releasing a held payment from the panel."""

from __future__ import annotations

import re

from okpay.identity.models import Role
from tests.casework.helpers import customer
from tests.casework.test_agent_pages import post_on, staff_client
from tests.casework.test_risk_review import (
    HOLD_CODE,
    install_hold_rule,
    op_of,
    send,
    the_case,
)
from tests.support.helpers import load
from tests.wallet.helpers import balance, make_user


def test_why_held_panel_and_release_from_the_console(app, client, db) -> None:  # type: ignore[no-untyped-def]
    install_hold_rule(db, ["transfer"])
    uid, _headers = customer(client, db)
    li = make_user(db, "li@example.com")
    reference = send(uid, "li@example.com", 150_00).body["reference"]
    case = the_case(db, uid)
    with db.unit_of_work(write=False) as s:
        from okpay.support.models import Ticket

        number = s.get(Ticket, case.ticket_id).number
    agent = staff_client(app, db, "agent@okpay.example", Role.agent, team="security")
    sup = staff_client(app, db, "sup@okpay.example", Role.supervisor, team="security")
    page = f"/agent/tickets/{number}"

    html = agent.get(page).text
    why = html.split('data-testid="risk-why"')[1].split("</section>")[0]
    assert reference in why and HOLD_CODE in why and "v1" in why
    assert "Held for review" in why and "Live" in why
    assert "The amount converted to yuan at the reference rate." in why
    assert 'data-testid="risk-feature-amount_cny">150' in why
    assert 'data-testid="risk-feature-new_recipient">Yes' in why
    assert "CN¥150.00" in why or "¥150.00" in why
    # In Chinese: the labels and yes/no translated, numbers formatted.
    post_on(agent, "/agent", "/language", {"locale": "zh_CN", "next": "/agent"})
    zh = agent.get(page).text.split('data-testid="risk-why"')[1].split("</section>")[0]
    assert "为什么暂缓？" in zh and "按参考汇率折算成人民币的金额。" in zh
    assert 'data-testid="risk-feature-new_recipient">是' in zh
    post_on(agent, "/agent", "/language", {"locale": "en", "next": "/agent"})

    form = {"action": "release_held", "reference": reference, "reason": "Confirmed by phone"}
    preview = post_on(agent, page, f"/agent/cases/{case.id}/preview", form,
                      headers={"HX-Request": "true"})  # fmt: skip
    assert preview.status_code == 200 and "On hold for review" in preview.text
    assert "Completed" in preview.text
    assert post_on(agent, page, f"/agent/cases/{case.id}/propose", form).status_code == 303
    html = agent.get(page).text
    pid = int(re.search(r'data-proposal-id="(\d+)"', html).group(1))  # type: ignore[union-attr]
    done = post_on(
        sup, "/agent/approvals", f"/agent/proposals/{pid}/approve", {"next": "/agent/approvals"}
    )
    assert done.status_code == 303
    assert op_of(db, reference).status == "completed" and balance(db, li)[0] == 150_00
    assert load(db, number).status == "resolved"
    after = sup.get(page).text
    assert 'data-status="executed"' in after and 'data-testid="action-release_held"' not in after


def test_blocked_attempt_shows_in_the_panel(app, client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    from okpay.risk import rules
    from okpay.risk.models import RuleStatus
    from tests.casework.helpers import transfer

    with db.unit_of_work() as s:
        rules.do_create_rule(
            s,
            spec=rules.RuleSpec("block_big_t", "Big transfers blocked (test)", ["transfer"],
                                "amount_cny >= 100", 90, "block", "velocity"),
            actor_id=None, status=RuleStatus.live,
        )  # fmt: skip
    uid, me = customer(client, db)
    make_user(db, "li@example.com")
    for _ in range(2):
        refused = transfer(client, me, "li@example.com", "150.00")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "risk_blocked"
        assert "block_big_t" not in refused.text
    case = the_case(db, uid)
    assert len(case.details["blocked"]) == 2 and not case.details["held"]
    assert len(mailbox.to("mei@example.com")) == 1  # one e-mail for the case
    with db.unit_of_work(write=False) as s:
        from okpay.support.models import Ticket

        number = s.get(Ticket, case.ticket_id).number
    agent = staff_client(app, db, "agent@okpay.example", Role.agent, team="security")
    html = agent.get(f"/agent/tickets/{number}").text
    why = html.split('data-testid="risk-why"')[1].split("</section>")[0]
    assert why.count('data-testid="risk-blocked"') == 2 and "block_big_t" in why
    assert "Blocked" in why and "CN¥150.00" in why
    assert 'data-testid="action-release_held"' not in html  # nothing held to release
