"""Helpers of the robustness suite (tests/test_robust_*.py): snapshots, leftovers, byte mutations, a tally.

The tally counts every case the suite tries, by class (paths, http, kill, concurrency, fuzz,
errors), hypothesis examples included; with ``ATOMDATA_ROBUSTNESS_TALLY=<file>`` set, the
session writes it there as JSON (``scripts/robustness_summary.py`` prints the table).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from atomdata.storage.files import is_temporary

REPO = Path(__file__).resolve().parents[1]
TALLY: Counter = Counter()
TALLY_ENV = "ATOMDATA_ROBUSTNESS_TALLY"


def tally(cls: str, n: int = 1) -> None:
    """Count ``n`` tried cases of class ``cls``."""
    TALLY[cls] += n


def write_tally() -> None:
    """Add this session's counts to the file named by ATOMDATA_ROBUSTNESS_TALLY (if set)."""
    path = os.environ.get(TALLY_ENV)
    if not path or not TALLY:
        return
    p = Path(path)
    old = Counter(json.loads(p.read_text())) if p.exists() else Counter()
    p.write_text(json.dumps(dict(old + TALLY), indent=1, sort_keys=True))


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (links not followed): relative path -> (kind, size, mtime_ns, sha256)."""
    out = {}
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            p = Path(root) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p.relative_to(folder))] = ("link", os.readlink(p))
            elif p.is_file():
                out[str(p.relative_to(folder))] = ("file", st.st_size, st.st_mtime_ns,
                                                   hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[str(p.relative_to(folder))] = ("dir",)
    return out


def stray(folder: Path) -> list[str]:
    """Temporary files left anywhere under ``folder``: atomic_path's, download partials, shard folders."""
    bad = []
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            if is_temporary(name) or name.endswith(".part") or name.startswith(".shards-") or re.fullmatch(
                    r"tmp[a-z0-9_]{8}", name):
                bad.append(str(Path(root, name).relative_to(folder)))
    return sorted(bad)


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_cli(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m atomdata ARGS`` in a subprocess (text output)."""
    return subprocess.run([sys.executable, "-m", "atomdata", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=REPO)


def one_line_error(stderr: str, command: str) -> str:
    """The single error line of a failed CLI run (asserts there is exactly one and no traceback)."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith(f"atomdata {command}: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    """Apply byte edits ``(kind, position fraction * 1e6, value)``: set, xor, cut (truncate), drop, insert."""
    b = bytearray(data)
    for kind, where, value in edits:
        if not b:
            break
        i = where * len(b) // 1_000_000
        i = min(i, len(b) - 1)
        if kind == "set":
            b[i] = value
        elif kind == "xor":
            b[i] ^= (value or 1)
        elif kind == "cut":
            del b[i:]
        elif kind == "drop":
            del b[i:i + 1 + value % 64]
        elif kind == "insert":
            b[i:i] = bytes([value]) * (1 + value % 16)
    return bytes(b)


def in_child(fn, *args, timeout_s: float = 30.0) -> str:
    """``fn(*args)`` (returning a str) in a forked child process: its result, or "hang" / "crash <code>".

    The HDF5 library can loop forever or crash on a deliberately damaged file; running each
    fuzz example in a child keeps the test process alive and lets the suite count those cases.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def run():
        try:
            child.send_bytes(str(fn(*args)).encode("utf-8", "replace"))
        except BaseException as e:  # a failure of the harness itself
            child.send_bytes(f"LEAK harness {type(e).__name__}: {e}".encode("utf-8", "replace"))
        finally:
            child.close()

    proc = ctx.Process(target=run, daemon=True)
    proc.start()
    child.close()
    try:
        if parent.poll(timeout_s):
            try:
                return parent.recv_bytes().decode("utf-8", "replace")
            except EOFError:
                proc.join(5)
                return f"crash {proc.exitcode}"
        return "hang"
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
