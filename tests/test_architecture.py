"""The house rules of the package layout (docs/architecture.md), checked on the source itself.

The layer, cycle and private-module contracts are checked by ``lint-imports`` (pyproject.toml);
these tests add what import-linter does not see.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "atomdata"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_is_over_500_lines(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path} has {n} lines; split it by concern (at most {MAX_LINES})"


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno


def test_no_module_takes_another_modules_private_name():
    bad = []
    for path in MODULES:
        for module, names, line in _imports(path):
            if module.startswith("atomdata") and module != _module_name(path):
                bad += [f"{path}:{line}: {module}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
    assert not bad, "private names imported across modules (make them public or move them):\n" + "\n".join(bad)


def test_nothing_inside_the_package_imports_the_package_face():
    """Only ``__main__`` may import the root ``atomdata`` module; the rest import the module that defines a name."""
    bad = []
    for path in MODULES:
        if path.name == "__main__.py":
            continue
        for module, names, line in _imports(path):
            if module == "atomdata" and any(n not in {"models"} for n in names):
                bad.append(f"{path}:{line}: from atomdata import {', '.join(names)}")
            if module == "atomdata" and not names:
                bad.append(f"{path}:{line}: import atomdata")
    assert not bad, "\n".join(bad)


def test_import_atomdata_loads_no_torch_scipy_or_matplotlib():
    code = ("import sys, atomdata; atomdata.SplitFile; atomdata.ColumnSet; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'scipy', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_front_door_names_resolve_lazily():
    import atomdata
    from atomdata.datasets.atoms import AtomColumnDataset
    from atomdata.evaluation import evaluate, score_image

    assert atomdata.AtomColumnDataset is AtomColumnDataset
    assert atomdata.evaluate is evaluate and atomdata.score_image is score_image
    assert atomdata.models.available()  # the subpackage
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        atomdata.nope  # noqa: B018


def test_every_atomdata_import_resolves_including_lazy_ones_inside_functions():
    """``from atomdata.x import y`` inside a function is only run when that path runs (some need optional
    extras): check statically that every such name exists, so a moved name cannot hide until then."""
    import importlib

    bad = []
    for path in MODULES:
        for module, names, line in _imports(path):
            if not module.startswith("atomdata"):
                continue
            try:
                mod = importlib.import_module(module)
            except ImportError as e:
                bad.append(f"{path}:{line}: import {module}: {e}")
                continue
            for n in names:
                if n != "*" and not hasattr(mod, n):
                    try:
                        importlib.import_module(f"{module}.{n}")
                    except ImportError:
                        bad.append(f"{path}:{line}: {module} has no {n}")
    assert not bad, "\n".join(bad)
