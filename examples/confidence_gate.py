"""Confidence bands and confirmation levels: two ways to decide how much a person is asked.

Part 1, confidence bands. A support agent's model proposes a reply email and reports how
sure it is. The gate routes on that number:

    confidence >= 0.85   runs without review (the soft gate is skipped)
    0.30 <= c < 0.85     a person decides
    confidence <  0.30   denied, nobody is bothered

A model's self-reported confidence is a noisy, often over-confident hint, not a probability.
Start strict, then move the thresholds with your approval metrics: if people approve the
"ask" band unmodified > 95% of the time, lower `auto_approve_at`; if they edit > 30%, fix the agent.

Part 2, confirmation levels: `info` (notify), `confirm` (yes / no) and `verify` (type an exact
phrase). A wrong phrase is refused and the request stays open.

Decisions are sent straight to the graph with `Command(resume=...)`; a SQLite checkpointer in
a temp dir keeps the paused runs. Offline: the model is langchain's fake chat model.

    python examples/confidence_gate.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from langgraph_hitl import ConfidenceBands, HITLState, Policy, add_approval_flow, open_checkpointer
from langgraph_hitl.patterns import confirmation_level, confirmation_policy, read_confidence
from langgraph_hitl.testing import authenticated


class State(HITLState, total=False):
    ticket: str


SENT: list[str] = []

# What the model would answer for each ticket: a reply and how sure it is.
SCRIPT = {
    "Where is my invoice?": {"reply": "Your invoice is in Billing > Invoices.", "confidence": 0.93},
    "Can I get a refund after 40 days?": {
        "reply": "Refunds are possible within 30 days; ...",
        "confidence": 0.55,
    },
    "asdf qwerty??": {"reply": "I am not sure what you mean.", "confidence": 0.12},
}
MODEL = GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(v)) for v in SCRIPT.values()]))


def plan(state: State) -> dict[str, Any]:
    """Ask the model for a reply plus its confidence; put both in state for the gate."""
    reply = MODEL.invoke(f"Draft a reply to: {state['ticket']}. Answer JSON with your confidence.")
    draft = json.loads(str(reply.content))
    return {
        "action": {"name": "send_reply", "args": {"ticket": state["ticket"], "text": draft["reply"]}},
        "confidence": read_confidence(reply),
    }


def build(policy: Policy, handlers: dict[str, Any], source: Any = plan) -> StateGraph[Any, Any, Any, Any]:
    builder = StateGraph(State)
    builder.add_node("plan", source)
    builder.add_edge(START, "plan")
    return add_approval_flow(builder, source="plan", target=END, policy=policy, handlers=handlers)


BANDS = Policy(
    {"send_reply": "irreversible_low"},
    confidence=ConfidenceBands(auto_approve_at=0.85, auto_reject_below=0.3),
)


def part1(saver: Any) -> None:
    print("Part 1: confidence bands (auto >= 0.85, deny < 0.3, ask between)")
    graph = build(BANDS, {"send_reply": lambda args: SENT.append(args["ticket"]) or "sent"}).compile(
        checkpointer=saver
    )
    for i, ticket in enumerate(SCRIPT):
        config = {"configurable": {"thread_id": f"ticket-{i}"}}
        out = graph.invoke({"ticket": ticket}, config)
        route = "asks a person" if "__interrupt__" in out else out["status"]
        print(f"   {out['confidence']:.2f}  {ticket!r:<38} -> {route}  ({out['assessment']['reasons'][0]})")
        if "__interrupt__" in out:
            out = graph.invoke(Command(resume={"type": "approve"}), authenticated(config, "support_lead"))
            print(f"         support_lead approves -> {out['status']}")
    print(f"   replies sent: {SENT}\n")


LEVELS = confirmation_policy(
    {"post_status": "info", "send_invoice": "confirm", "delete_account": "verify"},
    verify_phrases={"delete_account": "DELETE {account}"},
)


def part2(saver: Any) -> None:
    print("Part 2: confirmation levels")
    done: list[str] = []
    handlers = {
        n: (lambda args, _n=n: done.append(_n) or "ok")
        for n in ("post_status", "send_invoice", "delete_account")
    }
    graph = build(LEVELS, handlers, source=lambda state: {}).compile(checkpointer=saver)
    for name, args in [
        ("post_status", {"text": "All systems normal"}),
        ("send_invoice", {"account": 7}),
        ("delete_account", {"account": 4821}),
    ]:
        mode = LEVELS.assess({"name": name, "args": args})["mode"]
        print(f"   {name:<15} level={confirmation_level(mode)!s:<8} gate={mode}")
    config = {"configurable": {"thread_id": "info"}}
    print(
        f"   info runs at once: {graph.invoke({'action': {'name': 'post_status', 'args': {}}}, config)['status']}"
    )

    config = {"configurable": {"thread_id": "verify"}}
    out = graph.invoke({"action": {"name": "delete_account", "args": {"account": 4821}}}, config)
    phrase = out["__interrupt__"][0].value["hitl"]["verify_phrase"]
    print(f"   verify asks for the phrase {phrase!r}")
    as_ida = authenticated(config, "ops_ida")  # the reviewer's identity comes from the run's config
    out = graph.invoke(Command(resume={"type": "approve", "verify": "DELETE 4812"}), as_ida)
    refused = out["decisions"][-1]
    print(f"   ops_ida types 'DELETE 4812' -> {refused['effect']}: {refused['message']}")
    print(f"   still pending: {'__interrupt__' in out}, deleted so far: {done.count('delete_account')}")
    out = graph.invoke(Command(resume={"type": "approve", "verify": phrase}), as_ida)
    print(f"   ops_ida types {phrase!r} -> {out['status']}")


def main() -> None:
    with open_checkpointer(f"sqlite:///{Path(tempfile.mkdtemp()) / 'hitl.db'}") as saver:
        part1(saver)
        part2(saver)


if __name__ == "__main__":
    main()
