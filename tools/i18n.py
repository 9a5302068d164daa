"""Extract translatable strings and update the catalogs.

zh_CN is translated by people; en is the source language, so its catalog is filled with the
source strings (a translator may still override any of them). Run with `make i18n`.

`python tools/i18n.py --fill FILE...` copies zh_CN translations from other catalogs (.po) or
JSON objects into ours, e.g. after merging a branch whose catalog conflicted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "src" / "okpay" / "locale"
POT = ROOT / "var" / "messages.pot"
KEYWORDS = [
    *("-k", "_", "-k", "_code", "-k", "N_", "-k", "gettext"),
    *("-k", "ngettext:1,2", "-k", "lazy_gettext", "-k", "pgettext:1c,2"),
]


def extract(pot: Path) -> None:
    """Write every translatable string in src/ (Python, pages, e-mails) to ``pot``."""
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    subprocess.run(
        [
            pybabel,
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            *KEYWORDS,
            "--no-location",
            "--sort-output",
            "--project",
            "OKPay",
            "-o",
            str(pot),
            str(ROOT / "src"),
        ],
        check=True,
        capture_output=True,
    )


def fill(sources: list[Path]) -> int:
    """Copy zh_CN translations into the catalog from other .po files (a merged branch's
    catalog) or JSON objects {source: translation}; strings already translated are kept."""
    import json

    zh = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with zh.open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    known: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for source in sources:
        if source.suffix == ".json":
            known.update(json.loads(source.read_text(encoding="utf-8")))
        else:
            with source.open("rb") as fh:
                for message in read_po(fh, locale="zh_CN"):
                    if (
                        isinstance(message.id, str)
                        and isinstance(message.string, str)
                        and message.string
                    ):
                        known.setdefault(message.id, message.string)
                    elif isinstance(message.id, tuple) and not _empty(message.string):
                        plurals.setdefault(message.id[0], tuple(message.string))
    filled = 0
    for message in catalog:
        if isinstance(message.id, str) and not message.string and known.get(message.id):
            message.string = known[message.id]
            filled += 1
        elif isinstance(message.id, tuple) and _empty(message.string) and message.id[0] in plurals:
            message.string = plurals[message.id[0]]
            filled += 1
    with zh.open("wb") as fh:
        write_po(fh, catalog, width=0, omit_header=False)
    print(f"filled {filled} zh_CN strings")
    return 0


def _empty(string: object) -> bool:
    """No translation: an empty string, or a plural whose forms are all empty."""
    if isinstance(string, (tuple, list)):
        return not any(string)
    return not string


def main() -> int:
    if sys.argv[1:2] == ["--fill"]:
        return fill([Path(arg) for arg in sys.argv[2:]])
    POT.parent.mkdir(parents=True, exist_ok=True)
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    extract(POT)
    for locale in ("zh_CN", "en"):
        po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
        if po.exists():
            subprocess.run(
                [
                    pybabel,
                    "update",
                    "--no-wrap",
                    "--no-fuzzy-matching",
                    "--ignore-obsolete",
                    "-i",
                    str(POT),
                    "-d",
                    str(LOCALE_DIR),
                    "-l",
                    locale,
                ],
                check=True,
            )
        else:
            subprocess.run(
                [pybabel, "init", "--no-wrap", "-i", str(POT), "-d", str(LOCALE_DIR), "-l", locale],
                check=True,
            )
    en = LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"
    with en.open("rb") as fh:
        catalog = read_po(fh, locale="en")
    for message in catalog:
        if message.id and not message.string:
            message.string = message.id
    with en.open("wb") as fh:
        write_po(fh, catalog, width=0, omit_header=False)
    zh = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with zh.open("rb") as fh:
        missing = [m.id for m in read_po(fh, locale="zh_CN") if m.id and _empty(m.string)]
    print(f"catalogs updated; {len(missing)} zh_CN strings still untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
