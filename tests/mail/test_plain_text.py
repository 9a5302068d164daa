"""Plain-text e-mails keep their line breaks: a line that ends in a template tag must not run
into the next one (Jinja's trim_blocks eats the newline after a tag)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from okpay.mail.service import TEMPLATE_DIR, render


class _User:
    display_name = "Mei"


def _text_blocks() -> list[tuple[Path, list[str]]]:
    found = []
    for path in sorted((Path(TEMPLATE_DIR) / "mail").glob("*.mail")):
        source = path.read_text(encoding="utf-8")
        match = re.search(r"{% block text %}(.*?){% endblock %}", source, re.S)
        assert match, f"{path.name} has no text block"
        found.append((path, match.group(1).splitlines()))
    return found


def test_no_line_of_text_ends_in_a_tag_that_would_eat_its_line_break() -> None:
    offenders = []
    for path, lines in _text_blocks():
        for line in lines:
            if not line.rstrip().endswith("%}"):
                continue
            if re.sub(r"{%.*?%}", "", line).strip():
                offenders.append(f"{path.name}: {line.strip()}")
    assert offenders == []


def test_new_device_lines_stay_apart() -> None:
    _subject, text, html = render(
        "new_device",
        {
            "user": _User(),
            "new_country": False,
            "device": "Chrome on Android",
            "ip": "203.0.113.9",
            "country": "CN",
            "when": datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
            "link": "https://okpay.example/lock?token=abc",
        },
        "en",
    )
    lines = text.splitlines()
    address = next(line for line in lines if line.startswith("Address:"))
    assert address == "Address: 203.0.113.9 (China)"
    assert any(line.startswith("Time:") for line in lines)
    # The HTML twin keeps the same breaks.
    assert "Address: 203.0.113.9 (China)<br>Time:" in html


def test_case_update_keeps_its_paragraphs() -> None:
    context = {
        "name": "Mei",
        "case_status": "approved",
        "case_code": "appeal",
        "number": "C-1001",
        "case_type": "Appeal",
        "case_status_label": "Approved",
        "summary": "The restriction on your account was lifted.",
        "decision_reason": "Documents checked",
        "link": "https://okpay.example/support/requests/1",
        "rate_link": "https://okpay.example/rate",
        "review_due": None,
        "info_request": "",
    }
    _subject, text, _html = render("case_update", context, "en")
    lines = text.splitlines()
    assert "The restriction on your account was lifted." in lines
    assert "Reason: Documents checked" in lines
    # Paragraphs: a blank line before the link and before the rating.
    assert lines[lines.index("Follow your request:") - 1] == ""
    rating = next(i for i, line in enumerate(lines) if line.startswith("How did we do?"))
    assert lines[rating - 1] == ""

    submitted = {**context, "case_status": "submitted", "review_due": "Monday 10:00"}
    _subject, text, _html = render("case_update", submitted, "zh_CN")
    assert not any("Monday 10:00" in line and "C-1001" in line for line in text.splitlines())
