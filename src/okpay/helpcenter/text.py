"""Text handling for Chinese and English help content: normalisation, segmentation, pinyin.

Both articles and queries go through the same steps, so what is indexed and what is asked
meet in one form: full-width → half-width and lower case (NFKC), traditional → simplified
characters (OpenCC), common variant spellings rewritten (冲值 → 充值, 登陆 → 登录, from
``data/synonyms.txt``), then Chinese runs cut into words by jieba plus overlapping
character bigrams (robust when jieba cuts a query differently from the article), and Latin
runs into stemmed English words (Snowball). Chinese text also yields pinyin syllable pairs,
so ``wangji mima`` finds 忘记密码.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{CJK}]+)|([a-z0-9]+(?:['’][a-z]+)?)")
_CJK_CHAR = re.compile(rf"[{CJK}]")

ZH_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "哦",
        "嗯",
        "么",
        "是",
        "在",
        "我",
        "你",
        "您",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "这",
        "那",
        "这个",
        "那个",
        "就",
        "都",
        "也",
        "还",
        "和",
        "与",
        "或",
        "及",
        "被",
        "把",
        "让",
        "给",
        "对",
        "从",
        "到",
        "为",
        "为什么",
        "怎么",
        "怎么办",
        "怎样",
        "如何",
        "什么",
        "哪里",
        "哪儿",
        "哪",
        "能",
        "能不能",
        "可以",
        "可不可以",
        "请问",
        "请",
        "你好",
        "您好",
        "谢谢",
        "一下",
        "一个",
        "有",
        "没",
        "没有",
        "要",
        "想",
        "会",
        "得",
        "地",
        "着",
        "过",
        "又",
        "很",
        "太",
        "吧",
        "啦",
        "哈",
        "呗",
        "嘛",
        "okpay",
    ]
)
EN_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "how",
        "what",
        "why",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "there",
        "here",
        "so",
        "than",
        "too",
        "very",
        "just",
        "not",
        "no",
        "yes",
        "please",
        "hi",
        "hello",
        "thanks",
        "thank",
        "okpay",
        "about",
        "into",
        "up",
        "down",
        "out",
        "get",
        "got",
        "any",
        "some",
        "am",
        "pls",
        "plz",
        "u",
        "ur",
        "im",
    ]
)


@functools.cache
def _opencc():
    import opencc

    return opencc.OpenCC("t2s")


@dataclass
class Synonyms:
    """Variant spellings (rewritten before indexing) and groups of words that mean the same."""

    variants: dict[str, str] = field(default_factory=dict)
    groups: list[tuple[str, ...]] = field(default_factory=list)

    @functools.cached_property
    def variant_pattern(self) -> re.Pattern[str] | None:
        if not self.variants:
            return None
        alternatives = sorted(self.variants, key=len, reverse=True)
        return re.compile("|".join(re.escape(v) for v in alternatives))


def parse_synonyms(text: str) -> Synonyms:
    """``a => b`` lines are variants; comma-separated lines are groups; ``#`` starts a comment."""
    syn = Synonyms()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=>" in line:
            left, right = (part.strip() for part in line.split("=>", 1))
            for variant in left.split(","):
                variant = _basic(variant.strip())
                if variant:
                    syn.variants[variant] = _basic(right)
        else:
            members = tuple(dict.fromkeys(_basic(m.strip()) for m in line.split(",") if m.strip()))
            if len(members) > 1:
                syn.groups.append(members)
    # Groups are matched after variants are rewritten, so rewrite their members too.
    syn.groups = [tuple(dict.fromkeys(_apply_variants(m, syn) for m in g)) for g in syn.groups]
    return syn


@functools.cache
def synonyms() -> Synonyms:
    """The synonyms shipped in ``data/synonyms.txt``."""
    return parse_synonyms((DATA_DIR / "synonyms.txt").read_text(encoding="utf-8"))


