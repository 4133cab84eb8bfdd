"""Render what Agent Inbox shows for this deployment's questions: a labelled rendering, not the app.

    python examples/server/agent_inbox_preview.py     # writes agent-inbox-*.png next to this file

Agent Inbox (langchain-ai/agent-inbox) is a Next.js app; building it needs npm packages, so the
README's pictures are drawn here instead, from the same data the app reads. The graphs of this
folder run in-process up to their question, with the run metadata LangGraph Server gives every
run (`langgraph_api_version`), so the nodes add Agent Inbox's view as they do on the server. Then
the fields Agent Inbox's `normalizeInterrupt` (`src/components/agent-inbox/contexts/utils.ts`)
takes from the question are laid out like its thread page (`thread-actions-view.tsx`,
`inbox-item-input.tsx`): the title, "Mark as Resolved", the Edit/Accept card with one text field
per argument (`createDefaultHumanResponse` turns non-text values into JSON text), the Respond box,
and the description rendered as Markdown. A banner on each picture says it is a rendering.

Needs Playwright and Debian's Chromium (`/usr/bin/chromium`) for the pictures; `preview_html`
alone needs only `markdown-it-py`. No network.
"""

from __future__ import annotations

import html
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
ON_SERVER = {"metadata": {"langgraph_api_version": "preview"}}
"""Run metadata LangGraph Server sets on every run; the nodes add Agent Inbox's view when they see it."""

_CSS = """
body { font-family: Inter, 'DejaVu Sans', sans-serif; margin: 0; color: #09090b; background: #fff; }
.banner { background: #fef9c3; border-bottom: 1px solid #facc15; padding: 8px 24px; font-size: 13px; }
.page { display: flex; }
.left { width: 620px; padding: 40px 48px; display: flex; flex-direction: column; gap: 28px; }
.right { flex: 1; border-left: 1px solid #e4e4e7; padding: 40px 32px; font-size: 14px; line-height: 1.55; }
h1 { font-size: 24px; font-weight: 400; letter-spacing: -0.02em; margin: 0; }
.tid { font-family: monospace; font-size: 11px; color: #71717a; background: #f4f4f5; padding: 2px 6px; border-radius: 6px; }
.btn { display: inline-block; border: 1px solid #71717a; border-radius: 6px; padding: 7px 14px; font-size: 14px; }
.brand { background: #0a0a0a; color: #fff; border-color: #0a0a0a; text-align: center; }
.card { border: 1px solid #d4d4d8; border-radius: 12px; padding: 24px; display: flex; flex-direction: column; gap: 14px; }
.card h2 { font-size: 16px; font-weight: 600; margin: 0; }
label { font-size: 14px; font-weight: 500; }
.field { border: 1px solid #e4e4e7; border-radius: 6px; padding: 8px 10px; font-size: 13px;
         white-space: pre-wrap; word-break: break-all; min-height: 20px; }
.or { text-align: center; color: #71717a; font-size: 13px; }
.right code { background: #f4f4f5; padding: 1px 4px; border-radius: 4px; font-size: 12.5px; }
.tabs { font-size: 13px; color: #52525b; margin-bottom: 18px; }
"""


def shown(value: dict[str, Any]) -> dict[str, Any]:
    """What Agent Inbox takes from a langchain request: `normalizeInterrupt` in contexts/utils.ts."""
    request = value["action_requests"][0]
    decisions = value["review_configs"][0]["allowed_decisions"] if value.get("review_configs") else []
    return {
        "action": request.get("name", ""),
        "args": request.get("arguments") or {},
        "allow_accept": "approve" in decisions,
        "allow_edit": "edit" in decisions,
        "allow_respond": "reject" in decisions,
        "description": request.get("description") or "No description provided",
    }


def _text(value: Any) -> str:
    """A field's text as Agent Inbox fills it: text and numbers as they are, anything else `JSON.stringify`'d."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _label(key: str) -> str:
    """lodash `startCase(key.replace(/_/g, " "))`, as `prettifyText` prints a field's name."""
    return " ".join(p[:1].upper() + p[1:] for p in key.replace("_", " ").split())


