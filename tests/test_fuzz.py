"""Fuzzed decisions (G1): junk never escapes as anything but a HITLError, never executes, never wedges a thread.

Two doors are fuzzed with the same generated answers: `Approvals.decide()` on one paused
request (a verify gate with an approvers list), on both runners (sync and async) and both
databases, and `resume_as(graph, ...)` straight into the graph. A third door takes what an agent
proposes: `start()` with arguments and context holding values that are not JSON, huge integers,
NUL, lone surrogates and oversized strings. The default run tries a few hundred answers per
door; the soak run (`make soak`) 10,000 answers to `decide` per runner flavour, 2,000 poisoned
proposals per flavour and 2,000 answers at the raw door.
"""

from __future__ import annotations

import datetime
import decimal
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.errors import is_invalid_resume
from pydantic import ValidationError

from langgraph_hitl import Approvals, HITLError, open_checkpointer
from langgraph_hitl.identity import canonical
from langgraph_hitl.testing import resume_as

from graphs import action, build

APPROVERS = ["alice", "bob"]
SOAK_DECISIONS = int(os.environ.get("HITL_SOAK_DECISIONS", "10000"))
"""Generated answers to decide() per runner flavour in the soak run."""
PHRASE = "DELETE 4821"
FIELDS = {"type", "approver", "message", "edited_action", "verify"}
HUMAN_TYPES = {"approve", "edit", "reject", "respond"}

# -- what is generated ----------------------------------------------------------------------------

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\n",
        "\x00",
        "\ud800",
        "\u202e",
        "é" * 3,
        "x" * 10_001,
        "é" * 20_000,
        "🙂" * 100,
        "alice\n",
        " alice",
        "ALICE",
        "system:timeout",
        "agent",
        "mallory",
    ]
)
TEXT = st.text(max_size=40) | ODD_TEXT
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | TEXT
JUNK = st.recursive(
    SCALARS, lambda c: st.lists(c, max_size=4) | st.dictionaries(TEXT, c, max_size=4), max_leaves=12
)
TYPES = (
    st.sampled_from(
        [
            "approve",
            "edit",
            "reject",
            "respond",
            "revise",
            "timeout",
            "escalate",
            "invalid",
            "aprove",
            "APPROVE",
            "approve ",
            "",
        ]
    )
    | JUNK
)
WHO = st.sampled_from([*APPROVERS, "mallory", "agent", "system:timeout", "", " ", "alice\n"]) | TEXT
VERIFY = (
    st.sampled_from([PHRASE, PHRASE.lower(), PHRASE + " ", "DELETE 482", "DELETE  4821", ""]) | TEXT | JUNK
)
EDITED = (
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["delete_record", "read_record", "unknown_tool", ""]) | TEXT | JUNK,
            "args": st.dictionaries(TEXT, JUNK, max_size=3)
            | st.just({"id": 4821})
            | st.just({"id": 1})
            | JUNK,
            "colour": JUNK,
        },
    )
    | JUNK
)
DECISION_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "type": TYPES,
        "approver": WHO,
        "message": TEXT | JUNK,
        "verify": VERIFY,
        "edited_action": EDITED,
    },
) | st.builds(
    lambda d, extra: {**d, **extra},
    st.fixed_dictionaries({"type": TYPES, "approver": WHO}),
    st.dictionaries(TEXT, JUNK, min_size=1, max_size=2),
)
NEAR_VALID = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(HUMAN_TYPES) + ["revise", "timeout", "escalate"])},
    optional={
        "approver": st.sampled_from([*APPROVERS, "mallory", "agent", "system:timeout", "\ud800"]),
        "verify": st.sampled_from([PHRASE, PHRASE.lower(), "DELETE 482", "\ud800", "x" * 10_001]),
        "message": st.sampled_from(["", "why", "\ud800", "x" * 10_001]) | st.text(max_size=20),
        "edited_action": st.fixed_dictionaries(
            {
                "name": st.sampled_from(["delete_record", "read_record", "unknown_tool"]),
                "args": st.sampled_from(
                    [
                        {"id": 4821},
                        {"id": 1},
                        {"id": 4821, "env": "prod"},
                        {"id": math.nan},
                        {"id": 2**70},
                        {"k": "\ud800"},
                        {},
                    ]
                ),
            }
        ),
    },
)
ANSWERS = (
    NEAR_VALID
    | NEAR_VALID
    | DECISION_LIKE
    | st.fixed_dictionaries({"decisions": st.lists(NEAR_VALID | DECISION_LIKE, max_size=3)})
    | st.fixed_dictionaries({"decisions": JUNK})
    | JUNK
)
APPROVER_ARG = WHO | st.none() | st.integers() | st.lists(TEXT, max_size=2)

