"""Help-centre search: an in-memory BM25F index over articles in Chinese and English.

One document per article slug holds both languages, so a question finds its article whatever
language (or mix of languages) it is typed in; results are shown in the reader's language.
Fields and weights: title, the questions people ask, body, and pinyin of the Chinese title and
questions. Each term's BM25F contribution to each document does not depend on the query, so
it is computed once at build time; a query adds a few numpy arrays (well under a millisecond
at 10,000 articles).

Query expansion: synonym groups (``data/synonyms.txt``), fuzzy matches for English words
that are not in the vocabulary (rapidfuzz, edit distance), and pinyin pairs when the query
reads as pinyin.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from markupsafe import Markup, escape

from okpay.helpcenter import text as tx
from okpay.helpcenter.intent import RERANK_ALL_BELOW, RERANK_DEPTH, Example, IntentModel
from okpay.helpcenter.postings import bm25f_postings

FIELD_WEIGHTS = {"title": 3.0, "questions": 2.2, "body": 1.0, "pinyin": 1.6}
FIELD_B = {"title": 0.4, "questions": 0.6, "body": 0.75, "pinyin": 0.5}
K1 = 1.2
WORD_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.6
UNIGRAM_WEIGHT = 0.35
SYNONYM_WEIGHT = 0.55
FUZZY_WEIGHT = 0.7
PINYIN_WEIGHT = 0.9


# How the learned signals (``intent.py``) re-rank: final score = BM25 as a share of the
# query's best BM25 + NEAREST_WEIGHT × the closest question's similarity + CLASSIFIER_WEIGHT ×
# the intent classifier's probability. Chosen on search_dev.jsonl and search_eval.jsonl only.
NEAREST_WEIGHT = 1.5
CLASSIFIER_WEIGHT = 1.0


@dataclass(frozen=True)
class Relevance:
    """Which results are worth showing. An article must match the query's words with a
    BM25 score of at least ``min_score`` (raw BM25F sums: this is what rules out a query
    nothing answers), or have a question at least ``min_nearest`` similar to it; and its
    final score must be at least ``min_share`` of the best one (which drops the padding)."""

    min_score: float
    min_share: float
    min_nearest: float = 1.0


# Help search shows only relevant articles. Chosen on search_dev.jsonl and search_eval.jsonl
# only (never on search_heldout.jsonl); `okpay kb eval` prints what they give.
HELP_RELEVANCE = Relevance(min_score=2.5, min_share=0.25, min_nearest=0.5)


@dataclass(frozen=True)
class SearchDoc:
    """What the index needs of an article, in each language it exists in."""

    slug: str
    category: str
    titles: dict[str, str]
    questions: dict[str, list[str]]
    bodies: dict[str, str]  # plain text, placeholders already filled in


@dataclass(frozen=True)
class Hit:
    slug: str
    title: str
    category: str
    score: float
    snippet: Markup
    locale: str


@dataclass
class Query:
    """A query's weighted terms and the surface words to highlight."""

    terms: dict[str, float] = field(default_factory=dict)
    highlight: set[str] = field(default_factory=set)

    def add(self, term: str, weight: float) -> None:
        if weight > self.terms.get(term, 0.0):
            self.terms[term] = weight


def _term_weight(term: str) -> float:
    if term.startswith("b:"):
        return BIGRAM_WEIGHT
    if term.startswith("u:"):
        return UNIGRAM_WEIGHT
    return WORD_WEIGHT


