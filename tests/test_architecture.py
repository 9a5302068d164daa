"""Issue 12's rules that import-linter does not check (the layers and cycles are its
contracts in pyproject.toml): no module uses another module's underscore names, and a file
over 500 lines says why it is kept whole."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "okpay"


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("okpay"):
            for name in node.names:
                if name.name.startswith("_") and not name.name.startswith("__"):
                    found.append(f"{path}:{node.lineno} imports {node.module}.{name.name}")
                aliases.add(name.asname or name.name)
        elif isinstance(node, ast.Import):
            aliases.update(
                name.asname or name.name.split(".")[0]
                for name in node.names
                if name.name.startswith("okpay")
            )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{path}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = [use for path in sorted(SRC.rglob("*.py")) for use in _private_uses(path)]
    assert found == []


def test_files_over_500_lines_say_why_they_are_kept_whole() -> None:
    unexplained = []
    for path in sorted(SRC.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 500 and not any(
            line.startswith("# Kept whole because") for line in lines[:5]
        ):
            unexplained.append(f"{path.relative_to(SRC)}: {len(lines)} lines")
    assert unexplained == []