SETTINGS = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
}


def soak_only(request: pytest.FixtureRequest) -> None:
    """Run a soak test only when asked for (`pytest -m soak`), never in the default run."""
    if "soak" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("soak size: run with pytest -m soak")


# -- the oracle: what a correct decision for the paused request looks like ------------------------


def _text_ok(value: Any) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= 10_000)


def acceptable(answer: Any, approver: Any, *, raw: bool = False) -> bool:
    """Whether `answer` by `approver` is a valid decision for the paused delete (an independent oracle).

    Through `decide()` only people decide. Straight into the graph (`raw`) nobody is
    authenticated, so the runner's own `timeout` / `escalate` answers are valid there too.
    """
    if isinstance(answer, list):  # Agent Inbox's list of one response
        if len(answer) != 1:
            return False
        answer = answer[0]
    elif isinstance(answer, dict) and "decisions" in answer:
        items = answer["decisions"]
        if set(answer) != {"decisions"} or not isinstance(items, list) or len(items) != 1:
            return False
        answer = items[0]
    if isinstance(answer, dict) and answer.get("args", False) is None:
        # langchain's `args: null` is ignored (Agent Inbox's types are not generated here).
        answer = {k: v for k, v in answer.items() if k != "args"}
    if not isinstance(answer, dict) or not set(answer) <= FIELDS:
        return False
    named = _person(answer.get("approver"))
    who = _person(approver) if approver is not None else named
    if answer.get("approver") is not None and (named is None or named != who):
        return False
    if raw and who == "system:timeout" and answer.get("type") in ("timeout", "escalate"):
        return set(answer) <= {"type", "approver", "message", "verify"} and _text_ok(answer.get("message"))
    if who not in APPROVERS or answer.get("type") not in HUMAN_TYPES:
        return False
    if not _text_ok(answer.get("message")) or not _text_ok(answer.get("verify")):
        return False
    kind = answer["type"]
    edited = answer.get("edited_action")
    if kind == "edit":
        if not isinstance(edited, dict) or not set(edited) <= {"name", "args"}:
            return False
        name, args = edited.get("name"), edited.get("args")
        if not isinstance(name, str) or not name.strip() or len(name) > 200 or not isinstance(args, dict):
            return False
        if not _plain_json(args):
            return False
    elif edited is not None:
        return False
    if kind in ("approve", "edit") and answer.get("verify") != PHRASE:
        return False
    return not (kind == "respond" and not answer.get("message"))


def _person(name: Any) -> Any:
    """A name as the runner compares people (`identity.canonical`); None for one it refuses."""
    if isinstance(name, str) and name.strip().casefold().startswith("system:"):
        return name  # the runner's own actors: valid only straight into the graph (checked below)
    try:
        return canonical(name)
    except HITLError:
        return None


def _approves(answer: Any) -> bool:
    if isinstance(answer, dict) and "decisions" in answer:
        answer = answer["decisions"][0]
    return answer.get("type") in ("approve", "edit")


def _plain_json(value: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v, depth + 1) for k, v in value.items())
    return False


