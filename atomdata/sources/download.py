"""HTTPS downloads into the cache: resumable, checksummed, atomic, bounded and safe between processes.

:func:`download` fetches one URL to one destination path:

1. a file lock beside the destination (:func:`atomdata.storage.file_lock`) serialises
   concurrent fetches of the same file by several processes: the second waits, then finds
   the verified file and returns it without downloading;
2. the bytes stream to a hidden partial file ``.<name>.part`` in the destination folder
   with a ``tqdm`` progress bar; after an interruption (the server cuts the connection, a
   read times out, the process is killed) the next attempt asks only for the missing bytes
   with an HTTP ``Range`` header;
3. the complete partial file's size and SHA-256 are checked and only then is it renamed to
   the destination (atomic); on a mismatch it is deleted and :class:`ChecksumError` names
   the file, the URL and both hashes.

Guards against a hostile or broken server: the stream stops as soon as it passes the
expected size (the registry's ``size_bytes``, else the size the server announced, else
``max_bytes``), so an endless body cannot fill the disk; ``max_time_s`` is an overall
deadline checked between reads (a server dripping bytes slower than any read timeout is cut
off); a resumed answer must start at the byte asked for; redirects may lead only to http(s)
URLs, never from https to http, and to another host only when a SHA-256 will vouch for the
bytes. Nothing is written through a symbolic link: a link found at the destination, the
partial file or the lock file is removed (the link, never its target).

Why no pooch here: pooch's ``retrieve`` checks a temporary file with a random name that a
process killed while hashing leaves behind forever; the partial file here is the only
temporary file, and the next call resumes or finishes it. Requests use ``urllib`` from the
standard library (http and https only).

Examples
--------
>>> from atomdata.sources.download import download
>>> path = download("https://data.materialsdatafacility.org/foundry/x/y.h5", "/tmp/y.h5",
...                 sha256="0" * 64)  # doctest: +SKIP
"""
from __future__ import annotations

import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

from atomdata.storage import ByteBudget, SizeLimitError, file_lock, sha256_file

__all__ = ["DownloadError", "ChecksumError", "download", "verify_file", "partial_path", "lock_path",
           "MAX_DOWNLOAD_BYTES"]

log = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 16
#: Largest download of unknown size [bytes] (when neither the caller nor the server gives one).
MAX_DOWNLOAD_BYTES = 16 << 30


class DownloadError(OSError):
    """A URL could not be downloaded (server down, HTTP error, too many interruptions, a refused answer)."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


class ChecksumError(ValueError):
    """A file's SHA-256 (or size) differs from the expected one."""


def partial_path(dest: os.PathLike | str) -> Path:
    """The hidden partial file of a download to ``dest``: ``<folder>/.<name>.part``."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.part"


def lock_path(dest: os.PathLike | str) -> Path:
    """The lock file guarding ``dest``: ``<folder>/.<name>.lock`` (left in place, empty)."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.lock"


