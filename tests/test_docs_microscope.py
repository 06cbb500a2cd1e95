"""Every example of docs/microscope.md runs: the shell commands and the Python blocks, on the real SrTiO3 file."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "microscope.md"


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.slow
def test_every_example_of_the_microscope_page_runs(shared_reference, tmp_path, monkeypatch):
    pytest.importorskip("rsciio")
    (tmp_path / "Acquisition_18.emd").symlink_to(shared_reference / "microscope_files" / "Acquisition_18.emd")
    env = dict(os.environ, ATOMDATA_ZIATDINOV_WEIGHTS=str(shared_reference / "ziatdinov_atomnet" / "cubic-best_weights.pt"))
    commands = [line for block in _blocks("bash") for line in block.splitlines()
                if line.startswith(("atomdata ", "python "))]
    assert any(c.startswith("atomdata assess") for c in commands) and any(c.startswith("atomdata locate") for c in commands)
    for cmd in commands:
        cmd = re.sub(r"^atomdata ", f"{sys.executable} -m atomdata ", cmd)
        cmd = cmd.replace("python scripts/", f"{sys.executable} {REPO}/scripts/")
        cmd = cmd.replace("scripts/reproduction ", f"{REPO}/scripts/reproduction ")
        run = subprocess.run(cmd, shell=True, cwd=tmp_path, env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, f"{cmd}\n{run.stderr}"
    assert (tmp_path / "assess" / "assess.json").is_file() and (tmp_path / "assess" / "Acquisition_18_radar.png").is_file()
    assert (tmp_path / "columns" / "Acquisition_18.csv").is_file()
    monkeypatch.chdir(tmp_path)
    for block in _blocks("python"):
        exec(compile(block, str(DOC), "exec"), {})
