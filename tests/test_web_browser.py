"""The web inbox in real Chromium: a real uvicorn server, a separate agent runner, clicks and typing.

The agent side is a second `Approvals` on the same SQLite file (as an agent process would be);
the inbox server decides, and the agent side sees the thread finish. Screenshots of each
scenario go to `test-artifacts/`; `HITL_UPDATE_DOCS_IMAGES=1` also rewrites the README's
screenshot of the detail page, `docs/img/web-inbox.png`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import skip_or_fail

from langgraph_hitl import Approvals
from langgraph_hitl.web import create_app

from graphs import action, build

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
README_SHOT = ROOT / "docs" / "img" / "web-inbox.png"
UPDATE_DOCS = os.environ.get("HITL_UPDATE_DOCS_IMAGES") == "1"
"""Rewrite the committed README screenshot (otherwise only test-artifacts/ is written)."""
TOKENS = {
    "alice": "alice-token-7f3c0a9b2e",
    "bob": "bob-token-51d8e6c4a0f2",
    "carol": "carol-token-c29b7e1d44",
}


def graph() -> Any:
    """Deletes need alice or bob, the phrase `DELETE <id>`, and a decision within the hour."""
    return build(approvers=["alice", "bob"], verify=True, timeout_s=3600)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed: pip install playwright (no browser download needed)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    """The inbox served by uvicorn on a free loopback port in a background thread; yields its base URL."""
    import uvicorn

    app = create_app(
        db=db_url,
        graph=graph(),
        approvers=TOKENS,
        secret_key="browser-test-secret-0123456789",
        title="Acme approvals",
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws="none", http="h11"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            pytest.fail("the inbox server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=20)
        sock.close()


@pytest.fixture
def agent(db_url: str) -> Iterator[Approvals]:
    """The agent's own runner on the same database, as a separate process would have."""
    with Approvals.open(graph(), db_url) as runner:
        yield runner


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


def sign_in(page: Any, base: str, who: str) -> None:
    page.goto(f"{base}/")
    assert page.url.endswith("/login")
    page.fill("#token", TOKENS[who])
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/")
    assert page.inner_text(".who strong") == who


def propose_delete(agent: Approvals, thread: str, record: int) -> str:
    """The agent reads a customer (auto-approved), then proposes deleting it: step 2 of 3."""
    task = f"Close the account of customer {record} and erase their data (ticket SUP-4821)"
    agent.start(
        thread,
        {
            **action("read_record", table="customers", id=record),
            "hitl_context": {"task": task, "step": 1, "total_steps": 3},
        },
    )
    run = agent.start(
        thread,
        {
            "action": {
                "name": "delete_record",
                "args": {"table": "customers", "id": record, "cascade": ["orders", "tickets"]},
                "description": f"Delete customer {record} and their orders and tickets",
            },
            "hitl_context": {"task": task, "step": 2, "total_steps": 3},
        },
    )
    return run.pending[0].request_id


def state_of(agent: Approvals, thread: str) -> dict[str, Any]:
    return dict(agent.graph.get_state({"configurable": {"thread_id": thread}}).values)


def test_browser_approve_leaves_list_and_finishes_graph(server: str, agent: Approvals, page: Any) -> None:
    """alice signs in, opens the request, types the phrase, approves; it leaves the list and the run ends."""
    rid = propose_delete(agent, "crm-4821", 4821)
    agent.start("mail-1", action("send_email", to="team@acme.test", subject="Weekly report"))
    sign_in(page, server, "alice")
    row = page.locator(f"a[href='/requests/{rid}']")
    assert row.inner_text() == "delete_record"
    shot(page, "inbox")
    row.click()
    page.wait_for_url(f"{server}/requests/{rid}")
    assert "Step 2 of 3" in page.inner_text("main") and "Irreversible, high impact" in page.inner_text("main")
    page.fill("#approve-verify", "DELETE 4821")
    if UPDATE_DOCS or not README_SHOT.exists():
        README_SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(README_SHOT), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1250}
        )
    shot(page, "detail")
    page.click("form.decide-approve button[type=submit]")
    page.wait_for_url(f"{server}/")
    assert "Thread crm-4821 finished: executed." in page.inner_text(".flash")
    assert page.locator(f"a[href='/requests/{rid}']").count() == 0
    assert page.locator("a.action-link").count() == 1  # the email still waits
    shot(page, "approved")
    assert agent.get(rid).status == "resumed" and agent.get(rid).decided_by == "alice"
    values = state_of(agent, "crm-4821")
    assert values["status"] == "executed" and values["result"]["args"]["id"] == 4821


def test_browser_reject_with_message(server: str, agent: Approvals, page: Any) -> None:
    """bob rejects with a reason; the run ends rejected and the audit page shows the reason."""
    rid = propose_delete(agent, "crm-77", 77)
    sign_in(page, server, "bob")
    page.goto(f"{server}/requests/{rid}")
    page.fill("#reject-message", "Customer 77 has an open invoice; do not delete.")
    page.click("form.decide-reject button[type=submit]")
    page.wait_for_url(f"{server}/")
    assert "Rejected delete_record" in page.inner_text(".flash")
    assert state_of(agent, "crm-77")["status"] == "rejected"
    page.click("nav a:has-text('Audit log')")
    assert "Chain verified" in page.inner_text("#chain")
    assert "open invoice" in page.inner_text("table.events")
    shot(page, "rejected-audit")
    page.click("nav a:has-text('Metrics')")
    bob = page.locator("table.stats tr", has=page.locator("th", has_text="bob"))
    assert bob.locator("td").nth(3).inner_text() == "1"  # one rejection
    shot(page, "metrics")


def test_browser_invalid_edit_shows_error_and_stays_pending(server: str, agent: Approvals, page: Any) -> None:
    """Broken JSON in the edit form comes back as an inline 400 error, with the request still pending."""
    rid = propose_delete(agent, "crm-5", 5)
    sign_in(page, server, "alice")
    page.goto(f"{server}/requests/{rid}")
    page.fill("#edit-args", '{"table": "customers", "id": 5,,}')
    page.fill("#edit-verify", "DELETE 5")
    with page.expect_response(lambda r: r.url.endswith("/decision")) as answer:
        page.click("form.decide-edit button[type=submit]")
    assert answer.value.status == 400
    error = page.locator("#decision-error")
    assert error.is_visible() and error.inner_text().startswith("Edited arguments are not valid JSON")
    assert page.input_value("#edit-args") == '{"table": "customers", "id": 5,,}'
    shot(page, "invalid-edit")
    assert agent.get(rid).status == "pending"


def test_browser_non_approver_gets_403(server: str, agent: Approvals, page: Any) -> None:
    """carol is warned she is not an approver, and her approval is refused with 403."""
    rid = propose_delete(agent, "crm-9", 9)
    sign_in(page, server, "carol")
    page.goto(f"{server}/requests/{rid}")
    assert "You cannot decide this request" in page.inner_text("#refusal")
    assert not page.locator("form.decide-approve").is_visible()
    page.click("summary")
    page.fill("#approve-verify", "DELETE 9")
    with page.expect_response(lambda r: r.url.endswith("/decision")) as answer:
        page.click("form.decide-approve button[type=submit]")
    assert answer.value.status == 403
    assert "'carol' may not decide" in page.inner_text("#decision-error")
    shot(page, "forbidden")
    assert agent.get(rid).status == "pending"
