"""Help-centre speed: search p99 over 10,000 articles, triage p99, and index build time.

Generates synthetic articles (both languages) from the shipped ones: each synthetic article
mixes sentences of real articles with invented product words, so postings lists are as long
as a large real help centre's. Queries are the held-out evaluation questions. The floor is
a bare numpy pass over the same number of documents (one vector add and a top-k), so
`search_ratio_to_floor` shows what tokenising, expansion and snippets cost on top.

Progress goes to stderr; the last stdout line is one JSON object.

    .venv/bin/python bench/helpcenter.py [--articles 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections import Counter

import numpy as np
from common import logger, percentile

log = logger("helpcenter")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OKPAY_DATA_DIR", tempfile.mkdtemp(prefix="okpay-bench-"))

    from okpay.helpcenter import articles as art
    from okpay.helpcenter import evaluation, service, triage
    from okpay.helpcenter.search import SearchDoc, SearchIndex

    rng = random.Random(2026)
    real = service.documents_from_sources(art.load_directory())
    sentences = {"zh_CN": [], "en": []}  # type: dict[str, list[str]]
    for doc in real:
        for locale, body in doc.bodies.items():
            lines = body.replace("。", "。\n").splitlines()
            sentences[locale].extend(s for s in lines if s.strip())
    words_zh = ["钱包", "商户", "优惠券", "积分", "红包", "会员", "发票", "账单", "门店", "订单"]
    words_en = ["voucher", "points", "invoice", "merchant", "store", "order", "member", "bonus"]
    docs = []
    for i in range(args.articles):
        base = real[i % len(real)]
        extra_zh, extra_en = rng.choice(words_zh), rng.choice(words_en)
        docs.append(
            SearchDoc(
                slug=f"synthetic-{i}",
                category=base.category,
                titles={
                    "zh_CN": f"{base.titles['zh_CN']}（{extra_zh}{i}）",
                    "en": f"{base.titles['en']} ({extra_en} {i})",
                },
                questions={
                    loc: [f"{q} {extra_zh if loc == 'zh_CN' else extra_en}" for q in qs[:4]]
                    for loc, qs in base.questions.items()
                },
                bodies={loc: "\n".join(rng.sample(sentences[loc], 8)) for loc in ("zh_CN", "en")},
            )
        )
    log(f"building the index over {len(docs)} articles")
    t0, cpu0 = time.perf_counter(), time.process_time()
    index = SearchIndex(docs)
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    log(f"index built in {build_s:.1f} s, {len(index.postings)} terms")
    # What an article edit costs: the service builds a new index in the same process, where
    # the text of unchanged articles has been tokenised before.
    t0 = time.perf_counter()
    SearchIndex(docs)
    rebuild_s = time.perf_counter() - t0
    log(f"index rebuilt in {rebuild_s:.1f} s")
    # Build floor: a bare pass over the same text (split on white space, count the words of
    # each field of each article), with no normalising, segmentation, pinyin or weighting.
    t0 = time.perf_counter()
    for doc in docs:
        for texts in (doc.titles.values(), doc.bodies.values()):
            Counter(" ".join(texts).split())
        Counter(" ".join(q for qs in doc.questions.values() for q in qs).split())
    build_floor_s = time.perf_counter() - t0

    queries = [row["query"] for row in evaluation.search_eval_rows()]
    for q in queries[:20]:
        index.search(q, limit=10)  # warm caches (jieba, stemmer)
    timings = []
    for _ in range(args.rounds):
        for q in queries:
            t = time.perf_counter()
            index.search(q, limit=10)
            timings.append((time.perf_counter() - t) * 1000)
    log(f"search: {len(timings)} queries")

    scores = np.zeros(len(docs), dtype=np.float32)
    ids = np.arange(len(docs), dtype=np.int32)
    values = np.ones(len(docs), dtype=np.float32)
    floor = []
    for _ in range(len(timings)):
        t = time.perf_counter()
        scores[:] = 0
        scores[ids] += values
        np.argpartition(-scores, 10)[:10]
        floor.append((time.perf_counter() - t) * 1000)

    log("training triage")
    t0 = time.perf_counter()
    model = triage.train(triage.training_rows())
    train_s = time.perf_counter() - t0
    messages = evaluation.read_jsonl(triage.EVAL_FILE)
    for row in messages[:10]:
        model.suggest(row["subject"], row["body"])
    triage_ms = []
    for _ in range(args.rounds):
        for row in messages:
            t = time.perf_counter()
            model.suggest(row["subject"], row["body"])
            triage_ms.append((time.perf_counter() - t) * 1000)

    p99 = percentile(timings, 99)
    floor_p99 = percentile(floor, 99)
    print(
        json.dumps(
            {
                "bench": "helpcenter",
                "articles": len(docs),
                "index_terms": len(index.postings),
                "index_build_s": round(build_s, 2),
                "index_build_cpu_s": round(build_cpu_s, 2),
                "index_rebuild_s": round(rebuild_s, 2),
                "index_build_floor_s": round(build_floor_s, 3),
                "index_build_ratio_to_floor": round(build_s / build_floor_s, 1),
                "search_queries": len(timings),
                "search_p50_ms": round(statistics.median(timings), 3),
                "search_p99_ms": round(p99, 3),
                "search_floor_p99_ms": round(floor_p99, 3),
                "search_ratio_to_floor": round(p99 / floor_p99, 1) if floor_p99 else None,
                "triage_train_s": round(train_s, 2),
                "triage_examples": model.examples,
                "triage_p50_ms": round(statistics.median(triage_ms), 3),
                "triage_p99_ms": round(percentile(triage_ms, 99), 3),
                "targets_ms": {"search_p99": 10, "triage_p99": 10},
            }
        )
    )


if __name__ == "__main__":
    main()
