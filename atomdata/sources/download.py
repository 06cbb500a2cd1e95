"""HTTPS downloads into the cache: resumable, checksummed, atomic and safe between processes.

:func:`download` fetches one URL to one destination path:

1. a file lock (``filelock``) beside the destination serialises concurrent fetches of the
   same file by several processes: the second waits, then finds the verified file and
   returns it without downloading;
2. the bytes stream to a hidden partial file ``.<name>.part`` in the destination folder
   with a ``tqdm`` progress bar; after an interruption (the server cuts the connection, a
   read times out, the process is killed) the next attempt asks only for the missing bytes
   with an HTTP ``Range`` header;
3. the complete file is handed to :func:`pooch.retrieve`, which checks its SHA-256 and
   moves it into place atomically only if it matches; on a mismatch the temporary file
   is deleted and :class:`ChecksumError` names the file, the URL and both hashes.

Why pooch plus a custom downloader: pooch already does the checksum-then-atomic-move and
the clean-up of its temporary file on any failure, and accepts a downloader callable.
Its own ``HTTPDownloader`` restarts from zero and pooch deletes its random temporary file
when a download fails, so resuming needs a partial file that outlives a failed call; the
downloader here keeps that ``.part`` file and moves it into pooch's temporary file only
when it is complete. Requests use ``urllib`` from the standard library (http and https only).

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
import urllib.request
from pathlib import Path
from typing import Optional

__all__ = ["DownloadError", "ChecksumError", "download", "verify_file", "partial_path", "lock_path"]

log = logging.getLogger(__name__)

_CHUNK_BYTES = 1 << 16


class DownloadError(OSError):
    """A URL could not be downloaded (server down, HTTP error, too many interruptions)."""

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
    from atomdata.storage import sha256_file

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
) -> Path:
    """Download ``url`` to ``dest``, resuming after interruptions and checking its SHA-256.

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` URL.
    dest : path
        Destination file; its folder is created. An existing file with the expected
        SHA-256 (or any existing file when ``sha256`` is None) is returned untouched; one
        with another SHA-256 is deleted and downloaded again.
    sha256 : str, optional
        Expected SHA-256 (hex). None skips the check (the computed hash is logged).
    size_bytes : int, optional
        Expected size [bytes], checked before hashing and used to finish a resumed download.
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
        No new request starts after this many seconds [s]; None: no overall limit.
    lock_timeout_s : float, optional
        Give up waiting for another process's download of the same file after this many
        seconds [s] (``filelock.Timeout``); None waits indefinitely.

    Returns
    -------
    Path
        ``dest``, holding the verified bytes.

    Raises
    ------
    DownloadError
        The server is unreachable, answers with an HTTP error, or the download was cut
        more than ``max_attempts`` times. The message names the URL; a partial file is
        kept so that the next call resumes it.
    ChecksumError
        The downloaded bytes do not have the expected SHA-256 or size. The message names
        the file, the URL and both values; the downloaded bytes were deleted.
    ValueError
        ``url`` is not an http(s) URL.
    """
    import filelock
    import pooch

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http:// and https:// URLs can be downloaded, got {url!r}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    dest = Path(dest).expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(lock_path(dest)), timeout=-1 if lock_timeout_s is None else lock_timeout_s):
        if dest.exists():
            try:
                verify_file(dest, sha256=sha256, size_bytes=size_bytes)
                log.debug("%s is already present and verified", dest)
                return dest
            except ChecksumError as e:
                log.warning("deleting %s and downloading it again: %s", dest, e)
                dest.unlink()
        downloader = _RangeResumeDownloader(
            dest, size_bytes=size_bytes, progress=progress, timeout_s=timeout_s,
            max_attempts=max_attempts, retry_wait_s=retry_wait_s, max_time_s=max_time_s,
        )
        try:
            pooch.retrieve(url, known_hash=sha256, fname=dest.name, path=dest.parent,
                           downloader=downloader, progressbar=False)
        except ChecksumError:
            raise
        except ValueError as e:  # pooch's hash mismatch: its temporary file is already deleted
            raise ChecksumError(f"{e} (URL {url}; the downloaded bytes were deleted)") from e
        if sha256 is None:
            from atomdata.storage import sha256_file

            log.info("downloaded %s without a known checksum; its SHA-256 is %s", dest.name, sha256_file(dest))
    return dest


class _RangeResumeDownloader:
    """A pooch downloader that streams into a persistent ``.part`` file and resumes with HTTP Range."""

    def __init__(self, dest: Path, *, size_bytes, progress, timeout_s, max_attempts, retry_wait_s, max_time_s):
        self.dest = dest
        self.part = partial_path(dest)
        self.size_bytes = size_bytes
        self.progress = progress
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_wait_s = retry_wait_s
        self.max_time_s = max_time_s

    def __call__(self, url: str, output_file, pooch_obj=None, check_only: bool = False):
        if check_only:  # pooch asks whether the URL exists; not used by download()
            return True
        start = time.monotonic()
        attempt = 0
        while True:
            offset = self.part.stat().st_size if self.part.exists() else 0
            if self.size_bytes is not None and offset > self.size_bytes:
                log.warning("%s is larger than the expected %d bytes; restarting", self.part, self.size_bytes)
                self.part.unlink()
                offset = 0
            if self.size_bytes is not None and offset == self.size_bytes and offset > 0:
                break
            attempt += 1
            try:
                self._fetch(url, offset)
                break
            except _Fatal as e:
                raise DownloadError(str(e), url) from None
            except (OSError, http.client.HTTPException, _Incomplete) as e:
                reason = _describe(e)
                cause = getattr(e, "reason", e)
                if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
                    # nothing listens there or the name does not resolve: retrying will not help
                    raise DownloadError(f"cannot download {url}: {reason}", url) from None
            if attempt >= self.max_attempts:
                raise DownloadError(
                    f"cannot download {url}: {reason} (gave up after {attempt} attempts)"
                    + (f"; the partial file {self.part} is kept and the next download resumes it"
                       if self.part.exists() else ""), url)
            elapsed = time.monotonic() - start
            if self.max_time_s is not None and elapsed >= self.max_time_s:
                raise DownloadError(
                    f"cannot download {url}: {reason} (gave up after {elapsed:.1f} s, the limit is "
                    f"{self.max_time_s} s)", url)
            wait = min(self.retry_wait_s * attempt, 10.0)
            log.info("download of %s interrupted (%s); retry %d/%d in %.1f s",
                     url, reason, attempt + 1, self.max_attempts, wait)
            time.sleep(wait)
        os.replace(self.part, output_file)

    def _fetch(self, url: str, offset: int) -> None:
        from tqdm.auto import tqdm

        from atomdata._version import __version__

        headers = {"User-Agent": f"atomdata/{__version__}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self.timeout_s)
        except urllib.error.HTTPError as e:
            if e.code == 416 and offset:  # our partial file is not a prefix of the remote file
                log.warning("server refused to resume %s at byte %d; restarting", url, offset)
                self.part.unlink(missing_ok=True)
                raise _Incomplete("range not satisfiable") from None
            if e.code in (408, 429) or e.code >= 500:
                raise _Incomplete(f"HTTP {e.code} {e.reason}") from None
            raise _Fatal(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
        with resp:
            total = None
            if offset and resp.status == 206:
                content_range = resp.headers.get("Content-Range", "")
                first = content_range.split()[-1].split("-")[0] if content_range else ""
                if first != str(offset):
                    self.part.unlink(missing_ok=True)
                    raise _Incomplete(f"server resumed at {content_range!r}, not at byte {offset}")
                if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
                    total = int(content_range.rsplit("/", 1)[1])
                mode = "ab"
            else:
                if offset:
                    log.info("server ignored the Range header for %s; downloading from the start", url)
                offset = 0
                mode = "wb"
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            total = self.size_bytes if total is None else total
            with open(self.part, mode) as f, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=self.dest.name, disable=not self.progress, leave=False,
            ) as bar:
                while True:
                    chunk = resp.read(_CHUNK_BYTES)
                    if not chunk:
                        break
                    f.write(chunk)
                    bar.update(len(chunk))
        got = self.part.stat().st_size
        if total is not None and got < total:
            raise _Incomplete(f"connection closed after {got} of {total} bytes")


class _Incomplete(Exception):
    """A retryable interruption."""


class _Fatal(Exception):
    """A non-retryable failure (HTTP 4xx)."""


def _describe(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return f"{type(e.reason).__name__ if isinstance(e.reason, BaseException) else 'error'}: {e.reason}"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed early ({len(e.partial)} bytes in the last read, {e.expected} missing)"
    return f"{type(e).__name__}: {e}"
