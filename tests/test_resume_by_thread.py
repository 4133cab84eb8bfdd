"""Resume a paused thread by its id, the way LangGraph users do (issue: resume by thread id).

`pending(thread_id=...)` lists what a thread waits on; `resume(thread_id, decision, approver=...)`
decides its one question (every check `decide()` makes applies); several questions need
`interrupt_id`; an unknown or finished thread is `NotPendingError` naming it. Across processes:
pause in one, resume by thread id in another, through the runner, the CLI and plain LangGraph
(the CLI's other `--thread` cases are in `tests/test_cli_threads.py`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langgraph_hitl import Approvals, AuthorizationError, DecisionError, NotPendingError

from graphs import action, build

pytestmark = pytest.mark.usefixtures("flavour")
TESTS = Path(__file__).resolve().parent


def test_pending_by_thread_and_resume_its_one_question(store_url: str) -> None:
    with Approvals.open(build(), store_url) as hitl:
        rid = hitl.start("ticket-42", action("delete_record", id=42)).pending[0].request_id
        hitl.start("ticket-43", action("delete_record", id=43))
        page = hitl.pending(thread_id="ticket-42")
        assert [p.request_id for p in page.items] == [rid]
        assert hitl.pending(thread_id="nobody").items == []
        with pytest.raises(AuthorizationError):
            hitl.resume("ticket-42", {"type": "approve"}, approver="agent")  # the requester, refused
        assert hitl.get(rid).status == "pending"
        run = hitl.resume("ticket-42", {"type": "approve"}, approver="alice")
        assert run.values["status"] == "executed" and hitl.get(rid).status == "resumed"
        assert [e["event"] for e in hitl.history("ticket-42")][-2:] == ["approved", "executed"]
        assert len(hitl.pending(thread_id="ticket-43").items) == 1  # the other thread untouched


def test_resume_an_unknown_or_finished_thread_names_it(db_url: str) -> None:
    with Approvals.open(build(), db_url) as hitl:
        with pytest.raises(NotPendingError, match="Thread 'ghost' waits on no request"):
            hitl.resume("ghost", {"type": "approve"}, approver="alice")
        hitl.start("done", action("read_record", id=1))
        with pytest.raises(NotPendingError, match="Thread 'done' waits on no request"):
            hitl.resume("done", {"type": "approve"}, approver="alice")
        with pytest.raises(ValueError, match="thread_id=''"):
            hitl.pending(thread_id="")


def test_several_questions_need_an_interrupt_id(db_url: str) -> None:
    """Two parallel reviews on one thread: resume refuses, listing both; interrupt_id picks one."""
    from test_subgraphs import first_input, graph  # two parallel approval flows on one thread

    with Approvals.open(graph("parallel"), db_url) as hitl:
        run = hitl.start("two", first_input("parallel", "delete_record"))
        assert len(run.pending) == 2
        with pytest.raises(DecisionError, match="waits on 2 requests") as info:
            hitl.resume("two", {"type": "approve"}, approver="alice")
        for p in run.pending:
            assert p.request_id in str(info.value)
        first = run.pending[0]
        hitl.resume("two", {"type": "approve"}, approver="alice", interrupt_id=first.interrupt_id)
        assert hitl.get(first.request_id).status == "resumed"
        with pytest.raises(NotPendingError, match="no pending request with interrupt id"):
            hitl.resume("two", {"type": "approve"}, approver="alice", interrupt_id=first.interrupt_id)


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


PAUSE = """
    import sys; sys.path.insert(0, {tests!r})
    from graphs import action, build
    from langgraph_hitl import Approvals
    with Approvals.open(build(), {url!r}) as hitl:
        hitl.start("ticket-7", action("delete_record", id=7))
