"""The sandbox package's module hygiene: every module opens with a docstring, declares `__all__` and stays
under the size budget. (That sandbox/ never loads the product is tests/test_imports.py's job.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sandbox

ROOT = Path(sandbox.__file__).parent
MODULES = sorted(ROOT.rglob("*.py"))
MAX_LINES = 400


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_module_has_docstring_all_and_fits(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    assert ast.get_docstring(tree), "module docstring missing"
    names = [t.id for node in tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(t, ast.Name)]
    assert "__all__" in names
    assert len(source.splitlines()) <= MAX_LINES
