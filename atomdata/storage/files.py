"""File utilities every writer uses: atomic replacement, checksums, folder locks, size guards.

* :class:`atomic_path` -- write to a hidden temporary file beside the target, rename on success;
  a run killed mid-write leaves only that temporary file, which :func:`remove_stale_temporaries`
  deletes the next time a process holds the folder's lock.
* :func:`folder_lock` / :func:`file_lock` -- one lock per output folder (or file) shared by every
  process that writes there (build, fetch, train, publish): a second process waits, then finds
  the work done. A folder is locked with ``flock`` on the folder itself (no lock file; where
  ``flock`` is missing, a ``.atomdata.lock`` file inside it); a file's lock is the empty file
  ``.<name>.lock`` beside it, left in place. The operating system releases a lock when its
  process dies, even by ``kill -9``.
* :func:`check_size` / :class:`ByteBudget` -- the one size guard: a declared or streamed size
  above its limit raises :class:`SizeLimitError` before the bytes are read or written.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

__all__ = [
    "atomic_path",
    "sha256_file",
    "LOCK_NAME",
    "folder_lock",
    "file_lock",
    "remove_stale_temporaries",
    "is_temporary",
    "SizeLimitError",
    "check_size",
    "ByteBudget",
]

log = logging.getLogger(__name__)

#: Name of the lock file inside a folder guarded by :func:`folder_lock` where ``flock`` is unavailable.
LOCK_NAME = ".atomdata.lock"
#: Names of atomic_path's temporary files: ``.<name>.<random characters>.tmp[<suffix>]``.
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{4,}\.tmp[^/]*$")


class atomic_path:
    """Context manager yielding a temporary path beside ``path``; renamed to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched. A
    symbolic link at ``path`` is replaced by the file (never written through).
    """

    def __init__(self, path, suffix: str = ""):
        self.path = Path(path)
        self.suffix = suffix

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=f".tmp{self.suffix}", dir=self.path.parent
        )
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def is_temporary(name: str) -> bool:
    """True for the names of :class:`atomic_path`'s temporary files (``.<name>.<random>.tmp...``).

    Examples
    --------
    >>> is_temporary(".test.h5.k2j_8xq1.tmp"), is_temporary("test.h5")
    (True, False)
    """
    return bool(_TEMPORARY.match(name))


def remove_stale_temporaries(folder, *, of: Optional[str] = None) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (only :class:`atomic_path`'s names).

    Call it only while holding the folder's lock (:func:`folder_lock`), or the lock of file ``of``
    (:func:`file_lock`; then only that file's temporaries are deleted): a running writer's
    temporary file must not be removed. Symbolic links with such names are removed as links.
    Returns the deleted paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.iterdir():
        if is_temporary(p.name) and (of is None or p.name.startswith(f".{of}.")):
            if p.is_dir() and not p.is_symlink():
                continue
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        log.info("removed %d temporary file(s) of an interrupted run in %s", len(removed), folder)
    return removed


def sha256_file(path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk_bytes)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


# -- locks ------------------------------------------------------------------------------------------
_held: dict[tuple[int, str], int] = {}
_held_guard = threading.Lock()


def _refuse_while_bootstrapping() -> None:
    """A process being started by multiprocessing (spawn) re-runs an unguarded script: never wait for a lock there.

    Its parent holds the lock and waits for this process to start, so waiting would hang both;
    raise the error multiprocessing itself gives for that mistake instead.
    """
    from multiprocessing import process

    if getattr(process.current_process(), "_inheriting", False):
        raise RuntimeError("a folder lock was requested while multiprocessing is starting this process (spawn): "
                           "the script's main code runs again in every worker process. Guard it with "
                           "`if __name__ == '__main__':`")


@contextmanager
def _reentrant(key: str) -> Iterator[bool]:
    """Yields True when this process already holds lock ``key`` (a nested call), counting the nesting."""
    _refuse_while_bootstrapping()
    k = (os.getpid(), key)
    with _held_guard:
        nested = k in _held
        _held[k] = _held.get(k, 0) + 1
    try:
        yield nested
    finally:
        with _held_guard:
            _held[k] -= 1
            if not _held[k]:
                del _held[k]


def _timeout_error(where, what: str, timeout_s) -> TimeoutError:
    return TimeoutError(f"another atomdata process holds the lock of {where} ({what}) for more than {timeout_s} s; "
                        "wait for it to finish or stop it")


@contextmanager
def _file_lock(lock_file: Path, *, timeout_s: Optional[float], what: str) -> Iterator[None]:
    import filelock

    if lock_file.is_symlink():  # never open a lock through a link: it could create or truncate a file elsewhere
        log.warning("removing the symbolic link %s (a lock file must be a plain file)", lock_file)
        lock_file.unlink()
    lock = filelock.FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log.warning("waiting for another atomdata process (%s; lock %s)", what, lock_file)
        try:
            lock.acquire(timeout=-1 if timeout_s is None else timeout_s)
        except filelock.Timeout:
            raise _timeout_error(lock_file, what, timeout_s) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _dir_flock(folder: Path, *, timeout_s: Optional[float], what: str) -> Iterator[None]:
    import fcntl

    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        start = time.monotonic()
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log.warning("waiting for another atomdata process (%s)", what)
                    waited = True
                if timeout_s is not None and time.monotonic() - start > timeout_s:
                    raise _timeout_error(folder, what, timeout_s) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def folder_lock(folder, *, timeout_s: Optional[float] = None, what: str = "writing") -> Iterator[Path]:
    """Hold the lock of output folder ``folder`` (created if missing): one writer at a time.

    Every process that writes into a folder (``atomdata build``, ``fetch``, ``train``,
    ``publish``) holds this lock, so a second run into the same folder waits for the first
    and then finds its work done instead of racing it. Re-entrant within one process. The
    lock is ``flock`` on the folder itself, so no file is added to it.

    Parameters
    ----------
    folder : path-like
        The folder.
    timeout_s : float, optional
        Give up waiting after this many seconds [s] (``TimeoutError``); None waits.
    what : str
        What the lock guards, for the "waiting" message.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _reentrant(f"dir:{folder.resolve()}") as nested:
        if nested:
            yield folder
            return
        try:
            import fcntl  # noqa: F401
        except ImportError:  # pragma: no cover - not POSIX
            with _file_lock(folder / LOCK_NAME, timeout_s=timeout_s, what=f"{what} in {folder}"):
                yield folder
            return
        with _dir_flock(folder, timeout_s=timeout_s, what=f"{what} in {folder}"):
            yield folder


