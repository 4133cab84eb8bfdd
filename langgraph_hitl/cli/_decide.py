"""What `approve`, `reject`, `edit` and `respond` do: one answer, through `Approvals.decide`, then say what happened.

The request is looked up in the store first (by id or prefix, or as the one request a
`--thread` waits on), so an unknown or decided request fails before the graph is imported,
and the options are turned into the answer (`_answer`) before it is too. Then the one decide
path: `Approvals.decide(request_id, answer, approver=...)`. After it the command says exactly
what happened:

- refused by `decide` (exit 5 or 6): which call and why; the request stays pending;
- refused by the graph when it applied the answer (exit 5): the reason, and the request that
  asks again; nothing ran;
- done: the thread's status and what the action (or each tool call) returned;
- paused: the next question, waiting for the next reviewer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._answer import Answer, AnswerOptions, build_answer
from ._calls import CallView, calls_of
from ._common import check_pending, check_target, find_target, open_db
from ._errors import CLIError, ExitCode
from ._notifier import open_notifier
from ._outcome import decision_words
from ._render import SHORT, approvers_text, console, print_json, refusal_reason, text
from ._settings import Settings, graph_from_spec

if TYPE_CHECKING:
    from rich.console import Console

    from ..approvals import Approvals, RunResult
    from ..store import Store

__all__ = ["open_runner", "run_decision"]

_PAST = {"approve": "Approved", "reject": "Rejected", "edit": "Edited", "respond": "Responded to"}
_DID = {
    "approve": "ran; the tool returned",
    "edit": "ran as edited; the tool returned",
    "reject": "not run; the agent was told",
    "respond": "not run; the agent was told",
}


@contextmanager
def open_runner(settings: Settings, command_name: str, notifier: Any = None) -> Iterator[Approvals]:
    """`Approvals` over the settings' graph and database, announcing through `notifier`."""
    spec = settings.require_graph(command_name)
    graph = graph_from_spec(spec)
    from ..approvals import Approvals

    with Approvals.open(
        graph, settings.require_database(), hmac_key=settings.audit_key, notifier=notifier
    ) as hitl:
        yield hitl


def run_decision(
    settings: Settings,
    request: str | None,
    approver: str,
    opts: AnswerOptions,
    *,
    thread: str | None = None,
    interrupt_id: str | None = None,
    as_json: bool = False,
) -> None:
    """Decide `request` (or the one request `thread` waits on) as `approver` with the answer the
    options describe, and report the result.

    A thread is resolved to its request first (`find_thread_request`: the rules of
    `Approvals.resume`); from there it is the same path as a request id.

    Raises:
        CLIError: Usage (2; also a thread waiting on several requests without `interrupt_id`),
            not found (3), conflict (4), refused (5) or not authorized (6).
    """
    check_target(request, thread, command=opts.kind, interrupt_id=interrupt_id)
    settings.require_graph(opts.kind)
    with open_db(settings) as store:
        row = find_target(store, request, thread, interrupt_id)
    check_pending(row)
    views = calls_of(row.payload)
    answer = build_answer(views, opts, request_id=row.request_id)
    from ..errors import AuthorizationError, DecisionError

    with open_notifier(settings) as notifier, open_runner(settings, opts.kind, notifier) as hitl:
        before = _last_seq(hitl.store, row.thread_id)
        try:
            result = hitl.decide(row.request_id, answer.value, approver=approver)
        except (DecisionError, AuthorizationError) as exc:
            raise _refused(exc, row.request_id, views) from exc
        refusals = _refusals_since(hitl.store, row.thread_id, before)
    data = _result_dict(row.request_id, answer, result, refusals)
    if as_json:
        print_json(data)
    else:
        _print(console(), row.request_id, approver, answer, result, refusals)
    if refusals:
        raise _refused_by_graph(row.request_id, refusals[-1], result)


def _refused(exc: Exception, request_id: str, views: Sequence[CallView]) -> CLIError:
    """`decide` refused the answer: the error names the call, the hint what to look at."""
    from ..errors import AuthorizationError

    code = ExitCode.UNAUTHORIZED if isinstance(exc, AuthorizationError) else ExitCode.REFUSED
    message = str(exc)
    match = re.search(r"action ([0-9]+) \('", message)
    if match and len(views) > 1 and int(match.group(1)) <= len(views):
        message = f"Call {views[int(match.group(1)) - 1].label}: {message}"
    short = request_id[:SHORT]
    hint = (
        f"Request {short} is still pending; `langgraph-hitl show {short}` shows its approvers, allowed "
        "decisions and confirmation phrase" + (" per call." if len(views) > 1 else ".")
    )
    return CLIError(message, code=code, hint=hint)


