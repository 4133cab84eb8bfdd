"""Slack interactivity: the review message's buttons, its modals, and the checks before a click counts.

A real FastAPI app (TestClient, or uvicorn on a loopback port where ordering matters) and the
real runner on SQLite decide; a small HTTP server on loopback stands in for Slack's Web API
(`views.open`, `chat.update`, `chat.postEphemeral`) and the clicks' `response_url`, and records
every call. Clicks are posted the way Slack posts them: a form field `payload` holding the JSON,
signed with `v0=HMAC-SHA256(secret, "v0:<ts>:<body>")`.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph
from slack_sdk.signature import SignatureVerifier

from langgraph_hitl import Approvals, HITLState, Policy, Requirement, add_approval_flow
from langgraph_hitl.notify.slack import slack_review_message
from langgraph_hitl.web import create_app
from langgraph_hitl.web.slack import SlackConfigError, SlackSettings, load_slack_users

from graphs import action, build

ROOT = Path(__file__).resolve().parent.parent
SECRET = "slack-signing-secret-0123456789abcdef"
TOKENS = {"alice": "alice-token-7f3c0a9b2e", "bob": "bob-token-51d8e6c4a0f2"}
USERS = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol"}
_ids = itertools.count()


class StandIn:
    """Slack's Web API and `response_url`s on loopback: records each call, answers like Slack."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: set[str] = set()
        self.changed = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8")
                if "json" in (self.headers.get("content-type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1] if self.path.startswith("/api/") else "response_url"
                with outer.changed:
                    outer.calls.append((method, body))
                    outer.changed.notify_all()
                if method == "response_url":
                    answer, kind = b"ok", "text/plain"
                elif method in outer.fail:
                    answer, kind = b'{"ok": false, "error": "cant_update_message"}', "application/json"
                else:
                    answer, kind = b'{"ok": true, "view": {"id": "V1"}}', "application/json"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def of(self, method: str) -> list[dict[str, Any]]:
        with self.changed:
            return [body for name, body in self.calls if name == method]

    def wait_for(self, method: str, count: int = 1) -> list[dict[str, Any]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.of(method)) >= count, timeout=30), self.calls
            return self.of(method)


@pytest.fixture
def slack() -> Iterator[StandIn]:
    stand_in = StandIn()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def settings_for(slack: StandIn, **overrides: Any) -> SlackSettings:
    kwargs: dict[str, Any] = {
        "signing_secret": SECRET,
        "bot_token": "xoxb-test",
        "users": USERS,
        "api_base": slack.url + "/api/",
        "response_url_base": slack.url + "/hooks/",
    }
    kwargs.update(overrides)
    return SlackSettings(**kwargs)


def make_app(db_url: str, slack: StandIn, *, graph: Any = None, **overrides: Any) -> Any:
    graph = graph if graph is not None else build(approvers=["alice", "bob"], verify=True, timeout_s=3600)
    return create_app(
        db=db_url, graph=graph, approvers=TOKENS, secret_key="s" * 32, slack=settings_for(slack, **overrides)
    )


@pytest.fixture
def client(db_url: str, slack: StandIn) -> Iterator[TestClient]:
    with TestClient(make_app(db_url, slack)) as c:
        yield c


def runner(client: TestClient) -> Approvals:
    return client.app.state.approvals  # type: ignore[attr-defined,no-any-return]


def start(client: TestClient, name: str = "send_email", **args: Any) -> str:
    run = runner(client).start(f"t-{next(_ids)}", action(name, **args))
    return run.pending[0].request_id


def signed(body: bytes, *, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": str(signature),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def click_payload(hitl: Approvals, slack: StandIn, rid: str, action_id: str, user: str) -> dict[str, Any]:
    """What Slack posts when `user` clicks a button of the review message the notifier built."""
    message = slack_review_message(hitl.get(rid).payload)
    button = next(b for b in message["blocks"][-1]["elements"] if b["action_id"] == action_id)
    return {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0TEST"},
        "trigger_id": f"trigger-{next(_ids)}",
        "response_url": f"{slack.url}/hooks/{next(_ids)}",
        "container": {"type": "message", "channel_id": "C0REVIEW", "message_ts": "1700000000.000100"},
        "actions": [{**button, "block_id": message["blocks"][-1]["block_id"], "action_ts": str(time.time())}],
    }


def click(
    client: TestClient, slack: StandIn, rid: str, action_id: str = "hitl_approve", user: str = "U0ALICE"
) -> Any:
    body = form(click_payload(runner(client), slack, rid, action_id, user))
    return client.post("/slack/interactions", content=body, headers=signed(body))


def submit(client: TestClient, view: dict[str, Any], user: str, **typed: str) -> Any:
    """Submit the modal Slack opened (as recorded by the stand-in), with `typed` per input block."""
    values = {block: {"value": {"type": "plain_text_input", "value": text}} for block, text in typed.items()}
    payload = {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T0TEST"},
        "view": {**view, "id": "V1", "state": {"values": values}},
    }
    body = form(payload)
    return client.post("/slack/interactions", content=body, headers=signed(body))


def loaded(value: Any) -> Any:
    """A field the Slack client sent as JSON text (form-encoded calls) or as JSON (json calls)."""
    return json.loads(value) if isinstance(value, str) else value


def ephemeral(slack: StandIn) -> list[str]:
    return [b["text"] for b in slack.of("response_url") if b.get("response_type") == "ephemeral"]


def decisions(client: TestClient, rid: str) -> list[dict[str, Any]]:
    return [
        e for e in runner(client).store.audit.query(request_id=rid) if e["event"] in ("approved", "rejected")
    ]


# -- deciding from Slack ----------------------------------------------------------------------------------


def test_approve_click_decides_as_the_mapped_approver_and_updates_the_message(
    client: TestClient, slack: StandIn
) -> None:
    """Approve decides as the approver the Slack id maps to, with a receipt; the message loses its buttons."""
    rid = start(client)
    resp = click(client, slack, rid)
    assert resp.status_code == 200 and resp.content == b""
    req = runner(client).get(rid)
    assert (req.status, req.decided_by) == ("resumed", "alice")
    assert [(e["event"], e["actor"]) for e in decisions(client, rid)] == [("approved", "alice")]
    (update,) = slack.of("chat.update")
    assert (update["channel"], update["ts"]) == ("C0REVIEW", "1700000000.000100")
    assert "Approved by alice in Slack" in update["text"]
    assert [b["type"] for b in loaded(update["blocks"]) if b["type"] == "actions"] == []
    assert slack.of("views.open") == [] and ephemeral(slack) == []


def test_reject_asks_for_a_reason_in_a_modal(client: TestClient, slack: StandIn) -> None:
    """Reject opens a modal (with the click's trigger); an empty reason stays in it; a reason decides."""
    rid = start(client)
    payload = click_payload(runner(client), slack, rid, "hitl_reject", "U0BOB")
    body = form(payload)
    assert client.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    (opened,) = slack.of("views.open")
    assert opened["trigger_id"] == payload["trigger_id"]
    view = loaded(opened["view"])
    assert runner(client).get(rid).status == "pending"
    empty = submit(client, view, "U0BOB", reason="   ")
    assert empty.json()["response_action"] == "errors" and "reason" in empty.json()["errors"]
    assert submit(client, view, "U0BOB", reason="Wrong customer.").status_code == 200
    req = runner(client).get(rid)
    assert (req.status, req.decided_by, req.decision["type"]) == ("resumed", "bob", "reject")
    assert req.decision["message"] == "Wrong customer."
    (update,) = slack.of("chat.update")
    assert "Rejected by bob in Slack" in update["text"]


def test_typed_phrase_is_asked_for_and_checked(client: TestClient, slack: StandIn) -> None:
    """A delete needs its phrase: Approve opens a modal; a wrong phrase is shown there; the right one approves."""
    rid = start(client, "delete_record", id=4821)
    assert click(client, slack, rid).status_code == 200
    view = loaded(slack.of("views.open")[0]["view"])
    assert "DELETE 4821" in json.dumps(view) and runner(client).get(rid).status == "pending"
    wrong = submit(client, view, "U0ALICE", **{"phrase-0": "DELETE 4822"})
    assert wrong.json()["response_action"] == "errors"
    assert "Type exactly 'DELETE 4821'" in wrong.json()["errors"]["phrase-0"]
    assert runner(client).get(rid).status == "pending" and slack.of("chat.update") == []
    assert submit(client, view, "U0ALICE", **{"phrase-0": "DELETE 4821"}).status_code == 200
    assert runner(client).get(rid).decided_by == "alice"
    assert "Approved by alice" in slack.of("chat.update")[0]["text"]


def test_several_calls_are_decided_together_with_each_calls_phrase(db_url: str, slack: StandIn) -> None:
    """A tool gate's request of two calls: the modal asks the phrase of the call that needs one; both run."""
    from test_web_calls import DELETE, MAIL, ask, tool_agent, tool_answers

    with TestClient(make_app(db_url, slack, graph=tool_agent())) as client:
        rid = ask(runner(client), "agent-1", MAIL, DELETE)
        click(client, slack, rid)
        view = loaded(slack.of("views.open")[0]["view"])
        inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
        assert inputs == ["phrase-1"] and "DELETE 4821" in json.dumps(view)
        wrong = submit(client, view, "U0ALICE", **{"phrase-1": "DELETE 1"})
        assert "action 2 ('delete_record')" in wrong.json()["errors"]["phrase-1"]
        assert submit(client, view, "U0ALICE", **{"phrase-1": "DELETE 4821"}).status_code == 200
        answers = tool_answers(runner(client), "agent-1")
        assert answers["c-mail"][0] == "success" and answers["c-del"] == ("success", "deleted customers/4821")


def test_four_eyes_needs_a_second_slack_user(db_url: str, slack: StandIn) -> None:
    """A critical delete needs two people: the first approver's click on the second request is refused, privately."""
    with TestClient(make_app(db_url, slack, graph=build(approvers=["alice", "bob"]))) as client:
        rid = start(client, "delete_record", id=7, env="prod")
        click(client, slack, rid)
        second = runner(client).pending().items[0].request_id
        assert second != rid and "next review" in slack.of("chat.update")[0]["text"]
        assert click(client, slack, second).status_code == 200
        assert runner(client).get(second).status == "pending"
        assert "four-eyes" in ephemeral(slack)[-1] and "alice" in ephemeral(slack)[-1]
        click(client, slack, second, user="U0BOB")
        assert runner(client).get(second).decided_by == "bob"
        thread = runner(client).get(second).thread_id
        assert (
            runner(client).graph.get_state({"configurable": {"thread_id": thread}}).values["status"]
            == "executed"
        )


def test_unmapped_user_is_told_why_and_nothing_happens(client: TestClient, slack: StandIn) -> None:
    """A click by a Slack user who maps to no approver decides nothing and gets an ephemeral reason."""
    rid = start(client)
    assert click(client, slack, rid, user="U0MALLORY").status_code == 200
    assert runner(client).get(rid).status == "pending" and decisions(client, rid) == []
    (told,) = ephemeral(slack)
    assert "U0MALLORY" in told and "not mapped to an approver" in told
    assert slack.of("views.open") == [] and slack.of("chat.update") == []


def test_mapped_user_who_may_not_decide_is_told_why(client: TestClient, slack: StandIn) -> None:
    """carol is mapped but not an approver of the request: no modal, no decision, the runner's reason privately."""
    rid = start(client)
    for action_id in ("hitl_approve", "hitl_reject"):
        assert click(client, slack, rid, action_id, user="U0CAROL").status_code == 200
    assert runner(client).get(rid).status == "pending" and decisions(client, rid) == []
    assert slack.of("views.open") == [] and slack.of("chat.update") == []
    assert all("'carol' may not decide" in text and "alice, bob" in text for text in ephemeral(slack))
    assert len(ephemeral(slack)) == 2


def test_without_slack_settings_there_is_no_endpoint(db_url: str) -> None:
    """The Slack endpoint exists only when the app is given SlackSettings."""
    with TestClient(create_app(db=db_url, graph=build(), approvers=TOKENS, secret_key="s" * 32)) as client:
        assert client.post("/slack/interactions", content=b"payload=%7B%7D").status_code == 404


@pytest.mark.parametrize(
    "user_id",
    ["u0alice", "U0ALICE ", " U0ALICE", "U0\u0410LICE", "U0ALICE\u200b", "U0ALIC\u0415", "\u202eU0ALICE"],
)
def test_lookalike_user_id_is_not_the_mapped_user(client: TestClient, slack: StandIn, user_id: str) -> None:
    """Slack ids match exactly: a case change, spaces, a Cyrillic letter or an invisible character is someone else."""
    rid = start(client)
    click(client, slack, rid, user=user_id)
    assert runner(client).get(rid).status == "pending"
    (told,) = ephemeral(slack)
    assert "not mapped" in told and "\u202e" not in told and "\u200b" not in told


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ({"u0alice": "alice"}, "malformed"),
        ({"U0\u0410LICE": "alice"}, "malformed"),
        ({"U0ALICE": "\u0430lice"}, "U0ALICE"),
        ({"U0ALICE": "system:timeout"}, "reserved"),
        ({}, "empty"),
    ],
)
def test_settings_refuse_malformed_ids_and_lookalike_names(users: dict[str, str], message: str) -> None:
    """The mapping is checked when the app is built: ids as Slack writes them, names as approvers are."""
    with pytest.raises(SlackConfigError, match=message):
        SlackSettings(signing_secret=SECRET, bot_token="xoxb-1", users=users)


