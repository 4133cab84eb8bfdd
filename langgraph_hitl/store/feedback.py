"""Reviewer feedback (`hitl_feedback`): a 0-1 score of a given kind, a comment, optionally sent to LangSmith.

Measuring the gates: besides approving or rejecting, reviewers rate
what the agent produced (`correctness`, `helpfulness`, ...). Scores stay in our table;
`forward_to_langsmith()` copies the ones not yet sent to LangSmith's feedback API, and only
when `LANGSMITH_API_KEY` is set, so nothing leaves the machine by default.

Example:
    ```python
    fid = store.feedback.record(score=0.9, kind="correctness", actor="alice", thread_id="t-1")
    store.feedback.forward_to_langsmith(project_id="8c5b...")  # no-op without LANGSMITH_API_KEY
    ```
"""

from __future__ import annotations

import builtins
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._canonical import iso
from ..errors import HITLError
from ._db import Backend

if TYPE_CHECKING:
    from .audit import AuditLog

__all__ = ["DEFAULT_LANGSMITH_ENDPOINT", "FeedbackError", "FeedbackRow", "FeedbackStore", "ForwardError"]

DEFAULT_LANGSMITH_ENDPOINT = "https://api.smith.langchain.com"
"""Where feedback goes unless `LANGSMITH_ENDPOINT` says otherwise."""

_COLUMNS = "feedback_id, ts, thread_id, request_id, actor, score, kind, comment, forwarded"
_INSTALL_HINT = 'Forwarding feedback to LangSmith needs httpx: pip install "langgraph-hitl[notify]"'


class FeedbackError(HITLError, ValueError):
    """A feedback score, kind or actor is invalid; nothing was recorded."""


class ForwardError(HITLError, RuntimeError):
    """LangSmith could not be reached or refused a feedback row; rows sent before it stay marked."""


@dataclass(frozen=True)
class FeedbackRow:
    """One recorded piece of feedback."""

    feedback_id: str
    """A UUID; also the feedback's id in LangSmith, so a resend cannot duplicate it."""
    ts: str
    """ISO 8601 UTC time it was recorded."""
    thread_id: str | None
    """The thread the feedback is about."""
    request_id: str | None
    """The inbox request the feedback is about."""
    actor: str
    """Who gave it."""
    score: float
    """From 0 (bad) to 1 (good)."""
    kind: str
    """What was scored: `correctness`, `helpfulness`, ... (LangSmith's feedback key)."""
    comment: str | None
    """Free text."""
    forwarded: bool
    """True once LangSmith accepted it."""

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> FeedbackRow:
        """Build from a database row."""
        return cls(
            feedback_id=row["feedback_id"],
            ts=row["ts"],
            thread_id=row["thread_id"],
            request_id=row["request_id"],
            actor=row["actor"],
            score=float(row["score"]),
            kind=row["kind"],
            comment=row["comment"],
            forwarded=bool(row["forwarded"]),
        )