def preview_html(value: dict[str, Any], thread_id: str) -> str:
    """An HTML page laid out like Agent Inbox's thread page for the question `value`, with a banner."""
    from markdown_it import MarkdownIt

    view = shown(value)
    fields = "".join(
        f"<label>{html.escape(_label(k))}</label><div class='field'>{html.escape(_text(v))}</div>"
        for k, v in view["args"].items()
    )
    cards = []
    if view["allow_edit"]:
        head = "Edit/Accept" if view["allow_accept"] else "Edit"
        button = "Accept" if view["allow_accept"] else "Submit"
        cards.append(f"<div class='card'><h2>{head}</h2>{fields}<div class='btn brand'>{button}</div></div>")
    elif view["allow_accept"]:
        cards.append(f"<div class='card'>{fields}<div class='btn brand'>Accept</div></div>")
    if view["allow_respond"]:
        if cards:
            cards.append("<div class='or'>Or</div>")
        cards.append(
            "<div class='card'><h2>Respond to assistant</h2><label>Response</label>"
            "<div class='field' style='color:#a1a1aa;height:64px'>Your response here...</div>"
            "<div style='text-align:right'><span class='btn brand'>Send Response</span></div></div>"
        )
    description = MarkdownIt("commonmark", {"html": False}).render(view["description"])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{_CSS}</style></head><body>"
        "<div class='banner'><b>Rendering, not a screenshot of Agent Inbox:</b> the fields Agent Inbox reads "
        "from this question (its <code>normalizeInterrupt</code>), laid out like its thread page, drawn by "
        "<code>examples/server/agent_inbox_preview.py</code>.</div>"
        "<div class='page'><div class='left'>"
        f"<div><h1>&#9888; {html.escape(view['action'])}</h1> <span class='tid'>{html.escape(thread_id)}</span></div>"
        "<div><span class='btn'>Mark as Resolved</span></div>"
        f"{''.join(cards)}</div>"
        f"<div class='right'><div class='tabs'>State &nbsp;|&nbsp; <b>Description</b></div>{description}</div>"
        "</div></body></html>"
    )


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"server_example_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def questions() -> dict[str, tuple[dict[str, Any], str]]:
    """The questions to draw, as this folder's graphs ask them on LangGraph Server: `{name: (value, thread_id)}`."""
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    graph = _load("graph").build().compile(checkpointer=InMemorySaver())
    config: Any = {**ON_SERVER, "configurable": {"thread_id": "purge-users"}}
    graph.invoke({"action": {"name": "purge_table", "args": {"table": "users"}}}, config)
    # bob's Agent Inbox sent Accept without the phrase: the question is asked again with the reason.
    bob = {**config, "configurable": {**config["configurable"], "langgraph_auth_user_id": "bob"}}
    out = graph.invoke(Command(resume=[{"type": "accept", "args": None}]), bob)
    request = out["__interrupt__"][0].value
    tools = _load("tool_agent").build().compile(checkpointer=InMemorySaver())
    calls = [
        {"name": "search_crm", "args": {"query": "acme"}},
        {"name": "delete_record", "args": {"record_id": 4821}},
        {"name": "send_email", "args": {"to": "all-staff@example.com", "subject": "Acme churned"}},
    ]
    config = {**ON_SERVER, "configurable": {"thread_id": "crm-cleanup"}}
    out = tools.invoke({"messages": [HumanMessage(json.dumps(calls))]}, config)
    return {"request": (request, "purge-users"), "calls": (out["__interrupt__"][0].value, "crm-cleanup")}


def main() -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, (value, thread_id) in questions().items():
            page.set_content(preview_html(value, thread_id))
            out = HERE / f"agent-inbox-{name}.png"
            page.screenshot(path=str(out), full_page=True)
            print(f"wrote {out}")
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