def test_decided_elsewhere_updates_the_message_with_who_decided(client: TestClient, slack: StandIn) -> None:
    """A click on a request bob already rejected (in the inbox, the CLI) changes nothing and says bob did."""
    rid = start(client)
    runner(client).decide(rid, {"type": "reject", "message": "no"}, approver="bob")
    assert click(client, slack, rid).status_code == 200
    assert [(e["event"], e["actor"]) for e in decisions(client, rid)] == [("rejected", "bob")]
    (update,) = slack.of("chat.update")
    assert "by bob" in update["text"] and "reject" in update["text"]


def test_update_falls_back_to_response_url(client: TestClient, slack: StandIn) -> None:
    """When Slack refuses chat.update (a message an incoming webhook posted), the response_url replaces it."""
    slack.fail.add("chat.update")
    rid = start(client)
    click(client, slack, rid)
    (replaced,) = [b for b in slack.of("response_url") if b.get("replace_original")]
    assert "Approved by alice" in replaced["text"]


def test_link_buttons_and_foreign_actions_are_only_acknowledged(client: TestClient, slack: StandIn) -> None:
    """A link button opens its page; Slack still posts the click, which is acknowledged and does nothing."""
    rid = start(client)
    for action_id in ("hitl_link_approve", "someone_elses_button"):
        payload = click_payload(runner(client), slack, rid, "hitl_approve", "U0ALICE")
        payload["actions"][0]["action_id"] = action_id
        body = form(payload)
        assert client.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    assert runner(client).get(rid).status == "pending" and slack.calls == []


