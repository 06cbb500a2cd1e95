"""Weights resolution: explicit path, environment variable, cache, pinned download (local server only)."""
import functools
import hashlib
import http.server
import shutil
import socket
import threading

import pytest

from atomdata.models.weights import (
    WeightsIntegrityError,
    WeightsNotFoundError,
    WeightsSpec,
    load_state_dict_file,
    resolve_weights,
    weights_cache_dir,
)

PUBLISHED = "ziatdinov_atomnet/cubic-best_weights.pt"


def _spec(content: bytes, url=None, **kw) -> WeightsSpec:
    return WeightsSpec(name="demo", filename="demo.pt", sha256=hashlib.sha256(content).hexdigest(), url=url,
                       env_var="ATOMDATA_TEST_WEIGHTS", **kw)


@pytest.fixture
def http_folder(tmp_path):
    """(folder, base_url): a throw-away HTTP server on 127.0.0.1 serving ``folder``."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_spec_rejects_a_bad_hash():
    with pytest.raises(ValueError, match="64 hex digits"):
        WeightsSpec(name="x", filename="x.pt", sha256="abc")


def test_explicit_path_wins_and_is_checked(tmp_path, monkeypatch):
    good = tmp_path / "good.pt"
    good.write_bytes(b"good weights")
    spec = _spec(b"good weights")
    other = tmp_path / "other.pt"
    other.write_bytes(b"good weights")
    monkeypatch.setenv("ATOMDATA_TEST_WEIGHTS", str(other))
    got = resolve_weights(spec, good, download=False)
    assert (got.path, got.source, got.sha256) == (good, "explicit", spec.sha256)

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"something else")
    with pytest.raises(WeightsIntegrityError, match=f"sha256 {hashlib.sha256(b'something else').hexdigest()}, "
                                                    f"expected {spec.sha256}"):
        resolve_weights(spec, bad, download=False)
    assert bad.exists()  # a user's file is never deleted
    with pytest.raises(WeightsNotFoundError, match="not found at the explicit path.*ATOMDATA_TEST_WEIGHTS"):
        resolve_weights(spec, tmp_path / "missing.pt", download=False)


def test_environment_variable_then_cache(tmp_path, monkeypatch):
    spec = _spec(b"weights")
    env_file = tmp_path / "env.pt"
    env_file.write_bytes(b"weights")
    monkeypatch.setenv("ATOMDATA_TEST_WEIGHTS", str(env_file))
    assert resolve_weights(spec, download=False).source == "env"
    monkeypatch.setenv("ATOMDATA_TEST_WEIGHTS", str(tmp_path / "nope.pt"))
    with pytest.raises(WeightsNotFoundError, match="ATOMDATA_TEST_WEIGHTS=.*nope.pt does not point to a file"):
        resolve_weights(spec, download=False)

    monkeypatch.delenv("ATOMDATA_TEST_WEIGHTS")
    cached = weights_cache_dir() / "demo.pt"
    cached.write_bytes(b"weights")
    got = resolve_weights(spec, download=False)
    assert (got.path, got.source) == (cached, "cache")


def test_corrupt_cache_file_is_deleted(tmp_path):
    spec = _spec(b"weights")
    cached = weights_cache_dir() / "demo.pt"
    cached.write_bytes(b"truncated")
    with pytest.raises(WeightsIntegrityError, match="was deleted"):
        resolve_weights(spec, download=False)
    assert not cached.exists()


def test_nothing_found_says_how_to_supply_it():
    spec = _spec(b"x", url="https://example.invalid/demo.pt", how_to_obtain="Ask the authors.")
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(spec, download=False)
    message = str(info.value)
    for part in ("download=False", "weights=PATH", "ATOMDATA_TEST_WEIGHTS", "demo.pt",
                 "https://example.invalid/demo.pt", spec.sha256, "Ask the authors."):
        assert part in message


def test_download_of_the_published_weights_from_a_local_server(http_folder, shared_reference):
    folder, base = http_folder
    shutil.copy(shared_reference / PUBLISHED, folder / "cubic-best_weights.pt")
    from atomdata.models.ziatdinov import ZIATDINOV_CUBIC_WEIGHTS

    spec = WeightsSpec(**{**ZIATDINOV_CUBIC_WEIGHTS.__dict__, "url": f"{base}/cubic-best_weights.pt"})
    got = resolve_weights(spec)
    assert got.source == "download" and got.sha256 == ZIATDINOV_CUBIC_WEIGHTS.sha256
    assert got.path == weights_cache_dir() / ZIATDINOV_CUBIC_WEIGHTS.filename
    (folder / "cubic-best_weights.pt").unlink()  # the second call must not need the server
    assert resolve_weights(spec).source == "cache"
    state, meta = load_state_dict_file(got.path)
    assert "px.weight" in state and meta == {}


def test_download_with_the_wrong_hash_is_deleted_and_names_both_hashes(http_folder):
    folder, base = http_folder
    (folder / "demo.pt").write_bytes(b"tampered")
    spec = _spec(b"genuine", url=f"{base}/demo.pt")
    with pytest.raises(WeightsIntegrityError) as info:
        resolve_weights(spec)
    assert spec.sha256 in str(info.value)
    assert hashlib.sha256(b"tampered").hexdigest() in str(info.value)
    assert list(weights_cache_dir().iterdir()) == []


def test_download_failure_is_a_clear_not_found_error(http_folder):
    folder, base = http_folder
    spec = _spec(b"genuine", url=f"{base}/missing.pt")  # 404
    with pytest.raises(WeightsNotFoundError, match="could not download demo weights.*weights=PATH"):
        resolve_weights(spec)
    with socket.socket() as s:  # a port nobody listens on: the no-network case
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = _spec(b"genuine", url=f"http://127.0.0.1:{port}/demo.pt")
    with pytest.raises(WeightsNotFoundError, match="Without network, supply the file by hand"):
        resolve_weights(spec)
    assert list(weights_cache_dir().iterdir()) == []


def test_load_state_dict_file_forms(tmp_path):
    import torch

    plain = tmp_path / "plain.pt"
    torch.save({"module.w": torch.ones(2)}, plain)
    state, meta = load_state_dict_file(plain)
    assert list(state) == ["w"] and meta == {}
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"seed": 7}}, ckpt)
    assert load_state_dict_file(ckpt)[1] == {"seed": 7}
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(Exception, match="cannot read weights file"):
        load_state_dict_file(junk)


def _blocking_lookup(monkeypatch):
    """Name lookups that hang (a resolver without network that waits for its timeout)."""
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(30)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    return release


def test_offline_download_fails_within_the_connect_timeout_in_one_line(monkeypatch):
    import time

    import atomdata.models.weights as weights

    release = _blocking_lookup(monkeypatch)
    monkeypatch.setattr(weights, "CONNECT_TIMEOUT_S", 0.5)
    spec = _spec(b"genuine", url="https://weights.example.org/demo.pt")
    start = time.perf_counter()
    try:
        with pytest.raises(WeightsNotFoundError) as info:
            resolve_weights(spec)
    finally:
        release.set()
    assert time.perf_counter() - start < 3.0
    message = str(info.value)
    assert "\n" not in message
    assert "no answer from weights.example.org:443 within 0.5 s" in message
    assert "Without network, supply the file by hand" in message and "ATOMDATA_TEST_WEIGHTS" in message
    assert list(weights_cache_dir().iterdir()) == []


def test_unresolvable_host_is_named_and_no_network_traceback_is_chained(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    spec = _spec(b"genuine", url="https://weights.example.org/demo.pt")
    with pytest.raises(WeightsNotFoundError, match="cannot resolve the host name weights.example.org") as info:
        resolve_weights(spec)
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_configured_proxy_is_probed_instead_of_the_host(monkeypatch, http_folder):
    from atomdata.models.weights import unreachable_reason

    _, base = http_folder  # a live server stands in for the proxy; the host itself cannot be resolved
    monkeypatch.setenv("https_proxy", base)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert unreachable_reason("https://weights.invalid/demo.pt", timeout_s=2) is None
    monkeypatch.delenv("https_proxy")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    assert unreachable_reason("https://weights.invalid/demo.pt", timeout_s=2).startswith("cannot resolve")