def _effects(effects_db: Path) -> int:
    if not effects_db.exists():
        return 0
    conn = sqlite3.connect(effects_db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


# -- door 1: Approvals.decide ------------------------------------------------------------------------


def fuzz_decide(tmp_path: Path, url: str, max_examples: int, monkeypatch: pytest.MonkeyPatch) -> None:
    effects_db = tmp_path / "effects.db"
    monkeypatch.setenv("HITL_EFFECTS_DB", str(effects_db))
    with Approvals.open(build(verify=True, approvers=APPROVERS), url) as hitl:
        counter: dict[str, int] = {"threads": 0, "tried": 0, "accepted": 0}

        def fresh() -> str:
            counter["threads"] += 1
            run = hitl.start(f"t{counter['threads']}", action("delete_record", id=4821))
            assert run.status == "paused" and run.pending[0].payload["hitl"]["verify_phrase"] == PHRASE
            return run.pending[0].request_id

        current = {"rid": fresh()}

        @settings(max_examples=max_examples, **SETTINGS)
        @given(answer=ANSWERS, approver=APPROVER_ARG)
        def check(answer: Any, approver: Any) -> None:
            rid = current["rid"]
            counter["tried"] += 1
            before = _effects(effects_db)
            try:
                run = hitl.decide(rid, answer, approver=approver)
            except HITLError as exc:
                counter[type(exc).__name__] = counter.get(type(exc).__name__, 0) + 1
                row = hitl.store.inbox.get(rid)
                assert row is not None and row.status == "pending", (
                    f"a refused answer moved the request: {row}"
                )
                state = hitl.graph.get_state({"configurable": {"thread_id": row.thread_id}})
                assert row.interrupt_id in {i.id for i in state.interrupts}, (
                    "a refused answer unpaused the thread"
                )
                assert _effects(effects_db) == before, "a refused answer executed the action"
                return
            assert acceptable(answer, approver), (
                f"decide() accepted an invalid answer {answer!r} by {approver!r}"
            )
            counter["accepted"] += 1
            if run.values.get("status") == "executed":
                assert _effects(effects_db) == before + 1
            current["rid"] = fresh()

        check()
        assert counter["tried"] >= max_examples * 0.9
        run = hitl.decide(current["rid"], {"type": "approve", "verify": PHRASE}, approver="alice")
        assert run.status == "done" and run.values["status"] == "executed"
        assert hitl.store.audit.verify().ok
        print(f"decide fuzz: {counter}")


def test_decide_fuzzed_answers_raise_only_hitl_errors(
    tmp_path: Path, store_url: str, flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """G1: 300 generated answers to decide() per runner and database: HITLError only, the
    request stays pending, a valid answer still works."""
    fuzz_decide(tmp_path, store_url, 300, monkeypatch)


@pytest.mark.soak
@pytest.mark.slow
def test_decide_fuzzed_answers_soak(
    tmp_path: Path, flavour: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """G1 at soak size: 10,000 generated answers to decide() per runner, on SQLite."""
    soak_only(request)
    fuzz_decide(tmp_path, f"sqlite:///{tmp_path / 'hitl.db'}", SOAK_DECISIONS, monkeypatch)


# -- door 0: what an agent proposes (Approvals.start) ---------------------------------------------

POISON = st.sampled_from(
    [
        datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.timezone.utc),
        decimal.Decimal("1.10"),
        2**64,
        -(2**63) - 1,
        10**40,
        "nul\x00inside",
        "lone \ud800 surrogate",
        "\udfff",
        b"bytes",
        {1, 2},
        float("nan"),
        float("inf"),
        "x" * 300_000,
    ]
)
AGENT_VALUES = st.recursive(
    SCALARS | POISON,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(TEXT | st.sampled_from(["a", "\x00k"]), inner, max_size=3)
    ),
    max_leaves=6,
)
PROPOSALS = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["read_record", "send_email", "delete_record", "update_record"]),
        "args": st.dictionaries(st.sampled_from(["id", "to", "body", "env", "n"]), AGENT_VALUES, max_size=3),
    }
)
CONTEXTS = st.none() | st.dictionaries(
    st.sampled_from(["when", "why", "amount", "nested"]), AGENT_VALUES, max_size=3
)


