"""Language choice and catalog completeness: every string has zh_CN and en."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po
from tools.i18n import extract

from okpay.core import i18n

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def test_negotiation_order() -> None:
    assert i18n.negotiate(user_pref="en", cookie="zh_CN", accept_language="zh-CN") == "en"
    assert i18n.negotiate(user_pref=None, cookie="en", accept_language="zh-CN") == "en"
    assert i18n.negotiate(user_pref=None, cookie=None, accept_language="fr-FR,en;q=0.8") == "en"
    assert i18n.negotiate(user_pref=None, cookie=None, accept_language="zh-TW,zh;q=0.9") == "zh_CN"
    assert i18n.negotiate(user_pref=None, cookie=None, accept_language=None) == "zh_CN"
    assert i18n.negotiate(user_pref=None, cookie="garbage", accept_language="de") == "zh_CN"


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with (ROOT / "src/okpay/locale" / locale / "LC_MESSAGES/messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def test_every_source_string_is_in_both_catalogs(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    extract(pot)
    with pot.open("rb") as fh:
        source = {(m.context, m.id) for m in read_po(fh) if m.id}
    for locale in ("zh_CN", "en"):
        catalog = _catalog(locale)
        # A plural's forms count only when one is written (en falls back to the source).
        translated = {
            (m.context, m.id)
            for m in catalog
            if m.id
            and (any(m.string) if isinstance(m.string, tuple) and locale != "en" else m.string)
        }
        missing = sorted(str(s) for s in source - translated)  # (context, string)
        assert not missing, f"{locale} lacks {len(missing)} strings (run make i18n): {missing[:5]}"


def test_translations_keep_their_placeholders() -> None:
    for message in _catalog("zh_CN"):
        if message.id and message.string:
            ident = message.id if isinstance(message.id, str) else message.id[0]
            text = message.string if isinstance(message.string, str) else message.string[0]
            assert set(PLACEHOLDER.findall(ident)) == set(PLACEHOLDER.findall(text)), ident


def test_a_word_in_context_has_its_own_translation() -> None:
    with i18n.use_locale("zh_CN"):
        assert i18n.gettext("Requests") == "请求数"  # a count, in reports
        assert i18n.pgettext("tab bar", "Requests") == "我的请求"  # the phone's tab
    with i18n.use_locale("en"):
        assert i18n.pgettext("tab bar", "Requests") == "Requests"


def test_formatting_follows_the_locale() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 21, 1, 30, tzinfo=UTC)
    with i18n.use_locale("zh_CN"):
        assert "2026年11月21日" in i18n.format_datetime(moment)
        assert i18n.gettext("Sign in") == "登录"
    with i18n.use_locale("en"):
        assert "Nov 21, 2026" in i18n.format_datetime(moment)


def test_amounts_follow_currency_exponent_and_locale() -> None:
    assert i18n.currency_exponent("CNY") == 2 and i18n.currency_exponent("JPY") == 0
    with i18n.use_locale("zh_CN"):
        assert i18n.format_money(123450, "CNY") == "¥1,234.50"
        assert i18n.format_money(500, "JPY") == "JP¥500"
        assert i18n.format_money(1200, "USD") == "US$12.00"
    with i18n.use_locale("en"):
        assert i18n.format_money(1200, "USD") == "$12.00"
        assert i18n.format_money(123450, "CNY") == "CN¥1,234.50"
