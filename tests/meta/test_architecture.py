"""The shape STYLE.md asks for: a pure domain, size budgets, the dispatch table."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "callcentre"
ALLOWED_IN_DOMAIN = {"callcentre.domain", "callcentre.errors"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_only_the_standard_library() -> None:
    for path in (PACKAGE / "domain").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or top == "__future__" or any(
                name == a or name.startswith(a + ".") for a in ALLOWED_IN_DOMAIN)
            assert ok, f"{path.name} imports {name}"


def test_domain_never_reads_the_clock() -> None:
    for path in (PACKAGE / "domain").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("datetime.now(", ".utcnow(", "time.time(", "date.today("):
            assert forbidden not in text, f"{path.name} reads the clock ({forbidden})"


def test_modules_stay_under_the_size_budget() -> None:
    sizes = {p.relative_to(PACKAGE): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 420} == {}


def test_functions_stay_short() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 45:
                    long.append(f"{path.name}:{node.name} ({length} lines)")
    assert long == []
