"""A scripted OpenAI-compatible server on 127.0.0.1, for testing the real `ChatOpenAI` client offline.

It serves `POST /v1/chat/completions` from a queue of scripted replies and records every
request body, so a test can assert on exactly what the model was sent. Three reply kinds
cover what langgraph-hitl's patterns need:

- `text("...")`: plain assistant content;
- `tool_calls(("search", {"q": "x"}), ...)`: an assistant message with tool calls;
- `structured({...})`: JSON content, which is how `ChatOpenAI.with_structured_output` answers
  with its default `method="json_schema"` (it sends `response_format={"type": "json_schema"}`
  and parses the content). For `method="function_calling"` script `tool_calls` instead.

`error(500)` scripts a failing call. An empty queue answers 500 too, so an unexpected call fails
the test loudly rather than hanging.

Example:
    ```python
    with FakeOpenAI() as server:
        server.push(text("hello"))
        model = ChatOpenAI(model="gpt-4o-mini", base_url=server.base_url, api_key="test", max_retries=0)
        assert model.invoke("hi").content == "hello"
        assert server.requests[0]["messages"][0]["content"] == "hi"
    ```
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "Reply", "error", "structured", "text", "tool_calls"]

Reply = dict[str, Any]
"""One scripted reply: `{"content": ..., "tool_calls": [...]}` or `{"status": 500}`."""


def text(content: str) -> Reply:
    """A reply with plain assistant content."""
    return {"content": content}


def tool_calls(
    *calls: tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str], content: str = ""
) -> Reply:
    """A reply asking for tool calls: `(name, args)` or `(name, args, call_id)` each."""
    out = []
    for i, call in enumerate(calls):
        name, args = call[0], call[1]
        call_id = call[2] if len(call) > 2 else f"call_{i}_{name}"  # type: ignore[misc]
        out.append(
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        )
    return {"content": content, "tool_calls": out}


def structured(obj: dict[str, Any]) -> Reply:
    """A reply for `with_structured_output(method="json_schema")`: the object as JSON content."""
    return {"content": json.dumps(obj)}


def error(status: int = 500, message: str = "scripted failure") -> Reply:
    """A reply that fails with HTTP `status`."""
    return {"status": status, "message": message}


class FakeOpenAI:
    """The server: `push` replies, read `requests`, use `base_url` as ChatOpenAI's `base_url`."""

    def __init__(self) -> None:
        self.script: deque[Reply | Callable[[dict[str, Any]], Reply]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`."""
        assert self._server is not None, "start the server first (use it as a context manager)"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def push(self, *replies: Reply | Callable[[dict[str, Any]], Reply]) -> None:
        """Queue replies, answered in order; a callable gets the request body and returns a reply."""
        with self._lock:
            self.script.extend(replies)

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if not self.script:
                return error(500, "FakeOpenAI: no scripted reply left for this request")
            reply = self.script.popleft()
        return reply(body) if callable(reply) else reply

    def start(self) -> FakeOpenAI:
        """Listen on a free loopback port in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                return

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.paths.append(self.path)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(
                        404,
                        {"error": {"message": f"FakeOpenAI serves /v1/chat/completions, not {self.path}"}},
                    )
                    return
                if body.get("stream"):
                    self._send(400, {"error": {"message": "FakeOpenAI does not stream; use streaming=False"}})
                    return
                reply = fake._next(body)
                if "status" in reply:
                    self._send(
                        reply["status"], {"error": {"message": reply["message"], "type": "server_error"}}
                    )
                    return
                message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
                if reply.get("tool_calls"):
                    message["tool_calls"] = reply["tool_calls"]
                    message["content"] = reply.get("content") or None
                n = len(fake.requests)
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-fake-{n}",
                        "object": "chat.completion",
                        "created": 1700000000,
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": message,
                                "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
