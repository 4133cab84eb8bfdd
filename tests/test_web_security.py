"""Hardening of the web inbox: revocable sessions, a body-size limit, throttled tokens, visible control characters.

The body-limit test runs the inbox under uvicorn in a subprocess, streams 200 MB at it over a
loopback socket, and reads the server's own resident memory from /proc.
"""

from __future__ import annotations

import html
import re
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_web import SECRET, TOKENS, bearer, csrf_of, login, make_app

from langgraph_hitl import Approvals
from langgraph_hitl.errors import HITLError
from langgraph_hitl.web import SESSION_COOKIE, create_app
from langgraph_hitl.web.textsafe import UNSAFE_CHARS

from graphs import action, build

ROOT = Path(__file__).resolve().parent.parent


# -- sessions -------------------------------------------------------------------------------------------


def test_logout_revokes_a_copied_session_cookie(store_url: str) -> None:
    """After sign-out, a copy of the session cookie taken before it no longer signs anyone in (SQLite and Postgres)."""
    db_url = store_url
    with TestClient(make_app(db_url), follow_redirects=False) as c:
        login(c, "alice")
        copied = c.cookies[SESSION_COOKIE]
        assert c.app.state.hitl_web.sessions.count("alice") == 1  # type: ignore[attr-defined]
        assert c.post("/logout", data={"csrf": csrf_of(c.get("/").text)}).status_code == 303
        assert c.app.state.hitl_web.sessions.count("alice") == 0  # type: ignore[attr-defined]
    with TestClient(
        make_app(db_url), follow_redirects=False
    ) as thief:  # another server process, same database
        thief.cookies.set(SESSION_COOKIE, copied)
        assert thief.get("/").status_code == 303 and thief.get("/").headers["location"] == "/login"


def test_session_cookie_holds_no_identity(db_url: str) -> None:
    """The cookie names a session only; who is signed in lives in the database (by the id's hash)."""
    with TestClient(make_app(db_url), follow_redirects=False) as c:
        login(c, "alice")
        cookie = c.cookies[SESSION_COOKIE]
        rows = c.app.state.approvals.store.backend.execute("SELECT sid_hash, approver FROM hitl_web_sessions")  # type: ignore[attr-defined]
    assert "alice" not in cookie and [r["approver"] for r in rows] == ["alice"]
    assert all(len(r["sid_hash"]) == 64 and r["sid_hash"] not in cookie for r in rows)


# -- request size -------------------------------------------------------------------------------------------

_SERVER = """
import socket, sys, uvicorn
from langgraph_hitl.web import create_app
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(16)
app = create_app(db=sys.argv[1], graph=None, approvers={"alice": "alice-token-7f3c0a9b2e"},
                 secret_key="size-test-secret-0123456789")
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", http="h11")).run(sockets=[sock])
"""


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[int, int]]:
    """The inbox under uvicorn in its own process: yields (port, pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, db_url], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match
    return int(match.group(1)) / 1024


def stream_post(port: int, path: str, headers: str, total: int, *, chunked: bool) -> tuple[str, int]:
    """POST up to `total` bytes, stopping as soon as the server answers; return (status line, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}{framing}\r\n\r\n".encode())
    piece = (b"f=" + b"x" * 65_533 + b"&") * 16  # 1 MiB of small fields (each under any per-field cap)
    sent = 0
    try:
        while sent < total and not select.select([sock], [], [], 0)[0]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        answer = sock.recv(65536).decode("latin-1")
    finally:
        sock.close()
    return answer.split("\r\n", 1)[0], sent


@pytest.mark.slow
def test_oversized_bodies_get_413_before_they_are_read(served: tuple[int, int]) -> None:
    """A 200 MB form or JSON body gets 413 after at most a few MB are taken, and the server's memory stays flat."""
    port, pid = served
    before = rss_mb(pid)
    form = "Content-Type: application/x-www-form-urlencoded\r\n"
    api = f"Content-Type: application/json\r\nAuthorization: Bearer {TOKENS['alice']}\r\n"
    total = 200 * 1024 * 1024
    for path, headers, chunked in (
        ("/login", form, True),
        ("/api/requests/abc/decision", api, True),
        ("/login", form, False),
    ):
        status, sent = stream_post(port, path, headers, total, chunked=chunked)
        assert status == "HTTP/1.1 413 Request Entity Too Large" or status.startswith("HTTP/1.1 413"), status
        assert sent < 32 * 1024 * 1024, f"{path}: the server took {sent} bytes before refusing"
    assert rss_mb(pid) - before < 40, f"RSS grew from {before:.0f} MB to {rss_mb(pid):.0f} MB"


