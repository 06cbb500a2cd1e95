"""Every example in README.md and docs/*.md runs as written: offline, in a temporary folder, page by page.

Rules (also in docs/development.md):

* a page's ```python blocks run in one fresh Python process, in page order, sharing one namespace;
* its ```bash lines that start with ``atomdata`` run through the command line in that same process, in
  page order with the Python blocks, and must exit 0; after a ``<!-- docs-test: parse-only (reason) -->``
  line, a block's commands are only parsed by the command's argument parser;
* bash lines that run ``scripts/...`` must name a file that exists; ``pip`` and other lines are not run;
* the page runs in an empty temporary folder with an empty ``ATOMDATA_CACHE``, one thread per process,
  and any connection to a host other than this machine raises: the examples must work offline;
* the published AtomNet weights come from ``../shared/reference`` (``ATOMDATA_ZIATDINOV_WEIGHTS``); a page
  that opens ``wei_atom.h5`` gets a small file in the Wei layout (``tests/wei_layout.py``);
* a page whose examples need real instrument files carries ``<!-- docs-test: page-tested-by tests/FILE.py -->``:
  that test runs all of its examples (with the files from ``../shared/reference``) instead of this one.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_REFERENCE

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_BYTES = 10_000
ATOMNET_WEIGHTS = SHARED_REFERENCE / "ziatdinov_atomnet" / "cubic-best_weights.pt"

_OPEN = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n`]*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<mode>[a-z-]+)")
_TESTED_BY = re.compile(r"<!--\s*docs-test:\s*page-tested-by\s+(?P<test>\S+)\s*-->")


def page_test_of(path: Path):
    """The test file that runs this page's examples itself, or None."""
    m = _TESTED_BY.search(path.read_text(encoding="utf-8"))
    return m["test"] if m else None
_BASH = {"bash", "sh", "shell"}


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the first line of code
    lang: str
    code: str
    mode: str  # "run" or "parse-only"


