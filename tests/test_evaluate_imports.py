"""The evaluator stays light (no torch, no matplotlib at import) and its docstring examples run."""
import doctest
import importlib
import subprocess
import sys

import pytest

MODULES = ["matching", "scores", "aggregate", "cutoffs", "inputs", "split", "report", "plots"]


def test_import_is_light():
    code = ("import sys, atomdata.evaluation; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'atomdata.models') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(f"atomdata.evaluation.{name}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
