"""What the MCP server's tools do, without the MCP SDK: read the inbox, decide as one identity.

`InboxTools` is `langgraph-hitl pending --json`, `show --json`, `audit` and the deciding
commands as methods, built from the same parts (`_common`, `_answer`, `_decide`), so the MCP
server (`langgraph_hitl.mcp_server`) decides exactly as the command line does: the request is
looked up in the store, refused early if no longer pending, turned into an answer by the same
rules, then `Approvals.decide`. Its errors are the CLI's (`CLIError`, `HITLError`);
`tool_error_text` words them for an MCP client, naming the tool's arguments instead of options.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._answer import AnswerOptions, build_answer
from ._calls import calls_of
from ._common import RISKS, check_pending, check_thread, find_request, open_db
from ._decide import _last_seq, _refusals_since, _refused, _refused_by_graph, _result_dict, open_runner
from ._errors import CLIError, ExitCode, classify
from ._notifier import open_notifier
from ._outcome import outcome_of
from ._render import request_dict
from ._settings import Settings

if TYPE_CHECKING:
    from ..approvals import Approvals, RunResult
    from ..store import RequestRow, Store

__all__ = ["DecisionType", "InboxTools", "answer_options", "plain", "tool_error_text"]

DecisionType = Literal["approve", "reject", "edit", "respond"]
"""What `decide` takes: langchain's four decision types."""

T = TypeVar("T")

_HINTS = {
    ExitCode.NOT_FOUND: "`list_pending` lists the requests that wait; ids may be shortened to 6+ characters.",
    ExitCode.CONFLICT: "One decision wins per request; `show_request` shows who decided it.",
    ExitCode.REFUSED: "The request is still pending; `show_request` lists its allowed decisions and "
    "confirmation phrase. Fix the decision and call `decide` again.",
    ExitCode.DATABASE: "The server's database cannot be used; check its --db.",
    ExitCode.AUDIT_BROKEN: "The audit log does not verify; restore the database and find out who wrote to it.",
}
_USAGE_HINT = (
    "Decide a request with one call with `decision` (and `verify`, `edited_args`, `edited_name`); one "
    "with several calls with `all_calls=true`, or `calls` {call id or number: approve|reject|edit|respond}, "
    "with `call_verify` and `call_args` per call. `show_request` lists the calls."
)
_OPTION_WORDS = (
    ("--call ", "calls "),
    ("--call", "calls"),
    ("--all", "all_calls"),
    ("--verify", "verify / call_verify"),
    ("--args", "edited_args / call_args"),
    ("--name", "edited_name"),
)


