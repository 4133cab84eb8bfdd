"""Reviewer feedback: validation, listing, and forwarding to a LangSmith-shaped API on loopback only."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from langgraph_hitl.errors import HITLError
from langgraph_hitl.store import Store, open_store
from langgraph_hitl.store.feedback import FeedbackError, FeedbackRow, FeedbackStore, ForwardError

RUN_ID = "0b5e1e5c-6f6a-4d3e-9a57-2f8f3e1d9c11"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on SQLite or Postgres, with a fixed clock."""
    with open_store(store_url, clock=lambda: 1_767_225_600.0) as opened:
        yield opened


@dataclass
class FakeLangSmith:
    """A local HTTP server that records POSTs and answers with `status`."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def langsmith(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLangSmith]:
    """A fake LangSmith on 127.0.0.1, with LANGSMITH_ENDPOINT pointing at it and proxies cleared."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeLangSmith(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"detail": "from the fake"}')

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("LANGSMITH_ENDPOINT", fake.url)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_record_stores_feedback(store: Store) -> None:
    """record() returns a UUID and the row reads back exactly."""
    fid = store.feedback.record(
        score=0.75,
        kind="correctness",
        actor="alice",
        thread_id="t1",
        request_id="r1",
        comment="close, wrong recipient",
    )
    assert uuid.UUID(fid)
    assert store.feedback.list() == [
        FeedbackRow(
            feedback_id=fid,
            ts="2026-01-01T00:00:00.000000+00:00",
            thread_id="t1",
            request_id="r1",
            actor="alice",
            score=0.75,
            kind="correctness",
            comment="close, wrong recipient",
            forwarded=False,
        )
    ]


def test_record_accepts_the_bounds(store: Store) -> None:
    """0 and 1 (ints too) are valid scores."""
    store.feedback.record(score=0, kind="helpfulness", actor="a")
    store.feedback.record(score=1, kind="helpfulness", actor="a")
    assert sorted(r.score for r in store.feedback.list()) == [0.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"score": 1.5}, "score 1.5 is outside 0..1"),
        ({"score": -0.1}, r"score -0.1 is outside 0..1"),
        ({"score": float("nan")}, "score nan is not a number"),
        ({"score": "0.5"}, "score '0.5' is not a number"),
        ({"score": True}, "score True is not a number"),
        ({"kind": ""}, "kind '' is empty; name what is scored, e.g. 'correctness'"),
        ({"kind": "   "}, "kind '   ' is empty"),
        ({"actor": ""}, "actor '' is empty"),
        ({"thread_id": 5}, "thread_id 5 is a int"),
    ],
)
def test_record_rejects_bad_values(store: Store, kwargs: dict[str, Any], match: str) -> None:
    """Invalid feedback raises FeedbackError (a ValueError) naming the bad value; nothing is stored."""
    args: dict[str, Any] = {"score": 0.5, "kind": "correctness", "actor": "alice"} | kwargs
    with pytest.raises(FeedbackError, match=match) as info:
        store.feedback.record(**args)
    assert isinstance(info.value, (ValueError, HITLError))
    assert store.feedback.list() == []


def test_record_writes_an_audit_event_when_given_the_log(store: Store) -> None:
    """With an audit log, feedback is also a `feedback` event naming who rated what."""
    feedback = FeedbackStore(store.backend, clock=lambda: 1_767_225_600.0, audit=store.audit)
    fid = feedback.record(
        score=0.25, kind="correctness", actor="alice", thread_id="t1", comment="wrong table"
    )
    (event,) = store.audit.query(event="feedback")
    assert (event["event_id"], event["actor"], event["thread_id"], event["ts"]) == (
        f"feedback:{fid}",
        "alice",
        "t1",
        "2026-01-01T00:00:00.000000+00:00",
    )
    assert event["detail"] == {
        "feedback_id": fid,
        "score": 0.25,
        "kind": "correctness",
        "comment": "wrong table",
    }
    assert store.audit.verify().ok


def test_list_filters_by_thread_and_limits(store: Store) -> None:
    """list() filters by thread and caps the count, oldest first."""
    ids = [store.feedback.record(score=0.1 * i, kind="k", actor="a", thread_id=f"t{i % 2}") for i in range(5)]
    assert {r.feedback_id for r in store.feedback.list(thread_id="t0")} == {ids[0], ids[2], ids[4]}
    assert len(store.feedback.list(limit=2)) == 2


