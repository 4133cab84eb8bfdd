"""The web inbox in real Chromium: a real uvicorn server, a separate agent runner, clicks and typing.

The agent side is a second `Approvals` on the same SQLite file (as an agent process would be);
the inbox server decides, and the agent side sees the thread finish. Screenshots of each
scenario go to `test-artifacts/`. The README's screenshots come from the demo's own data
(`scripts/screenshots.py`, `make screenshots`), not from here.
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
from test_web_calls import DELETE, MAIL, ask, tool_agent, tool_answers

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


def serve(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a background thread; yield its base URL."""
    import uvicorn

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
def server(db_url: str) -> Iterator[str]:
    """The inbox for the approval-flow graph; yields its base URL."""
    app = create_app(
        db=db_url,
        graph=graph(),
        approvers=TOKENS,
        secret_key="browser-test-secret-0123456789",
        title="Acme approvals",
    )
    yield from serve(app)


@pytest.fixture
def tool_server(db_url: str) -> Iterator[str]:
    """The inbox for a tool-calling agent (`test_web_calls.tool_agent`); yields its base URL."""
    app = create_app(
        db=db_url,
        graph=tool_agent(),
        approvers=TOKENS,
        secret_key="browser-test-secret-0123456789",
        title="Acme approvals",
    )
    yield from serve(app)


@pytest.fixture
def tool_runner(db_url: str) -> Iterator[Approvals]:
    """The tool agent's own runner on the same database."""
    with Approvals.open(tool_agent(), db_url) as runner:
        yield runner


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
    shot(page, "detail")
    page.click("form.decide-approve button[type=submit]")
    page.wait_for_url(f"{server}/")
    assert "Thread crm-4821 finished: executed." in page.inner_text(".flash")
    assert page.locator(f"a.action-link[href='/requests/{rid}']").count() == 0
    assert page.locator("a.action-link").count() == 1  # the email still waits
    shot(page, "approved")
    assert agent.get(rid).status == "resumed" and agent.get(rid).decided_by == "alice"
    values = state_of(agent, "crm-4821")
    assert values["status"] == "executed" and values["result"]["args"]["id"] == 4821
    page.click("#flash-link")
    assert page.inner_text("#status") == "Decided"
    summary = page.inner_text("#outcome-summary")
    assert "Decided by alice" in summary and "delete_record approved, ran" in summary and "4821" in summary


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


# -- multi-call requests (one question covering several tool calls) ------------------------------------------


def open_calls(page: Any, base: str, runner: Approvals, thread: str) -> str:
    rid = ask(runner, thread, MAIL, DELETE)
    sign_in(page, base, "alice")
    page.goto(f"{base}/requests/{rid}")
    assert page.locator("fieldset.call").count() == 2
    assert page.locator("#call-0-verify").count() == 0 and page.locator("#call-1-verify").is_visible()
    return rid


def test_browser_multi_call_approve_all(tool_server: str, tool_runner: Approvals, page: Any) -> None:
    """alice types the delete's phrase and approves every call at once; both tools run and the page says so."""
    rid = open_calls(page, tool_server, tool_runner, "agent-all")
    assert "DELETE 4821" in page.inner_text("#call-1")
    page.fill("#call-1-verify", "DELETE 4821")
    shot(page, "calls")
    page.click("#approve-all")
    page.wait_for_url(f"{tool_server}/")
    flash = page.inner_text(".flash")
    assert "send_email approved, ran: sent to ops@acme.test" in flash
    assert "delete_record approved, ran: deleted customers/4821" in flash
    page.click("#flash-link")
    assert page.inner_text("#status") == "Decided"
    assert page.locator("table.calls-outcome tr.ran-ran").count() == 2
    shot(page, "calls-outcome")
    assert tool_runner.get(rid).decided_by == "alice"
    assert tool_answers(tool_runner, "agent-all")["c-del"] == ("success", "deleted customers/4821")


