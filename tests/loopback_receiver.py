"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every POST (path, headers, raw body)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Headers(dict[str, str]):
    """Headers as sent (names keep their case), looked up by name in any case."""

    def __getitem__(self, name: str) -> str:
        for key, value in self.items():
            if key.lower() == name.lower():
                return value
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(key.lower() == name.lower() for key in self)


@dataclass
class Received:
    """One request the receiver got; `headers` keep their names as sent, and match in any case."""

    path: str
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        return self.headers.get(name)  # type: ignore[no-any-return]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """The server's URL and what it received."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    """What to answer the next requests with, in order (then 200): a status, or a status and headers."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int | tuple[int, dict[str, str]]) -> None:
        """Answer the next requests with these statuses (then 200)."""
        with self.lock:
            self.statuses.extend(statuses)


@contextmanager
def serving() -> Iterator[Receiver]:
    """A running receiver (answering `statuses`, then 200); shut down on exit."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with box[0].lock:
                box[0].requests.append(Received(self.path, Headers(self.headers.items()), body))
                answer = box[0].statuses.pop(0) if box[0].statuses else 200
            status, headers = answer if isinstance(answer, tuple) else (answer, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/hitl"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
