"""Help-centre pages and the `okpay kb` / `okpay triage` commands."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from okpay.cli import app as cli_app
from okpay.identity import operators as identity_operators
from okpay.identity.models import Role
from tests.helpers import PASSWORD, csrf_from, post_form


def test_help_home_searches_without_javascript(client, articles) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/help", params={"q": "忘记密码"}, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    slugs = re.findall(r'<li data-slug="([a-z0-9-]+)"', page.text)
    assert slugs[0] == "reset-password"
    partial = client.get("/help/suggest", params={"q": "<b>fees</b>"})
    assert "<b>fees" not in partial.text


def test_article_ends_with_its_action_and_takes_votes(client, articles) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/help/articles/reset-password")
    assert page.status_code == 200
    assert 'href="/password/forgot"' in page.text
    assert "30 minutes" in page.text  # from settings, not written in the article
    # The button goes to the page that does it, now that the wallet has it.
    history = client.get("/help/articles/transaction-history")
    assert 'href="/wallet/history"' in history.text
    # One whose page does not exist yet falls back to contacting support with the category.
    chat = client.get("/help/articles/contact-support")
    assert 'href="/help/contact?category=' in chat.text
    response = post_form(
        client,
        "/help/articles/reset-password/vote",
        {"helpful": "no", "comment": "<script>x</script> not clear"},
        from_page="/help/articles/reset-password",
        follow=True,
    )
    assert "0 found this helpful, 1 did not" in response.text
    assert client.get("/help/articles/no-such-article").status_code == 404


def test_contact_page_takes_the_topic_and_suggests_articles(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/help/contact", params={"category": "withdrawal"})
    assert '<option value="withdrawal" selected>' in page.text
    assert '<script src="/static/js/help-contact.js"' in page.text
    assert 'action="/help/contact"' in page.text


def test_editing_needs_the_role_and_keeps_history(client, db, articles) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        for email, role in (("c@example.com", Role.customer), ("s@example.com", Role.supervisor)):
            identity_operators.do_create_user(
                s, email=email, password=PASSWORD, role=role, name="X"
            )
    post_form(client, "/login", {"email": "c@example.com", "password": PASSWORD})
    assert client.get("/help/articles/fee-discounts/edit").status_code == 403
    client.cookies.clear()
    post_form(client, "/login", {"email": "s@example.com", "password": PASSWORD})
    form = client.get("/help/articles/fee-discounts/edit")
    assert form.status_code == 200
    data = {
        "csrf_token": csrf_from(form.text),
        "locale": "en",
        "title": "Fee discounts (updated)",
        "category": "fees",
        "questions": "Any discount?",
        "related": "fee-schedule",
        "action": "",
        "body": "Loyalty: {{ discount.loyalty_percent }}% off.",
        "note": "shorter",
    }
    bad = client.post("/help/articles/fee-discounts/edit", data={**data, "body": "{{ nope.x }}"})
    assert bad.status_code == 422
    saved = client.post("/help/articles/fee-discounts/edit", data=data, follow_redirects=True)
    assert "Fee discounts (updated)" in saved.text
    assert "Loyalty: 15% off." in saved.text
    history = client.get("/help/articles/fee-discounts/history")
    assert re.findall(r'data-version="(\d+)"', history.text) == ["2", "1"]
    old = client.get("/help/articles/fee-discounts/history/1")
    assert "best single discount" in old.text


def test_cli_search_and_triage_print_json(settings) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["kb", "search", "忘记密码", "--lang", "zh", "--limit", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0]["slug"] == "reset-password" and {"title", "score"} <= rows[0].keys()
    result = runner.invoke(
        cli_app, ["triage", "--subject", "charged twice", "--body", "I paid once", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["category"] == "duplicate_charge" and out["priority"] == "high"


def test_cli_sync_and_eval(db) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    result = runner.invoke(cli_app, ["kb", "sync"])
    assert result.exit_code == 0, result.output
    assert "44 created" in result.output
    again = runner.invoke(cli_app, ["kb", "sync"])
    assert "44 unchanged" in again.output
    figures = json.loads(runner.invoke(cli_app, ["kb", "eval", "--json"]).output)
    assert set(figures) == {"search_dev", "search_eval", "search_heldout"}
    assert figures["search_eval"]["recall@3"] >= 0.97
    assert "misses" not in figures["search_eval"]
    held_out = figures["search_heldout"]
    assert held_out["queries"] >= 80 and held_out["no_article"] >= 20
    assert 0 <= held_out["no_article_empty"] <= 1
    one = json.loads(
        runner.invoke(cli_app, ["kb", "eval", "--json", "--dataset", "search_dev.jsonl"]).output
    )
    assert one["queries"] >= 40 and one["no_article"] >= 10
    assert "no_article" not in figures["search_eval"]
    text = runner.invoke(cli_app, ["kb", "eval"]).output
    for line in ("search_dev", "search_eval", "search_heldout", "recall@1", "no_article_empty"):
        assert line in text
    figures = json.loads(runner.invoke(cli_app, ["triage", "eval", "--json"]).output)
    assert set(figures) == {"triage_eval", "triage_heldout"}
    assert figures["triage_eval"]["urgent_recall"] == 1.0
    assert figures["triage_heldout"]["messages"] >= 90 and "misses" not in figures["triage_eval"]
    one = json.loads(
        runner.invoke(
            cli_app, ["triage", "eval", "--json", "--misses", "--dataset", "triage_eval.jsonl"]
        ).output
    )
    assert one["messages"] == 87 and isinstance(one["misses"], list)
    text = runner.invoke(cli_app, ["triage", "eval"]).output
    for line in ("triage_eval", "triage_heldout", "accuracy", "urgent_recall"):
        assert line in text


def test_contact_page_carries_a_transaction_reference(client) -> None:
    page = client.get("/help/contact?reference=TX-20261121-7QK3M9&category=transaction_history")
    assert 'value="TX-20261121-7QK3M9"' in page.text
    forged = client.get('/help/contact?reference="><script>alert(1)</script>')
    assert "<script>alert(1)" not in forged.text
    assert 'data-testid="contact-reference"' in forged.text