def verify_file(path: os.PathLike | str, *, sha256: Optional[str] = None,
                size_bytes: Optional[int] = None) -> str:
    """Check a file's size and SHA-256; return its SHA-256 (hex).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ChecksumError
        Its size or SHA-256 differs from the given one (the message names both).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist")
    size = p.stat().st_size
    if size_bytes is not None and size != size_bytes:
        raise ChecksumError(f"{p}: size {size} bytes differs from the expected {size_bytes} bytes")
    digest = sha256_file(p)
    if sha256 is not None and digest != sha256:
        raise ChecksumError(f"{p}: SHA-256 {digest} differs from the expected {sha256}")
    return digest


def _drop_link(p: Path) -> None:
    if p.is_symlink():
        log.warning("removing the symbolic link %s (downloads never write through links)", p)
        p.unlink()


def download(
    url: str,
    dest: os.PathLike | str,
    *,
    sha256: Optional[str] = None,
    size_bytes: Optional[int] = None,
    progress: bool = True,
    timeout_s: float = 30.0,
    max_attempts: int = 5,
    retry_wait_s: float = 1.0,
    max_time_s: Optional[float] = None,
    lock_timeout_s: Optional[float] = None,
    max_bytes: Optional[int] = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming after interruptions and checking its SHA-256.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` URL.
    dest : path
        Destination file; its folder is created. An existing file with the expected
        SHA-256 (or any existing file when ``sha256`` is None) is returned untouched; one
        with another SHA-256 is deleted and downloaded again. A symbolic link there is
        removed (never followed).
    sha256 : str, optional
        Expected SHA-256 (hex). None skips the check (the computed hash is logged).
    size_bytes : int, optional
        Expected size [bytes]: checked before hashing, used to finish a resumed download,
        and the stream stops as soon as it passes it.
    progress : bool
        Show a ``tqdm`` progress bar.
    timeout_s : float
        Socket timeout of each connection and read [s]: a stalled server counts as an
        interruption.
    max_attempts : int
        Requests made at most (the first one plus resumptions). A refused connection or
        an unknown host name fails at once: nothing listens there, retrying will not help.
    retry_wait_s : float
        Wait before retry k is ``k * retry_wait_s`` [s], at most 10 s.
    max_time_s : float, optional
        Overall deadline [s]: checked between reads and before every new request; None:
        no overall limit.
    lock_timeout_s : float, optional
        Give up waiting for another process's download of the same file after this many
        seconds [s] (``TimeoutError``); None waits indefinitely.
    max_bytes : int, optional
        Largest file accepted when ``size_bytes`` is unknown [bytes] (default
        :data:`MAX_DOWNLOAD_BYTES`, 16 GiB).

    Returns
    -------
    Path
        ``dest``, holding the verified bytes.

    Raises
    ------
    DownloadError
        The server is unreachable, answers with an HTTP error or a refused redirect, sends
        more than the expected size, misses the deadline, or the download was cut more than
        ``max_attempts`` times. The message names the URL; after a cut the partial file is
        kept so that the next call resumes it.
    ChecksumError
        The downloaded bytes do not have the expected SHA-256 or size. The message names
        the file, the URL and both values; the downloaded bytes were deleted.
    ValueError
        ``url`` is not an http(s) URL.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http:// and https:// URLs can be downloaded, got {url!r}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    dest = Path(dest).expanduser()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest = dest.parent.resolve() / dest.name  # the folder may be a link; the file itself is never followed
    with file_lock(dest, timeout_s=lock_timeout_s, what="download of"):
        _drop_link(dest)
        if dest.exists():
            try:
                verify_file(dest, sha256=sha256, size_bytes=size_bytes)
                log.debug("%s is already present and verified", dest)
                return dest
            except ChecksumError as e:
                log.warning("deleting %s and downloading it again: %s", dest, e)
                dest.unlink()
        part = partial_path(dest)
        _drop_link(part)
        _Stream(url, dest, size_bytes=size_bytes, progress=progress, timeout_s=timeout_s,
                max_attempts=max_attempts, retry_wait_s=retry_wait_s, max_time_s=max_time_s,
                max_bytes=MAX_DOWNLOAD_BYTES if max_bytes is None else int(max_bytes),
                trusted_hash=sha256 is not None).run()
        size = part.stat().st_size
        digest = sha256_file(part) if size_bytes is None or size == size_bytes else None
        if digest is None or (sha256 is not None and digest != sha256):
            part.unlink(missing_ok=True)
            got = f"size {size} bytes does not match the expected {size_bytes} bytes" if digest is None else (
                f"SHA-256 {digest} does not match the expected {sha256}")
            raise ChecksumError(f"{dest.name} from {url}: {got}; the downloaded bytes were deleted")
        os.replace(part, dest)
        if sha256 is None:
            log.info("downloaded %s without a known checksum; its SHA-256 is %s", dest.name, digest)
    return dest


class _Incomplete(Exception):
    """A retryable interruption."""


class _Fatal(Exception):
    """A non-retryable failure (HTTP 4xx, a refused redirect, a size or deadline breach)."""


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s), never https -> http, and to another host only with a known hash."""

    def __init__(self, *, trusted_hash: bool):
        self.trusted_hash = trusted_hash

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if new.scheme not in ("http", "https"):
            raise _Fatal(f"the server redirected {req.full_url} to {newurl!r}; only http(s) redirects are followed")
        if old.scheme == "https" and new.scheme == "http":
            raise _Fatal(f"the server redirected {req.full_url} to plain http ({newurl}); refusing the downgrade")
        if new.hostname != old.hostname and not self.trusted_hash:
            raise _Fatal(f"the server redirected {req.full_url} to another host ({newurl}) and no SHA-256 is known "
                         "to check what it sends; refusing")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Stream:
    """Streams a URL into the ``.part`` file of ``dest``, resuming with HTTP Range after interruptions."""

    def __init__(self, url: str, dest: Path, *, size_bytes, progress, timeout_s, max_attempts, retry_wait_s,
                 max_time_s, max_bytes: int, trusted_hash: bool):
        self.url = url
        self.dest = dest
        self.part = partial_path(dest)
        self.size_bytes = size_bytes
        self.progress = progress
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_wait_s = retry_wait_s
        self.max_time_s = max_time_s
        self.max_bytes = max_bytes
        self.opener = urllib.request.build_opener(_Redirects(trusted_hash=trusted_hash))
        self.start = time.monotonic()

    def _left_s(self) -> Optional[float]:
        return None if self.max_time_s is None else self.max_time_s - (time.monotonic() - self.start)

    def run(self) -> None:
        attempt = 0
        while True:
            offset = self.part.stat().st_size if self.part.exists() else 0
            if self.size_bytes is not None and offset > self.size_bytes:
                log.warning("%s is larger than the expected %d bytes; restarting", self.part, self.size_bytes)
                self.part.unlink()
                offset = 0
            if self.size_bytes is not None and offset == self.size_bytes and offset > 0:
                return
            attempt += 1
            try:
                self._fetch(offset)
                return
            except SizeLimitError as e:  # the server sends more than it should: its bytes are not kept
                self.part.unlink(missing_ok=True)
                raise DownloadError(str(e), self.url) from None
            except _Fatal as e:
                raise DownloadError(str(e), self.url) from None
            except (OSError, http.client.HTTPException, _Incomplete) as e:
                if isinstance(getattr(e, "reason", None), _Fatal):  # raised inside urllib's redirect handling
                    raise DownloadError(str(e.reason), self.url) from None
                reason = _describe(e)
                cause = getattr(e, "reason", e)
                if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
                    # nothing listens there or the name does not resolve: retrying will not help
                    raise DownloadError(f"cannot download {self.url}: {reason}", self.url) from None
            if attempt >= self.max_attempts:
                raise DownloadError(
                    f"cannot download {self.url}: {reason} (gave up after {attempt} attempts)"
                    + (f"; the partial file {self.part} is kept and the next download resumes it"
                       if self.part.exists() else ""), self.url)
            left = self._left_s()
            if left is not None and left <= 0:
                raise DownloadError(
                    f"cannot download {self.url}: the deadline of {self.max_time_s} s passed "
                    f"({reason}, gave up after {time.monotonic() - self.start:.1f} s)", self.url)
            wait = min(self.retry_wait_s * attempt, 10.0, left if left is not None else 10.0)
            log.info("download of %s interrupted (%s); retry %d/%d in %.1f s",
                     self.url, reason, attempt + 1, self.max_attempts, wait)
            time.sleep(max(wait, 0.0))

    def _open(self, offset: int):
        from atomdata._version import __version__

        headers = {"User-Agent": f"atomdata/{__version__}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        left = self._left_s()
        timeout = self.timeout_s if left is None else max(0.1, min(self.timeout_s, left))
        try:
            return self.opener.open(urllib.request.Request(self.url, headers=headers), timeout=timeout)
        except _Fatal:
            raise
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:  # our partial file is not a prefix of the remote file
                log.warning("server refused to resume %s at byte %d; restarting", self.url, offset)
                self.part.unlink(missing_ok=True)
                raise _Incomplete("range not satisfiable") from None
            if e.code in (408, 429) or e.code >= 500:
                raise _Incomplete(f"HTTP {e.code} {e.reason}") from None
            raise _Fatal(f"cannot download {self.url}: HTTP {e.code} {e.reason}") from None

    def _expected_total(self, resp, offset: int) -> tuple[int, Optional[int], str]:
        """(offset to write at, total size the server announces or None, file mode)."""
        total = None
        if offset and resp.status == 206:
            content_range = resp.headers.get("Content-Range", "")
            first = content_range.split()[-1].split("-")[0] if content_range else ""
            if first != str(offset):
                self.part.unlink(missing_ok=True)
                raise _Incomplete(f"server resumed at {content_range!r}, not at byte {offset}")
            if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
                total = int(content_range.rsplit("/", 1)[1])
            return offset, total, "ab"
        if offset:
            log.info("server ignored the Range header for %s; downloading from the start", self.url)
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        return 0, total, "wb"

    def _fetch(self, offset: int) -> None:
        from tqdm.auto import tqdm

        resp = self._open(offset)
        with resp:
            offset, total, mode = self._expected_total(resp, offset)
            if self.size_bytes is not None and total is not None and total != self.size_bytes:
                raise _Fatal(f"the server announces {total} bytes for {self.url} but {self.size_bytes} bytes are "
                             "expected; refusing to download another file")
            limit = self.size_bytes if self.size_bytes is not None else (total if total is not None else self.max_bytes)
            budget = ByteBudget(limit, what=f"the download of {self.url}", used=offset,
                                hint="the server sends more than the expected size; nothing more is written")
            flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (
                os.O_APPEND if mode == "ab" else os.O_TRUNC)
            sock = getattr(getattr(resp.fp, "raw", None), "_sock", None)  # to shorten its timeout near the deadline
            fd = os.open(self.part, flags, 0o644)
            with os.fdopen(fd, "wb") as f, tqdm(
                total=limit if limit != self.max_bytes else None, initial=offset, unit="B", unit_scale=True,
                unit_divisor=1024, desc=self.dest.name, disable=not self.progress, leave=False,
            ) as bar:
                while True:
                    left = self._left_s()
                    if left is not None and left <= 0:
                        raise _Fatal(f"cannot download {self.url}: the deadline of {self.max_time_s} s passed after "
                                     f"{budget.used} bytes; the partial file {self.part} is kept")
                    if left is not None and sock is not None:
                        sock.settimeout(max(0.05, min(self.timeout_s, left)))
                    chunk = resp.read1(_CHUNK_BYTES)
                    if not chunk:
                        break
                    budget.take(len(chunk))
                    f.write(chunk)
                    bar.update(len(chunk))
        got = self.part.stat().st_size
        want = self.size_bytes if self.size_bytes is not None else total
        if want is not None and got < want:
            raise _Incomplete(f"connection closed after {got} of {want} bytes")


def _describe(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return f"{type(e.reason).__name__ if isinstance(e.reason, BaseException) else 'error'}: {e.reason}"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed early ({len(e.partial)} bytes in the last read, {e.expected} missing)"
    return f"{type(e).__name__}: {e}"
