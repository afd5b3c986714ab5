"""examples/frontend served as a static site on its own origin (as Vercel would serve it),
for the browser test and `make frontend-screenshot`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "examples" / "frontend"
CLIENT_DIST = ROOT / "clients" / "typescript" / "dist"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_frontend(origin: str) -> Iterator[str]:
    """Serve the page at `origin` (http://127.0.0.1:<port>); yields the page's URL."""
    assert (CLIENT_DIST / "index.js").exists(), "build the client first: npm run build"
    address = urlsplit(origin)
    assert address.hostname is not None
    assert address.port is not None
    handler = partial(_Quiet, directory=str(FRONTEND))
    server = ThreadingHTTPServer((address.hostname, address.port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{origin}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def page_url(page: str, backends: list[str], token: str, timeout_ms: int) -> str:
    query = {"backends": ",".join(backends), "token": token, "timeoutMs": timeout_ms}
    return f"{page}?{urlencode(query)}"
