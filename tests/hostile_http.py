"""A hostile HTTP server on 127.0.0.1: each URL path answers with a scripted misbehaviour.

Every behaviour is a function ``(handler, server) -> None`` writing a whole answer (status,
headers, body) through ``handler`` (a ``BaseHTTPRequestHandler``); ``server.requests`` records
``(path, Range header)`` of every GET. Built from the standard library only.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _send(h, status: int, body: bytes = b"", headers: dict | None = None) -> None:
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if body:
        h.wfile.write(body)


def _range_start(h) -> int | None:
    m = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range") or "")
    return int(m.group(1)) if m else None


def honest(body: bytes):
    """Serve ``body`` with Content-Length and Range support."""
    def answer(h, server):
        start = _range_start(h)
        if start is not None and start < len(body):
            _send(h, 206, body[start:], {"Content-Length": str(len(body) - start),
                                         "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
        else:
            _send(h, 200, body, {"Content-Length": str(len(body))})
    return answer


def cut_once(body: bytes, at: int):
    """First GET: promise the whole body, send ``at`` bytes and hang up; later GETs: honest."""
    state = {"n": 0}

    def answer(h, server):
        state["n"] += 1
        if state["n"] > 1:
            return honest(body)(h, server)
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[:at])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)
    return answer


def lying_range(body: bytes, shift: int):
    """Range requests are answered 206 from byte ``start + shift`` while claiming ``start`` (wrong bytes)."""
    def answer(h, server):
        start = _range_start(h)
        if start is None:
            return cut_once(body, len(body) // 2)(h, server)  # always cut: forces a resume
        payload = (body[start + shift:] + b"\0" * shift)[: len(body) - start]
        _send(h, 206, payload, {"Content-Length": str(len(body) - start),
                                                      "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
    return answer


def wrong_resume_start(body: bytes):
    """Range requests are answered 206 with a Content-Range that starts elsewhere; plain GETs cut halfway."""
    state = {"n": 0}

    def answer(h, server):
        state["n"] += 1
        start = _range_start(h)
        if start is None:
            if state["n"] == 1:
                return cut_once(body, len(body) // 2)(h, server)
            return honest(body)(h, server)
        _send(h, 206, body, {"Content-Length": str(len(body)), "Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}"})
    return answer


def other_size(body: bytes, announced: int):
    """Announces ``announced`` bytes in Content-Length but the registry expects ``len(body)``."""
    def answer(h, server):
        _send(h, 200, body[:announced], {"Content-Length": str(announced)})
    return answer


def endless(chunk: bytes = b"\0" * 65536, *, content_length: int | None = None):
    """Sends ``chunk`` forever (no Content-Length unless given, which it then exceeds: a lie)."""
    def answer(h, server):
        h.send_response(200)
        if content_length is not None:
            h.send_header("Content-Length", str(content_length))
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        try:
            while not server.stopping.is_set():
                h.wfile.write(chunk)
        except OSError:
            pass
    return answer


def redirect(location: str, code: int = 302):
    """Answers with a redirect to ``location`` (any scheme or host)."""
    def answer(h, server):
        target = location.replace("{port}", str(server.port))
        _send(h, code, b"", {"Location": target, "Content-Length": "0"})
    return answer


def drip(body: bytes, interval_s: float):
    """Promises ``body`` and sends it one byte every ``interval_s`` seconds (a slow drip under any read timeout)."""
    def answer(h, server):
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        try:
            for i in range(len(body)):
                if server.stopping.is_set():
                    return
                h.wfile.write(body[i:i + 1])
                h.wfile.flush()
                time.sleep(interval_s)
        except OSError:
            pass
    return answer


class HostileServer:
    """Serves ``routes`` (URL path -> behaviour) on 127.0.0.1 in a background thread; a context manager."""

    def __init__(self, routes: dict):
        self.routes = dict(routes)
        self.requests: list[tuple[str, str | None]] = []
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                try:
                    route(self, server)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def gets(self, path: str) -> list[str | None]:
        return [r for (p, r) in self.requests if p == path]

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