def test_browser_multi_call_approve_one_reject_one(
    tool_server: str, tool_runner: Approvals, page: Any
) -> None:
    """alice approves the email and rejects the delete with a reason: one submit, one decision per call."""
    rid = open_calls(page, tool_server, tool_runner, "agent-mixed")
    page.check("#call-0-approve")
    page.check("#call-1-reject")
    page.fill("#call-1-message", "Customer 4821 has an open invoice")
    page.click("#submit-decisions")
    page.wait_for_url(f"{tool_server}/")
    flash = page.inner_text(".flash")
    assert (
        "send_email approved, ran" in flash and "delete_record rejected" in flash and "did not run" in flash
    )
    assert "Approved send_email" not in flash
    answers = tool_answers(tool_runner, "agent-mixed")
    assert answers["c-mail"][0] == "success" and answers["c-del"][0] == "error"
    assert "open invoice" in answers["c-del"][1]
    assert [d["type"] for d in tool_runner.get(rid).decision["decisions"]] == ["approve", "reject"]  # type: ignore[index]


def test_browser_multi_call_wrong_phrase_refused_inline(
    tool_server: str, tool_runner: Approvals, page: Any
) -> None:
    """A wrong phrase on the delete comes back as 400 beside that call; nothing was saved and nothing ran."""
    rid = open_calls(page, tool_server, tool_runner, "agent-typo")
    page.check("#call-0-approve")
    page.check("#call-1-approve")
    page.fill("#call-1-verify", "DELETE 4812")
    with page.expect_response(lambda r: r.url.endswith("/decision")) as answer:
        page.click("#submit-decisions")
    assert answer.value.status == 400
    inline = page.locator("#call-1-error")
    assert inline.is_visible() and "Type exactly 'DELETE 4821'" in inline.inner_text()
    assert page.locator("#call-0-error").count() == 0 and page.locator("fieldset.call-bad").count() == 1
    assert page.input_value("#call-1-verify") == "DELETE 4812" and page.is_checked("#call-0-approve")
    assert page.locator(".flash").count() == 0
    shot(page, "calls-refused")
    assert tool_runner.get(rid).status == "pending"
    assert "approved" not in [e["event"] for e in tool_runner.history("agent-typo")]
    assert tool_answers(tool_runner, "agent-typo") == {}


def test_browser_thread_page_keeps_url_special_thread_ids_whole(
    server: str, agent: Approvals, page: Any
) -> None:
    """Thread ids with `/`, `..`, `?`, `#`, `%` and a space, and the id `..`: Chromium follows the
    inbox row's link to that thread's page (nothing folded or cut off), on to the request and back."""
    odd, dots = "crm/../42 a?b#c%2F", ".."
    rid = propose_delete(agent, odd, 42)
    other = propose_delete(agent, dots, 43)
    sign_in(page, server, "alice")
    for thread, request_id in ((odd, rid), (dots, other)):
        page.goto(f"{server}/")
        page.locator("tr", has=page.locator(f"a[href='/requests/{request_id}']")).locator(
            "a.thread-link"
        ).click()
        page.wait_for_selector("#thread-id")
        assert page.inner_text("#thread-id") == thread
        assert page.locator("a.request-link").all_inner_texts() == [request_id[:12]]
        page.click("a.request-link")
        page.wait_for_url(f"{server}/requests/{request_id}")
        page.click("#thread-link")
        page.wait_for_selector("#thread-id")
        assert page.inner_text("#thread-id") == thread
    shot(page, "thread")


def test_browser_api_docs_work_offline(server: str, page: Any) -> None:
    """/api/docs renders Swagger UI with every request it makes answered by this server (others are blocked)."""
    elsewhere: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(f"{server}/api/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/requests/{request_id}/decision" in p.replace("\u200b", "") for p in paths), paths
    shot(page, "api-docs")
    assert elsewhere == []
