"""Multi-call requests and outcomes in the web inbox: one row per call, one submit, exact results.

The graph is a real tool-calling agent wired as the README's pattern (model -> ToolGateNode ->
ToolNode), with a model stand-in that proposes the tool calls written in the user's message,
driven by the real runner on a real SQLite file. `tool_agent()` is also used by the browser tests.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt
from test_web import TOKENS, bearer, csrf_of, login, make_app, start_delete

from langgraph_hitl import Approvals, Policy, Requirement, Rule
from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition
from langgraph_hitl.testing import FakeClock
from langgraph_hitl.web import create_app

from graphs import build

MAIL = {
    "name": "send_email",
    "args": {"to": "ops@acme.test", "body": "Churn report attached"},
    "id": "c-mail",
}
DELETE = {"name": "delete_record", "args": {"table": "customers", "id": 4821}, "id": "c-del"}
WIRE = {"name": "wire_money", "args": {"to": "ACME GmbH", "eur": 25000}, "id": "c-wire"}


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


@tool
def delete_record(table: str, id: int) -> str:
    """Delete a record."""
    return f"deleted {table}/{id}"


@tool
def wire_money(to: str, eur: int) -> str:
    """Wire money."""
    return f"wired {eur} EUR to {to}"


POLICY = Policy(
    {
        "send_email": "irreversible_low",
        "delete_record": "irreversible_high",
        "wire_money": "irreversible_high",
    },
    rules=[Rule("big-wire", actions="wire_money", when=lambda a: a.get("eur", 0) > 10_000, risk="critical")],
    requirements={
        "medium": Requirement(approvers=["alice", "bob"]),
        "high": Requirement(approvers=["alice", "bob"]),
        "critical": Requirement(approvers=["alice", "bob"], required_approvals=2),
    },
    verify_phrases={"delete_record": "DELETE {id}"},
)


def model(state: dict[str, Any]) -> dict[str, Any]:
    """The agent's model: proposes the tool calls the user's message lists (JSON), then says done."""
    last = state["messages"][-1]
    if isinstance(last, HumanMessage):
        return {"messages": [AIMessage(content="", tool_calls=json.loads(str(last.content)))]}
    return {"messages": [AIMessage(content="done")]}


def tool_agent() -> StateGraph[Any, Any, Any, Any]:
    """model -> tool_gate -> tools -> model, the README's wiring."""
    gate = ToolGateNode(POLICY)
    builder = StateGraph(ToolGateState)
    builder.add_node("model", model)
    builder.add_node("tool_gate", gate)
    builder.add_node(
        "tools", ToolNode([send_email, delete_record, wire_money], wrap_tool_call=gate.wrap_tool_call)
    )
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", "model")
    return builder


def ask(runner: Approvals, thread: str, *calls: dict[str, Any]) -> str:
    """The agent proposes `calls` in one turn; returns the request id of the gate's question."""
    run = runner.start(thread, {"messages": [HumanMessage(json.dumps(list(calls)))]})
    return run.pending[0].request_id


def tool_answers(runner: Approvals, thread: str) -> dict[str, tuple[str, str]]:
    """The ToolMessage status and text per tool-call id in the thread."""
    values = runner.graph.get_state({"configurable": {"thread_id": thread}}).values
    return {
        m.tool_call_id: (m.status, str(m.content)) for m in values["messages"] if isinstance(m, ToolMessage)
    }


@pytest.fixture
def app(db_url: str) -> Any:
    return create_app(db=db_url, graph=tool_agent(), approvers=TOKENS, secret_key="calls-secret-0123456789")


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def hitl(app: Any, client: TestClient) -> Approvals:
    return app.state.approvals  # type: ignore[no-any-return]


def submit(client: TestClient, rid: str, **fields: str) -> Any:
    page = client.get(f"/requests/{rid}")
    return client.post(f"/requests/{rid}/decision", data={"csrf": csrf_of(page.text), **fields})