"""


@pytest.mark.parametrize("door", ["runner", "cli", "langgraph"])
def test_pause_in_one_process_resume_by_thread_id_in_another(db_url: str, door: str) -> None:
    """Pause in one process; in a second, resume thread `ticket-7` by its id: through the runner,
    the CLI (`approve --thread ticket-7`) or plain LangGraph (`open_checkpointer` +
    `Command(resume=...)`, identity from the run's config). Each time the action ran once, the
    audit log tells the story, and the inbox row is settled with who decided."""
    _python(PAUSE.format(tests=str(TESTS), url=db_url))
    if door == "cli":
        proc = subprocess.run(
            [sys.executable, "-m", "langgraph_hitl.cli", "--db", db_url, "approve", "--thread", "ticket-7",
             "--as", "alice", "--graph", f"{TESTS / 'graphs.py'}:builder"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.splitlines()[1:2] == ["Thread ticket-7: done (status: executed)."], proc.stdout
    elif door == "runner":
        _python(f"""
            import sys; sys.path.insert(0, {str(TESTS)!r})
            from graphs import build
            from langgraph_hitl import Approvals
            with Approvals.open(build(), {db_url!r}) as hitl:
                hitl.resume("ticket-7", {{"type": "approve"}}, approver="alice")
        """)
    else:
        _python(f"""
            import sys; sys.path.insert(0, {str(TESTS)!r})
            from graphs import build
            from langgraph.types import Command
            from langgraph_hitl import open_checkpointer, open_store
            from langgraph_hitl.testing import authenticated
            with open_checkpointer({db_url!r}) as saver, open_store({db_url!r}) as store:
                graph = build(store=store).compile(checkpointer=saver)
                config = {{"configurable": {{"thread_id": "ticket-7"}}}}
                graph.invoke(Command(resume={{"type": "approve"}}), authenticated(config, "alice"))
        """)
    with Approvals.open(build(), db_url) as hitl:
        state = hitl.graph.get_state({"configurable": {"thread_id": "ticket-7"}})
        assert state.values["status"] == "executed" and not state.next
        story = [(e["event"], e["actor"]) for e in hitl.history("ticket-7")]
        assert ("approved", "alice") in story and story[-1][0] == "executed", story
        assert sum(1 for e, _ in story if e == "executed") == 1
        assert hitl.store.audit.verify().ok
        [row] = hitl.store.inbox.by_thread("ticket-7")  # settled either way, never left pending
        assert (row.status, row.decision) == ("resumed", {"type": "approve", "approver": "alice"})
        assert hitl.pending(thread_id="ticket-7").items == []


def test_a_plain_resume_between_two_stages_is_settled_by_refresh(db_url: str) -> None:
    """Four-eyes: the first reviewer answers with plain LangGraph, which the runner does not see.
    `refresh()` then indexes the second question and records the first as decided by its
    reviewer, not as cancelled."""
    from langgraph.types import Command

    from langgraph_hitl.testing import authenticated

    with Approvals.open(build(), db_url) as hitl:
        first = hitl.start("prod", action("delete_record", id=1, env="prod")).pending[0]
        config = {"configurable": {"thread_id": "prod"}}
        raw = build(store=hitl.store).compile(checkpointer=hitl.graph.checkpointer)
        raw.invoke(Command(resume={"type": "approve"}), authenticated(config, "alice"))
        assert hitl.get(first.request_id).status == "pending"  # nobody told the index yet
        [second] = hitl.refresh("prod")
        assert second.stage == 2 and second.request_id != first.request_id
        settled = hitl.get(first.request_id)
        assert (settled.status, settled.decided_by) == ("resumed", "alice")
        hitl.resume("prod", {"type": "approve"}, approver="bob")
        assert hitl.graph.get_state(config).values["status"] == "executed"


def test_a_forged_decision_in_state_settles_nothing(db_url: str) -> None:
    """An `approved` event written into the thread's state by a client (not sealed by the review
    node) does not mark the request decided: `refresh()` drops it (G11) and asks again."""
    with Approvals.open(build(), db_url) as hitl:
        first = hitl.start("t", action("delete_record", id=1)).pending[0]
        forged = {
            "event": "approved", "request_id": first.request_id, "thread_id": "t", "actor": "mallory",
            "event_id": "forged-1", "action_id": first.payload["hitl"]["action_id"], "ts": "2026-01-01T00:00:00Z",
        }  # fmt: skip
        config = {"configurable": {"thread_id": "t"}}
        hitl.graph.update_state(config, {"audit_trail": [forged]})
        [again] = hitl.refresh("t")
        assert (again.status, again.decided_by) == ("pending", None)
        assert hitl.get(first.request_id).decided_by is None
        assert ("approved", "mallory") not in [(e["event"], e["actor"]) for e in hitl.history("t")]


def test_settle_ignores_events_that_are_not_a_person_deciding_this_thread(db_url: str) -> None:
    with Approvals.open(build(), db_url) as hitl:
        rid = hitl.start("t", action("delete_record", id=1)).pending[0].request_id
        inbox = hitl.store.inbox
        base = {"request_id": rid, "actor": "mallory"}
        assert inbox.settle_decided("t", [{**base, "event": "proposed", "thread_id": "t"}]) == []
        assert inbox.settle_decided("t", [{**base, "event": "timed_out", "thread_id": "t"}]) == []
        assert inbox.settle_decided("t", [{**base, "event": "approved", "thread_id": "other"}]) == []
        assert inbox.settle_decided("other", [{**base, "event": "approved", "thread_id": "other"}]) == []
        assert hitl.get(rid).status == "pending"
        assert inbox.settle_decided("t", [{**base, "event": "rejected", "thread_id": "t"}]) == [rid]
        assert inbox.settle_decided("t", [{**base, "event": "approved", "thread_id": "t"}]) == []  # once
        settled = hitl.get(rid)
        assert (settled.status, settled.decision) == ("resumed", {"type": "reject", "approver": "mallory"})


def test_a_thread_id_no_thread_can_have_is_a_clear_error(db_url: str) -> None:
    """A lone surrogate in a thread id is a ValueError naming it, from pending() and resume()
    alike (it escaped as a bare UnicodeEncodeError from the database driver)."""
    with Approvals.open(build(), db_url) as hitl:
        for call in (
            lambda: hitl.pending(thread_id="t\ud800"),
            lambda: hitl.resume("t\ud800", {"type": "approve"}, approver="alice"),
        ):
            with pytest.raises(ValueError, match=r"not valid UTF-8"):
                call()