def blocks_of(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with the line of their first code line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
    out, i, previous = [], 0, ""
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            if lines[i].strip():
                previous = lines[i]
            i += 1
            continue
        indent, lang = m["indent"], m["lang"].lower()
        close = re.compile(rf"^{re.escape(indent)}```\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if j == len(lines):
            raise AssertionError(f"{page}:{i + 1}: code fence is never closed")
        body = "\n".join(ln[len(indent):] if ln.startswith(indent) else ln for ln in lines[i + 1:j])
        marker = _MARKER.match(previous)
        mode = marker["mode"] if marker and marker["mode"] != "page-tested-by" else "run"
        if mode not in ("run", "parse-only"):
            raise AssertionError(f"{page}:{i}: unknown docs-test mode {mode!r} (known: parse-only)")
        out.append(Block(page, i + 2, lang, body, mode))
        previous, i = "", j + 1
    return out


def shell_commands(block: Block) -> list[tuple[int, list[str]]]:
    """(line, argv) of each command of a bash block; continuation lines are joined, comments dropped."""
    out, pending, start = [], "", 0
    for k, raw in enumerate(block.code.splitlines()):
        if not pending:
            start = block.line + k
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        argv = shlex.split(pending, comments=True)
        pending = ""
        if argv:
            out.append((start, argv))
    return out


def page_steps(path: Path) -> list[list]:
    """What a page runs, in order: ["python", code, "page:line"] and ["cli", argv, "page:line"]."""
    steps = []
    for b in blocks_of(path):
        if b.lang == "python":
            assert b.mode == "run", f"{b.page}:{b.line}: python blocks always run; show output as ```text"
            steps.append(["python", "\n" * (b.line - 1) + b.code, f"{b.page}:{b.line}"])
        elif b.lang in _BASH:
            for line, argv in shell_commands(b):
                if argv[0] == "atomdata" and b.mode == "run":
                    steps.append(["cli", argv[1:], f"{b.page}:{line}"])
    return steps


def _parse_only_and_scripts(path: Path) -> list[str]:
    """Problems of the commands that are not run: unknown options, scripts that do not exist."""
    from atomdata.cli import build_parser

    problems = []
    for b in blocks_of(path):
        if b.lang not in _BASH:
            continue
        for line, argv in shell_commands(b):
            where = f"{b.page}:{line}"
            for token in argv:
                if token.startswith("scripts/") and not (REPO / token).exists():
                    problems.append(f"{where}: {token} does not exist")
            if argv[0] == "atomdata" and b.mode == "parse-only":
                try:
                    build_parser().parse_args(argv[1:])
                except SystemExit:
                    problems.append(f"{where}: `{' '.join(argv)}` does not parse")
    return problems


_RUNNER = r'''
import json, socket, sys, time

_LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}


def _offline():
    """Connections to other hosts raise: the docs examples must work without network."""
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def check(address):
        if isinstance(address, tuple) and address[0] not in _LOCAL:
            raise OSError(f"network access to {address[0]} in a docs example (the docs tests run offline)")

    def guarded_connect(self, address):
        check(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        check(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL and host is not None:
            raise socket.gaierror(-2, f"name lookup of {host} in a docs example (the docs tests run offline)")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = guarded_connect, guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo


def _run():
    _offline()
    namespace = {"__name__": "__main__"}
    started = time.perf_counter()
    for kind, payload, where in json.load(open(sys.argv[1])):
        print(f"### {where} (at {time.perf_counter() - started:.1f} s)", flush=True)
        if kind == "python":
            exec(compile(payload, where.rsplit(":", 1)[0], "exec"), namespace)
        else:
            from atomdata.cli import main

            code = main(payload)
            if code != 0:
                sys.exit(f"{where}: `atomdata {' '.join(payload)}` exited with {code}")
    print(f"### done (at {time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":  # worker processes started by "spawn" (Dask) import this file without running it
    _run()
'''


def _write_wei_file(path: Path) -> None:
    from wei_layout import write_wei_file

    rng = np.random.default_rng(0)
    names = ["img0", "img1"]
    images = {n: rng.random((32, 32)).astype(np.float32) for n in names}
    coords = {n: rng.uniform(2, 29, (6, 2)) for n in names}
    row = {"Material/Orientation": "WS2[0001]", "space group": 187, "type": "simulated", "contrast": 0.5,
           "dose (e-/A^2)": 2.0e4, "flyback error": 0.25, "peak intensity": 1234.5, "pixel size (pm)": 10.0,
           "PSNR (dB)": 20.0, "probe current (pA)": 30.0, "random drift": 0.02, "resolution (pm)": 120.0,
           "atoms/100px": 5.5}
    write_wei_file(path, images, coords, names, [dict(row), dict(row)])


def run_page(path: Path, tmp_path: Path) -> str:
    """Run a page's examples; returns the output (the test fails with the output and error otherwise)."""
    steps = page_steps(path)
    work = tmp_path / "work"
    work.mkdir()
    text = "\n".join(code for kind, code, _ in steps if kind == "python")
    if "wei_atom.h5" in text:
        _write_wei_file(work / "wei_atom.h5")
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    (tmp_path / "runner.py").write_text(_RUNNER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATOMDATA_")}
    # one thread per process: on a shared 2-core machine, torch's default threads made the
    # 60-step training of docs/models.md take 6 min instead of 1 (measured under a load average of 20)
    env.update(ATOMDATA_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg", PYTHONPATH=str(REPO),
               PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if ATOMNET_WEIGHTS.is_file():
        env["ATOMDATA_ZIATDINOV_WEIGHTS"] = str(ATOMNET_WEIGHTS)
    res = subprocess.run([sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "steps.json")], cwd=work,
                         env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, (f"an example of {path.name} failed:\n--- stdout (tail)\n{res.stdout[-3000:]}\n"
                                 f"--- stderr (tail)\n{res.stderr[-6000:]}")
    assert "### done" in res.stdout.splitlines()[-1]
    return res.stdout


def _needs_atomnet(path: Path) -> bool:
    return any('models.get("ziatdinov-atomnet-cubic"' in s[1] for s in page_steps(path) if s[0] == "python")


def test_pages_tested_elsewhere_name_an_existing_test():
    for p in PAGES:
        test = page_test_of(p)
        if test is not None:
            assert (REPO / test).is_file(), f"{p.name} says its examples run in {test}, which does not exist"
            assert p.name in (REPO / test).read_text(), f"{test} does not run {p.name}"


@pytest.mark.parametrize("path", [p for p in PAGES if page_steps(p) and not page_test_of(p)],
                         ids=lambda p: p.name)
def test_examples_of_the_page_run_as_written(path, tmp_path, request):
    if _needs_atomnet(path):
        request.getfixturevalue("shared_reference")  # fails in CI, skips elsewhere, when it is missing
    out = run_page(path, tmp_path)
    if path.name == "README.md":  # the quick start printed its scores
        assert re.search(r"\{'id_recall': [01]\.\d+, 'id_precision': [01]\.\d+, 'position_accuracy_A': 0\.\d+\}", out), out
    if path.name == "getting-started.md":  # the training loop ran its two epochs
        assert re.findall(r"epoch (\d): loss \d+\.\d+", out) == ["0", "1"], out


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_commands_that_are_not_run_parse_and_scripts_exist(path):
    assert _parse_only_and_scripts(path) == []


def test_readme_is_short_and_has_its_example():
    readme = REPO / "README.md"
    assert readme.stat().st_size <= README_MAX_BYTES, f"README.md is {readme.stat().st_size} bytes"
    text = readme.read_text(encoding="utf-8")
    example = re.search(r"<!-- example: readme-quickstart -->\n```python\n(.*?)```", text, re.S)
    assert example, "README.md lacks the quick-start example"
    code = example.group(1)
    for step in ("atomdata.load(", "DataLoader(", "models.get(", "atomdata.evaluate("):
        assert step in code
    assert len(code.strip().splitlines()) <= 17


def test_readme_command_table_lists_every_command():
    from atomdata.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `atomdata (\w+)", text, re.M)
    assert sorted(listed) == sorted(sub.choices), "README's command table and `atomdata --help` differ"


def test_data_format_page_lists_every_dataset_of_the_format():
    from atomdata.storage.format import REQUIRED_DATASETS

    text = (REPO / "docs" / "data-format.md").read_text(encoding="utf-8")
    table = "\n".join(ln for ln in text.splitlines() if ln.startswith("| `"))
    for name in (*REQUIRED_DATASETS, "images/<H>x<W>", "arrays/<name>/<H>x<W>"):
        assert f"`{name}`" in table, f"docs/data-format.md does not list {name}"


def test_every_page_is_in_the_site_navigation():
    nav = (REPO / "docs" / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.M))
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert pages <= listed, f"pages missing from the nav of docs/mkdocs.yml: {sorted(pages - listed)}"


def test_blocks_are_found_with_their_lines_and_modes(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```python\nx = 1\n```\n<!-- docs-test: parse-only (slow) -->\n```bash\n"
                    "atomdata build \\\n  --quick   # small\n```\n  ```text\n  out\n  ```\n")
    found = [(b.line, b.lang, b.mode, b.code) for b in blocks_of(page)]
    assert found == [(4, "python", "run", "x = 1"), (8, "bash", "parse-only", "atomdata build \\\n  --quick   # small"),
                     (12, "text", "run", "out")]
    assert shell_commands(blocks_of(page)[1]) == [(8, ["atomdata", "build", "--quick"])]
