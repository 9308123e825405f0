"""The sandbox package as a whole: importing every module never loads the product (`service/`,
`statemachine/`), so the tests prove wire compatibility; every module opens with a docstring, declares
`__all__` and stays under the size budget."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sandbox

ROOT = Path(sandbox.__file__).parent
MODULES = sorted(ROOT.rglob("*.py"))
MAX_LINES = 400


def test_sandbox_never_imports_the_product() -> None:
    code = (
        "import importlib, pkgutil, sys, sandbox\n"
        "for info in pkgutil.walk_packages(sandbox.__path__, prefix='sandbox.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'service', 'statemachine'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr


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