class InboxTools:
    """What the MCP tools do, without the MCP SDK: read the inbox, decide as one fixed identity.

    Args:
        settings: The database, graph, audit key and webhook, resolved as the CLI resolves them.
        identity: Who decides every request decided through this object. Canonicalized here,
            so a name that could deceive (lookalike, control characters, `system:`) is refused
            before the server starts.

    Raises:
        AuthorizationError: `identity` is not an acceptable name.
    """

    identity_origin = "set when it was started"
    """Where `identity` came from, as a refusal tells the client."""

    def __init__(self, settings: Settings, *, identity: str) -> None:
        from ..identity import canonical

        self.settings = settings
        self.identity = canonical(identity)
        self._lock = threading.Lock()
        self._stack = ExitStack()
        self._runner: Approvals | None = None

    def close(self) -> None:
        """Close the runner and wait for webhook deliveries, if a decision opened them."""
        with self._lock:
            self._runner = None
            self._stack.close()

    def list_pending(
        self,
        *,
        risk: str | None = None,
        thread_id: str | None = None,
        mine: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """A page of pending requests, newest first, and the next page's cursor (`pending --json`)."""
        if risk is not None and risk not in RISKS:
            msg = f"risk {risk!r} is not a risk level; use one of: {', '.join(RISKS)}."
            raise CLIError(msg, code=ExitCode.USAGE, hint="Drop `risk` to list every level.")
        check_thread(thread_id)
        if not 1 <= limit <= 500:
            msg = f"limit {limit} is out of range; a page holds 1 to 500 requests."
            raise CLIError(msg, code=ExitCode.USAGE, hint="Page with `cursor` instead.")
        with self._store() as store:
            try:
                rows, next_cursor = store.inbox.pending(
                    approver=self.identity if mine else None,
                    risk=risk,
                    limit=limit,
                    cursor=cursor,
                    thread_id=thread_id,
                )
            except ValueError as exc:
                hint = "Pass `cursor` exactly as the previous page returned it."
                raise CLIError(str(exc), code=ExitCode.USAGE, hint=hint) from None
        return plain({"items": [request_dict(r) for r in rows], "next_cursor": next_cursor})

    def show_request(self, request_id: str) -> dict[str, Any]:
        """One request in full, what became of it, and its thread's history (`show --json`)."""
        with self._store() as store:
            row = find_request(store, request_id)
            history = store.audit.query(thread_id=row.thread_id)
            outcome = outcome_of(store, row, history)
        return plain({"request": request_dict(row), "outcome": outcome.to_dict(), "history": history})

    def audit(self, *, thread_id: str | None = None, limit: int | None = 50) -> list[dict[str, Any]]:
        """Audit events, oldest first: a thread's whole trail, or the newest `limit` of the log."""
        with self._store() as store:
            rows = store.audit.query(thread_id=thread_id, limit=limit, descending=True)
        return plain(list(reversed(rows)))

    def decide(self, request_id: str, opts: AnswerOptions) -> dict[str, Any]:
        """Decide `request_id` as this object's identity, the way `langgraph-hitl approve` does.

        Returns:
            `approve --json`'s result: the decision sent, the thread's status, what each tool
            call returned, and the requests that now wait.

        Raises:
            CLIError: Not found or no longer pending, a malformed answer, or a refusal by
                `Approvals.decide` or by the graph; the request stays pending.
        """
        self._check_can_decide(opts.kind)
        with self._store() as store:
            row = find_request(store, request_id)
        check_pending(row)
        views = calls_of(row.payload)
        answer = build_answer(views, opts, request_id=row.request_id)
        from ..errors import AuthorizationError, DecisionError

        try:
            result, refusals = self._resume(row, opts.kind, answer.value)
        except (DecisionError, AuthorizationError) as exc:
            raise _refused(exc, row.request_id, views) from exc
        if refusals:
            raise _refused_by_graph(row.request_id, refusals[-1], result)
        return plain(_result_dict(row.request_id, answer, result, refusals))

    def _store(self) -> AbstractContextManager[Store]:
        """The store to read, for one call: the settings' database, opened and closed again."""
        return open_db(self.settings)

    def _check_can_decide(self, command: str) -> None:
        """Refuse a decision before it is built when there is no graph to resume."""
        self.settings.require_graph(command)

    def _resume(self, row: RequestRow, command: str, value: Any) -> tuple[RunResult, list[dict[str, Any]]]:
        """`Approvals.decide` as this identity, and the refusals the graph recorded applying the answer."""
        with self._lock:
            hitl = self._open_runner(command)
            decide = partial(hitl.decide, row.request_id, value, approver=self.identity)
            return self._decided(hitl.store, row, decide)

    @staticmethod
    def _decided(
        store: Store, row: RequestRow, decide: Callable[[], RunResult]
    ) -> tuple[RunResult, list[dict[str, Any]]]:
        """`decide()`, and the refusals the graph recorded in `store` on `row`'s thread while it ran."""
        before = _last_seq(store, row.thread_id)
        result = decide()
        return result, _refusals_since(store, row.thread_id, before)

    def _open_runner(self, command: str) -> Approvals:
        """The server's one runner, opened (and the graph imported) on the first decision."""
        if self._runner is None:
            notifier = self._stack.enter_context(open_notifier(self.settings))
            self._runner = self._stack.enter_context(open_runner(self.settings, command, notifier))
        return self._runner


def plain(value: T) -> T:
    """`value` as plain JSON: what is not JSON (a datetime, a message object) becomes its text.

    Text is kept exactly, control and bidi characters included, so an id read here can be
    passed back; the client's JSON carries them escaped, and displaying them is the client's care.
    """
    return json.loads(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))  # type: ignore[no-any-return]


def answer_options(
    decision: str,
    *,
    message: str | None = None,
    verify: str | None = None,
    edited_args: dict[str, Any] | None = None,
    edited_name: str | None = None,
    all_calls: bool = False,
    calls: dict[str, str] | None = None,
    call_verify: dict[str, str] | None = None,
    call_args: dict[str, dict[str, Any]] | None = None,
) -> AnswerOptions:
    """The `decide` tool's arguments as the options of the CLI's deciding commands."""
    verify_values = ([verify] if verify is not None else []) + [
        f"{k}={v}" for k, v in (call_verify or {}).items()
    ]
    args_values = [json.dumps(edited_args)] if edited_args is not None else []
    args_values += [f"{k}={json.dumps(v)}" for k, v in (call_args or {}).items()]
    return AnswerOptions(
        kind=decision,
        all_calls=all_calls,
        calls=[f"{k}={v}" for k, v in (calls or {}).items()],
        verify=verify_values,
        args=args_values,
        message=message,
        name=edited_name,
    )


def tool_error_text(exc: BaseException, identity: str, origin: str = InboxTools.identity_origin) -> str:
    """What an MCP client reads when a tool fails: the reason, naming the bad value, and what to do.

    `origin` says where `identity` came from (`InboxTools.identity_origin`).
    """
    code, _ = classify(exc)
    text = " ".join(str(exc).split()) or type(exc).__name__
    if code is ExitCode.USAGE:
        for option, word in _OPTION_WORDS:
            text = text.replace(option, word)
        return f"{text} {_USAGE_HINT}"
    if code is ExitCode.UNAUTHORIZED:
        hint = (
            f"This server decides as {identity!r}, {origin}; the request is still pending "
            "for one of its approvers (`show_request` lists them)."
        )
        return f"{text} {hint}"
    if code is ExitCode.ERROR and not isinstance(exc, CLIError):
        return f"{type(exc).__name__}: {text}"
    return f"{text} {_HINTS.get(code, '')}".strip()
