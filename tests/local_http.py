"""A real HTTP file server on 127.0.0.1 for download tests, with Range support and scripted failures."""
from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1 in a background thread.

    ``cut_at[path] = (n_bytes, times)`` makes the next ``times`` GETs of ``path`` close the
    connection once the file's byte ``n_bytes`` is reached (headers promise the full
    length). ``throttle_s`` sleeps between 4 KiB writes; ``ranges=False`` ignores Range
    headers. Every request is recorded in ``requests`` as ``(method, path, Range or None)``.
    """

    def __init__(self, files: dict[str, bytes], *, throttle_s: float = 0.0, ranges: bool = True):
        self.files = dict(files)
        self.cut_at: dict[str, tuple[int, int]] = {}
        self.throttle_s = throttle_s
        self.ranges = ranges
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                with server._lock:
                    server.requests.append(("GET", self.path, rng))
                    cut = None
                    if self.path in server.cut_at:
                        n, times = server.cut_at[self.path]
                        if times > 0:
                            cut = n
                            server.cut_at[self.path] = (n, times - 1)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
                if server.ranges and m:
                    start = int(m.group(1))
                    end = int(m.group(2)) if m.group(2) else len(body) - 1
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
                    payload = body[start:end + 1]
                else:
                    self.send_response(200)
                    payload = body
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                limit = len(payload) if cut is None else max(0, cut - start)
                sent = 0
                while sent < min(limit, len(payload)):
                    block = payload[sent:min(sent + 4096, limit)]
                    self.wfile.write(block)
                    sent += len(block)
                    if server.throttle_s:
                        time.sleep(server.throttle_s)
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def gets(self, path: str) -> list[str | None]:
        """Range headers of the GETs of ``path``, in order."""
        return [r for (m, p, r) in self.requests if m == "GET" and p == path]

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def dead_url(path: str = "/file.bin") -> str:
    """A URL on 127.0.0.1 where nothing listens (a port bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}{path}"
