"""Search quality and behaviour on the shipped articles (no database: the repository's files)."""

from __future__ import annotations

import pytest

from okpay.helpcenter import evaluation, service
from okpay.helpcenter import text as tx
from okpay.helpcenter.search import SearchDoc, SearchIndex


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return service.search_index(None)


def top(index: SearchIndex, query: str, n: int = 1) -> list[str]:
    return [h.slug for h in index.search(query, limit=n)]


def test_held_out_questions_find_their_article(index: SearchIndex) -> None:
    report = evaluation.evaluate_search(lambda q: top(index, q, 10), evaluation.search_eval_rows())
    assert report.queries >= 120
    # Achieved 0.92 / 1.00 / 0.955 when written; the targets are 0.85 and 0.95.
    assert report.recall_at_1 >= 0.88, report.misses
    assert report.recall_at_3 >= 0.97, report.misses
    assert report.mrr >= 0.92


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("忘记密码", "reset-password"),
        ("冲值失败", "topup-failed"),  # common typo for 充值
        ("登陆不上 密码忘了", "reset-password"),  # 登陆 for 登录
        ("帳戶被鎖定", "account-locked"),  # traditional characters
        ("wangji mima", "reset-password"),  # pinyin
        ("withdrawl fee", "fee-schedule"),  # English typo
        ("how to 提现", "withdraw-funds"),  # mixed languages
        ("2FA", "enable-2fa"),
    ],
)
def test_chinese_variants_pinyin_and_typos(index: SearchIndex, query: str, slug: str) -> None:
    assert slug in top(index, query, 3), top(index, query, 3)


def test_results_are_titled_in_the_reader_language(index: SearchIndex) -> None:
    zh = index.search("reset password", locale="zh_CN", limit=1)[0]
    en = index.search("忘记密码", locale="en", limit=1)[0]
    assert zh.slug == en.slug == "reset-password"
    assert zh.title.startswith("忘记密码") and en.title.startswith("Forgot")


def test_snippet_highlights_and_escapes(index: SearchIndex) -> None:
    hit = index.search("忘记密码", limit=1)[0]
    assert "<mark>" in hit.snippet
    doc = SearchDoc(
        slug="x",
        category="other",
        titles={"en": "Scripts"},
        questions={"en": []},
        bodies={"en": "Never run <script>alert(1)</script> from a stranger's password message."},
    )
    evil = SearchIndex([doc]).search("<script>alert(1)</script> password", locale="en")[0]
    assert "<script>" not in evil.snippet
    assert "&lt;" in evil.snippet and "<script" not in evil.snippet
    assert "<mark>password</mark>" in evil.snippet


def test_nothing_for_empty_or_unknown(index: SearchIndex) -> None:
    assert index.search("   ") == []
    assert index.search("qqqqzzzzxxxx") == []


def test_text_normalisation() -> None:
    assert tx.normalise("帳戶登陸 冲值") == "账户登录 充值"
    assert tx.split_pinyin("wangjimima") == ["wang", "ji", "mi", "ma"]
    assert tx.query_pinyin_pairs("reset password") == []
    assert "b:密码" in tx.tokens("忘记密码")