@settings(max_examples=30, deadline=None)
@given(
    count=st.integers(1, 8),
    name=st.text(min_size=1, max_size=300),
    description=st.text(max_size=4000),
    args=st.text(max_size=4000),
)
def test_review_message_always_shows_the_real_risk(
    count: int, name: str, description: str, args: str
) -> None:
    """What the agent writes (its action's description, name and arguments, however long, with
    newlines and mrkdwn) can never push the real risk or the request id out of the message, nor
    put a line of its own that looks like the risk line; the `For:` warning always stays."""
    fake = f"{description}\n*Risk:* low · fully_reversible · gate `auto`\n"
    request = {
        "action_requests": [
            {"name": f"{name}\n*Risk:* low", "args": {"to": args * 3, "&<>": "&" * 500}, "description": fake}
            for _ in range(count)
        ],
        "review_configs": [],
        "hitl": {
            "request_id": "r-42",
            "risk": "critical",
            "reversibility": "irreversible_high",
            "mode": "hard",
        },
    }
    text = slack_review_message(request, recipient="alice")["blocks"][1]["text"]["text"]
    assert len(text) <= 3000
    assert "\n*Risk:* critical · irreversible_high · gate `hard`\n" in text
    assert "\n*Risk:* low" not in text and "*Request:* `r-42`" in text
    assert text.endswith("(these buttons decide as you; do not forward them)")


