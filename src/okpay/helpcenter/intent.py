"""What a help question is asking, learned from the questions each article answers.

BM25 (``search.py``) scores the words a query shares with an article. Many misses are about
intent instead: "客服会问我要密码吗" shares its words with the contact-support article but
asks about security; "跨境转账手续费" is a fee question about a transfer topic. Two learned
signals re-rank what BM25 finds, both from scikit-learn, trained when the index is built
(at `okpay kb sync` and on the first search after an article changes), from data in the
repository and the database only; no weights are downloaded:

- **nearest question**: TF-IDF vectors (character 1–3-grams, robust to typos, traditional
  characters after conversion and Chinese without spaces; plus the index's own words) of
  every article title and "question people ask", and of queries people asked before they
  found their answer (a contact-form suggestion clicked and no request sent). An article
  scores the cosine similarity of its closest question to the query.
- **intent classifier**: a logistic regression over the same vectors, one class per
  article, giving the probability that the query asks what the article answers. Trained
  when the library has at most :data:`CLASSIFIER_MAX_ARTICLES` articles (one class each);
  a larger library uses the nearest-question signal alone.

Both run on a sparse matrix product per query: about a millisecond at 10,000 articles
(``bench/helpcenter.py``).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from okpay.helpcenter import text as tx

CLASSIFIER_MAX_ARTICLES = 500
# A library larger than this compares a query with the questions of BM25's best
# RERANK_DEPTH articles only (the whole library below it).
RERANK_ALL_BELOW = 2000
RERANK_DEPTH = 200
CLASSIFIER_C = 20.0
CHAR_NGRAMS = (1, 3)  # weak regularisation: each article has only a handful of questions


class Answerable(Protocol):
    """What the model needs of an article (``search.SearchDoc`` has it)."""

    @property
    def slug(self) -> str: ...
    @property
    def titles(self) -> dict[str, str]: ...
    @property
    def questions(self) -> dict[str, list[str]]: ...


@dataclass(frozen=True)
class Example:
    """A question known to be answered by the article ``slug``."""

    text: str
    slug: str


@functools.cache
def _char_analyser() -> Any:
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        analyzer="char_wb", ngram_range=CHAR_NGRAMS, lowercase=False
    ).build_analyzer()


def _char_grams(norm: str) -> list[str]:
    """Character 1–3-grams within words (with a space marking each word's edges); a gram of
    spaces alone, which every text has, is left out."""
    return [gram for gram in _char_analyser()(norm) if not gram.isspace()]


def _words(norm: str) -> list[str]:
    """Stemmed English words (Chinese is covered by the character n-grams)."""
    return [_stem(word) for word in tx.en_words(norm)]


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return tx.stem(word)


def _cached(seen: dict[str, str], text: str) -> str:
    found = seen.get(text)
    if found is None:
        found = seen[text] = tx.normalise(text)
    return found


class IntentModel:
    """Nearest-question similarities and (for a small library) class probabilities."""

    def __init__(self, docs: Sequence[Answerable], examples: Iterable[Example] = ()) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.size = len(docs)
        position = {doc.slug: i for i, doc in enumerate(docs)}
        rows: list[list[str]] = [[] for _ in docs]
        for i, doc in enumerate(docs):
            rows[i].extend(doc.titles.values())
            for questions in doc.questions.values():
                rows[i].extend(questions)
        self.learned = 0  # examples from what people did
        for example in examples:
            if example.slug in position and example.text.strip():
                rows[position[example.slug]].append(example.text)
                self.learned += 1
        texts: list[str] = []
        owners: list[int] = []
        normalised: dict[str, str] = {}
        for i, own in enumerate(rows):
            for norm in dict.fromkeys(_cached(normalised, t) for t in own):
                texts.append(norm)
                owners.append(i)
        self.questions = len(texts)  # distinct titles, questions and learned examples
        self._starts: np.ndarray = np.zeros(0, dtype=np.int64)
        self._owners_present: np.ndarray = np.zeros(0, dtype=np.int64)
        self._parts: list[tuple[Any, dict[str, int], np.ndarray, int]] = []
        self._coef: np.ndarray | None = None
        if not texts:
            return
        chars = TfidfVectorizer(analyzer=_char_grams, sublinear_tf=True, lowercase=False)
        words = TfidfVectorizer(analyzer=_words, sublinear_tf=True, lowercase=False)
        vectorizers = [chars, words]
        # The same question often recurs across a large library: each distinct text is
        # analysed once (idf counts distinct texts).
        distinct: dict[str, int] = {}
        inverse = np.fromiter(
            (distinct.setdefault(t, len(distinct)) for t in texts), dtype=np.int64, count=len(texts)
        )
        matrix = _stack([v.fit_transform(list(distinct)) for v in vectorizers])[inverse]
        # A query is vectorised here rather than by scikit-learn's ``transform``, whose input
        # checks cost milliseconds per call: same analysers, vocabularies and idf.
        offset = 0
        for vectorizer in vectorizers:
            vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
            idf = vectorizer.idf_.astype(np.float64)
            self._parts.append((vectorizer.build_analyzer(), vocabulary, idf, offset))
            offset += len(vocabulary)
        self._columns = matrix.tocsc()
        self._rows = matrix
        owner_array = np.asarray(owners, dtype=np.int64)
        # Rows are grouped by article: each group's maximum is one ``reduceat``.
        self._owners_present, self._starts = np.unique(owner_array, return_index=True)
        bounds = np.searchsorted(owner_array, np.arange(self.size + 1))
        self._first, self._end = bounds[:-1], bounds[1:]
        if 1 < self.size <= CLASSIFIER_MAX_ARTICLES and len(self._owners_present) > 1:
            from sklearn.linear_model import LogisticRegression

            classifier = LogisticRegression(C=CLASSIFIER_C, max_iter=2000)
            classifier.fit(matrix, owner_array)
            self._coef = np.ascontiguousarray(classifier.coef_.T, dtype=np.float64)
            self._intercept = classifier.intercept_.astype(np.float64)
            self._classes = classifier.classes_

    def vector(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """The query's TF-IDF vector as (columns, values), normalised like the rows."""
        norm = tx.normalise(query)
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for analyse, vocabulary, idf, offset in self._parts:
            counts = Counter(term for term in analyse(norm) if term in vocabulary)
            if not counts:
                continue
            cols = np.fromiter((vocabulary[t] for t in counts), dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            weights = tf * idf[cols]
            columns.append(cols + offset)
            values.append(weights / np.linalg.norm(weights))
        if not columns:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        joined = np.concatenate(values)
        return np.concatenate(columns), joined / np.linalg.norm(joined)

    def scores(
        self, query: str, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per article: similarity of its closest question to ``query`` (0–1), and the
        classifier's probability (None without a classifier). With ``among`` (article
        positions), similarities are computed for those articles only: a large library
        re-ranks what BM25 found instead of comparing the query with every question."""
        nearest = np.zeros(self.size, dtype=np.float32)
        if not self._parts:
            return nearest, None
        columns, values = self.vector(query)
        if columns.size == 0:
            return nearest, None
        if among is None:
            similarities = self._columns[:, columns] @ values
            nearest[self._owners_present] = np.maximum.reduceat(similarities, self._starts)
        else:
            docs = among[self._end[among] > self._first[among]]
            if docs.size:
                lengths = self._end[docs] - self._first[docs]
                starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
                rows = np.repeat(self._first[docs] - starts, lengths) + np.arange(lengths.sum())
                dense = np.zeros(self._rows.shape[1])
                dense[columns] = values
                similarities = self._rows[rows] @ dense
                nearest[docs] = np.maximum.reduceat(similarities, starts)
        if self._coef is None:
            return nearest, None
        logits = values @ self._coef[columns] + self._intercept
        logits = np.exp(logits - logits.max())
        probability = np.zeros(self.size, dtype=np.float32)
        probability[self._classes] = logits / logits.sum()
        return nearest, probability


def _stack(parts: list[Any]) -> Any:
    from scipy.sparse import hstack
    from sklearn.preprocessing import normalize

    return normalize(hstack(parts).tocsr())