class FeedbackStore:
    """Record reviewers' scores and forward them to LangSmith on request.

    Args:
        backend: The database connection (from `open_store`).
        clock: Returns the epoch time.
        audit: When given, each piece of feedback is also recorded as a `feedback` audit event,
            in the same transaction, so the audit trail shows who rated what.
    """

    def __init__(
        self, backend: Backend, *, clock: Callable[[], float] = time.time, audit: AuditLog | None = None
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.audit = audit

    def record(
        self,
        *,
        score: float,
        kind: str,
        actor: str,
        thread_id: str | None = None,
        request_id: str | None = None,
        comment: str | None = None,
    ) -> str:
        """Store one piece of feedback.

        Args:
            score: From 0 (bad) to 1 (good), inclusive.
            kind: What is scored, e.g. `correctness` or `helpfulness`.
            actor: Who gives the feedback.
            thread_id: The thread it is about.
            request_id: The inbox request it is about.
            comment: Free text.

        Returns:
            The new feedback id (a UUID).

        Raises:
            FeedbackError: `score` is not a number from 0 to 1, or `kind`/`actor` is empty.
        """
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            msg = (
                f"Feedback score {score!r} is not a number; give a float from 0 (bad) to 1 (good), e.g. 0.8."
            )
            raise FeedbackError(msg)
        if not 0 <= score <= 1:
            msg = f"Feedback score {score!r} is outside 0..1; rescale it, e.g. 4 of 5 stars -> 0.8."
            raise FeedbackError(msg)
        if not isinstance(kind, str) or not kind.strip():
            msg = (
                f"Feedback kind {kind!r} is empty; name what is scored, e.g. 'correctness' or 'helpfulness'."
            )
            raise FeedbackError(msg)
        if not isinstance(actor, str) or not actor.strip():
            msg = f"Feedback actor {actor!r} is empty; name who gives the feedback."
            raise FeedbackError(msg)
        for name, value in (("thread_id", thread_id), ("request_id", request_id), ("comment", comment)):
            if value is not None and not isinstance(value, str):
                msg = f"Feedback {name} {value!r} is a {type(value).__name__}; pass a string or None."
                raise FeedbackError(msg)
        feedback_id, ts, kind = str(uuid.uuid4()), iso(self.clock()), kind.strip()
        with self.backend.transaction():
            self.backend.execute(
                f"INSERT INTO hitl_feedback ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (feedback_id, ts, thread_id, request_id, actor, float(score), kind, comment),
            )
            if self.audit is not None:
                self.audit.append(
                    [
                        {
                            "event_id": f"feedback:{feedback_id}",
                            "ts": ts,
                            "event": "feedback",
                            "actor": actor,
                            "thread_id": thread_id,
                            "request_id": request_id,
                            "detail": {
                                "feedback_id": feedback_id,
                                "score": float(score),
                                "kind": kind,
                                "comment": comment,
                            },
                        }
                    ]
                )
        return feedback_id

    def list(self, *, thread_id: str | None = None, limit: int | None = None) -> builtins.list[FeedbackRow]:
        """Recorded feedback, oldest first.

        Args:
            thread_id: Only feedback on this thread.
            limit: At most this many rows.

        Returns:
            The rows as `FeedbackRow`s.

        Raises:
            ValueError: `limit` is negative.
        """
        return self._select(thread_id=thread_id, unforwarded=False, limit=limit)

    def _select(
        self, *, thread_id: str | None, unforwarded: bool, limit: int | None
    ) -> builtins.list[FeedbackRow]:
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if thread_id is not None:
            clauses.append("thread_id = ?")
            params.append(thread_id)
        if unforwarded:
            clauses.append("forwarded = 0")
        sql = f"SELECT {_COLUMNS} FROM hitl_feedback"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY ts, feedback_id"
        if limit is not None:
            if limit < 0:
                msg = f"limit must be zero or more, got {limit}."
                raise ValueError(msg)
            sql += " LIMIT ?"
            params.append(limit)
        return [FeedbackRow.from_db(r) for r in self.backend.execute(sql, params)]

    def forward_to_langsmith(
        self,
        *,
        run_id_for: Callable[[FeedbackRow], str | None] | None = None,
        project_id: str | None = None,
        limit: int | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Send feedback not yet forwarded to LangSmith, if `LANGSMITH_API_KEY` is set.

        Each row is POSTed to `{LANGSMITH_ENDPOINT}/feedback` (default
        `https://api.smith.langchain.com`) with the `x-api-key` header and LangSmith's feedback
        body: `id` (our feedback id, so a resend is answered 409 and not stored twice),
        `run_id`, `key` (the kind), `score`, `comment`, `created_at`, and a `feedback_source`
        naming the actor, thread and request. A row is marked forwarded as soon as LangSmith
        accepts it (or answers 409: it has it already).

        Args:
            run_id_for: Maps a row to the LangSmith run it is about (a UUID), or None.
            project_id: The LangSmith project (tracing session) for rows without a run id.
            limit: Send at most this many rows.
            timeout: Seconds per HTTP request.

        Returns:
            How many rows were forwarded: 0 when `LANGSMITH_API_KEY` is unset or empty. Rows
            with neither a run id nor a `project_id` are left for a later call.

        Raises:
            ValueError: Neither `run_id_for` nor `project_id` is given.
            HITLError: httpx is not installed (message names the extra to install).
            ForwardError: LangSmith cannot be reached or refuses a row; earlier rows stay marked.
        """
        if run_id_for is None and project_id is None:
            msg = (
                "forward_to_langsmith() needs to know where feedback belongs in LangSmith: pass "
                "run_id_for=lambda row: <the run's UUID> and/or project_id=<the project's UUID>."
            )
            raise ValueError(msg)
        api_key = os.environ.get("LANGSMITH_API_KEY", "").strip()
        if not api_key:
            return 0
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - httpx ships with the notify and web extras
            raise HITLError(_INSTALL_HINT) from exc
        url = (os.environ.get("LANGSMITH_ENDPOINT") or DEFAULT_LANGSMITH_ENDPOINT).rstrip("/") + "/feedback"
        sent = 0
        with httpx.Client(timeout=timeout, headers={"x-api-key": api_key}) as client:
            for row in self._select(thread_id=None, unforwarded=True, limit=limit):
                run_id = run_id_for(row) if run_id_for is not None else None
                if run_id is None and project_id is None:
                    continue
                try:
                    response = client.post(url, json=_langsmith_body(row, run_id, project_id))
                except httpx.HTTPError as exc:
                    msg = f"Cannot reach LangSmith at {url}: {exc}. {sent} row(s) were forwarded before this one."
                    raise ForwardError(msg) from exc
                if not (response.is_success or response.status_code == 409):
                    msg = (
                        f"LangSmith refused feedback {row.feedback_id} with HTTP {response.status_code}: "
                        f"{response.text[:300]!r}. Check LANGSMITH_API_KEY and the run/project ids; "
                        f"{sent} row(s) were forwarded before this one."
                    )
                    raise ForwardError(msg)
                with self.backend.transaction():
                    self.backend.execute(
                        "UPDATE hitl_feedback SET forwarded = 1 WHERE feedback_id = ?", (row.feedback_id,)
                    )
                sent += 1
        return sent


def _langsmith_body(row: FeedbackRow, run_id: str | None, project_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.feedback_id,
        "run_id": run_id,
        "key": row.kind,
        "score": row.score,
        "comment": row.comment,
        "created_at": row.ts,
        "feedback_source": {
            "type": "api",
            "metadata": {
                "source": "langgraph-hitl",
                "actor": row.actor,
                "thread_id": row.thread_id,
                "request_id": row.request_id,
            },
        },
    }
    if run_id is None:
        body["session_id"] = project_id
    return body
