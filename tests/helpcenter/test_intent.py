"""The intent model re-ranks help search: questions about intent, questions that mix intents,
scale behaviour, and learning from contact-form visits (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from okpay.helpcenter import evaluation, learning, service
from okpay.helpcenter.intent import Example, IntentModel
from okpay.helpcenter.search import HELP_RELEVANCE, SearchIndex


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return service.search_index(None)


def first(index: SearchIndex, query: str) -> str | None:
    hits = index.search(query, relevance=HELP_RELEVANCE)
    return hits[0].slug if hits else None


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        # A fee question about a transfer topic: the fee article answers it.
        ("跨境转账要收多少手续费", "fee-schedule"),
        ("international transfer fee how much", "fee-schedule"),
        ("提现手续费是多少", "fee-schedule"),
        # The topic's own questions still go to the topic.
        ("跨境汇款多久到账", "cross-border-transfer"),
        ("how long does an international transfer take", "cross-border-transfer"),
    ],
)
def test_a_question_that_mixes_intents_gets_the_article_for_what_it_asks(
    index: SearchIndex, query: str, slug: str
) -> None:
    assert first(index, query) == slug


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("客服会问我要密码吗", "account-security-tips"),
        ("账单上有一笔不认识的扣款", "report-suspicious-activity"),
        ("我要找人工客服", "contact-support"),
        ("充值一直失败", "topup-failed"),
    ],
)
def test_intent_beats_shared_words(index: SearchIndex, query: str, slug: str) -> None:
    assert first(index, query) == slug


def test_without_the_intent_model_the_same_words_rank_by_bm25_alone(index: SearchIndex) -> None:
    plain = SearchIndex(index.docs, learn=False)
    assert plain.intent is None
    assert first(plain, "客服会问我要密码吗") == "contact-support"  # the words, not the intent
    assert first(index, "客服会问我要密码吗") == "account-security-tips"


def test_targets_on_the_held_out_questions(index: SearchIndex) -> None:
    """Never tuned on: the issue's targets hold (0.979 / 1.0 when the model was added)."""
    report = evaluation.evaluate_search(
        lambda q: [h.slug for h in index.search(q, relevance=HELP_RELEVANCE)],
        evaluation.search_eval_rows("search_heldout.jsonl"),
    )
    assert report.recall_at_1 >= 0.92, report.misses
    assert report.recall_at_3 >= 0.99, report.misses


def test_scores_for_some_articles_equal_the_scores_over_all(index: SearchIndex) -> None:
    model = index.intent
    assert model is not None
    some = np.array([0, 3, 5, len(index.docs) - 1])
    for query in ("忘记密码", "跨境转账手续费", "talk to a human", "帳戶被鎖定"):
        everything, probability = model.scores(query)
        part, _ = model.scores(query, some)
        assert np.allclose(everything[some], part[some])
        assert not np.delete(part, some).any()
        assert probability is not None and abs(float(probability.sum()) - 1) < 1e-4


def test_an_empty_or_unknown_query_scores_nothing(index: SearchIndex) -> None:
    model = index.intent
    assert model is not None
    for query in ("", "   ", "🙂🙂"):
        nearest, probability = model.scores(query)
        assert not nearest.any() and probability is None


def test_learned_examples_teach_a_new_way_of_asking(index: SearchIndex) -> None:
    query = "奶茶店扣了我两次钱"
    taught = SearchIndex(
        index.docs,
        examples=[Example(text="奶茶店扣了我两次钱", slug="duplicate-charge-refund")],
    )
    assert taught.intent is not None and taught.intent.learned == 1
    assert first(taught, query) == "duplicate-charge-refund"
    # An example for an article that does not exist is ignored.
    ignored = IntentModel(index.docs, [Example(text="x", slug="no-such-article")])
    assert ignored.learned == 0


def _visit(db, visit: str, query: str, slug: str, *, submitted: bool = False) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        service.do_record_deflection(s, visit_id=visit, kind="shown", query=query)
        service.do_record_deflection(s, visit_id=visit, kind="clicked", slug=slug, query=query)
        if submitted:
            service.do_record_deflection(s, visit_id=visit, kind="submitted", query=query)


def test_contact_form_visits_a_suggestion_answered_become_examples(db, articles) -> None:  # type: ignore[no-untyped-def]
    question = "奶茶店扣了我两次钱"
    _visit(db, "v1", question, "duplicate-charge-refund")
    with db.unit_of_work(write=False) as s:
        assert learning.deflected_examples(s) == []  # one visit is not enough
    _visit(db, "v2", question + " ", "duplicate-charge-refund")
    _visit(db, "v3", "别的问题", "fee-schedule", submitted=True)  # sent a request anyway
    _visit(db, "v4", "别的问题", "fee-schedule", submitted=True)
    with db.unit_of_work(write=False) as s:
        examples = learning.deflected_examples(s)
        assert examples == [Example(text=question, slug="duplicate-charge-refund")]
        index = service.search_index(s)
        assert index.intent is not None and index.intent.learned == 1