def test_content_length_over_the_limit_is_413_with_the_fix(db_url: str) -> None:
    """A declared body over `max_body_bytes` is refused at once with a message naming the limit and the option."""
    with TestClient(make_app(db_url, max_body_bytes=4096), follow_redirects=False) as c:
        resp = c.post(
            "/login",
            content=b"token=" + b"x" * 5000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert resp.status_code == 413 and "at most 4096 bytes" in resp.json()["detail"]
        assert "max_body_bytes" in resp.json()["detail"] and resp.headers["x-frame-options"] == "DENY"
        assert (
            c.post("/login", content=b"token=short").status_code == 403
        )  # small bodies go through (no CSRF)


def test_limits_are_checked_when_the_app_is_built(db_url: str) -> None:
    """Bad `max_body_bytes` and `auth_failures` are refused by create_app, naming the value and the fix."""
    with pytest.raises(ValueError, match=r"max_body_bytes=10: use a whole number of bytes, at least 1024"):
        make_app(db_url, max_body_bytes=10)
    with pytest.raises(ValueError, match=r"limit=0: allow at least 1"):
        make_app(db_url, auth_failures=(0, 60.0))
    with pytest.raises(ValueError, match=r"window_s=-1"):
        make_app(db_url, auth_failures=(3, -1))


# -- throttling ----------------------------------------------------------------------------------------------


def test_wrong_tokens_are_throttled_per_client(db_url: str) -> None:
    """After 3 wrong tokens one client gets 429 with Retry-After, even with a right token; others are unaffected."""
    app = make_app(db_url, auth_failures=(3, 600.0))
    with TestClient(app, follow_redirects=False) as c:
        for _ in range(3):
            resp = c.post(
                "/login", data={"token": "wrong-token-000000", "csrf": csrf_of(c.get("/login").text)}
            )
            assert resp.status_code == 401
        resp = c.post("/login", data={"token": TOKENS["alice"], "csrf": csrf_of(c.get("/login").text)})
        assert resp.status_code == 429 and 0 < int(resp.headers["retry-after"]) <= 600
        assert "Too many wrong tokens" in html.unescape(resp.text)
        api = c.get("/api/requests", headers=bearer("alice"))
        assert api.status_code == 429 and api.json()["error"] == "Throttled" and "retry-after" in api.headers
    with TestClient(app, follow_redirects=False, client=("10.9.8.7", 5000)) as other:
        assert other.get("/api/requests", headers=bearer("alice")).status_code == 200


def test_unknown_bearer_tokens_are_throttled(db_url: str) -> None:
    """Unknown bearer tokens count as failures too; requests without any token do not."""
    with TestClient(make_app(db_url, auth_failures=(2, 600.0)), follow_redirects=False) as c:
        for _ in range(5):
            assert c.get("/api/requests").status_code == 401  # no token: nothing guessed
        for _ in range(2):
            assert (
                c.get("/api/requests", headers={"Authorization": "Bearer guess-0123456789"}).status_code
                == 401
            )
        resp = c.get("/api/requests", headers={"Authorization": "Bearer guess-0123456789"})
        assert resp.status_code == 429 and int(resp.headers["retry-after"]) > 0


# -- control and bidi characters ------------------------------------------------------------------------------

TRICKY = ["\x1b", "\x07", "\x7f", "\x85", "\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F))]
TRICKY += [*map(chr, range(0x2066, 0x206A))]


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('bidi') / 'hitl.db'}"


@pytest.fixture(scope="module")
def signed_in(shared_db: str) -> Iterator[tuple[TestClient, Approvals]]:
    app = create_app(
        db=shared_db, graph=build(approvers=["alice", "bob"]), approvers=TOKENS, secret_key=SECRET
    )
    with TestClient(app, follow_redirects=False) as c:
        login(c, "alice")
        yield c, app.state.approvals


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from([*"ab <>&'\"", *TRICKY]), min_size=1, max_size=10))
def test_control_and_bidi_characters_are_shown_as_escapes(
    signed_in: tuple[TestClient, Approvals], text: str
) -> None:
    """Control characters and bidi overrides in descriptions, arguments, tasks and actors reach no page raw."""
    client, runner = signed_in
    thread = f"bidi-{uuid.uuid4().hex[:8]}"
    state: dict[str, Any] = {
        **action("delete_record", id=7, note=text, **{f"k{text}": 1}),
        "hitl_context": {"task": f"task {text}"},
    }
    state["action"]["description"] = f"delete {text}"
    rid = runner.start(thread, state).pending[0].request_id
    try:
        runner.decide(rid, {"type": "approve"}, approver=f"mallory{text}")
    except HITLError:
        pass  # refused, and recorded with that actor
    paths = ("/", f"/requests/{rid}", f"/audit?thread_id={thread}", f"/audit?actor={quote(text)}")
    for path in (*paths, f"/audit?thread_id={quote(text)}"):
        page = client.get(path).text
        found = UNSAFE_CHARS.search(page)
        assert found is None, f"{path}: raw U+{ord(found.group()):04X}"
    detail = client.get(f"/requests/{rid}").text
    for ch in set(text) & set(TRICKY):
        assert f"\\u{ord(ch):04x}" in detail