def test_forward_sends_nothing_without_api_key(
    store: Store, langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without LANGSMITH_API_KEY nothing leaves the machine and rows stay unforwarded."""
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    store.feedback.record(score=0.5, kind="correctness", actor="alice")
    assert store.feedback.forward_to_langsmith(run_id_for=lambda row: RUN_ID) == 0
    monkeypatch.setenv("LANGSMITH_API_KEY", "  ")
    assert store.feedback.forward_to_langsmith(run_id_for=lambda row: RUN_ID) == 0
    assert langsmith.requests == []
    assert [r.forwarded for r in store.feedback.list()] == [False]


def test_forward_posts_langsmith_feedback_and_marks_rows(
    store: Store, langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each unforwarded row is POSTed to {endpoint}/feedback with x-api-key and LangSmith's body, once."""
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-test")
    fid = store.feedback.record(
        score=0.9, kind="helpfulness", actor="alice", thread_id="t1", request_id="r1", comment="good"
    )
    assert store.feedback.forward_to_langsmith(run_id_for=lambda row: RUN_ID) == 1
    (sent,) = langsmith.requests
    assert sent["path"] == "/feedback"
    assert sent["headers"]["x-api-key"] == "lsv2-test"
    assert sent["json"] == {
        "id": fid,
        "run_id": RUN_ID,
        "key": "helpfulness",
        "score": 0.9,
        "comment": "good",
        "created_at": "2026-01-01T00:00:00.000000+00:00",
        "feedback_source": {
            "type": "api",
            "metadata": {"source": "langgraph-hitl", "actor": "alice", "thread_id": "t1", "request_id": "r1"},
        },
    }
    assert [r.forwarded for r in store.feedback.list()] == [True]
    assert store.feedback.forward_to_langsmith(run_id_for=lambda row: RUN_ID) == 0
    assert len(langsmith.requests) == 1


def test_forward_uses_project_when_no_run_and_skips_unplaceable_rows(
    store: Store, langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows without a run id go to the project; with neither they wait for a later call."""
    monkeypatch.setenv("LANGSMITH_API_KEY", "k")
    store.feedback.record(score=1, kind="correctness", actor="a", thread_id="t1")
    store.feedback.record(score=0, kind="correctness", actor="a", thread_id="t2")
    runs = {"t1": RUN_ID}
    assert store.feedback.forward_to_langsmith(run_id_for=lambda row: runs.get(row.thread_id or "")) == 1
    assert [r["json"]["run_id"] for r in langsmith.requests] == [RUN_ID]
    assert store.feedback.forward_to_langsmith(project_id="proj-uuid") == 1
    assert langsmith.requests[1]["json"]["run_id"] is None
    assert langsmith.requests[1]["json"]["session_id"] == "proj-uuid"


def test_forward_treats_conflict_as_already_sent(
    store: Store, langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP 409 (LangSmith has that feedback id) marks the row forwarded."""
    monkeypatch.setenv("LANGSMITH_API_KEY", "k")
    langsmith.status = 409
    store.feedback.record(score=1, kind="correctness", actor="a")
    assert store.feedback.forward_to_langsmith(project_id="p") == 1
    assert store.feedback.list()[0].forwarded


def test_forward_refusal_raises_and_leaves_row_unforwarded(
    store: Store, langsmith: FakeLangSmith, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-2xx answer raises ForwardError with the status, and the row is retried next time."""
    monkeypatch.setenv("LANGSMITH_API_KEY", "bad")
    langsmith.status = 401
    store.feedback.record(score=1, kind="correctness", actor="a")
    with pytest.raises(ForwardError, match="refused feedback .* with HTTP 401"):
        store.feedback.forward_to_langsmith(project_id="p")
    assert not store.feedback.list()[0].forwarded
    langsmith.status = 200
    assert store.feedback.forward_to_langsmith(project_id="p") == 1


def test_forward_unreachable_endpoint_raises(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection failure raises ForwardError naming the URL."""
    monkeypatch.setenv("LANGSMITH_API_KEY", "k")
    monkeypatch.setenv("LANGSMITH_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    store.feedback.record(score=1, kind="correctness", actor="a")
    with pytest.raises(ForwardError, match=r"Cannot reach LangSmith at http://127.0.0.1:9/feedback"):
        store.feedback.forward_to_langsmith(project_id="p", timeout=2)


def test_forward_needs_a_destination(store: Store) -> None:
    """Without run_id_for or project_id the call says what to pass."""
    with pytest.raises(ValueError, match="pass run_id_for=.* and/or project_id="):
        store.feedback.forward_to_langsmith()


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_both_runners_record_feedback(db_url: str, runner: str) -> None:
    """`record_feedback` on `Approvals` and, awaited, on `AsyncApprovals` (0.1 had only the sync one)."""
    import asyncio

    from langgraph_hitl import Approvals, AsyncApprovals

    from graphs import build

    if runner == "sync":
        with Approvals.open(build(), db_url) as hitl:
            fid = hitl.record_feedback(score=0.25, kind="correctness", actor="ana", thread_id="t-1")
            rows = hitl.store.feedback.list(thread_id="t-1")
    else:

        async def main() -> tuple[str, list[FeedbackRow]]:
            async with AsyncApprovals.open(build(), db_url) as hitl:
                fid = await hitl.record_feedback(score=0.25, kind="correctness", actor="ana", thread_id="t-1")
                return fid, hitl.store.feedback.list(thread_id="t-1")

        fid, rows = asyncio.run(main())
    assert [(r.feedback_id, r.score, r.actor) for r in rows] == [(fid, 0.25, "ana")]
