"""The index build is fast (text tokenised line by line and once per distinct line, BM25F
weights computed with numpy) and gives exactly what the plain one-pass computation gives:
same terms in the same order, same documents, same float32 weights bit for bit."""

from __future__ import annotations

import itertools
import math
import random
import re
import unicodedata
from collections import Counter

import numpy as np
import opencc
import pytest

from okpay.helpcenter import articles as art
from okpay.helpcenter import service
from okpay.helpcenter import text as tx
from okpay.helpcenter.search import FIELD_B, FIELD_WEIGHTS, K1, SearchDoc, SearchIndex

_RUNS = re.compile(rf"([{tx.CJK}]+)|([a-z0-9]+(?:['’][a-z]+)?)")
_T2S = opencc.OpenCC("t2s")


def one_pass_normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    if tx.has_cjk(text):
        text = _T2S.convert(text)
    syn = tx.synonyms()
    pattern = syn.variant_pattern
    return text if pattern is None else pattern.sub(lambda m: syn.variants[m.group(0)], text)


def one_pass_tokens(norm: str) -> list[str]:
    out: list[str] = []
    for match in _RUNS.finditer(norm):
        run, word = match.group(1), match.group(2)
        if run:
            if len(run) == 1:
                if run not in tx.ZH_STOPWORDS:
                    out.append("u:" + run)
                continue
            out.extend(tx.zh_words(run))
            out.extend(tx.bigrams(run))
        elif word and word not in tx.EN_STOPWORDS:
            out.append(tx.stem(word.replace("’", "'").split("'")[0]))
    return out


def one_pass_pinyin(norm: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    out: list[str] = []
    for run in re.findall(rf"[{tx.CJK}]{{2,}}", norm):
        syllables = lazy_pinyin(run, style=Style.NORMAL, errors="ignore")
        out.extend(f"p:{a}|{b}" for a, b in itertools.pairwise(syllables))
    return out


def one_pass_postings(docs: list[SearchDoc]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """BM25F term by term and document by document in plain Python (the build before numpy)."""
    fields: dict[str, list[Counter[str]]] = {f: [] for f in FIELD_WEIGHTS}
    for doc in docs:
        title = one_pass_normalise(" ".join(doc.titles.values()))
        questions = one_pass_normalise("\n".join(q for qs in doc.questions.values() for q in qs))
        body = one_pass_normalise("\n".join(doc.bodies.values()))
        fields["title"].append(Counter(one_pass_tokens(title) + tx.cjk_unigrams(title)))
        fields["questions"].append(Counter(one_pass_tokens(questions) + tx.cjk_unigrams(questions)))
        fields["body"].append(Counter(one_pass_tokens(body)))
        fields["pinyin"].append(Counter(one_pass_pinyin(title) + one_pass_pinyin(questions)))
    n = max(len(docs), 1)
    pseudo: dict[str, dict[int, float]] = {}
    for f, counters in fields.items():
        avg = (sum(sum(c.values()) for c in counters) / n) or 1.0
        for doc_id, counter in enumerate(counters):
            norm = 1 - FIELD_B[f] + FIELD_B[f] * sum(counter.values()) / avg
            for term, count in counter.items():
                bucket = pseudo.setdefault(term, {})
                bucket[doc_id] = bucket.get(doc_id, 0.0) + FIELD_WEIGHTS[f] * count / norm
    postings = {}
    for term, per_doc in pseudo.items():
        df = len(per_doc)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        ids = np.array(sorted(per_doc), dtype=np.int32)
        tf = np.array([per_doc[i] for i in sorted(per_doc)], dtype=np.float32)
        postings[term] = (ids, idf * tf * (K1 + 1) / (K1 + tf))
    return postings


def assert_same_postings(docs: list[SearchDoc]) -> None:
    expected = one_pass_postings(docs)
    built = SearchIndex(docs).postings
    assert list(built) == list(expected)  # same terms, in the same order (fuzzy ties use it)
    for term, (ids, values) in expected.items():
        got_ids, got_values = built[term]
        assert got_ids.dtype == np.int32 and got_values.dtype == np.float32
        assert got_ids.tolist() == ids.tolist(), term
        assert got_values.tobytes() == values.tobytes(), term  # bit for bit


def synthetic(count: int) -> list[SearchDoc]:
    """Articles mixing sentences of the shipped ones (lines repeat, as in bench/helpcenter.py)."""
    rng = random.Random(17)
    real = service.documents_from_sources(art.load_directory())
    sentences = {
        loc: [s for d in real for s in d.bodies[loc].replace("。", "。\n").splitlines() if s]
        for loc in ("zh_CN", "en")
    }
    docs = []
    for i in range(count):
        base = real[i % len(real)]
        docs.append(
            SearchDoc(
                slug=f"s-{i}",
                category=base.category,
                titles={
                    "zh_CN": f"{base.titles['zh_CN']}（红包{i}）",
                    "en": f"{base.titles['en']} {i}",
                },
                questions={loc: qs[:3] for loc, qs in base.questions.items()},
                bodies={loc: "\n".join(rng.sample(sentences[loc], 5)) for loc in sentences},
            )
        )
    return docs


def test_the_shipped_articles_index_as_computed_by_hand() -> None:
    assert_same_postings(service.documents_from_sources(art.load_directory()))


def test_many_articles_sharing_lines_index_as_computed_by_hand() -> None:
    assert_same_postings(synthetic(300))


def test_odd_articles_index_as_computed_by_hand() -> None:
    odd = [
        SearchDoc("a", "other", {"en": "Fees"}, {"en": []}, {"en": ""}),
        SearchDoc(
            "b", "other", {"zh_CN": "帳戶"}, {"zh_CN": ["冲值\n\n登陆？"]}, {"zh_CN": "帳戶"}
        ),
        SearchDoc("c", "other", {"en": "ＦＥＥＳ 2fa"}, {"en": ["fee fee fee"]}, {"en": "x\r\ny"}),
    ]
    assert_same_postings(odd)
    assert SearchIndex([]).postings == {}


@pytest.mark.parametrize(
    "text",
    [
        "帳戶被鎖定\n冲值失败\n\nhow to 提现",
        "ΟΔΟΣ\nΑ ΟΔΟΣ\n",  # Greek final sigma depends on what follows: not across lines
        "⼀\nfee",  # Kangxi radical: Chinese only after NFKC, so the whole text is simplified
        "Ｆｕｌｌ－ｗｉｄｔｈ\r\n轉帳 fail 了 😀\n",
        "\n\n",
        "",
    ],
)
def test_text_line_by_line_is_the_same_as_one_pass(text: str) -> None:
    norm = tx.normalise(text)
    assert norm == one_pass_normalise(text)
    assert tx.tokens(text) == one_pass_tokens(norm)
    assert tx.pinyin_pairs(norm) == one_pass_pinyin(norm)


def test_cached_tokens_cannot_be_changed_by_a_caller() -> None:
    first = tx.tokens("忘记密码 reset password")
    first.append("zzz")
    assert tx.tokens("忘记密码 reset password") == first[:-1]


def test_numbers_stem_to_themselves_as_the_stemmer_says() -> None:
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("english")
    for word in ("0", "7", "42", "2026", "000123", "12345678901234567890"):
        assert tx.stem(word) == stemmer.stemWord(word) == word
    assert tx.stem("fees") == stemmer.stemWord("fees") == "fee"