def fuzz_start(tmp_path: Path, url: str, max_examples: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Poison proposals and contexts into `start()`: a result or a HITLError, never a lost request,
    a wedged thread or a thread left in flight; recovery afterwards has nothing to fail on."""
    monkeypatch.setenv("HITL_EFFECTS_DB", str(tmp_path / "effects.db"))
    with Approvals.open(build(approvers=APPROVERS), url) as hitl:
        counter: dict[str, int] = {"tried": 0}

        @settings(max_examples=max_examples, **SETTINGS)
        @given(proposal=PROPOSALS, context=CONTEXTS)
        def check(proposal: dict[str, Any], context: Any) -> None:
            counter["tried"] += 1
            thread = f"s{counter['tried']}"
            agent: dict[str, Any] = {"action": proposal}
            if context is not None:
                agent["hitl_context"] = context
            try:
                run = hitl.start(thread, agent)
                outcome = run.status
            except HITLError as exc:
                outcome = type(exc).__name__
            counter[outcome] = counter.get(outcome, 0) + 1
            db = hitl.store.backend
            flight = db.execute("SELECT state FROM hitl_threads WHERE thread_id = ?", (thread,))
            assert not flight or flight[0]["state"] == "idle", f"{thread} left in flight ({outcome})"
            state = hitl.graph.get_state({"configurable": {"thread_id": thread}})
            asked = {i.id for i in state.interrupts}
            rows = db.execute(
                "SELECT interrupt_id FROM hitl_requests WHERE thread_id = ? AND status = 'pending'", (thread,)
            )
            assert asked == {r["interrupt_id"] for r in rows}, (
                f"{thread}: questions and inbox differ ({outcome})"
            )
            if state.next:
                assert asked, f"{thread} paused at {state.next} with no question: wedged ({outcome})"

        check()
        assert counter["tried"] >= max_examples * 0.9
        report = hitl.recover()
        assert report.failed == {}, report.failed
        assert hitl.store.audit.verify().ok
        print(f"start fuzz: {counter}")


def test_start_fuzzed_agent_outputs_lose_nothing(
    tmp_path: Path, store_url: str, flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agent outputs with values that are not JSON, huge integers, NUL, lone surrogates and
    300 KB strings, 60 per runner and database: nothing lost, wedged or left in flight."""
    fuzz_start(tmp_path, store_url, 60, monkeypatch)


@pytest.mark.soak
@pytest.mark.slow
def test_start_fuzzed_agent_outputs_soak(
    tmp_path: Path, flavour: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The same at soak size: 2,000 poisoned agent outputs per runner, on SQLite."""
    soak_only(request)
    fuzz_start(tmp_path, f"sqlite:///{tmp_path / 'hitl.db'}", 2_000, monkeypatch)


# -- door 2: resume_as(graph, ...) --------------------------------------------------------


def fuzz_raw(tmp_path: Path, max_examples: int, monkeypatch: pytest.MonkeyPatch) -> None:
    effects_db = tmp_path / "effects.db"
    monkeypatch.setenv("HITL_EFFECTS_DB", str(effects_db))
    with open_checkpointer(f"sqlite:///{tmp_path / 'raw.db'}") as saver:
        graph = build(verify=True, approvers=APPROVERS).compile(checkpointer=saver)
        counter = {"threads": 0, "answers": 0, "refused_by_schema": 0, "reasked": 0, "accepted": 0}

        def fresh() -> dict[str, Any]:
            counter["threads"] += 1
            config = {"configurable": {"thread_id": f"raw{counter['threads']}"}}
            assert "__interrupt__" in graph.invoke(action("delete_record", id=4821), config)
            return config

        current = {"config": fresh()}

        @settings(max_examples=max_examples, **SETTINGS)
        @given(answer=ANSWERS, keyed=st.booleans())
        def check(answer: Any, keyed: bool) -> None:
            if counter["answers"] and counter["answers"] % 40 == 0:
                current["config"] = fresh()  # keep each thread's history short
            config = current["config"]
            counter["answers"] += 1
            [pending] = graph.get_state(config).interrupts
            if answer is None and not keyed:
                keyed = True  # Command(resume=None) means "no answer" to LangGraph itself
            before = _effects(effects_db)
            try:
                resume_as(graph, {pending.id: answer} if keyed else answer, config)
            except ValidationError as exc:
                assert is_invalid_resume(exc)
                counter["refused_by_schema"] += 1
            state = graph.get_state(config)
            if state.next:
                assert state.interrupts, f"thread wedged at {state.next} after {answer!r}"
                assert state.values.get("status") != "executed" and _effects(effects_db) == before
                counter["reasked"] += state.interrupts[0].id != pending.id
                return
            assert acceptable(answer, None, raw=True), f"the graph finished on an invalid answer {answer!r}"
            if state.values.get("status") == "executed":
                assert _effects(effects_db) == before + 1 and _approves(answer), f"executed on {answer!r}"
            else:
                assert _effects(effects_db) == before
            counter["accepted"] += 1
            current["config"] = fresh()

        check()
        config = current["config"]
        [pending] = graph.get_state(config).interrupts
        out = resume_as(graph, {pending.id: {"type": "approve", "approver": "bob", "verify": PHRASE}}, config)
        assert out["status"] == "executed"
        print(f"raw fuzz: {counter}")


def test_graph_fuzzed_resume_refused_or_reasked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """G1 at the raw door: junk resumes are refused before saving or re-asked; never executed, never wedged."""
    fuzz_raw(tmp_path, 200, monkeypatch)


@pytest.mark.soak
@pytest.mark.slow
def test_graph_fuzzed_resume_soak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """G1 at the raw door, soak size: 2,000 junk resumes straight into the graph."""
    soak_only(request)
    fuzz_raw(tmp_path, 2_000, monkeypatch)


def test_fuzz_oracle_accepts_only_valid_answers() -> None:
    """The oracle the fuzz trusts: a correct approval passes; a wrong phrase, person or field does not."""
    assert acceptable({"type": "approve", "verify": PHRASE}, "alice")
    assert acceptable({"decisions": [{"type": "reject", "approver": "bob"}]}, None)
    assert not acceptable({"type": "approve", "verify": PHRASE.lower()}, "alice")
    assert not acceptable({"type": "approve", "verify": PHRASE}, "mallory")
    assert not acceptable({"type": "reject", "colour": 1}, "alice")
    assert not acceptable({"type": "timeout"}, "system:timeout")
    assert acceptable({"type": "timeout", "approver": "system:timeout"}, None, raw=True)
    assert not acceptable(
        {"type": "edit", "verify": PHRASE, "edited_action": {"name": "x", "args": {"f": math.nan}}}, "alice"
    )


@pytest.mark.parametrize(
    ("answer", "approver", "error", "match"),
    [
        ({"type": "timeout"}, "system:timeout", "AuthorizationError", "reserved for the runner"),
        ({"type": "reject", "message": "\ud800"}, "alice", "DecisionError", "UTF-8 text"),
        ({"type": "reject"}, "\ud800", "AuthorizationError", "lone surrogate"),
        (
            {
                "type": "edit",
                "verify": PHRASE,
                "edited_action": {"name": "delete_record", "args": {"id": 2**70}},
            },
            "alice",
            "DecisionError",
            "outside the 64-bit range",
        ),
        (
            {
                "type": "edit",
                "verify": PHRASE,
                "edited_action": {"name": "delete_record", "args": {"k": "\ud800"}},
            },
            "alice",
            "DecisionError",
            "not valid UTF-8",
        ),
    ],
)
def test_decide_refuses_answers_fuzzing_found(
    tmp_path: Path, answer: dict[str, Any], approver: str, error: str, match: str
) -> None:
    """Answers the fuzz found slipping through decide() are refused with a HITLError and leave the request pending."""
    with Approvals.open(build(verify=True, approvers=APPROVERS), f"sqlite:///{tmp_path / 'hitl.db'}") as hitl:
        rid = hitl.start("t", action("delete_record", id=4821)).pending[0].request_id
        with pytest.raises(HITLError, match=match) as caught:
            hitl.decide(rid, answer, approver=approver)
        assert type(caught.value).__name__ == error
        assert hitl.get(rid).status == "pending"
        assert (
            hitl.decide(rid, {"type": "approve", "verify": PHRASE}, approver="bob").values["status"]
            == "executed"
        )
        assert hitl.store.audit.verify().ok


def test_graph_refuses_unstorable_edit_before_saving(tmp_path: Path) -> None:
    """An edit whose args a checkpoint cannot store is refused by the response schema at the raw door, not half-saved."""
    with open_checkpointer(f"sqlite:///{tmp_path / 'raw.db'}") as saver:
        graph = build(verify=True, approvers=APPROVERS).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "t"}}
        [pending] = graph.invoke(action("delete_record", id=4821), config)["__interrupt__"]
        bad = {
            "type": "edit",
            "approver": "alice",
            "verify": PHRASE,
            "edited_action": {"name": "delete_record", "args": {"id": 2**70}},
        }
        with pytest.raises(ValidationError, match="64-bit") as caught:
            resume_as(graph, {pending.id: bad}, config)
        assert is_invalid_resume(caught.value)
        assert [i.id for i in graph.get_state(config).interrupts] == [pending.id]