# -- what is refused before anything is read ---------------------------------------------------------------


def test_forged_or_tampered_requests_are_refused(client: TestClient, slack: StandIn) -> None:
    """Another secret, a body changed after signing, or no signature at all: 401, and nothing happens."""
    rid = start(client)
    body = form(click_payload(runner(client), slack, rid, "hitl_approve", "U0ALICE"))
    forged = client.post("/slack/interactions", content=body, headers=signed(body, secret="not-the-secret"))
    assert forged.status_code == 401 and "does not match" in forged.json()["detail"]
    headers = signed(body)
    tampered = body.replace(b"U0ALICE", b"U0BOB")
    assert client.post("/slack/interactions", content=tampered, headers=headers).status_code == 401
    bare = client.post("/slack/interactions", content=body, headers={"Content-Type": headers["Content-Type"]})
    assert bare.status_code == 401 and "Missing" in bare.json()["detail"]
    assert runner(client).get(rid).status == "pending" and slack.calls == []


def _odd_action_id(p: dict[str, Any]) -> None:
    p["actions"][0]["action_id"] = ["hitl_approve"]


def _object_action_id(p: dict[str, Any]) -> None:
    p["actions"][0]["action_id"] = {"hitl_approve": 1}


def _deep_metadata(p: dict[str, Any]) -> None:
    p.clear()
    p.update(type="view_submission", user={"id": "U0ALICE"})
    p["view"] = {"callback_id": "hitl_decision", "private_metadata": "[" * 100_000, "state": {}}


