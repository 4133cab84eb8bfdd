"""Agent Inbox against examples/server under `langgraph dev`: what it shows, what it sends, what is recorded.

The UI itself does not run here (building it needs npm packages this machine cannot fetch).
What it reads and sends is ported from langchain-ai/agent-inbox (main, f38301b), and sent
through langgraph_sdk exactly as its own client sends it:

- it lists `threads.search(status="interrupted", metadata={"graph_id": ...})`
  (`contexts/ThreadContext.tsx` `fetchThreads`) and shows a langchain request through
  `normalizeInterrupt` (`contexts/utils.ts`): `action_requests[0]` only, its `name`, its
  `arguments` (not `args`) and its `description`; Accept and Edit from
  `review_configs[0].allowed_decisions`, Respond wherever `reject` is allowed, no Ignore;
- it answers with `command.resume = [HumanResponse]` (`use-interrupted-actions.tsx`): `accept`
  echoing the action request when Edit is offered, `edit` with every edited field as text,
  `response` with the text, `ignore`;
- "Mark as Resolved" is `threads.updateState(id, {values: null, asNode: "__end__"})`;
- every request carries the key from its Settings as `x-api-key` (`lib/client.ts`).

The numbers in the test docstrings are the issue's items (1 arguments, 2 risk, 3 every call,
4 answers, 5 Mark as Resolved, 6 identity).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_server import EXAMPLE, GRAPH, INBOX_TOKEN, TOKENS, DevServer, as_user, serve, with_token

from langgraph_hitl import open_checkpointer
from langgraph_hitl.store import open_store
from langgraph_hitl.testing import resume_as

TOOLS = "tools"
"""The tool-calling agent of examples/server (tool_agent.py): several risky calls in one question."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """examples/server under `langgraph dev` for this module (test_server.py's DevServer)."""
    yield from serve(tmp_path_factory)


@pytest.fixture
def alice(server: DevServer) -> Any:
    return as_user(server, "alice")


@pytest.fixture
def bob(server: DevServer) -> Any:
    """bob's Agent Inbox: his own token in its Settings, sent as `x-api-key`."""
    return as_user(server, "bob")


# -- Agent Inbox, ported ---------------------------------------------------------------------------------


def shown(thread: dict[str, Any]) -> dict[str, Any]:
    """What Agent Inbox shows for a thread: `getInterruptFromThread` keeps the first interrupt of each
    task, `normalizeInterrupt` reads it, and the page uses the first one (`thread-actions-view.tsx`)."""
    first = next(iter(thread["interrupts"].values()))[0]["value"]
    request = first["action_requests"][0]
    decisions = first["review_configs"][0]["allowed_decisions"] if first.get("review_configs") else []
    return {
        "action_request": {"action": request.get("name", ""), "args": request.get("arguments") or {}},
        "config": {
            "allow_accept": "approve" in decisions,
            "allow_edit": "edit" in decisions,
            "allow_respond": "reject" in decisions,
            "allow_ignore": False,
        },
        "description": request.get("description"),
    }


def accept(view: dict[str, Any]) -> dict[str, Any]:
    """Accept as `createDefaultHumanResponse` + `handleSubmit` send it: the untouched edit response
    becomes `accept` carrying the action request when Edit is offered, else `args: null`."""
    if view["config"]["allow_edit"]:
        return {"type": "accept", "args": view["action_request"]}
    return {"type": "accept", "args": None}


def edit(view: dict[str, Any], **typed: str) -> dict[str, Any]:
    """Edit as `onEditChange` sends it: each field typed in becomes text, the others stay as they were."""
    request = view["action_request"]
    return {"type": "edit", "args": {"action": request["action"], "args": {**request["args"], **typed}}}


def respond(text: str) -> dict[str, Any]:
    return {"type": "response", "args": text}


def send(client: Any, thread_id: str, response: dict[str, Any], graph: str = GRAPH) -> dict[str, Any]:
    """`sendHumanResponse`: a run resuming the thread with a list of one `HumanResponse`."""
    out = client.runs.wait(thread_id, graph, command={"resume": [response]}, raise_error=False)
    assert isinstance(out, dict) and "__error__" not in out, out
    return out


def mark_as_resolved(client: Any, thread_id: str) -> None:
    """`ignoreThread`: `threads.updateState(threadId, {values: null, asNode: END})`, the same HTTP call."""
    client.http.post(f"/threads/{thread_id}/state", json={"values": None, "as_node": "__end__"})


def listed(client: Any, thread_id: str, graph: str = GRAPH) -> dict[str, Any]:
    """The thread as Agent Inbox's "Interrupted" list fetches it (`fetchThreads`)."""
    threads = client.threads.search(status="interrupted", metadata={"graph_id": graph}, limit=100)
    [thread] = [t for t in threads if t["thread_id"] == thread_id]
    return dict(thread)


def paused(client: Any, name: str = "delete_record", **args: Any) -> str:
    thread_id = client.threads.create()["thread_id"]
    out = client.runs.wait(thread_id, GRAPH, input={"action": {"name": name, "args": args}})
    assert "__interrupt__" in out, out
    return str(thread_id)


def tool_turn(client: Any, calls: list[dict[str, Any]]) -> str:
    """A thread of the tool agent whose model proposed `calls` in one turn, paused at the gate."""
    thread_id = client.threads.create()["thread_id"]
    out = client.runs.wait(
        thread_id, TOOLS, input={"messages": [{"role": "user", "content": json.dumps(calls)}]}
    )
    assert "__interrupt__" in out, out
    return str(thread_id)


def tool_results(values: dict[str, Any]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in values["messages"] if m["type"] == "tool"}


# -- 1, 2: what a reviewer sees ----------------------------------------------------------------------------


def test_agent_inbox_shows_the_arguments_and_the_risk(alice: Any) -> None:
    """1, 2: the card shows the arguments (`arguments` beside langchain's `args`); the description starts with
    the risk and holds the reasons, impact, who may decide and the request id."""
    thread_id = paused(alice, id=21, env="prod")
    view = shown(listed(alice, thread_id))
    assert view["action_request"] == {"action": "delete_record", "args": {"id": 21, "env": "prod"}}
    assert view["config"] == {
        "allow_accept": True,
        "allow_edit": True,
        "allow_respond": True,
        "allow_ignore": False,
    }
    text = view["description"]
    # First, in the 65 characters Agent Inbox's list shows:
    assert text.startswith("CRITICAL risk · delete_record(id=21, env='prod')\n")
    for part in (
        "critical · irreversible, high impact · hard gate",
        "deletes production data: two different people must approve",
        "**Impact:** Cannot be undone",
        "**May decide:** anyone, except agent (who asked for it)",
    ):
        assert part in text
    value = alice.threads.get_state(thread_id)["interrupts"][0]["value"]
    assert value["action_requests"][0]["args"] == {"id": 21, "env": "prod"}  # langchain's keys are kept
    assert f"`{value['hitl']['request_id']}`" in text and value["hitl"]["risk"] == "critical"


def test_agent_inbox_second_review_says_who_approved_already(alice: Any, bob: Any) -> None:
    """2: the second question of a four-eyes request names the first approver, who may not approve again."""
    thread_id = paused(alice, id=22, env="prod")
    send(bob, thread_id, accept(shown(listed(bob, thread_id))))
    view = shown(listed(alice, thread_id))
    assert (
        "**May decide:** anyone, except agent (who asked for it) and bob (approved it already"
        in view["description"]
    )
    assert "stage 2" in view["description"]


def test_payload_off_the_server_is_unchanged(db_url: str) -> None:
    """Outside LangGraph Server (runner, plain LangGraph) the question has no Agent Inbox view: the CLI and web read `hitl`."""
    from graphs import action, build

    with open_checkpointer(db_url) as saver:
        graph = build().compile(checkpointer=saver)
        out = graph.invoke(action("delete_record", id=7), {"configurable": {"thread_id": "t"}})
    [asked] = out["__interrupt__"][0].value["action_requests"]
    assert asked == {"name": "delete_record", "args": {"id": 7}, "description": "delete_record(id=7)"}


def test_readme_rendering_is_drawn_from_the_questions_asked() -> None:
    """The README's Agent Inbox pictures come from these graphs' own questions (as on LangGraph Server), labelled."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("agent_inbox_preview", EXAMPLE / "agent_inbox_preview.py")
    assert spec is not None and spec.loader is not None
    preview = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(preview)
    found = preview.questions()
    page = preview.preview_html(*found["request"])
    assert "Rendering, not a screenshot of Agent Inbox" in page
    for part in ("<h1>&#9888; purge_table</h1>", "<label>Confirm</label>", "type <code>PURGE users</code>"):
        assert part in page
    assert "Your last answer was refused:</strong> Confirmation phrase missing" in page
    page = preview.preview_html(*found["calls"])
    assert "<label>Call 1 Delete Record</label><div class='field'>{&quot;record_id&quot;:4821}</div>" in page


# -- 3: every call of a multi-call question ------------------------------------------------------------------

CALLS = [
    {"name": "search_crm", "args": {"query": "acme"}},
    {"name": "delete_record", "args": {"record_id": 4821}},
    {"name": "send_email", "args": {"to": "all-staff@example.com", "subject": "Acme churned"}},
]


def test_agent_inbox_shows_every_call_of_a_turn(alice: Any) -> None:
    """3: both risky calls are on the one page Agent Inbox shows: one field per call, each call's arguments,
    risk and phrase in the description; the safe search ran without asking."""
    thread_id = tool_turn(alice, CALLS)
    value = alice.threads.get_state(thread_id)["interrupts"][0]["value"]
    assert [a["name"] for a in value["action_requests"]] == ["delete_record", "send_email"]
    view = shown(listed(alice, thread_id, TOOLS))
    assert view["action_request"]["args"] == {
        "call_1_delete_record": {"record_id": 4821},
        "call_2_send_email": {"to": "all-staff@example.com", "subject": "Acme churned"},
        "confirm_call_1": "",
    }
    text = view["description"]
    assert text.startswith("HIGH risk · 2 calls to decide: delete_record, send_email\n")
    assert (
        '1. **delete_record** (high risk, verify gate): `{"record_id": 4821}`; to approve, type `DELETE 4821`'
        in text
    )
    assert (
        '2. **send_email** (medium risk, soft gate): `{"subject": "Acme churned", "to": "all-staff@example.com"}`'
        in text
    )
    assert "write `reject` in its field" in text


def test_agent_inbox_decides_each_call_of_a_turn(alice: Any, bob: Any) -> None:
    """3, 4: one Agent Inbox edit rejects the delete (the word `reject` in its field) and edits the email
    (its JSON typed as text); the email runs as edited, the delete does not, nothing errors."""
    thread_id = tool_turn(alice, CALLS)
    view = shown(listed(bob, thread_id, TOOLS))
    email = json.dumps({"to": "team-acme@example.com", "subject": "Acme churned"})
    out = send(bob, thread_id, edit(view, call_1_delete_record="reject", call_2_send_email=email), TOOLS)
    assert "__interrupt__" not in out and out["messages"][-1]["content"] == "Done."
    results = tool_results(out)
    assert results["call_0"] == "1 account matches 'acme'"
    assert results["call_2"].endswith("Tool response:\nemail 'Acme churned' sent to team-acme@example.com")
    assert "deleted" not in results["call_1"]
    assert [(d["approver"], d["type"]) for d in out["decisions"]] == [("bob", "reject"), ("bob", "edit")]
    assert bob.threads.get(thread_id)["status"] == "idle"


def test_agent_inbox_phrase_of_one_call_goes_in_its_confirm_field(alice: Any, bob: Any) -> None:
    """3, 4: Accept without the delete's phrase is asked again with the reason on the page; the phrase typed in
    `Confirm Call 1` approves both calls, each checked against its own rules."""
    thread_id = tool_turn(alice, CALLS)
    out = send(bob, thread_id, accept(shown(listed(bob, thread_id, TOOLS))), TOOLS)
    assert "__interrupt__" in out and bob.threads.get(thread_id)["status"] == "interrupted"
    view = shown(listed(bob, thread_id, TOOLS))
    assert "**Your last answer was refused:** Confirmation phrase missing" in view["description"]
    out = send(bob, thread_id, edit(view, confirm_call_1="DELETE 4821"), TOOLS)
    results = tool_results(out)
    assert results["call_1"] == "record 4821 deleted"
    assert results["call_2"].startswith("email 'Acme churned' sent")


# -- 4: its answers ------------------------------------------------------------------------------------------


def test_agent_inbox_accept_approves_as_the_reviewer(alice: Any, bob: Any) -> None:
    """4, 6: Accept (echoing the action request) runs the delete, decided by bob, whose key Agent Inbox sent."""
    thread_id = paused(alice, id=31)
    out = send(bob, thread_id, accept(shown(listed(bob, thread_id))))
    assert out["status"] == "executed" and out["result"]["deleted"] == 31
    assert [(d["approver"], d["type"]) for d in out["decisions"]] == [("bob", "approve")]


def test_agent_inbox_edit_reads_text_fields_back_as_json(alice: Any, bob: Any) -> None:
    """4: Agent Inbox sends an edited number as text; the delete runs with the number 32, not the text '32'."""
    thread_id = paused(alice, id=31)
    out = send(bob, thread_id, edit(shown(listed(bob, thread_id)), id="32"))
    assert out["status"] == "executed" and out["result"]["deleted"] == 32
    assert out["decisions"][-1]["edited_action"] == {"name": "delete_record", "args": {"id": 32}}


def test_agent_inbox_unreadable_edit_is_asked_again(alice: Any, bob: Any) -> None:
    """4: a number edited into text that is not JSON is refused and asked again with the reason; the run does not fail."""
    thread_id = paused(alice, id=33)
    out = send(bob, thread_id, edit(shown(listed(bob, thread_id)), id="33x"))
    assert out["status"] == "proposed" and out["result"] is None
    view = shown(listed(bob, thread_id))
    assert (
        "**Your last answer was refused:** Field 'id' held 33, not text; the edit sent '33x'"
        in view["description"]
    )
    assert bob.threads.get(thread_id)["status"] == "interrupted"


def test_agent_inbox_respond_and_ignore(alice: Any, bob: Any) -> None:
    """4: Respond is `respond` where allowed and `reject` with its text where not (an email: approve or
    reject only); Ignore rejects. Each thread ends idle, none in `error`."""
    delete = paused(alice, id=34)
    out = send(bob, delete, respond("Archive it instead."))
    assert (out["status"], out["review_message"]) == ("responded", "Archive it instead.")
    email = paused(alice, "send_email", to="all@example.com")
    assert "**Respond** rejects the action with your text" in shown(listed(bob, email))["description"]
    out = send(bob, email, respond("Not to everyone."))
    assert (out["status"], out["review_message"]) == ("rejected", "Not to everyone.")
    ignored = paused(alice, id=35)
    out = send(bob, ignored, {"type": "ignore", "args": None})
    assert out["status"] == "rejected" and out["decisions"][-1]["approver"] == "bob"
    assert {bob.threads.get(t)["status"] for t in (delete, email, ignored)} == {"idle"}


def test_agent_inbox_phrase_goes_in_the_confirm_field(alice: Any, bob: Any) -> None:
    """4: a purge needs `PURGE users`: Accept is asked again with the reason and the Confirm field on the page;
    the phrase typed there approves it as bob."""
    thread_id = paused(alice, "purge_table", table="users")
    view = shown(listed(bob, thread_id))
    assert view["action_request"]["args"] == {"table": "users", "confirm": ""}
    assert "**To approve:** type `PURGE users` into the **Confirm** field" in view["description"]
    out = send(bob, thread_id, accept(view))
    assert out["status"] == "proposed" and bob.threads.get(thread_id)["status"] == "interrupted"
    view = shown(listed(bob, thread_id))
    assert "**Your last answer was refused:** Confirmation phrase missing" in view["description"]
    out = send(bob, thread_id, edit(view, confirm="PURGE users"))
    assert out["status"] == "executed" and out["result"]["purged"] == "users"
    assert [(d["approver"], d["effect"]) for d in out["decisions"]][-1] == ("bob", "approved")


def test_agent_inbox_malformed_response_never_errors_the_thread(alice: Any, bob: Any) -> None:
    """4: an Agent Inbox answer the request cannot take (accept with text args) is asked again, not a failed run."""
    thread_id = paused(alice, id=36)
    out = send(bob, thread_id, {"type": "accept", "args": "yes"})
    assert out["status"] == "proposed"
    assert "Agent Inbox's 'accept' carries args=" in shown(listed(bob, thread_id))["description"]
    assert bob.threads.get(thread_id)["status"] == "interrupted"


# -- 5: Mark as Resolved ----------------------------------------------------------------------------------


def test_mark_as_resolved_is_recorded(server: DevServer, alice: Any, bob: Any) -> None:
    """5: "Mark as Resolved" ends the thread unexecuted; the request is cancelled by bob with the reason, and the
    audit log says the review ended without a decision, after the proposal."""
    thread_id = paused(alice, id=41)
    rid = alice.threads.get_state(thread_id)["interrupts"][0]["value"]["hitl"]["request_id"]
    mark_as_resolved(bob, thread_id)
    thread = bob.threads.get(thread_id)
    assert thread["status"] == "idle"
    assert (thread["values"]["status"], thread["values"]["result"]) == ("proposed", None)
    with open_store(server.audit_url) as store:
        row = store.inbox.get(rid)
        assert row is not None and (row.status, row.decided_by, row.graph) == ("cancelled", None, GRAPH)
        assert row.decision is not None and (row.decision["type"], row.decision["by"]) == ("cancelled", "bob")
        assert "Mark as Resolved" in row.decision["reason"]
        events = [(e["event"], e["actor"]) for e in store.audit.query(thread_id=thread_id)]
        assert events == [("proposed", "agent"), ("cancelled", "bob")]
        [ended] = store.audit.query(thread_id=thread_id, event="cancelled")
        assert ended["request_id"] == rid and ended["detail"]["source"] == "update"
        assert ended["detail"]["reason"].startswith(
            "Review ended without a decision: bob changed the thread's state"
        )
        assert store.audit.verify().ok


def test_new_input_to_a_paused_thread_is_recorded(server: DevServer, alice: Any) -> None:
    """5: new input to a paused thread drops its question; that is recorded too, by whoever sent it."""
    thread_id = paused(alice, id=42)
    rid = alice.threads.get_state(thread_id)["interrupts"][0]["value"]["hitl"]["request_id"]
    alice.runs.wait(thread_id, GRAPH, input={"action": {"name": "read_record", "args": {"id": 42}}})
    with open_store(server.audit_url) as store:
        row = store.inbox.get(rid)
        assert row is not None and row.status == "cancelled" and row.decision is not None
        assert row.decision["by"] == "alice" and "sent new input" in row.decision["reason"]


def test_answered_questions_are_not_recorded_as_ended(server: DevServer, alice: Any, bob: Any) -> None:
    """5: a question that was answered (even refused and asked again) is never recorded as cancelled."""
    thread_id = paused(alice, id=43)
    send(with_token(server, INBOX_TOKEN), thread_id, {"type": "accept", "args": None})  # refused: nobody
    send(bob, thread_id, {"type": "accept", "args": None})
    with open_store(server.audit_url) as store:
        assert store.audit.query(thread_id=thread_id, event="cancelled") == []
        assert [e["event"] for e in store.audit.query(thread_id=thread_id)][-2:] == ["approved", "executed"]


def test_ended_reviews_are_recorded_off_the_server_too(db_url: str) -> None:
    """5: the same wrapper on a plain LangGraph checkpointer: update_state(None, as_node="__end__") is recorded."""
    from langgraph_hitl.server import record_ended_reviews

    from graphs import action, build

    with open_checkpointer(db_url) as saver, open_store(db_url) as store:
        graph = build(store=store).compile(checkpointer=record_ended_reviews(saver, store))
        config = {"configurable": {"thread_id": "t"}}
        out = graph.invoke(action("delete_record", id=7), config)
        rid = out["__interrupt__"][0].value["hitl"]["request_id"]
        graph.update_state({"configurable": {"thread_id": "t", "user_id": "carol"}}, None, as_node="__end__")
        assert graph.get_state(config).next == ()
        row = store.inbox.get(rid)
        assert row is not None and row.status == "cancelled" and row.decision is not None
        assert (row.decision["type"], row.decision["by"]) == ("cancelled", "carol")
        assert [(e["event"], e["actor"]) for e in store.audit.query(thread_id="t")] == [
            ("proposed", "agent"),
            ("cancelled", "carol"),
        ]
        other = {"configurable": {"thread_id": "u"}}
        graph.invoke(action("delete_record", id=8), other)
        resume_as(graph, {"type": "approve"}, other, user="alice")
        assert store.audit.query(thread_id="u", event="cancelled") == []


# -- 6: identity ---------------------------------------------------------------------------------------------


def test_agent_inbox_key_reaches_the_server_from_a_browser(server: DevServer) -> None:
    """6: Agent Inbox runs in the browser: the server answers its CORS preflight for `x-api-key`, and the
    key alone authenticates it as its owner."""
    import httpx

    preflight = httpx.options(
        f"{server.url}/threads/search",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert "x-api-key" in preflight.headers["access-control-allow-headers"]
    found = httpx.post(
        f"{server.url}/threads/search",
        headers={"Origin": "http://localhost:3000", "x-api-key": TOKENS["bob"]},
        json={"status": "interrupted", "limit": 1},
    )
    assert found.status_code == 200 and found.headers["access-control-allow-origin"] == "*"


def test_agent_inbox_without_a_persons_key_is_asked_again(server: DevServer, alice: Any) -> None:
    """6: an Agent Inbox given the inbox service's token (it names nobody) cannot decide: its Accept is refused
    with the reason on the page, the thread still waits, and bob's own key then decides it."""
    thread_id = paused(alice, id=61)
    nobody = with_token(server, INBOX_TOKEN)
    out = send(nobody, thread_id, accept(shown(listed(nobody, thread_id))))
    assert out["status"] == "proposed" and out["decisions"][-1]["effect"] == "refused"
    view = shown(listed(alice, thread_id))
    assert (
        "**Your last answer was refused:** no authenticated identity in the run's config"
        in view["description"]
    )
    out = send(as_user(server, "bob"), thread_id, accept(view))
    assert out["status"] == "executed" and out["decisions"][-1]["approver"] == "bob"