def flash_of(page: str) -> str:
    match = re.search(r'<p class="flash flash-(\w+)" role="status">(.*?)</p>', page, re.S)
    assert match, "page shows no flash"
    return f"{match.group(1)}: {html.unescape(re.sub('<[^>]+>', '', match.group(2)))}"


# -- the page -------------------------------------------------------------------------------------------


def test_multi_call_page_has_a_row_per_call(client: TestClient, hitl: Approvals) -> None:
    """Each call has its own row: name, readable arguments, risk, choices, and a phrase field only where needed."""
    rid = ask(hitl, "t1", MAIL, DELETE)
    login(client, "alice")
    page = client.get(f"/requests/{rid}").text
    rows = re.findall(r'<fieldset class="call[^"]*" id="call-(\d)">(.*?)</fieldset>', page, re.S)
    assert [i for i, _ in rows] == ["0", "1"]
    mail, delete = rows[0][1], rows[1][1]
    assert "<code>send_email</code>" in mail and "risk-medium" in mail
    assert "<code>delete_record</code>" in delete and "risk-high" in delete
    assert '<th scope="row">to</th><td><pre>ops@acme.test</pre>' in mail  # a value, not a JSON blob
    assert '<th scope="row">id</th><td><pre>4821</pre>' in delete
    assert 'name="call-0-verify"' not in page and 'name="call-1-verify"' in delete and "DELETE 4821" in delete
    for i in ("0", "1"):
        for kind in ("approve", "reject", "edit", "respond"):
            assert f'name="call-{i}-type" value="{kind}"' in page
    assert "tool_calls" not in page and "More context" not in page  # no raw per-call context blob
    assert page.count('type="submit"') == 4  # sign out, submit, approve all, reject all


