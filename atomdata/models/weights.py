"""Finding model weights: explicit path, environment variable, user cache, pinned download.

Every model that needs a weights file describes it once with a :class:`WeightsSpec`
(file name, pinned SHA-256, public URL, environment variable).  :func:`resolve_weights`
then looks for the file, in this order, and stops at the first hit:

1. an explicit path passed by the caller (``weights=...``);
2. the path in the spec's environment variable (e.g. ``ATOMDATA_ZIATDINOV_WEIGHTS``);
3. the user cache, ``atomdata.storage.cache_dir() / "weights" / spec.filename``;
4. a download from ``spec.url`` with :mod:`pooch`, into the cache.

When the spec pins a SHA-256, the file is checked at every step and a different file is never
used silently: an explicit or environment path with the wrong hash raises (the user's file is
left alone), a cached file with the wrong hash is deleted and fetched again, and a download with
the wrong hash is deleted by pooch before the error is raised.  Without network, the error says
how to supply the file by hand, in one line and within seconds: before pooch starts, the download
host (or the configured proxy) must answer a TCP connection within :data:`CONNECT_TIMEOUT_S`.
Nothing here touches the network unless step 4 is reached.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from atomdata.storage import sha256_file
from atomdata.storage.paths import cache_dir

__all__ = [
    "WeightsSpec",
    "ResolvedWeights",
    "WeightsError",
    "WeightsNotFoundError",
    "WeightsIntegrityError",
    "weights_cache_dir",
    "resolve_weights",
    "unreachable_reason",
    "CONNECT_TIMEOUT_S",
    "READ_TIMEOUT_S",
    "load_state_dict_file",
]


#: Longest wait [s] for the download host to accept a connection (name lookup included) before
#: the download is given up as "no network".
CONNECT_TIMEOUT_S = 5.0
#: Longest silence [s] of a started download before it fails instead of hanging.
READ_TIMEOUT_S = 60.0


class WeightsError(RuntimeError):
    """Base class of the errors raised while resolving a weights file."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """No weights file could be found or downloaded; the message says how to supply one."""


class WeightsIntegrityError(WeightsError, ValueError):
    """A weights file's SHA-256 differs from the pinned one; the message names both hashes."""


@dataclass(frozen=True)
class WeightsSpec:
    """Identity of one weights file.

    Parameters
    ----------
    name : str
        Short name used in messages (e.g. ``"ziatdinov-atomnet-cubic"``).
    filename : str
        File name inside the cache folder ``<cache>/weights/``.
    sha256 : str or None
        Pinned SHA-256 (64 hex digits).  ``None`` accepts any file (used for weights the
        project trains itself, whose hash is recorded in ``describe()`` instead).
    url : str or None
        Public download URL of exactly these bytes; ``None`` when there is none.
    env_var : str or None
        Environment variable that may hold a path to the file.
    how_to_obtain : str
        One sentence telling a user how to get the file when it cannot be found.
    """

    name: str
    filename: str
    sha256: Optional[str] = None
    url: Optional[str] = None
    env_var: Optional[str] = None
    how_to_obtain: str = ""

    def __post_init__(self):
        if self.sha256 is not None:
            digest = self.sha256.lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"WeightsSpec.sha256 must be 64 hex digits, got {self.sha256!r}")
            object.__setattr__(self, "sha256", digest)


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a weights file was found: ``path``, its ``sha256``, and ``source``.

    ``source`` is one of ``"explicit"``, ``"env"``, ``"cache"``, ``"download"``; ``url`` is the
    spec's public URL (the file's origin even when it was found locally).
    """

    path: Path
    sha256: str
    source: str
    url: Optional[str] = None

    def as_dict(self) -> dict:
        """JSON-friendly form, used by ``Locator.describe()``."""
        return {"path": str(self.path), "sha256": self.sha256, "source": self.source, "url": self.url}


def weights_cache_dir(root=None) -> Path:
    """The weights folder of the atomdata cache, ``cache_dir(root) / "weights"`` (created)."""
    path = cache_dir(root) / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _manual_hint(spec: WeightsSpec, cache_file: Path) -> str:
    ways = ["pass weights=PATH"]
    if spec.env_var:
        ways.append(f"set {spec.env_var}=PATH")
    ways.append(f"copy the file to {cache_file}")
    hint = "; ".join(ways)
    if spec.url:
        hint += f" (download it from {spec.url}"
        hint += f", sha256 {spec.sha256})" if spec.sha256 else ")"
    if spec.how_to_obtain:
        hint += f". {spec.how_to_obtain}"
    return hint


def _check(path: Path, spec: WeightsSpec, where: str) -> str:
    """SHA-256 of ``path``; raises WeightsIntegrityError when the spec pins another one."""
    digest = sha256_file(path)
    if spec.sha256 is not None and digest != spec.sha256:
        raise WeightsIntegrityError(
            f"{spec.name} weights from {where} ({path}) have sha256 {digest}, expected {spec.sha256}. "
            "The file was left in place; supply the published file or remove that setting."
        )
    return digest


def resolve_weights(
    spec: WeightsSpec,
    path: Optional[os.PathLike | str] = None,
    *,
    cache_root: Optional[os.PathLike | str] = None,
    download: bool = True,
    progress: bool = False,
) -> ResolvedWeights:
    """Find (or download) the weights file described by ``spec``.

    Parameters
    ----------
    spec : WeightsSpec
        The file to find.
    path : path-like, optional
        Explicit path; when given, it is the only place looked at.
    cache_root : path-like, optional
        Cache root instead of ``ATOMDATA_CACHE`` / the platform cache.
    download : bool
        Allow step 4 (download from ``spec.url``).  ``False`` never touches the network.
    progress : bool
        Show pooch's download progress bar.

    Returns
    -------
    ResolvedWeights

    Raises
    ------
    WeightsNotFoundError
        The file is in none of the places and cannot be downloaded; the message lists how to
        supply it.
    WeightsIntegrityError
        A file was found or downloaded but its SHA-256 is not the pinned one (both hashes named).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "w.pt").write_bytes(b"weights")
    >>> spec = WeightsSpec(name="demo", filename="w.pt")
    >>> resolve_weights(spec, folder / "w.pt", download=False).source
    'explicit'
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise WeightsNotFoundError(
                f"{spec.name} weights file not found at the explicit path {explicit}. "
                f"Other ways: {_manual_hint(spec, weights_cache_dir(cache_root) / spec.filename)}"
            )
        return ResolvedWeights(explicit, _check(explicit, spec, "the explicit path"), "explicit", spec.url)

    if spec.env_var and os.environ.get(spec.env_var):
        env_path = Path(os.environ[spec.env_var]).expanduser()
        if not env_path.is_file():
            raise WeightsNotFoundError(
                f"{spec.env_var}={env_path} does not point to a file. Fix or unset {spec.env_var}."
            )
        return ResolvedWeights(env_path, _check(env_path, spec, f"${spec.env_var}"), "env", spec.url)

    folder = weights_cache_dir(cache_root)
    cached = folder / spec.filename
    if cached.is_file():
        digest = sha256_file(cached)
        if spec.sha256 is None or digest == spec.sha256:
            return ResolvedWeights(cached, digest, "cache", spec.url)
        # A stale or corrupt cached copy: remove it and fetch the pinned file again below.
        cached.unlink()
        if not (download and spec.url):
            raise WeightsIntegrityError(
                f"cached {spec.name} weights {cached} had sha256 {digest}, expected {spec.sha256}; "
                f"the file was deleted. To supply the right file: {_manual_hint(spec, cached)}"
            )

    if not (download and spec.url):
        reason = "downloads are disabled (download=False)" if spec.url else "there is no public download"
        raise WeightsNotFoundError(
            f"{spec.name} weights not found and {reason}. To supply them: {_manual_hint(spec, cached)}"
        )
    return _download(spec, folder, progress=progress)