def _basic(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    if _CJK_CHAR.search(text):
        text = _opencc().convert(text)
    return text


def _apply_variants(text: str, syn: Synonyms) -> str:
    pattern = syn.variant_pattern
    if pattern is None:
        return text
    return pattern.sub(lambda m: syn.variants[m.group(0)], text)


def normalise(text: str) -> str:
    """NFKC, lower case, simplified characters and standard spellings."""
    # Line by line, each distinct line once (articles and rebuilds of the index repeat lines).
    # No step reaches across a line break, so this is the same as one pass over the text;
    # as there, characters are simplified only if the text has Chinese after NFKC.
    lines = [_folded(line) for line in text.split("\n")]
    convert = any(_CJK_CHAR.search(line) for line in lines)
    return "\n".join([_standard(line, convert) for line in lines])


@functools.lru_cache(maxsize=50_000)
def _folded(line: str) -> str:
    return unicodedata.normalize("NFKC", line).lower()


@functools.lru_cache(maxsize=50_000)
def _standard(folded: str, simplify: bool) -> str:
    if simplify:
        folded = _opencc().convert(folded)
    return _apply_variants(folded, synonyms())


def has_cjk(text: str) -> bool:
    return _CJK_CHAR.search(text) is not None


_jieba_lock = threading.Lock()


@functools.cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        jieba.initialize()
        user_dict = DATA_DIR / "userdict.txt"
        if user_dict.exists():
            jieba.load_userdict(str(user_dict))
    return jieba


@functools.cache
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    if word.isascii() and word.isdigit():
        return word  # what the stemmer returns for digits, without its cost
    return str(_stemmer().stemWord(word))


def zh_words(run: str) -> list[str]:
    """jieba's search-mode words of one Chinese run, without stop words."""
    return [w for w in _jieba().cut_for_search(run) if w not in ZH_STOPWORDS and w.strip()]


def bigrams(run: str) -> list[str]:
    return ["b:" + run[i : i + 2] for i in range(len(run) - 1)]


def en_words(text: str) -> list[str]:
    """Lower-case English words (already normalised) without stop words, unstemmed."""
    return [
        m.group(2) for m in _RUNS.finditer(text) if m.group(2) and m.group(2) not in EN_STOPWORDS
    ]


def tokens(text: str, *, normalised: bool = False) -> list[str]:
    """Index terms of ``text``: Chinese words and bigrams (single characters as ``u:``), and
    stemmed English words."""
    if not normalised:
        text = normalise(text)
    # No term spans a line break, so each line is tokenised on its own, once (articles and
    # rebuilds of the index repeat lines; the result is the same as one pass over the text).
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(_line_tokens(line))
    return out


@functools.lru_cache(maxsize=20_000)
def _line_tokens(line: str) -> tuple[str, ...]:
    out: list[str] = []
    for match in _RUNS.finditer(line):
        run, word = match.group(1), match.group(2)
        if run:
            if len(run) == 1:
                if run not in ZH_STOPWORDS:
                    out.append("u:" + run)
                continue
            out.extend(_run_tokens(run))
        elif word and word not in EN_STOPWORDS:
            out.append(stem(word.replace("’", "'").split("'")[0]))
    return tuple(out)


@functools.lru_cache(maxsize=100_000)
def _run_tokens(run: str) -> tuple[str, ...]:
    """Words and bigrams of one Chinese run of two or more characters (jieba is the slow part
    of building the index, and runs repeat across articles)."""
    return (*zh_words(run), *bigrams(run))


def cjk_unigrams(text: str) -> list[str]:
    """Single Chinese characters as ``u:`` terms (indexed so a one-character query matches)."""
    return ["u:" + ch for ch in _CJK_CHAR.findall(text) if ch not in ZH_STOPWORDS]


# --- pinyin ---------------------------------------------------------------------------


def pinyin_pairs(text: str) -> list[str]:
    """Toneless pinyin syllable pairs of the Chinese runs in normalised ``text``."""
    out: list[str] = []
    for line in text.split("\n"):  # line by line, as tokens()
        out.extend(_line_pinyin_pairs(line))
    return out


@functools.lru_cache(maxsize=20_000)
def _line_pinyin_pairs(line: str) -> tuple[str, ...]:
    out: list[str] = []
    for match in _RUNS.finditer(line):
        run = match.group(1)
        if run and len(run) > 1:
            out.extend(_run_pinyin_pairs(run))
    return tuple(out)


@functools.lru_cache(maxsize=100_000)
def _run_pinyin_pairs(run: str) -> tuple[str, ...]:
    """Pinyin pairs of one Chinese run (pypinyin is slow; runs repeat across articles)."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(run, style=Style.NORMAL, errors="ignore")
    return tuple(f"p:{a}|{b}" for a, b in pairwise(syllables))


@functools.cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless Mandarin syllable pypinyin knows (from its character table)."""
    from pypinyin import Style, lazy_pinyin

    chars = "".join(chr(c) for c in range(0x4E00, 0x9FA6))
    found = set(lazy_pinyin(chars, style=Style.NORMAL, errors="ignore"))
    return frozenset(s for s in found if s.isascii() and s.isalpha())


def split_pinyin(letters: str) -> list[str] | None:
    """Split a run of letters into pinyin syllables (fewest syllables), or None."""
    valid = pinyin_syllables()
    n = len(letters)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        current = best[i]
        if current is None:
            continue
        for j in range(min(n, i + 6), i, -1):
            piece = letters[i:j]
            if piece in valid:
                candidate = [*current, piece]
                existing = best[j]
                if existing is None or len(candidate) < len(existing):
                    best[j] = candidate
    return best[n]


def query_pinyin_pairs(text: str) -> list[str]:
    """Pinyin pairs of a Latin-letter query that reads as pinyin (``wangji mima``), else []."""
    words = [w for w in re.findall(r"[a-z]+", text)]
    if not words or has_cjk(text):
        return []
    syllables: list[str] = []
    for word in words:
        parts = split_pinyin(word)
        if parts is None:
            return []
        syllables.extend(parts)
    if len(syllables) < 2:
        return []
    return [f"p:{a}|{b}" for a, b in pairwise(syllables)]


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