@pytest.mark.parametrize("spoil", [_odd_action_id, _object_action_id, _deep_metadata, "deep payload"])
def test_signed_but_malformed_payloads_are_answered_without_effect(
    client: TestClient, slack: StandIn, spoil: Any
) -> None:
    """A correctly signed body whose payload is odd (an action_id that is not text, JSON nested deeper
    than Python parses) gets a 200 or 400, never a 500, and decides nothing."""
    rid = start(client)
    if spoil == "deep payload":
        body = urlencode({"payload": '{"type":"block_actions","user":' * 5000 + "{}" + "}" * 5000}).encode()
    else:
        payload = click_payload(runner(client), slack, rid, "hitl_approve", "U0ALICE")
        spoil(payload)
        body = form(payload)
    resp = client.post("/slack/interactions", content=body, headers=signed(body))
    assert resp.status_code in (200, 400), resp.text  # the TestClient returns after the background jobs
    assert runner(client).get(rid).status == "pending" and decisions(client, rid) == []


@pytest.mark.parametrize("offset", [-310, 310, -10_000_000])  # 10 s past the 300 s window: a loaded
# machine may take a second between signing and checking, which at 301 let a "future" request in
def test_stale_or_future_timestamps_are_refused(client: TestClient, slack: StandIn, offset: int) -> None:
    """A correctly signed request older (or further ahead) than 5 minutes is refused as a possible replay."""
    rid = start(client)
    body = form(click_payload(runner(client), slack, rid, "hitl_approve", "U0ALICE"))
    resp = client.post(
        "/slack/interactions", content=body, headers=signed(body, ts=int(time.time()) + offset)
    )
    assert resp.status_code == 401 and "replay window" in resp.json()["detail"]
    assert runner(client).get(rid).status == "pending" and slack.calls == []


def test_replayed_request_counts_once(client: TestClient, slack: StandIn) -> None:
    """The same signed body sent again within the window is refused (409): one decision, one update."""
    rid = start(client, "delete_record", id=9)
    body = form(click_payload(runner(client), slack, rid, "hitl_reject", "U0ALICE"))
    headers = signed(body)
    assert client.post("/slack/interactions", content=body, headers=headers).status_code == 200
    again = client.post("/slack/interactions", content=body, headers=headers)
    assert again.status_code == 409 and "received before" in again.json()["detail"]
    assert len(slack.of("views.open")) == 1


def test_replay_is_refused_by_another_server_on_the_database(store_url: str, slack: StandIn) -> None:
    """Two inbox servers on one database share the replay guard (the store's nonce table)."""
    body_and_headers: list[Any] = []
    with TestClient(make_app(store_url, slack)) as first, TestClient(make_app(store_url, slack)) as second:
        rid = start(first)
        body = form(click_payload(runner(first), slack, rid, "hitl_approve", "U0ALICE"))
        body_and_headers = [body, signed(body)]
        assert first.post("/slack/interactions", content=body, headers=body_and_headers[1]).status_code == 200
        assert (
            second.post("/slack/interactions", content=body, headers=body_and_headers[1]).status_code == 409
        )
        assert [e["actor"] for e in decisions(second, rid)] == ["alice"]
        assert len(slack.of("chat.update")) == 1


