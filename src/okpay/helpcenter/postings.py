"""BM25F postings of a search index, computed with numpy over every entry at once.

An entry is one term in one field of one document, with its count. Each field's count is
weighted and length-normalised into a pseudo term frequency; a term's pseudo frequencies in a
document's fields are added up, saturated (``k1``) and scaled by the term's idf. The figures
are the same, bit for bit, as adding them up term by term in Python: the fields of a
(term, document) pair are added in field order, starting from zero, in float64; idf comes
from :func:`math.log`; saturation and idf scaling are done in float32.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

Postings = dict[str, tuple[np.ndarray, np.ndarray]]


def bm25f_postings(
    field_terms: Mapping[str, Sequence[Counter[str]]],
    size: int,
    *,
    weights: Mapping[str, float],
    b: Mapping[str, float],
    k1: float,
) -> Postings:
    """Term -> (document ids ascending as int32, weights as float32), from each field's term
    counts per document (``size`` documents). Terms come in the order first seen: fields in
    order, then documents, then each counter's order."""
    n = max(size, 1)
    first_seen: dict[str, int] = {}  # term -> position of its first entry (a sortable id)
    keys: list[np.ndarray] = []  # per field: term id * size + document id
    values: list[np.ndarray] = []  # per field: pseudo term frequency
    seen = 0
    for f, counters in field_terms.items():
        sizes = np.fromiter(map(len, counters), dtype=np.int64, count=len(counters))
        lengths = np.fromiter(map(_total, counters), dtype=np.int64, count=len(counters))
        avg = (int(lengths.sum()) / n) or 1.0
        norm = 1 - b[f] + b[f] * lengths.astype(np.float64) / avg
        total = int(sizes.sum())
        terms = itertools.chain.from_iterable(counters)
        ids = np.fromiter(map(first_seen.setdefault, terms, itertools.count(seen)), np.int64, total)
        counts = np.fromiter(
            itertools.chain.from_iterable(c.values() for c in counters), np.float64, total
        )
        doc_ids = np.repeat(np.arange(len(counters), dtype=np.int64), sizes)
        keys.append(ids * size + doc_ids)
        values.append(weights[f] * counts / norm[doc_ids])
        seen += total
    if not first_seen:
        return {}
    pair_keys, tf64 = _sum_per_pair(np.concatenate(keys), np.concatenate(values))
    term_key, doc_of = np.divmod(pair_keys, size)
    new_term = np.flatnonzero(np.r_[True, term_key[1:] != term_key[:-1]])
    bounds = [*new_term.tolist(), pair_keys.size]
    df = np.diff(bounds)
    idf = {d: math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in set(df.tolist())}
    idf32 = np.array([idf[d] for d in df.tolist()], dtype=np.float64).astype(np.float32)
    tf = tf64.astype(np.float32)
    scaled = np.repeat(idf32, df) * tf * np.float32(k1 + 1) / (np.float32(k1) + tf)
    doc_ids = doc_of.astype(np.int32)
    # first_seen's order is its ids' order, which is the sorted keys' order of terms.
    return {
        term: (doc_ids[start:end], scaled[start:end])
        for term, start, end in zip(first_seen, bounds, bounds[1:], strict=False)
    }


def _total(counter: Counter[str]) -> int:
    return sum(counter.values())


def _sum_per_pair(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``keys`` ascending, and for each the sum of its ``values`` added in the order
    they come (the first to zero, the next to that, ...), in float64."""
    order = np.argsort(keys, kind="stable")  # stable: a key's entries stay in order
    keys, values = keys[order], values[order]
    first = np.r_[True, keys[1:] != keys[:-1]]
    starts = np.flatnonzero(first)
    sums = values[starts]
    later = np.flatnonzero(~first)  # second and further entries of a key
    key_of = np.cumsum(first)[later] - 1
    rank = later - starts[key_of]
    for k in range(1, int(rank.max(initial=0)) + 1):
        kth = rank == k
        sums[key_of[kth]] += values[later[kth]]
    return keys[starts], sums