def _refused_by_graph(request_id: str, refusal: Mapping[str, Any], result: RunResult) -> CLIError:
    """`decide` took the answer but the graph refused it when applying it, and asked again."""
    asked = [p.request_id[:SHORT] for p in result.pending]
    again = f"it asks again as request {', '.join(asked)}" if asked else "nothing waits for it now"
    msg = f"The graph refused the decision on request {request_id[:SHORT]}: {refusal_reason(refusal)}"
    hint = (
        f"Nothing was applied; {again}. See it with `langgraph-hitl show {asked[0] if asked else 'REQUEST'}`."
    )
    return CLIError(msg, code=ExitCode.REFUSED, hint=hint)


def _last_seq(store: Store, thread_id: str) -> int:
    last = store.audit.query(thread_id=thread_id, limit=1, descending=True)
    return int(last[0]["seq"]) if last else 0


def _refusals_since(store: Store, thread_id: str, seq: int) -> list[dict[str, Any]]:
    """Refusals the graph recorded while applying the answer (the ones `decide` made raise instead)."""
    rows = store.audit.query(thread_id=thread_id, event="refused")
    return [r for r in rows if int(r["seq"]) > seq and r.get("actor") != "system:audit"]


def _tool_results(result: RunResult, answer: Answer) -> list[tuple[CallView, str, str, str]]:
    """(call, its decision, what happened, the tool's reply) for each decided tool call the graph answered."""
    replies: dict[str, str] = {}
    for message in result.values.get("messages") or []:
        call_id = getattr(message, "tool_call_id", None)
        if call_id:
            content = getattr(message, "content", "")
            replies[str(call_id)] = content if isinstance(content, str) else str(content)
    out = []
    for view, decision in answer.decisions:
        if view.call_id and view.call_id in replies:
            kind = str(decision["type"])
            out.append((view, kind, _DID.get(kind, kind), replies[view.call_id]))
    return out


def _result_dict(
    request_id: str, answer: Answer, result: RunResult, refusals: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "decision": answer.value,
        "thread_id": result.thread_id,
        "status": result.status,
        "outcome": "refused" if refusals else ("waiting" if result.pending else "done"),
        "refused": refusal_reason(refusals[-1]) if refusals else None,
        "calls": [
            {
                "index": v.index,
                "call_id": v.call_id,
                "name": v.name,
                "decision": kind,
                "ran": did,
                "reply": r,
            }
            for v, kind, did, r in _tool_results(result, answer)
        ],
        "pending": [p.to_dict() for p in result.pending],
        "values": result.values,
    }


def _print(
    out: Console,
    request_id: str,
    approver: str,
    answer: Answer,
    result: RunResult,
    refusals: Sequence[Mapping[str, Any]],
) -> None:
    if refusals:
        return  # said on stderr, with the request that asks again
    short = request_id[:SHORT]
    if len(answer.decisions) == 1:
        done = _PAST.get(str(answer.decisions[0][1]["type"]), "Decided")
        out.print(text(f"{done} {short} as {approver}."))
    else:
        out.print(text(f"Decided {short} as {approver}:"))
        for view, decision in answer.decisions:
            out.print(text(f"  {view.label}: {decision_words(decision, None)}"))
    status = result.values.get("status")
    detail = f" (status: {status})" if status and not isinstance(status, dict) else ""
    out.print(text(f"Thread {result.thread_id}: {result.status}{detail}."))
    if status == "executed" and result.values.get("result") is not None:
        out.print(text(f"Result: {_short_json(result.values['result'])}"))
    for view, _, did, reply in _tool_results(result, answer):
        lines = reply.splitlines() or [""]
        if len(lines) == 1:
            out.print(text(f"  {view.label}: {did}: {lines[0]}"))
            continue
        out.print(text(f"  {view.label}: {did}:"))
        for line in lines:  # each line escaped on its own: the reply's newlines are kept, nothing else
            out.print(text(f"      {line}"))
    if result.pending:
        out.print("Waiting for the next reviewer:", highlight=False)
        for p in result.pending:
            out.print(
                text(
                    f"  {p.request_id[:SHORT]}  {p.action['name']}  stage {p.stage}  risk {p.risk}  "
                    f"approvers {approvers_text(p.approvers)}"
                )
            )


def _short_json(value: Any) -> str:
    import json

    shown = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return shown if len(shown) <= 2000 else shown[:1999] + "…"