@contextmanager
def file_lock(path, *, timeout_s: Optional[float] = None, what: str = "writing") -> Iterator[Path]:
    """Hold the lock of one output file ``path``: ``<folder>/.<name>.lock`` (empty, left in place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = path.parent / f".{path.name}.lock"
    with _reentrant(f"file:{lock_file.absolute()}") as nested:
        if nested:
            yield path
            return
        with _file_lock(lock_file, timeout_s=timeout_s, what=f"{what} {path}"):
            yield path


# -- size guard -------------------------------------------------------------------------------------
class SizeLimitError(ValueError):
    """Data is (or declares itself) larger than the limit set for it."""


def _fmt_bytes(n: int) -> str:
    return f"{n} bytes" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB ({n} bytes)"


def check_size(n_bytes: int, *, limit_bytes: int, what: str, hint: str = "") -> int:
    """Return ``n_bytes`` if it is at most ``limit_bytes``, else raise :class:`SizeLimitError` naming ``what``.

    Examples
    --------
    >>> check_size(10, limit_bytes=100, what="predictions")
    10
    """
    if n_bytes > limit_bytes:
        raise SizeLimitError(f"{what} is {_fmt_bytes(int(n_bytes))}, more than the limit of "
                             f"{_fmt_bytes(int(limit_bytes))}{'; ' + hint if hint else ''}")
    return int(n_bytes)


class ByteBudget:
    """Counts bytes as they stream (or as arrays declare them) and stops at ``limit_bytes``.

    Examples
    --------
    >>> b = ByteBudget(100, what="download of x")
    >>> b.take(60), b.used
    (60, 60)
    >>> b.take(60)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    atomdata.storage.files.SizeLimitError: download of x is 120 bytes, more than the limit of 100 bytes...
    """

    def __init__(self, limit_bytes: int, *, what: str, hint: str = "", used: int = 0):
        self.limit_bytes = int(limit_bytes)
        self.what = what
        self.hint = hint
        self.used = int(used)

    def take(self, n_bytes: int) -> int:
        """Add ``n_bytes``; raise :class:`SizeLimitError` when the total passes the limit."""
        self.used += int(n_bytes)
        check_size(self.used, limit_bytes=self.limit_bytes, what=self.what, hint=self.hint)
        return int(n_bytes)
