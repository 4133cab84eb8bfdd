"""Take the README's screenshots from the demo's own data, in real Chromium.

    python scripts/screenshots.py            # rewrites docs/img/web-inbox*.png

What it does, in a scratch folder (your files are never touched):
1. runs `examples/quickstart.py` (what `make demo` runs), which leaves a delete waiting;
2. runs `examples/tool_agent.py`'s agent (its scripted model, offline) on the same database
   until it asks about two risky tool calls in one question;
3. serves the web inbox on a free loopback port and signs in as the demo's reviewers;
4. photographs the single-action request page and the multi-call request page.

Needs the `[web]` extra, Playwright and Debian's Chromium (`/usr/bin/chromium`); no network.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
TOKENS = {"alice": "alice-demo-token-0123456789", "ops_lead": "ops-demo-token-0123456789"}


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def demo_data(folder: Path) -> tuple[str, dict[str, tuple[Any, str]]]:
    """The demo's database with a waiting delete and a waiting multi-call request: its URL, and
    per screenshot the graph that decides the request and the request's id."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPENAI_API_KEY", None)  # the scripted model: offline and always the same turn
    subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], cwd=folder, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    os.environ.pop("OPENAI_API_KEY", None)
    url = f"sqlite:///{folder / 'quickstart-demo.db'}"
    from langchain_core.messages import HumanMessage

    from langgraph_hitl import Approvals

    agent = _load(ROOT / "examples" / "tool_agent.py", "tool_agent_example")
    quickstart = _load(ROOT / "examples" / "quickstart.py", "quickstart_example")
    tools = agent.build(agent.make_model())
    with Approvals.open(tools, url) as hitl:
        run = hitl.start(
            "crm-cleanup", {"messages": [HumanMessage("Acme churned. Tell people and clean up.")]}
        )
        calls = run.pending[0].request_id
        waiting = [p for p in hitl.pending(limit=50).items if p.thread_id.startswith("delete-1002")]
    return url, {
        "web-inbox.png": (quickstart.build_graph(), waiting[0].request_id),
        "web-inbox-calls.png": (tools, calls),
    }


def serve(app: Any) -> tuple[str, Any]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", http="h11"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            msg = "the inbox did not start"
            raise SystemExit(msg)
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def main() -> None:
    from playwright.sync_api import sync_playwright

    from langgraph_hitl.web import create_app

    with tempfile.TemporaryDirectory() as scratch:
        url, shots = demo_data(Path(scratch))
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            for (name, (graph, rid)), who in zip(shots.items(), ("alice", "ops_lead"), strict=True):
                app = create_app(db=url, graph=graph, approvers=TOKENS, secret_key="screenshots-0123456789abcdef",
                                 title="Demo approvals")  # fmt: skip
                base, server = serve(app)
                try:
                    context = browser.new_context(viewport={"width": 1280, "height": 900})
                    page = context.new_page()
                    page.goto(f"{base}/login")
                    page.fill("#token", TOKENS[who])
                    page.click("button:has-text('Sign in')")
                    page.wait_for_url(f"{base}/")
                    page.goto(f"{base}/requests/{rid}")
                    page.screenshot(path=str(OUT / name), full_page=True)
                    print(f"wrote {OUT / name}")
                    context.close()
                finally:
                    server.should_exit = True
            browser.close()


if __name__ == "__main__":
    main()