def test_multi_call_approve_one_reject_one(client: TestClient, hitl: Approvals) -> None:
    """One submit sends one decision per call, in order; the flash says what each call did and returned."""
    rid = ask(hitl, "t2", MAIL, DELETE)
    login(client, "alice")
    resp = submit(
        client,
        rid,
        **{"call-0-type": "approve", "call-1-type": "reject", "call-1-message": "Keep the record"},
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    flash = flash_of(client.get("/").text)
    assert flash.startswith("ok: Decided 2 calls")
    assert "send_email approved, ran: sent to ops@acme.test" in flash
    assert "delete_record rejected, did not run" in flash and "Thread t2 finished" in flash
    assert hitl.get(rid).decision == {
        "decisions": [
            {"type": "approve", "approver": "alice"},
            {"type": "reject", "approver": "alice", "message": "Keep the record"},
        ]
    }
    answers = tool_answers(hitl, "t2")
    assert answers["c-mail"] == ("success", "sent to ops@acme.test")
    assert answers["c-del"][0] == "error" and "Keep the record" in answers["c-del"][1]
    decided = [(e["event"], e["action"], e["actor"]) for e in hitl.history("t2") if e["actor"] == "alice"]
    assert decided == [("approved", "send_email", "alice"), ("rejected", "delete_record", "alice")]


def test_multi_call_approve_all_with_the_phrase(client: TestClient, hitl: Approvals) -> None:
    """ "Approve all" approves every call, each checked against its own phrase; both tools run."""
    rid = ask(hitl, "t3", MAIL, DELETE)
    login(client, "bob")
    assert submit(client, rid, all="approve", **{"call-1-verify": "DELETE 4821"}).status_code == 303
    flash = flash_of(client.get("/").text)
    assert (
        "send_email approved, ran" in flash and "delete_record approved, ran: deleted customers/4821" in flash
    )
    assert tool_answers(hitl, "t3")["c-del"] == ("success", "deleted customers/4821")


def test_multi_call_wrong_phrase_refused_inline_nothing_saved(client: TestClient, hitl: Approvals) -> None:
    """A wrong phrase on call 2 answers 400 next to that call; the request stays pending and nothing ran or was approved."""
    rid = ask(hitl, "t4", MAIL, DELETE)
    login(client, "alice")
    resp = submit(
        client, rid, **{"call-0-type": "approve", "call-1-type": "approve", "call-1-verify": "DELETE 1"}
    )
    assert resp.status_code == 400
    bad = re.search(r'<fieldset class="call call-bad" id="call-(\d)">', resp.text)
    assert bad and bad.group(1) == "1" and resp.text.count("call-bad") == 1
    inline = re.search(r'id="call-1-error">([^<]*)<', resp.text)
    assert inline and "Type exactly 'DELETE 4821'" in html.unescape(inline.group(1))
    assert 'value="DELETE 1"' in resp.text and 'id="call-0-approve" required checked' in resp.text
    assert hitl.get(rid).status == "pending"
    events = [e["event"] for e in hitl.history("t4")]
    assert "approved" not in events and events.count("refused") == 1
    assert tool_answers(hitl, "t4") == {}


def test_multi_call_row_without_a_choice_is_named(client: TestClient, hitl: Approvals) -> None:
    """A row left without a choice is refused before anything is sent, naming the call and the choices."""
    rid = ask(hitl, "t5", MAIL, DELETE)
    login(client, "alice")
    resp = submit(client, rid, **{"call-0-type": "approve"})
    assert resp.status_code == 400
    assert (
        "Call 2 (delete_record) has no decision: choose one of approve, edit, reject, respond."
        in html.unescape(resp.text)
    )
    assert 'id="call-1-error"' in resp.text and "refused" not in [e["event"] for e in hitl.history("t5")]


def test_multi_call_waiting_for_the_next_reviewer(client: TestClient, hitl: Approvals) -> None:
    """A critical call needs two people: after alice the page says it waits for the next reviewer; bob finishes it."""
    rid = ask(hitl, "t6", MAIL, WIRE)
    login(client, "alice")
    assert submit(client, rid, all="approve").status_code == 303
    flash = flash_of(client.get("/").text)
    assert flash.startswith("info: ") and "wire_money approved, waits for the next review" in flash
    assert "now waits for wire_money at tool_gate" in flash
    second = hitl.pending().items[0]
    assert [a["name"] for a in second.payload["action_requests"]] == ["wire_money"]
    page = client.get(f"/requests/{rid}").text
    assert 'id="status">Decided<' in page and f'href="/requests/{second.request_id}"' in page
    resp = submit(client, second.request_id, **{"type": "approve"})
    assert resp.status_code == 403 and "four-eyes" in html.unescape(resp.text)
    login(client, "bob")
    assert submit(client, second.request_id, type="approve").status_code == 303
    assert tool_answers(hitl, "t6")["c-wire"] == ("success", "wired 25000 EUR to ACME GmbH")


# -- the JSON API ---------------------------------------------------------------------------------------------


def test_api_multi_call_batch_and_refusal_names_the_call(client: TestClient, hitl: Approvals) -> None:
    """The API takes {"decisions": [...]}; a refusal names the call's index; a decision reports each result."""
    rid = ask(hitl, "api", MAIL, DELETE)
    url = f"/api/requests/{rid}/decision"
    wrong = {"decisions": [{"type": "approve"}, {"type": "approve", "verify": "DELETE 1"}]}
    resp = client.post(url, json=wrong, headers=bearer("bob"))
    assert resp.status_code == 400 and resp.json()["call"] == 1 and "DELETE 4821" in resp.json()["detail"]
    assert hitl.get(rid).status == "pending"
    both = {
        "decisions": [{"type": "reject", "message": "not now"}, {"type": "approve", "verify": "DELETE 4821"}]
    }
    body = client.post(url, json=both, headers=bearer("bob")).json()
    assert body["what_happened"] == "finished" and body["report"]["status_text"] == "Decided"
    calls = body["report"]["calls"]
    assert [(c["name"], c["decision"], c["ran"]) for c in calls] == [
        ("send_email", "reject", "not run"),
        ("delete_record", "approve", "ran"),
    ]
    assert calls[1]["result"] == "deleted customers/4821"
    shown = client.get(f"/api/requests/{rid}", headers=bearer("carol")).json()
    assert shown["report"]["calls"] == calls and shown["status"] == "resumed"


# -- outcomes of decided requests ------------------------------------------------------------------------------


def test_decided_request_reads_in_plain_words_with_the_handler_result(db_url: str) -> None:
    """A decided request says "Decided", who decided, what ran and what the handler returned; never `resumed`."""
    with TestClient(make_app(db_url), follow_redirects=False) as c:
        runner = c.app.state.approvals  # type: ignore[attr-defined]
        done = start_delete(runner, "ok")
        refused = start_delete(runner, "no", id=8)
        c.post(
            f"/api/requests/{done}/decision",
            json={"type": "approve", "verify": "DELETE 7"},
            headers=bearer("bob"),
        )
        c.post(
            f"/api/requests/{refused}/decision",
            json={"type": "reject", "message": "Wrong customer"},
            headers=bearer("bob"),
        )
        login(c, "alice")
        page = html.unescape(c.get(f"/requests/{done}").text)
        assert 'id="status">Decided<' in page and ">resumed<" not in page
        summary = re.search(r'id="outcome-summary">([^<]*)<', page)
        assert summary and summary.group(1).startswith("Decided by bob: delete_record approved, ran: ")
        assert '"done": "delete_record"' in summary.group(1) and '"id": 7' in summary.group(1)
        assert "Deadline" not in page  # a decided request has no deadline left
        page = html.unescape(c.get(f"/requests/{refused}").text)
        assert "delete_record rejected (“Wrong customer”), did not run." in page
        report = c.get(f"/api/requests/{done}", headers=bearer("alice")).json()["report"]
        assert report["status_text"] == "Decided" and report["calls"][0]["ran"] == "ran"
        assert json.loads(report["calls"][0]["result"]) == {"done": "delete_record", "args": {"id": 7}}


def test_audit_view_shows_refusals_with_their_reason(db_url: str) -> None:
    """A refused decision reads "refused (tried: approve)" with the runner's reason, not as an approval."""
    with TestClient(make_app(db_url), follow_redirects=False) as c:
        runner = c.app.state.approvals  # type: ignore[attr-defined]
        rid = start_delete(runner, "r")
        c.post(
            f"/api/requests/{rid}/decision", json={"type": "approve", "verify": "nope"}, headers=bearer("bob")
        )
        login(c, "alice")
        for path in ("/audit", f"/requests/{rid}"):
            page = html.unescape(c.get(path).text)
            row = re.search(r"<tr>(?:(?!</tr>).)*event-refused(?:(?!</tr>).)*</tr>", page, re.S)
            assert row, path
            cells = re.findall(r"<td>([^<]*)</td>", row.group(0))
            assert "refused (tried: approve)" in cells and "approve" not in cells, cells
            assert "Type exactly 'DELETE 7'" in row.group(0)


class Publish(TypedDict, total=False):
    attempt: int
    why: str | None
    done: bool


def strict_publish(state: Publish) -> dict[str, Any]:
    """A user's own review node with a rule the inbox cannot know: an approval needs the note "checked"."""
    attempt = state.get("attempt", 0)
    answer = interrupt(
        {
            "action_requests": [{"name": "publish", "args": {"post": 12}, "description": "Publish post 12"}],
            "review_configs": [{"action_name": "publish", "allowed_decisions": ["approve", "reject"]}],
            "hitl": {
                "request_id": f"publish-12-{attempt}",
                "action_id": "publish-12",
                "node": "ask",
                "stage": 1,
                "risk": "high",
                "reversibility": "irreversible_high",
                "mode": "hard",
                "reasons": ["publishing is public"],
                "approvers": None,
                "exclude_approvers": [],
                "requested_by": "agent",
                "timeout_s": None,
                "on_timeout": "reject",
                "verify_phrase": None,
                "impact": "",
                "context": {},
                "policy_version": "1",
                "escalation_level": 0,
                "refused": state.get("why"),
            },
        }
    )
    if answer.get("type") == "approve" and answer.get("message") != "checked":
        return {"attempt": attempt + 1, "why": "an approval here needs the note 'checked'"}
    return {"done": True}


def publisher() -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(Publish)
    builder.add_node("ask", strict_publish)
    builder.add_edge(START, "ask")
    builder.add_conditional_edges("ask", lambda s: END if s.get("done") else "ask", ["ask", END])
    return builder


def test_graph_refusal_after_the_runner_accepted_is_not_shown_as_approved(db_url: str) -> None:
    """When the graph refuses an answer the runner accepted and asks again, the page says so and opens the new question."""
    app = create_app(db=db_url, graph=publisher(), approvers=TOKENS, secret_key="calls-secret-0123456789")
    with TestClient(app, follow_redirects=False) as c:
        runner = app.state.approvals
        rid = runner.start("pub", {}).pending[0].request_id
        login(c, "alice")
        resp = submit(c, rid, type="approve")
        assert resp.status_code == 303 and resp.headers["location"] == "/requests/publish-12-1"
        page = c.get(resp.headers["location"]).text
        flash = flash_of(page)
        assert (
            flash
            == "error: The graph refused the decision and asks again: an approval here needs the note 'checked'"
        )
        assert "The previous answer to this question was refused" in page
        assert runner.get("publish-12-1").status == "pending"
        body = c.post(
            "/api/requests/publish-12-1/decision", json={"type": "approve"}, headers=bearer("bob")
        ).json()
        assert body["what_happened"] == "asked_again" and "'checked'" in body["refused"]
        assert submit(c, "publish-12-2", type="approve", message="checked").status_code == 303
        assert flash_of(c.get("/").text).startswith("ok: Approved publish")


class Recorder:
    """A `notify.Notifier` that keeps what it is told (the runner calls it as it would a webhook)."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.decided: list[str] = []

    def on_pending(self, request: Any, *, thread_id: str | None) -> None:
        self.pending.append(request["hitl"]["request_id"])

    def on_decision(self, request_id: str, decision: Any, *, thread_id: str | None) -> None:
        self.decided.append(request_id)

    def on_timeout(self, request_id: str, *, thread_id: str | None, outcome: str) -> None:
        raise AssertionError("no timeouts here")


def test_questions_created_by_a_web_decision_are_announced(db_url: str) -> None:
    """With `notifier=`, the second review a web decision creates is announced, as the agent's first one was."""
    recorder = Recorder()
    with TestClient(make_app(db_url, notifier=recorder), follow_redirects=False) as c:
        runner = c.app.state.approvals  # type: ignore[attr-defined]
        first = start_delete(runner, "prod", env="prod")
        login(c, "alice")
        assert submit(c, first, type="approve", verify="DELETE 7").status_code == 303
        second = runner.pending().items[0].request_id
        assert recorder.pending == [first, second] and recorder.decided == [first]


def test_timed_out_request_reads_timed_out(db_url: str) -> None:
    """A request the sweeper resolved reads "Timed out", says nobody decided, and that nothing ran."""
    with TestClient(make_app(db_url), follow_redirects=False) as c:
        rid = start_delete(c.app.state.approvals, "late")  # type: ignore[attr-defined]
        with Approvals.open(
            build(approvers=["alice", "bob"], verify=True, timeout_s=3600),
            db_url,
            clock=FakeClock(time.time() + 7200),
        ) as sweeper:
            assert sweeper.expire_overdue() == [rid]
        login(c, "alice")
        page = html.unescape(c.get(f"/requests/{rid}").text)
        assert 'id="status">Timed out<' in page
        assert "Nobody decided in time: delete_record timed out: rejected, did not run." in page
        report = c.get(f"/api/requests/{rid}", headers=bearer("bob")).json()["report"]
        assert report["status_text"] == "Timed out" and report["calls"][0]["ran"] == "not run"
