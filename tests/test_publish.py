"""`atomdata publish`: the dry run stages a valid submission; tokens never leak; submit carries the foundry block."""
from __future__ import annotations

import http.server
import json
import logging
import socket
import threading

import pytest
from dataset_folder import write_dataset

from atomdata import cli
from atomdata.sources.publish import TOKEN_ENV, prepare_submission, submit_submission
from atomdata.storage import sha256_file

pytestmark = pytest.mark.foundry
pytest.importorskip("foundry")
pytest.importorskip("mdf_connect_client")

FAKE_TOKEN = "AgFakeGlobusToken0123456789abcdefXYZ"


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "demo-bench" / "1.0.0"
    write_dataset(folder, {"train": [(32, 32)] * 2, "test": [(32, 32)] * 2})
    return folder


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_dry_run_stages_a_valid_submission(dataset, tmp_path, no_network):
    staging = tmp_path / "staging"
    sub = prepare_submission(dataset, staging_dir=staging)
    names = sorted(p.name for p in staging.iterdir())
    assert names == ["SUMMARY.txt", "data", "datacite.json", "foundry.json", "mdf_submission.json"]
    assert sorted(p.name for p in (staging / "data").iterdir()) == ["manifest.json", "test.h5", "train.h5"]
    for f in ("train.h5", "test.h5"):
        assert sha256_file(staging / "data" / f) == sha256_file(dataset / f)
    payload = json.loads((staging / "mdf_submission.json").read_text())
    assert payload["projects"]["foundry"] == json.loads((staging / "foundry.json").read_text())
    assert payload["projects"]["foundry"]["n_items"] == 4
    assert payload["dc"]["titles"] == [{"title": "Demo benchmark"}]
    assert payload["dc"]["publicationYear"] == "2025"
    assert payload["mdf"] == {"organization": "Foundry", "source_name": "foundry_demo_bench"}
    assert payload["data_sources"] == [] and payload["test"] is False
    assert sub.source_id == "foundry_demo_bench_v1.0"
    summary = (staging / "SUMMARY.txt").read_text()
    assert "train.h5" in summary and sha256_file(dataset / "test.h5") in summary
    assert "validate with foundry-ml" in summary


def test_dry_run_refuses_a_changed_file(dataset, tmp_path):
    with open(dataset / "test.h5", "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError, match=r"test.h5: sha256 [0-9a-f]{64} differs from the manifest's [0-9a-f]{64}"):
        prepare_submission(dataset, staging_dir=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_cli_dry_run_never_shows_the_token(dataset, tmp_path, monkeypatch, capsys, caplog, no_network):
    monkeypatch.setenv(TOKEN_ENV, FAKE_TOKEN)
    caplog.set_level(logging.DEBUG)
    staging = tmp_path / "staging"
    assert cli.main(["publish", str(dataset), "--staging", str(staging), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "dry run: nothing was submitted" in out.out
    assert f"found in ${TOKEN_ENV} (not shown)" in out.out
    texts = [out.out, out.err, caplog.text] + [
        p.read_text() for p in staging.iterdir() if p.is_file()
    ]
    for text in texts:
        assert FAKE_TOKEN not in text
        assert "Bearer" not in text


def test_submit_needs_a_data_source(dataset, tmp_path):
    sub = prepare_submission(dataset, staging_dir=tmp_path / "s")
    with pytest.raises(ValueError, match="no data source.*--data-source"):
        submit_submission(sub)


class _ConnectStandIn(http.server.BaseHTTPRequestHandler):
    """Records one POST /submit like MDF Connect and answers with a source id."""

    received: list = []
    status = 202

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, self.headers.get("Authorization"), body))
        answer = ({"source_id": "foundry_demo_bench_v1.1", "success": True} if self.status < 300
                  else {"error": f"rejected request with header {self.headers.get('Authorization')}"})
        data = json.dumps(answer).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def connect_server():
    _ConnectStandIn.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ConnectStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_submit_sends_the_foundry_block_with_the_token(dataset, tmp_path, monkeypatch, caplog, connect_server):
    monkeypatch.setenv(TOKEN_ENV, FAKE_TOKEN)
    caplog.set_level(logging.DEBUG)
    sub = prepare_submission(dataset, staging_dir=tmp_path / "s", data_source="globus://endpoint/path/data/")
    source_id = submit_submission(sub, service_url=connect_server)
    assert source_id == "foundry_demo_bench_v1.1"
    path, auth, body = _ConnectStandIn.received[0]
    assert path == "/submit" and auth == f"Bearer {FAKE_TOKEN}"
    assert body["projects"]["foundry"] == sub.foundry_block  # the block foundry-ml 1.2.2 drops
    assert body["data_sources"] == ["globus://endpoint/path/data/"]
    assert FAKE_TOKEN not in caplog.text

    _ConnectStandIn.status = 400
    try:
        with pytest.raises(RuntimeError, match="MDF Connect refused the submission") as e:
            submit_submission(sub, service_url=connect_server)
    finally:
        _ConnectStandIn.status = 202
    assert FAKE_TOKEN not in str(e.value) and "Bearer ***" in str(e.value)


def test_submit_without_credentials_does_not_log_in(dataset, tmp_path, monkeypatch, no_network):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    sub = prepare_submission(dataset, staging_dir=tmp_path / "s", data_source="globus://e/p/")
    from atomdata.sources.foundry import FoundryUnavailable

    with pytest.raises(FoundryUnavailable, match=f"no Globus credentials for MDF Connect: set {TOKEN_ENV}"):
        submit_submission(sub)
