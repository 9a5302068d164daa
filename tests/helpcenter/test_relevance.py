"""Help search returns only relevant articles, and nothing (with every other way to get help)
when no article answers the question."""

from __future__ import annotations

import re

import pytest

from okpay.helpcenter import evaluation, service
from okpay.helpcenter.search import HELP_RELEVANCE, Relevance, SearchIndex
from tests.helpcenter.hotline_helpers import add_demo_set

NOTHING = "今天天气怎么样"


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return service.search_index(None)


@pytest.mark.parametrize("query", [NOTHING, "周末去哪里爬山", "how to cook rice", "asdfghjkl"])
def test_a_question_no_article_answers_gets_nothing(query: str) -> None:
    assert service.search(None, query=query, locale="zh_CN") == []


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("忘记密码", "reset-password"),
        ("冲值失败", "topup-failed"),
        ("withdrawl fee", "fee-schedule"),
    ],
)
def test_a_good_question_still_finds_its_article_first(query: str, slug: str) -> None:
    hits = service.search(None, query=query, locale="zh_CN")
    assert hits and hits[0].slug == slug


def test_padding_below_the_best_result_is_dropped(index: SearchIndex) -> None:
    unfiltered = index.search("忘记密码", limit=10)
    assert len(unfiltered) == 10  # without a threshold every query is padded to the limit
    hits = service.search(None, query="忘记密码", locale="zh_CN")
    assert 1 <= len(hits) < 10
    best = hits[0].score
    assert all(hit.score >= HELP_RELEVANCE.min_share * best - 1e-3 for hit in hits)
    # The threshold only drops: what is left keeps its score and order.
    kept = [h for h in unfiltered if h.slug in {x.slug for x in hits}]
    assert [(h.slug, h.score) for h in kept] == [(h.slug, h.score) for h in hits]


def test_a_threshold_above_every_score_gives_nothing(index: SearchIndex) -> None:
    assert index.search("忘记密码", relevance=Relevance(min_score=1e9, min_share=0)) == []
    assert index.search("忘记密码", relevance=Relevance(min_score=0, min_share=1))[0].slug == (
        "reset-password"
    )


def test_the_threshold_keeps_recall_at_3_on_the_sets_it_was_chosen_on(index: SearchIndex) -> None:
    def rank(q: str) -> list[str]:
        return [h.slug for h in index.search(q, relevance=HELP_RELEVANCE)]

    for name in ("search_dev.jsonl", "search_eval.jsonl"):
        report = evaluation.evaluate_search(rank, evaluation.search_eval_rows(name))
        assert report.recall_at_3 == 1.0, (name, report.misses)


def test_no_article_rows_count_apart_from_recall() -> None:
    rows = [
        {"query": "a", "slug": "x"},
        {"query": "b", "slug": None},
        {"query": "c", "slug": None},
    ]
    answers = {"a": ["x"], "b": [], "c": ["y"]}
    report = evaluation.evaluate_search(lambda q: answers[q], rows)
    assert (report.queries, report.recall_at_1, report.no_article) == (1, 1.0, 2)
    assert report.no_article_share == 0.5
    assert report.as_dict()["no_article_empty"] == 0.5
    assert report.misses == [{"query": "c", "expected": None, "got": ["y"]}]


def test_held_out_set_is_written_the_way_users_type() -> None:
    rows = evaluation.search_eval_rows("search_heldout.jsonl")
    slugs = {p.stem for p in (service.art.ARTICLES_DIR / "zh_CN").glob("*.md")}
    assert 80 <= len(rows) <= 130
    assert all(r["slug"] is None or r["slug"] in slugs for r in rows)
    assert sum(r["slug"] is None for r in rows) >= 20
    text = " ".join(r["query"] for r in rows)
    for sign in ("咋", "木有", "帳戶", "轉帳", "儲值", "ＯＫＰａｙ", "😭", "fail"):
        assert sign in text


def test_api_returns_the_same_filtered_list(client, articles) -> None:  # type: ignore[no-untyped-def]
    empty = client.get("/api/v1/help/search", params={"q": NOTHING})
    assert empty.status_code == 200 and empty.json()["results"] == []
    results = client.get("/api/v1/help/search", params={"q": "忘记密码"}).json()["results"]
    expected = [h.slug for h in service.search(None, query="忘记密码", locale="zh_CN")]
    assert [r["slug"] for r in results] == expected and results[0]["slug"] == "reset-password"


def test_help_page_shows_the_empty_state(client, db, articles) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    page = client.get("/help", params={"q": NOTHING}, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "没有找到相关的帮助文章" in page.text
    assert 'href="/support/chat"' in page.text
    assert 'href="/community"' in page.text
    assert re.search(r'href="/help/contact\?subject=%E4%BB%8A', page.text)
    assert 'data-testid="hotlines"' in page.text and 'data-testid="hotline-number"' in page.text
    assert "data-slug=" not in page.text
    found = client.get("/help", params={"q": "忘记密码"}, headers={"Accept-Language": "zh-CN"})
    assert 'data-testid="help-empty"' not in found.text
    hostile = client.get("/help", params={"q": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in hostile.text


def test_suggest_as_you_type_shows_the_short_empty_state(client, articles) -> None:  # type: ignore[no-untyped-def]
    part = client.get(
        "/help/suggest", params={"q": "how to cook rice"}, headers={"Accept-Language": "en"}
    )
    assert "No help articles found for your question" in part.text
    assert 'href="/support/chat"' in part.text and 'data-testid="hotlines"' not in part.text