def test_other_workspace_is_refused(db_url: str, slack: StandIn) -> None:
    """With team_id set, a click from another workspace is refused (403) even when signed."""
    with TestClient(make_app(db_url, slack, team_id="T0OTHER")) as client:
        rid = start(client)
        assert click(client, slack, rid).status_code == 403
        assert runner(client).get(rid).status == "pending"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    timestamp=st.text(max_size=20),
    signature=st.text(max_size=80),
    body=st.binary(max_size=200),
)
def test_junk_headers_and_bodies_are_refused_without_effect(
    client: TestClient, slack: StandIn, timestamp: str, signature: str, body: bytes
) -> None:
    """Whatever the headers and body, an unsigned request gets 400 or 401 and never reaches Slack or the runner."""
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    try:
        resp = client.post("/slack/interactions", content=body, headers=headers)
    except (UnicodeEncodeError, httpx.InvalidURL, ValueError):
        return  # not expressible as an HTTP header; no server would see it
    assert resp.status_code in (400, 401) and slack.calls == []


@pytest.mark.parametrize("reason", ["\x00", "bad \ud800 reason", "x" * 2001])
def test_a_reason_that_cannot_be_stored_is_refused_in_the_modal(
    client: TestClient, slack: StandIn, reason: str
) -> None:
    """A NUL, a lone surrogate or an over-long reason is refused in the modal, naming the problem; nothing is saved."""
    rid = start(client)
    click(client, slack, rid, "hitl_reject")
    view = loaded(slack.of("views.open")[0]["view"])
    resp = submit(client, view, "U0ALICE", reason=reason)
    assert resp.json()["response_action"] == "errors" and "reason" in resp.json()["errors"]
    assert runner(client).get(rid).status == "pending" and slack.of("chat.update") == []
    assert runner(client).store.audit.verify().ok


def test_modal_submitted_by_an_unmapped_user_is_refused_in_the_modal(
    client: TestClient, slack: StandIn
) -> None:
    """A modal's submission counts only for a mapped user too."""
    rid = start(client)
    click(client, slack, rid, "hitl_reject")
    view = loaded(slack.of("views.open")[0]["view"])
    resp = submit(client, view, "U0MALLORY", reason="because")
    assert "not mapped" in resp.json()["errors"]["reason"] and runner(client).get(rid).status == "pending"


# -- the acknowledgement comes first ----------------------------------------------------------------------

_GATE = threading.Event()
_ENTERED = threading.Event()


class _State(HITLState, total=False):
    pass


