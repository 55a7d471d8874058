"""The suite's own hygiene: shared helpers live in helper modules, never in another test module
(importing one test module from another couples their fixtures and collection order)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_imports_another_test_module() -> None:
    offenders: list[str] = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            offenders += [
                f"{path.relative_to(TESTS)}: {m}"
                for m in modules
                if m.startswith("tests.") and m.rsplit(".", 1)[-1].startswith("test_")
            ]
    assert offenders == []
