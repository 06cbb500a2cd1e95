"""HTTPS download path against a real HTTP server on 127.0.0.1 (see local_http.py)."""
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from local_http import FileServer, dead_url

from atomdata.sources.download import ChecksumError, DownloadError, download, partial_path

REPO = Path(__file__).resolve().parents[1]
# every request loop is bounded: few attempts, short waits and timeouts
FAST = dict(progress=False, timeout_s=5.0, retry_wait_s=0.01, max_attempts=4, max_time_s=30.0)


def _payload(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` other than ``keep`` and lock files (partial/temporary files would show here)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep and not p.name.endswith(".lock"))


def test_plain_download_is_byte_identical(tmp_path):
    data = _payload(200_000)
    with FileServer({"/d/a.h5": data}) as srv:
        out = download(srv.url("/d/a.h5"), tmp_path / "cache" / "a.h5", sha256=_sha(data), size_bytes=len(data), **FAST)
        assert out.read_bytes() == data
        assert srv.gets("/d/a.h5") == [None]
        # a second call finds the verified file and makes no request
        download(srv.url("/d/a.h5"), out, sha256=_sha(data), **FAST)
        assert len(srv.gets("/d/a.h5")) == 1
    assert _leftovers(out.parent, {"a.h5"}) == []


def test_resume_after_cut_uses_range_and_is_identical(tmp_path):
    data = _payload(300_000, seed=1)
    cut = 123_457
    with FileServer({"/a.h5": data}) as srv:
        srv.cut_at["/a.h5"] = (cut, 1)
        out = download(srv.url("/a.h5"), tmp_path / "a.h5", sha256=_sha(data), **FAST)
        ranges = srv.gets("/a.h5")
    assert out.read_bytes() == data
    assert len(ranges) == 2
    assert ranges[0] is None
    # the second request asks exactly for the missing bytes (what reached the disk before the cut)
    assert ranges[1] is not None and ranges[1].startswith("bytes=")
    resumed_at = int(ranges[1][len("bytes="):].rstrip("-"))
    assert 0 < resumed_at <= cut
    assert _leftovers(tmp_path, {"a.h5"}) == []


def test_resume_across_calls_keeps_partial_file(tmp_path):
    """A download that gives up keeps its .part file; the next call resumes it with Range."""
    data = _payload(250_000, seed=2)
    with FileServer({"/a.h5": data}) as srv:
        srv.cut_at["/a.h5"] = (100_000, 1)
        with pytest.raises(DownloadError, match=r"127\.0\.0\.1.*/a\.h5.*partial file"):
            download(srv.url("/a.h5"), tmp_path / "a.h5", sha256=_sha(data), **{**FAST, "max_attempts": 1})
        part = partial_path(tmp_path / "a.h5")
        kept = part.stat().st_size
        assert 0 < kept <= 100_000
        assert not (tmp_path / "a.h5").exists()
        out = download(srv.url("/a.h5"), tmp_path / "a.h5", sha256=_sha(data), **FAST)
        assert srv.gets("/a.h5") == [None, f"bytes={kept}-"]
    assert out.read_bytes() == data
    assert not part.exists()


def test_server_ignoring_range_restarts_cleanly(tmp_path):
    data = _payload(150_000, seed=3)
    with FileServer({"/a.h5": data}, ranges=False) as srv:
        srv.cut_at["/a.h5"] = (60_000, 1)
        out = download(srv.url("/a.h5"), tmp_path / "a.h5", sha256=_sha(data), **FAST)
        assert len(srv.gets("/a.h5")) == 2
    assert out.read_bytes() == data


def test_wrong_checksum_leaves_cache_clean(tmp_path):
    data = _payload(100_000, seed=4)
    wrong = _sha(b"something else")
    cache = tmp_path / "cache"
    with FileServer({"/a.h5": data}) as srv:
        with pytest.raises(ChecksumError) as info:
            download(srv.url("/a.h5"), cache / "a.h5", sha256=wrong, **FAST)
    msg = str(info.value)
    assert "a.h5" in msg and wrong in msg and _sha(data) in msg
    assert "deleted" in msg.lower()
    assert not (cache / "a.h5").exists()
    assert _leftovers(cache, set()) == []


def test_corrupt_cached_file_is_replaced(tmp_path):
    data = _payload(50_000, seed=5)
    dest = tmp_path / "a.h5"
    dest.write_bytes(data[:-1] + b"\x00")
    with FileServer({"/a.h5": data}) as srv:
        download(srv.url("/a.h5"), dest, sha256=_sha(data), **FAST)
        assert len(srv.gets("/a.h5")) == 1
    assert dest.read_bytes() == data


def test_server_down_names_url(tmp_path):
    url = dead_url("/gone/a.h5")
    with pytest.raises(DownloadError, match=r"cannot download http://127\.0\.0\.1:\d+/gone/a\.h5") as info:
        download(url, tmp_path / "a.h5", **{**FAST, "max_attempts": 2})
    assert info.value.url == url
    assert _leftovers(tmp_path, set()) == []


def test_http_404_fails_at_once(tmp_path):
    with FileServer({}) as srv:
        with pytest.raises(DownloadError, match=r"HTTP 404.*|.*404"):
            download(srv.url("/missing.h5"), tmp_path / "m.h5", **FAST)
        assert len(srv.gets("/missing.h5")) == 1


def test_rejects_non_http_url(tmp_path):
    with pytest.raises(ValueError, match="only http:// and https://"):
        download("file:///etc/passwd", tmp_path / "x", progress=False)


def test_two_processes_fetch_one_file_safely(tmp_path):
    """Two processes download the same file at once: one download, no corruption."""
    data = _payload(256 * 1024, seed=6)
    dest = tmp_path / "cache" / "a.h5"
    script = textwrap.dedent(
        """
        import sys
        from atomdata.sources.download import download
        download(sys.argv[1], sys.argv[2], sha256=sys.argv[3], progress=False, timeout_s=10,
                 retry_wait_s=0.05, max_attempts=3, max_time_s=60, lock_timeout_s=60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with FileServer({"/a.h5": data}, throttle_s=0.01) as srv:  # ~0.6 s per download
        procs = [
            subprocess.Popen([sys.executable, "-c", script, srv.url("/a.h5"), str(dest), _sha(data)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, err.decode()
        # the lock made the second process wait and reuse the verified file
        assert len(srv.gets("/a.h5")) == 1
    assert dest.read_bytes() == data
    assert _leftovers(dest.parent, {"a.h5"}) == []