def _slow_send(args: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    _ENTERED.set()
    assert _GATE.wait(60), "the test never released the handler"
    return {"sent": True}


def _slow_graph() -> StateGraph:
    builder = StateGraph(_State)
    builder.add_node("plan", lambda state: {})
    builder.add_edge(START, "plan")
    policy = Policy(actions={"send_email": "irreversible_low"}, requirements={"medium": Requirement()})
    add_approval_flow(builder, source="plan", target=END, policy=policy, handlers={"send_email": _slow_send})
    return builder


def test_slow_decision_is_acknowledged_before_it_is_applied(db_url: str, slack: StandIn) -> None:
    """The 200 arrives while the decision's handler is still blocked: the ack never waits for the graph."""
    import uvicorn

    _GATE.clear()
    _ENTERED.clear()
    app = make_app(db_url, slack, graph=_slow_graph())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        hitl: Approvals = app.state.approvals
        rid = hitl.start("slow", action("send_email", to="a@b.c")).pending[0].request_id
        body = form(click_payload(hitl, slack, rid, "hitl_approve", "U0ALICE"))
        resp = httpx.post(
            f"http://127.0.0.1:{port}/slack/interactions", content=body, headers=signed(body), timeout=15
        )
        assert resp.status_code == 200
        assert hitl.get(rid).status in ("pending", "deciding") and slack.of("chat.update") == []
        _GATE.set()
        (update,) = slack.wait_for("chat.update")
        assert "Approved by alice" in update["text"] and _ENTERED.is_set()
        assert hitl.get(rid).status == "resumed"
    finally:
        _GATE.set()
        server.should_exit = True
        thread.join(30)


# -- configuration ----------------------------------------------------------------------------------------


def test_users_file_and_environment(tmp_path: Path) -> None:
    """`from_env` reads the users file named by HITL_SLACK_USERS, and names what is missing."""
    users = tmp_path / "slack-users.txt"
    users.write_text("# Slack id = approver\nU0ALICE = Alice\nU0BOB:bob\n", encoding="utf-8")
    assert load_slack_users(users) == {"U0ALICE": "Alice", "U0BOB": "bob"}
    env = {
        "HITL_SLACK_USERS": str(users),
        "HITL_SLACK_SIGNING_SECRET": SECRET,
        "HITL_SLACK_BOT_TOKEN": "xoxb-1",
    }
    got = SlackSettings.from_env(environ=env)
    assert got is not None and got.users == {"U0ALICE": "alice", "U0BOB": "bob"}
    assert SlackSettings.from_env(environ={}) is None
    with pytest.raises(SlackConfigError, match="HITL_SLACK_BOT_TOKEN is not set"):
        SlackSettings.from_env(environ={k: v for k, v in env.items() if k != "HITL_SLACK_BOT_TOKEN"})
    users.write_text("U0ALICE alice\n", encoding="utf-8")
    with pytest.raises(SlackConfigError, match=r"slack-users.txt:1: expected"):
        load_slack_users(users)
    assert "xoxb" not in repr(got) and SECRET not in repr(got)


def test_cli_serve_reads_the_slack_settings(
    db_url: str, tmp_path: Path, slack: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --slack-users FILE` needs the secrets from the environment (else exits 2 naming them),
    and then serves the Slack endpoint."""
    import uvicorn
    from typer.testing import CliRunner

    from langgraph_hitl.cli._app import app as cli_app
    from langgraph_hitl.store import open_store

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    for name in (
        "HITL_SLACK_USERS",
        "HITL_SLACK_SIGNING_SECRET",
        "HITL_SLACK_BOT_TOKEN",
        "HITL_SLACK_TEAM_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    users = tmp_path / "users.txt"
    users.write_text("U0ALICE = alice\n", encoding="utf-8")
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("alice:alice-token-7f3c0a9b2e\n", encoding="utf-8")
    with open_store(db_url):  # serve opens an existing database only
        pass
    args = ["--db", db_url, "serve", "--approvers", str(tokens), "--slack-users", str(users)]
    refused = CliRunner().invoke(cli_app, args)
    assert refused.exit_code == 2 and "HITL_SLACK_SIGNING_SECRET" in refused.stderr and not served
    monkeypatch.setenv("HITL_SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("HITL_SLACK_BOT_TOKEN", "xoxb-test")
    assert CliRunner().invoke(cli_app, args).exit_code == 0
    with TestClient(served[0]) as client:
        unsigned = client.post("/slack/interactions", content=b"payload=%7B%7D")
        assert unsigned.status_code == 401 and "Missing" in unsigned.json()["detail"]
        body = form({"type": "view_closed", "user": {"id": "U0ALICE"}})
        assert client.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200


def test_example_runs() -> None:
    """examples/integrations/slack.py runs offline and prints the decision and the updated message."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "integrations" / "slack.py")],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "resumed by alice" in result.stdout and "Approved by alice in Slack" in result.stdout


def test_docstring_examples_run_and_the_web_package_stays_without_slack_sdk() -> None:
    """The settings' docstring example runs; importing the web inbox does not import slack_sdk."""
    import doctest

    import langgraph_hitl.web.slack as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
    code = "import sys, langgraph_hitl.web, langgraph_hitl.web.slack; print('slack_sdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_slack_option_must_be_settings(db_url: str) -> None:
    """`create_app(slack=...)` names the type it takes when given something else."""
    with pytest.raises(TypeError, match="SlackSettings, got dict"):
        create_app(db=db_url, approvers=TOKENS, slack={"signing_secret": SECRET})  # type: ignore[arg-type]
