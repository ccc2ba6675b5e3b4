"""A fake Hugging Face hub on loopback: model info, the file tree and file downloads for repos
held in memory, with every request path recorded."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

COMMIT = "a" * 40


class FakeHub:
    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos
        self.requests: list[str] = []

    def answer(self, method: str, raw: str) -> tuple[int, dict[str, str], bytes]:
        path = unquote(urlparse(raw).path)
        self.requests.append(f"{method} {path}")
        for repo, files in self.repos.items():
            if path.startswith(f"/api/models/{repo}/tree/"):
                tree = [
                    {"type": "file", "path": name, "size": len(data), "oid": _oid(data)}
                    for name, data in files.items()
                ]
                return _json(tree)
            if path.startswith(f"/api/models/{repo}"):
                siblings = [{"rfilename": name, "size": len(data)} for name, data in files.items()]
                return _json({"id": repo, "sha": COMMIT, "siblings": siblings})
            prefix = f"/{repo}/resolve/"
            if path.startswith(prefix):
                name = path[len(prefix) :].split("/", 1)[1]
                if name in files:
                    data = files[name]
                    headers = {
                        "X-Repo-Commit": COMMIT,
                        "ETag": f'"{_oid(data)}"',
                        "Content-Length": str(len(data)),
                    }
                    return 200, headers, data
        return 404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "not found"}'


def _oid(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _json(data: Any) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(data).encode()
    return 200, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body


@contextmanager
def serve_hub(repos: dict[str, dict[str, bytes]]) -> Iterator[tuple[str, FakeHub]]:
    hub = FakeHub(repos)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, body: bool) -> None:
            status, headers, data = hub.answer(self.command, self.path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._reply(body=True)

        def do_HEAD(self) -> None:
            self._reply(body=False)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hub
    finally:
        server.shutdown()
        server.server_close()
