"""The help-centre and triage JSON API: answers, escaping, access and rate limits."""

from __future__ import annotations

from okpay.helpcenter.models import TriageCorrection
from okpay.identity import operators as identity_operators
from okpay.identity.models import Role
from tests.helpers import PASSWORD, api_token


def test_search_returns_best_first(client, articles) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/help/search", params={"q": "忘记密码", "lang": "zh", "limit": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["slug"] == "reset-password"
    assert results[0]["title"].startswith("忘记密码")
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert results[0]["url"] == "/help/articles/reset-password"
    assert len(results) <= 3


def test_search_escapes_script_in_query(client, articles) -> None:  # type: ignore[no-untyped-def]
    response = client.get(
        "/api/v1/help/search", params={"q": "<script>alert(1)</script> 密码", "lang": "en"}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results
    for hit in results:  # snippets are HTML: the text is escaped, only <mark> is markup
        assert "<script" not in hit["snippet"]
        assert "<" not in hit["snippet"].replace("<mark>", "").replace("</mark>", "")


def _edit_fee_discounts(db) -> None:  # type: ignore[no-untyped-def]
    """A supervisor puts the made-up word "zorbix" into the fee-discounts article."""
    from okpay.helpcenter import service

    with db.unit_of_work() as s:
        editor = identity_operators.do_create_user(
            s, email="ed@example.com", password=PASSWORD, role=Role.supervisor, name="Ed"
        )
        service.do_edit_article(
            s,
            editor=editor,
            slug="fee-discounts",
            locale="en",
            title="Fee discounts and the zorbix loyalty bonus",
            category="fees",
            questions=["What is zorbix?"],
            related=[],
            action=None,
            body="Zorbix members pay less.",
        )


def test_search_follows_staff_edits(client, db, articles) -> None:  # type: ignore[no-untyped-def]
    _edit_fee_discounts(db)
    results = client.get("/api/v1/help/search", params={"q": "zorbix"}).json()["results"]
    assert results[0]["slug"] == "fee-discounts"


def test_search_rejects_long_queries(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/help/search", params={"q": "x" * 201})
    assert response.status_code == 422


def test_search_is_rate_limited(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.help_search_per_minute = 5
    codes = [client.get("/api/v1/help/search", params={"q": "fee"}).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429]
    limited = client.get("/api/v1/help/search", params={"q": "fee"})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1


def test_triage_needs_no_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/triage", json={"subject": "被盗刷了", "body": "账户里有两笔不是我付的钱"}
    )
    assert response.status_code == 200
    out = response.json()
    assert out["category"] == "suspicious_activity"
    assert out["priority"] == "urgent"
    assert 0 < out["confidence"] <= 1
    assert out["unsure"] is False and out["alternatives"][0]["category"] == "suspicious_activity"


def test_triage_gives_two_categories_when_unsure(client) -> None:  # type: ignore[no-untyped-def]
    out = client.post(
        "/api/v1/triage", json={"subject": "账户出问题了", "body": "账户出问题了，请帮忙看看"}
    ).json()
    assert out["unsure"] is True
    assert {a["category"] for a in out["alternatives"]} == {"account_locked", "account_restricted"}
    assert out["alternatives"][0]["confidence"] >= out["alternatives"][1]["confidence"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["TriageOut"]
    assert {"unsure", "alternatives"} <= set(schema["properties"])


def test_triage_is_rate_limited_and_strict(client, settings) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/triage", json={"subject": "x", "role": "admin"}).status_code == 422
    settings.triage_per_minute = 2
    codes = [
        client.post("/api/v1/triage", json={"subject": "fees", "body": ""}).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_corrections_are_for_staff_and_kept(client, db, mailbox) -> None:  # type: ignore[no-untyped-def]
    body = {
        "subject": "提现",
        "body": "提现一周没到账",
        "category": "withdrawal",
        "priority": "high",
    }
    assert client.post("/api/v1/triage/corrections", json=body).status_code == 401
    with db.unit_of_work() as s:
        identity_operators.do_create_user(
            s, email="cust@example.com", password=PASSWORD, role=Role.customer, name="C"
        )
        identity_operators.do_create_user(
            s, email="agent@example.com", password=PASSWORD, role=Role.agent, name="A"
        )
    customer = api_token(client, "cust@example.com")
    assert client.post("/api/v1/triage/corrections", json=body, headers=customer).status_code == 403
    agent = api_token(client, "agent@example.com")
    bad = client.post(
        "/api/v1/triage/corrections", json={**body, "category": "nonsense"}, headers=agent
    )
    assert bad.status_code == 422
    response = client.post("/api/v1/triage/corrections", json=body, headers=agent)
    assert response.status_code == 201, response.text
    assert response.json()["corrected_priority"] == "high"
    with db.unit_of_work(write=False) as s:
        rows = s.query(TriageCorrection).all()
        assert [(r.corrected_category, r.subject) for r in rows] == [("withdrawal", "提现")]
        assert rows[0].corrected_by_id is not None


def test_votes_and_deflection(client, db, articles) -> None:  # type: ignore[no-untyped-def]
    vote = client.post("/api/v1/help/articles/reset-password/votes", json={"helpful": True})
    assert vote.status_code == 201
    assert vote.json() == {"helpful": 1, "not_helpful": 0}
    assert (
        client.post("/api/v1/help/articles/nope/votes", json={"helpful": True}).status_code == 404
    )
    for visit, kinds in {
        "visit-one-1": ["shown", "clicked"],  # found the answer: deflected
        "visit-two-2": ["shown", "clicked", "submitted"],
        "visit-three": ["shown", "submitted"],
    }.items():
        for kind in kinds:
            r = client.post(
                "/api/v1/help/deflection",
                json={"visit": visit, "kind": kind, "slug": "fee-schedule"},
            )
            assert r.status_code == 204
    bad = client.post("/api/v1/help/deflection", json={"visit": "visit-four", "kind": "hacked"})
    assert bad.status_code == 422
    with db.unit_of_work() as s:
        identity_operators.do_create_user(
            s, email="sup@example.com", password=PASSWORD, role=Role.supervisor, name="S"
        )
    stats = client.get(
        "/api/v1/help/deflection/stats", headers=api_token(client, "sup@example.com")
    )
    assert stats.json() == {
        "visits_with_suggestions": 3,
        "visits_with_click": 2,
        "deflected": 1,
        "rate": 0.3333,
    }


def test_after_an_edit_search_answers_from_the_old_index_while_the_new_one_builds(  # type: ignore[no-untyped-def]
    client, db, articles, settings, monkeypatch
) -> None:
    """Outside tests' inline mode, nobody waits seconds for the rebuild an edit causes: the
    old index answers until the new one, built on a background thread, takes over."""
    import threading
    import time

    from okpay.helpcenter import search as help_search
    from okpay.helpcenter import service

    # Built inline first (the inline mode), over the articles as they are before the edit.
    assert client.get("/api/v1/help/search", params={"q": "fee"}).status_code == 200
    monkeypatch.setattr(settings, "jobs_immediate", False)
    release = threading.Event()
    real_index = help_search.SearchIndex

    def held_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        release.wait(30)  # the background build, held until the old index has answered
        return real_index(*args, **kwargs)

    monkeypatch.setattr(service, "SearchIndex", held_build)
    _edit_fee_discounts(db)
    # Answered at once, from the index built before the edit.
    before = client.get("/api/v1/help/search", params={"q": "zorbix"}).json()["results"]
    assert all(hit["slug"] != "fee-discounts" for hit in before)
    release.set()
    deadline = time.monotonic() + 60
    while True:
        results = client.get("/api/v1/help/search", params={"q": "zorbix"}).json()["results"]
        if results and results[0]["slug"] == "fee-discounts":
            break
        assert time.monotonic() < deadline, "the rebuilt index never took over"
        time.sleep(0.05)