def unreachable_reason(url: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Optional[str]:
    """Why ``url``'s host cannot be reached, in a few words; None when it accepts a TCP connection.

    The name lookup and the connection together take at most ``timeout_s`` seconds (the
    lookup runs in a helper thread, because a system resolver may wait far longer). When a
    proxy is configured for the URL's scheme (``HTTPS_PROXY`` and friends), the proxy is
    tried instead of the host.

    Examples
    --------
    >>> import socket
    >>> with socket.socket() as s:  # a port on this machine that nobody listens on
    ...     s.bind(("127.0.0.1", 0))
    ...     port = s.getsockname()[1]
    >>> unreachable_reason(f"http://127.0.0.1:{port}/w.pt").startswith("cannot connect to 127.0.0.1")
    True
    """
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = p.hostname or "", p.port or 80
    outcome: dict = {}

    def _connect():
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                outcome["ok"] = True
        except OSError as e:
            outcome["error"] = e

    worker = threading.Thread(target=_connect, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if outcome.get("ok"):
        return None
    error = outcome.get("error")
    if error is None:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name {host}"
    return f"cannot connect to {host}:{port} ({getattr(error, 'strerror', None) or type(error).__name__})"


def _download(spec: WeightsSpec, folder: Path, *, progress: bool) -> ResolvedWeights:
    import pooch

    manual = f"Without network, supply the file by hand: {_manual_hint(spec, folder / spec.filename)}"
    reason = unreachable_reason(spec.url, timeout_s=CONNECT_TIMEOUT_S)
    if reason is not None:  # fail in seconds, with one line, instead of a long network traceback
        raise WeightsNotFoundError(f"could not download {spec.name} weights from {spec.url}: {reason}. {manual}")
    known = f"sha256:{spec.sha256}" if spec.sha256 else None
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    try:
        fetched = pooch.retrieve(spec.url, known_hash=known, fname=spec.filename, path=folder,
                                 downloader=downloader)
    except ValueError as e:  # pooch: hash mismatch, download already deleted
        if "hash" not in str(e).lower():
            raise
        raise WeightsIntegrityError(
            f"downloaded {spec.name} weights from {spec.url} do not have the pinned sha256 {spec.sha256}: "
            f"{e} Nothing was kept in {folder}."
        ) from e
    except Exception as e:  # network failures: requests.ConnectionError, HTTPError, timeouts, OSError
        short = str(e).splitlines()[0][:200] if str(e) else ""
        raise WeightsNotFoundError(
            f"could not download {spec.name} weights from {spec.url} ({type(e).__name__}: {short}). {manual}"
        ) from None
    path = Path(fetched)
    return ResolvedWeights(path, sha256_file(path), "download", spec.url)


def load_state_dict_file(path: os.PathLike | str) -> tuple[dict, dict]:
    """Read a PyTorch weights file: a bare state_dict or a checkpoint ``{"state_dict": ..., "meta": ...}``.

    Returns ``(state_dict, meta)``; ``meta`` is ``{}`` for a bare state_dict.  A ``"module."``
    prefix (``torch.nn.DataParallel``) is removed from the keys.  Only tensors and plain
    containers are unpickled (``weights_only=True``).
    """
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"cannot read weights file {path} as a PyTorch state_dict ({type(e).__name__}: {e})") from e
    meta: dict = {}
    if isinstance(obj, dict) and "state_dict" in obj:
        meta = dict(obj.get("meta") or {})
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"weights file {path} holds a {type(obj).__name__}, expected a state_dict (a dict of tensors)")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}
    return state, meta
