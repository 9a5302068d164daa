"""Triage's reading of a message, on top of the help centre's normalisation.

``text.normalise`` already folds full-width letters (NFKC), case, traditional characters
(OpenCC t2s) and common typos. Tickets are written more loosely than search queries, so
triage also rewrites, before the models read the text:

- dialect and internet spellings into standard Mandarin (咋 → 怎么, 啥 → 什么, 木有 → 没有);
- Hong Kong and Taiwan wallet vocabulary that OpenCC converts character by character but not
  word by word (提領 → 提领 → 提现, 加值 → 充值; those search needs as well, such as 儲值 →
  充值 and 簡訊 → 短信, are rewritten by ``text.normalise`` from ``data/synonyms.txt``);
- English words typed inside Chinese sentences (``转账 fail 了``) into their Chinese term,
  so mixed messages meet the Chinese examples;
- emoji and other pictographs into nothing (they carry mood, not the topic).

The words are written from how wallet customers write; none comes from an evaluation set.
"""

from __future__ import annotations

import re
import unicodedata

from okpay.helpcenter import text as tx

# Dialect, internet slang and colloquial spellings (simplified, after OpenCC).
DIALECT = {
    "咋整": "怎么办",
    "咋办": "怎么办",
    "咋弄": "怎么弄",
    "咋回事": "怎么回事",
    "咋": "怎么",
    "肿么": "怎么",
    "怎木": "怎么",
    "啥": "什么",
    "神马": "什么",
    "木有": "没有",
    "米有": "没有",
    "么有": "没有",
    "莫有": "没有",
    "没得": "没有",
    "冇": "没有",
    "俺": "我",
    "偶的": "我的",
    "钱钱": "钱",
    "点解": "为什么",
    "唔该": "请",
    "系咪": "是不是",
    "唔系我": "不是我",
}

# Hong Kong and Taiwan usage, in the simplified form OpenCC leaves it in. The words search
# rewrites too (帐户, 转帐, 纪录, 储值, 简讯, 电邮, 网路…) are variants in data/synonyms.txt,
# which ``text.normalise`` applies before this table.
REGIONAL = {
    "加值": "充值",
    "入数": "充值",
    "提领": "提现",
    "提款": "提现",
    "帐密": "账号密码",
    "户口": "账户",
    "汇款": "转账",
    "过数": "转账",
    "讯息": "消息",
    "连结": "链接",
    "介面": "界面",
    "软体": "软件",
    "金融卡": "银行卡",
    "提款卡": "银行卡",
    "身分": "身份",
    "盗领": "盗刷",
    "客服专线": "客服热线",
    "专线": "热线",
    "手续费用": "手续费",
}

# English words inside a Chinese message (only rewritten when the message has Chinese).
ENGLISH_IN_CHINESE = {
    "failed": "失败",
    "fail": "失败",
    "failure": "失败",
    "error": "错误",
    "pending": "处理中",
    "refund": "退款",
    "top up": "充值",
    "top-up": "充值",
    "topup": "充值",
    "deposit": "充值",
    "withdraw": "提现",
    "withdrawal": "提现",
    "cash out": "提现",
    "transfer": "转账",
    "limit": "限额",
    "fee": "手续费",
    "fees": "手续费",
    "password": "密码",
    "login": "登录",
    "log in": "登录",
    "account": "账户",
    "locked": "锁定",
    "lock": "锁定",
    "card": "卡",
    "hacked": "被盗",
    "scam": "诈骗",
    "refunded": "退款",
    "bug": "故障",
    "app": "应用",
    "ticket": "工单",
    "email": "邮箱",
    "statement": "账单",
    "export": "导出",
    "verify": "验证",
    "code": "验证码",
}


def _pattern(words: dict[str, str], *, latin: bool = False) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alternatives})(?![a-z])" if latin else alternatives)


_CHINESE_WORDS = {**DIALECT, **REGIONAL}
_CHINESE = _pattern(_CHINESE_WORDS)
_ENGLISH = _pattern(ENGLISH_IN_CHINESE, latin=True)
_PICTOGRAPH_CATEGORIES = frozenset({"So", "Sk", "Cs", "Co"})
_JOINERS = frozenset({"\u200d", "\ufe0e", "\ufe0f"})


def strip_pictographs(text: str) -> str:
    """Emoji, pictographs and their joiners become spaces."""
    return "".join(
        " " if ch in _JOINERS or unicodedata.category(ch) in _PICTOGRAPH_CATEGORIES else ch
        for ch in text
    )


def normalise(text: str) -> str:
    """The help centre's normalisation, then dialect, regional and mixed-language words and
    pictographs as above."""
    text = tx.normalise(strip_pictographs(text))
    text = _CHINESE.sub(lambda m: _CHINESE_WORDS[m.group(0)], text)
    if tx.has_cjk(text):
        text = _ENGLISH.sub(lambda m: f" {ENGLISH_IN_CHINESE[m.group(0)]} ", text)
    return text