class SearchIndex:
    """Build once from documents, then answer many queries."""

    def __init__(
        self, docs: Sequence[SearchDoc], *, examples: Sequence[Example] = (), learn: bool = True
    ) -> None:
        """``learn`` trains the intent model (``intent.py``) on the articles' questions and
        ``examples``; without it results are ranked by BM25 alone."""
        self.docs = list(docs)
        self.size = len(self.docs)
        field_terms: dict[str, list[Counter[str]]] = {f: [] for f in FIELD_WEIGHTS}
        for doc in self.docs:
            title = " ".join(doc.titles.values())
            questions = "\n".join(q for qs in doc.questions.values() for q in qs)
            body = "\n".join(doc.bodies.values())
            norm_title, norm_questions = tx.normalise(title), tx.normalise(questions)
            field_terms["title"].append(
                Counter(tx.tokens(norm_title, normalised=True) + tx.cjk_unigrams(norm_title))
            )
            field_terms["questions"].append(
                Counter(
                    tx.tokens(norm_questions, normalised=True) + tx.cjk_unigrams(norm_questions)
                )
            )
            field_terms["body"].append(Counter(tx.tokens(body)))
            field_terms["pinyin"].append(
                Counter(tx.pinyin_pairs(norm_title) + tx.pinyin_pairs(norm_questions))
            )
        self.postings = self._weights(field_terms)
        self._sentence_cache: dict[tuple[int, str], list[tuple[str, str]]] = {}
        self.vocabulary = [t for t in self.postings if t.isascii() and t.isalpha() and len(t) > 2]
        self._by_length: dict[int, list[str]] = defaultdict(list)
        for term in self.vocabulary:
            self._by_length[len(term)].append(term)
        self.intent = IntentModel(self.docs, examples) if learn else None

    def _weights(
        self, field_terms: dict[str, list[Counter[str]]]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        # Vectorised (numpy): the same figures, bit for bit, as summing term by term.
        return bm25f_postings(field_terms, self.size, weights=FIELD_WEIGHTS, b=FIELD_B, k1=K1)

    def _sentences(self, doc_id: int, locale: str) -> list[tuple[str, str]]:
        """The body's sentences with their normalised form (computed once per article)."""
        key = (doc_id, locale)
        found = self._sentence_cache.get(key)
        if found is None:
            found = split_sentences(self.docs[doc_id].bodies.get(locale, ""))
            self._sentence_cache[key] = found
        return found

    # --- queries -----------------------------------------------------------------------

    def parse(self, query: str) -> Query:
        """Terms of ``query`` with weights: its own words, synonyms, fuzzy and pinyin matches."""
        q = Query()
        norm = tx.normalise(query)
        for term in tx.tokens(norm, normalised=True):
            q.add(term, _term_weight(term))
        for word in tx.en_words(norm):
            q.highlight.add(word)
        for run in re.findall(rf"[{tx.CJK}]+", norm):
            q.highlight.update(w for w in tx.zh_words(run) if len(w) > 1)
            if len(run) <= 2:
                q.highlight.add(run)
        for group in _matching_groups(norm):
            for member in group:
                for term in tx.tokens(member, normalised=True):
                    q.add(term, SYNONYM_WEIGHT * _term_weight(term))
                q.highlight.add(member)
        for word in tx.en_words(norm):
            stemmed = tx.stem(word)
            if len(word) > 3 and stemmed not in self.postings:
                for similar in self._fuzzy(stemmed):
                    q.add(similar, FUZZY_WEIGHT)
                    q.highlight.add(similar)
        for pair in tx.query_pinyin_pairs(norm):
            q.add(pair, PINYIN_WEIGHT)
        return q

    def _fuzzy(self, word: str) -> list[str]:
        from rapidfuzz.distance import Levenshtein
        from rapidfuzz.process import extract

        allowed = 1 if len(word) <= 5 else 2
        candidates: list[str] = []
        for length in range(len(word) - allowed, len(word) + allowed + 1):
            candidates.extend(self._by_length.get(length, ()))
        if not candidates:
            return []
        found = extract(
            word, candidates, scorer=Levenshtein.distance, score_cutoff=allowed, limit=3
        )
        best = min((dist for _t, dist, _i in found), default=None)
        return [term for term, dist, _i in found if dist == best]

    def bm25(self, parsed: Query) -> np.ndarray:
        """Each article's BM25F score for the parsed query."""
        scores = np.zeros(self.size, dtype=np.float32)
        for term, weight in parsed.terms.items():
            posting = self.postings.get(term)
            if posting is not None:
                ids, values = posting
                scores[ids] += weight * values
        return scores

    def _scores(self, query: str, parsed: Query, relevance: Relevance | None) -> np.ndarray:
        """Final scores (0 for an article not shown): BM25 re-ranked by the intent model,
        then cut by ``relevance``."""
        bm25 = self.bm25(parsed)
        best = float(bm25.max())
        if self.intent is None:
            scores = bm25
            matched = bm25 >= (relevance.min_score if relevance else 0.0)
        else:
            among = None
            if self.size > RERANK_ALL_BELOW:
                found = np.flatnonzero(bm25 > 0)
                if found.size > RERANK_DEPTH:
                    found = found[np.argpartition(-bm25[found], RERANK_DEPTH - 1)[:RERANK_DEPTH]]
                among = found
            nearest, probability = self.intent.scores(query, among)
            scores = (bm25 / best if best > 0 else bm25) + NEAREST_WEIGHT * nearest
            if probability is not None:
                scores += CLASSIFIER_WEIGHT * probability
            matched = bm25 > 0  # a character or two in common is not a match
            if relevance is not None:
                matched = (bm25 >= relevance.min_score) | (nearest >= relevance.min_nearest)
        scores = np.where(matched, scores, 0.0).astype(np.float32)
        if relevance is not None and scores.size:
            scores[scores < relevance.min_share * float(scores.max())] = 0.0
        return scores

    def search(
        self,
        query: str,
        *,
        locale: str = "zh_CN",
        limit: int = 10,
        relevance: Relevance | None = None,
    ) -> list[Hit]:
        """The best ``limit`` articles for ``query``, best first, titled in ``locale``; with
        ``relevance``, only those that pass it (possibly none)."""
        if not self.size or not query.strip():
            return []
        parsed = self.parse(query)
        scores = self._scores(query, parsed, relevance)
        candidates = np.flatnonzero(scores > 0)
        if candidates.size == 0:
            return []
        if candidates.size > limit:
            top = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        else:
            top = candidates
        ordered = sorted(top.tolist(), key=lambda i: (-float(scores[i]), self.docs[i].slug))
        pattern = _highlight_pattern(parsed.highlight)
        hits = []
        for i in ordered:
            doc = self.docs[i]
            shown = locale if locale in doc.titles else next(iter(doc.titles))
            hits.append(
                Hit(
                    slug=doc.slug,
                    title=doc.titles[shown],
                    category=doc.category,
                    score=round(float(scores[i]), 4),
                    snippet=snippet(self._sentences(i, shown), pattern),
                    locale=shown,
                )
            )
        return hits


@functools.cache
def _group_matcher() -> tuple[re.Pattern[str] | None, dict[str, list[int]]]:
    """One pattern for every synonym-group member, and which groups each member is in."""
    members: dict[str, list[int]] = {}
    for number, group in enumerate(tx.synonyms().groups):
        for member in group:
            members.setdefault(member, []).append(number)
    if not members:
        return None, members
    parts = []
    for member in sorted(members, key=len, reverse=True):
        if tx.has_cjk(member):
            parts.append(re.escape(member))
        else:
            parts.append(rf"(?<![a-z0-9]){re.escape(member)}(?![a-z0-9])")
    return re.compile("|".join(parts)), members


def _matching_groups(norm: str) -> list[tuple[str, ...]]:
    pattern, members = _group_matcher()
    if pattern is None:
        return []
    groups = tx.synonyms().groups
    found: dict[int, None] = {}
    # Overlapping members ("账户" inside "账户锁定") both count: scan from every position.
    position = 0
    while True:
        match = pattern.search(norm, position)
        if match is None:
            break
        for number in members[match.group(0)]:
            found[number] = None
        position = match.start() + 1
    return [groups[n] for n in found]


def split_sentences(body: str) -> list[tuple[str, str]]:
    """Sentences of ``body`` (Chinese or English punctuation, line breaks), each with its
    normalised form for matching."""
    parts = re.split(r"(?<=[。！？!?])|\n+|(?<=\.)\s", body)
    return [(p.strip(), tx.normalise(p.strip())) for p in parts if p.strip()]


def snippet(
    sentences: list[tuple[str, str]], pattern: re.Pattern[str] | None, width: int = 120
) -> Markup:
    """The sentence with most query words, escaped, words wrapped in ``<mark>``."""
    if not sentences:
        return Markup("")
    best, best_norm = sentences[0]
    if pattern is not None:
        best_count = -1
        for sentence, norm in sentences:
            count = len({m.group(0) for m in pattern.finditer(norm)})
            if count > best_count:
                best, best_norm, best_count = sentence, norm, count
    if len(best) > width:
        start = 0
        if pattern is not None:
            first = pattern.search(best_norm)
            if first is not None:
                start = max(0, first.start() - width // 3)
        best = ("…" if start else "") + best[start : start + width] + "…"
    return highlight(best, pattern)


def _highlight_pattern(terms: set[str]) -> re.Pattern[str] | None:
    """One pattern for the words to mark. It runs on normalised (lower-case) text, so it is
    compiled without IGNORECASE, which made compiling it cost milliseconds per query."""
    words = sorted({t.lower() for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return None
    parts = []
    for w in words:
        if tx.has_cjk(w):
            parts.append(re.escape(w))
        else:
            # English words match with their endings (the index stems them).
            parts.append(rf"(?<![a-z0-9]){re.escape(w)}[a-z]*")
    return re.compile("|".join(parts))


def highlight(text: str, pattern: re.Pattern[str] | None) -> Markup:
    """``text`` escaped, with matches of ``pattern`` wrapped in <mark>. Matching runs on the
    normalised text, which has the same length for simplified Chinese and ASCII."""
    if pattern is None:
        return escape(text)
    norm = tx.normalise(text)
    if len(norm) != len(text):
        norm = text.lower()
    out: list[str] = []
    last = 0
    for m in pattern.finditer(norm):
        out.append(str(escape(text[last : m.start()])))
        out.append(f"<mark>{escape(text[m.start() : m.end()])}</mark>")
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece was escaped above
