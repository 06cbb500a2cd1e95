"""Robustness: downloads from a hostile HTTP server on 127.0.0.1 (tests/hostile_http.py).

Cuts, lies about ranges and sizes, wrong bytes, endless bodies, redirects to other schemes and
hosts, a slow drip under the read timeout: every case ends either with the exact bytes or with a
DownloadError/ChecksumError naming the URL, within its deadline, with nothing written past the
expected size and no stray file in the cache.
"""
from __future__ import annotations

import hashlib
import time
import urllib.request

import numpy as np
import pytest
from hostile_http import (
    HostileServer,
    cut_once,
    drip,
    endless,
    honest,
    lying_range,
    other_size,
    redirect,
    wrong_resume_start,
)
from robust import stray, tally

from atomdata.sources.download import ChecksumError, DownloadError, download, partial_path

BODY = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
SHA = hashlib.sha256(BODY).hexdigest()
FAST = dict(progress=False, timeout_s=3.0, retry_wait_s=0.01, max_attempts=3, max_time_s=30.0)


def _fetch(srv, path, dest, **kw):
    return download(srv.url(path), dest, **{**FAST, "sha256": SHA, "size_bytes": len(BODY), **kw})


@pytest.mark.parametrize("route", ["cut", "wrong-resume-start", "honest"])
def test_interrupted_or_misbehaving_resumes_end_with_exact_bytes(tmp_path, route):
    behaviour = {"cut": cut_once(BODY, 70_001), "wrong-resume-start": wrong_resume_start(BODY),
                 "honest": honest(BODY)}[route]
    with HostileServer({"/f": behaviour}) as srv:
        out = _fetch(srv, "/f", tmp_path / "f.h5")
    tally("http")
    assert out.read_bytes() == BODY and stray(tmp_path) == []


def test_lying_range_gives_wrong_bytes_that_are_deleted(tmp_path):
    with HostileServer({"/f": lying_range(BODY, 1000)}) as srv:
        with pytest.raises(ChecksumError, match=r"f\.h5 from http://127\.0\.0\.1:\d+/f: SHA-256 .* deleted"):
            _fetch(srv, "/f", tmp_path / "f.h5")
        assert len(srv.gets("/f")) == 2 and srv.gets("/f")[1] is not None  # it did resume
    tally("http")
    assert list(tmp_path.iterdir()) == [tmp_path / ".f.h5.lock"]


def test_wrong_bytes_are_deleted(tmp_path):
    bad = bytes(b ^ 1 for b in BODY)
    with HostileServer({"/f": honest(bad)}) as srv:
        with pytest.raises(ChecksumError, match="does not match the expected"):
            _fetch(srv, "/f", tmp_path / "f.h5")
    tally("http")
    assert not (tmp_path / "f.h5").exists() and stray(tmp_path) == []


def test_a_server_announcing_another_size_is_refused_at_once(tmp_path):
    with HostileServer({"/f": other_size(BODY + b"extra", len(BODY) + 5)}) as srv:
        with pytest.raises(DownloadError, match=r"announces 200005 bytes .* 200000 bytes are expected"):
            _fetch(srv, "/f", tmp_path / "f.h5")
        assert len(srv.gets("/f")) == 1
    tally("http")
    assert stray(tmp_path) == []


@pytest.mark.parametrize("known", ["registry size", "content-length lie", "nothing"])
def test_endless_bodies_stop_at_the_expected_size(tmp_path, known):
    kw = {"registry size": {}, "content-length lie": {"size_bytes": None},
          "nothing": {"size_bytes": None, "sha256": None, "max_bytes": 1_000_000}}[known]
    route = endless(content_length=len(BODY)) if known == "content-length lie" else endless()
    t0 = time.monotonic()
    with HostileServer({"/f": route}) as srv:
        try:
            _fetch(srv, "/f", tmp_path / "f.h5", **kw)
            raise AssertionError("an endless body was accepted")
        except (DownloadError, ChecksumError) as e:
            msg = str(e)
    tally("http")
    assert time.monotonic() - t0 < 20
    part = partial_path(tmp_path / "f.h5")
    written = part.stat().st_size if part.exists() else 0
    assert written <= (1_000_000 if known == "nothing" else len(BODY))
    assert "more than the limit" in msg or "does not match" in msg, msg
    assert not (tmp_path / "f.h5").exists()


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/f", "file:///etc/passwd", "data:,hello",
                                    "http://localhost:{port}/g"])
def test_redirects_to_other_schemes_or_unverified_hosts_are_refused(tmp_path, target):
    with HostileServer({"/f": redirect(target), "/g": honest(BODY)}) as srv:
        with pytest.raises(DownloadError, match=r"(?i)redirect"):
            _fetch(srv, "/f", tmp_path / "f.h5", sha256=None)
        assert srv.gets("/g") == []
    tally("http")
    assert not (tmp_path / "f.h5").exists() and stray(tmp_path) == []


def test_redirect_to_another_host_is_followed_when_a_checksum_vouches(tmp_path):
    with HostileServer({"/f": redirect("http://localhost:{port}/g"), "/g": honest(BODY)}) as srv:
        out = _fetch(srv, "/f", tmp_path / "f.h5")
    tally("http")
    assert out.read_bytes() == BODY


def test_https_to_http_downgrade_is_refused():
    from atomdata.sources.download import _Fatal, _Redirects

    req = urllib.request.Request("https://data.example.org/f")
    tally("http")
    with pytest.raises(_Fatal, match="downgrade"):
        _Redirects(trusted_hash=True).redirect_request(req, None, 302, "Found", {}, "http://data.example.org/f")


def test_slow_drip_is_cut_at_the_overall_deadline(tmp_path):
    with HostileServer({"/f": drip(BODY, 0.05)}) as srv:  # ~3 h for the whole body, 20 bytes a second
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match=r"deadline of 1\.5 s passed"):
            _fetch(srv, "/f", tmp_path / "f.h5", max_time_s=1.5, timeout_s=30.0)
        elapsed = time.monotonic() - t0
    tally("http")
    assert elapsed < 5.0, elapsed
    assert 0 < partial_path(tmp_path / "f.h5").stat().st_size < 200  # kept: a later call resumes it


def test_stalled_server_times_out_and_gives_up(tmp_path):
    with HostileServer({"/f": drip(BODY[:10], 100.0)}) as srv:  # one byte, then silence
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match="gave up"):
            _fetch(srv, "/f", tmp_path / "f.h5", timeout_s=0.5, max_attempts=2, size_bytes=None, sha256=None)
    tally("http")
    assert time.monotonic() - t0 < 10
