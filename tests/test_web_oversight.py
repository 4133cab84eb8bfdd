"""The stop switch and reversal in the web inbox: the halt banner, the Operations page (operators
only) and the "May be reversed" page, through Starlette's TestClient on a real SQLite store and a
real graph whose `update_record` has a compensation (`Handler(do=..., undo=...)`)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oversight_worker
import pytest
import test_web_browser as in_browser
import uvicorn
from conftest import skip_or_fail
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from langgraph_hitl import Approvals, Policy, Requirement
from langgraph_hitl.cli._app import app as cli_app
from langgraph_hitl.web import create_app
from langgraph_hitl.web.oversight_views import Operators

import graphs

TOKENS = {
    "alice": "alice-token-7f3c0a9b2e",
    "bob": "bob-token-51d8e6c4a0f2",
    "carol": "carol-token-c29b7e1d44",
    "ALICE": "upper-alice-token-0d9e1c",  # the same person as alice, by canonical name
    "\u0430lice": "cyrillic-a-token-88f1e2a7",  # Latin "lice" with a Cyrillic "а": a lookalike
}
SECRET = "test-secret-key-0123456789abcdef"
POLICY = Policy(
    {
        "update_record": "partially_reversible",
        "send_email": "fully_reversible",  # runs at once, and has no compensation
        "delete_record": "irreversible_high",
        "reverse:update_record": "irreversible_high",
    },
    requirements={
        "low": Requirement(review_after_s=3600.0),
        "high": Requirement(approvers=["alice", "carol"]),  # deletes, and reversing an update
    },
    version="web-oversight-1",
)
UPDATE = {"action": {"name": "update_record", "args": {"id": 1, "value": "x"}}}
DELETE = {"action": {"name": "delete_record", "args": {"id": 7}}}
XSS = "<script>alert('halt')</script>"


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.db"
    monkeypatch.setenv("HITL_EFFECTS_DB", str(path))
    return path


def make_app(db_url: str, *, graph: Any = "default", **kwargs: Any) -> Any:
    kwargs.setdefault("approvers", TOKENS)
    kwargs.setdefault("secret_key", SECRET)
    kwargs.setdefault("operators", {"alice"})
    return create_app(
        db=db_url, graph=oversight_worker.builder(POLICY) if graph == "default" else graph, **kwargs
    )


@pytest.fixture
def app(db_url: str, effects: Path) -> Any:
    return make_app(db_url)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def hitl(app: Any, client: TestClient) -> Approvals:
    """The app's own runner (open while the client is)."""
    return app.state.approvals  # type: ignore[no-any-return]


def second_client(app: Any) -> TestClient:
    """Another browser on the same app, already started: its own cookie jar, no second lifespan."""
    return TestClient(app, follow_redirects=False)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, who: str) -> str:
    """Sign `who` in; returns a CSRF token of the session."""
    resp = client.post("/login", data={"token": TOKENS[who], "csrf": csrf_of(client.get("/login").text)})
    assert resp.status_code == 303, resp.text
    return csrf_of(client.get("/").text)


def post(client: TestClient, path: str, **fields: str) -> Any:
    return client.post(path, data={"csrf": csrf_of(client.get("/").text), **fields})


def flash_of(client: TestClient, path: str) -> str:
    match = re.search(r'<p class="flash[^"]*" role="status">([^<]*)', client.get(path).text)
    assert match, "no flash message"
    return html.unescape(match.group(1))


def undo_calls(effects: Path) -> dict[str, int]:
    return {k: v for k, v in graphs.count_effects(str(effects))[1].items() if k.startswith("reverse:")}


def executed_id(hitl: Approvals, thread_id: str) -> str:
    return next(e["action_id"] for e in hitl.history(thread_id) if e["event"] == "executed")


# -- the banner ----------------------------------------------------------------------------------------


def test_banner_and_marks_appear_while_halted_and_go_when_lifted(client: TestClient, hitl: Approvals) -> None:
    """A halt shows on every page a signed-in person sees (scope, reason, who, since), and on each
    pending request it covers (list, detail, thread), not on others; lifting it removes both."""
    rid = hitl.start("t-del", DELETE).pending[0].request_id
    login(client, "bob")
    assert 'id="halt-banner"' not in client.get("/").text
    hitl.halt("action:delete_record", reason="bad deletes", actor="carol")
    for path in ("/", f"/requests/{rid}", "/threads/t-del", "/audit", "/metrics", "/reversible"):
        page = client.get(path).text
        assert 'id="halt-banner"' in page, path
        banner = html.unescape(page.split('id="halt-banner"')[1].split("</section>")[0])
        assert "action:delete_record" in banner and "by carol" in banner and "bad deletes" in banner
        assert re.search(r"since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", banner), path
    mark = "halted (action:delete_record) by carol: bad deletes"
    assert mark in html.unescape(client.get("/").text)
    assert 'id="request-halted"' in client.get(f"/requests/{rid}").text
    assert mark in html.unescape(client.get("/threads/t-del").text)
    assert 'href="/operations"' not in client.get("/").text  # bob is no operator
    hitl.unhalt("action:delete_record", reason="fixed", actor="carol")
    for path in ("/", f"/requests/{rid}", "/threads/t-del"):
        page = client.get(path).text
        assert 'id="halt-banner"' not in page and "halted (" not in page, path


def test_a_halt_of_another_action_marks_no_request(client: TestClient, hitl: Approvals) -> None:
    """The banner names every halt; a request is marked only by a halt that covers its action."""
    hitl.start("t-del", DELETE)
    hitl.halt("action:send_email", reason="bounces", actor="carol")
    login(client, "bob")
    page = client.get("/").text
    assert 'id="halt-banner"' in page and "halted (" not in page
    hitl.halt("all", reason="everything", actor="carol")
    assert "halted (all) by carol: everything" in html.unescape(client.get("/").text)


def test_visitors_see_no_banner(client: TestClient, hitl: Approvals) -> None:
    """The sign-in page says nothing about halts to someone not signed in."""
    hitl.halt("all", reason="secret incident", actor="carol")
    page = client.get("/login").text
    assert 'id="halt-banner"' not in page and "secret incident" not in page


# -- the Operations page -------------------------------------------------------------------------------


def test_operator_halts_lifts_and_sees_the_history(store_url: str, effects: Path) -> None:
    """alice (an operator) halts and lifts from the page; each is hers in the runner and the audit
    log (SQLite and Postgres)."""
    app = make_app(store_url)
    with TestClient(app, follow_redirects=False) as client:
        operator_round(client, app.state.approvals)


def operator_round(client: TestClient, hitl: Approvals) -> None:
    login(client, "alice")
    assert 'href="/operations"' in client.get("/").text
    assert client.get("/operations").status_code == 200
    resp = post(client, "/operations/halt", kind="action", name="delete_record", reason="bad deletes")
    assert resp.status_code == 303 and resp.headers["location"] == "/operations"
    assert "Halted action:delete_record" in flash_of(client, "/operations")
    [halt] = hitl.halts()
    assert (str(halt.scope), halt.actor, halt.reason) == ("action:delete_record", "alice", "bad deletes")
    page = client.get("/operations").text
    assert 'id="halt-1"' in page and "1 halt on" in page
    assert post(client, "/operations/halt", kind="all", name="", reason="all of it").status_code == 303
    resp = post(client, "/operations/unhalt", scope="action:delete_record", reason="fixed")
    assert resp.status_code == 303 and [str(h.scope) for h in hitl.halts()] == ["all"]
    past = client.get("/operations").text.split('id="past-halts"')[1]
    assert "action:delete_record" in past and "bad deletes" in past
    events = hitl.store.audit.query(event=["halted", "unhalted"])
    assert [(e["event"], e["actor"]) for e in events] == [
        ("halted", "alice"),
        ("halted", "alice"),
        ("unhalted", "alice"),
    ]


def test_non_operator_is_refused_and_nothing_is_halted(client: TestClient, hitl: Approvals) -> None:
    """bob gets 403 naming who may, for the page and each form, with a valid CSRF token; no halt, no event."""
    login(client, "bob")
    page = client.get("/operations")
    assert page.status_code == 403
    assert "Only the inbox's operators may halt and lift halts: alice" in html.unescape(page.text)
    assert post(client, "/operations/halt", kind="all", name="", reason="x").status_code == 403
    hitl.halt("all", reason="on", actor="carol")
    assert post(client, "/operations/unhalt", scope="all", reason="x").status_code == 403
    assert post(client, "/operations/resume").status_code == 403
    assert [h.actor for h in hitl.halts()] == ["carol"]
    assert [e["actor"] for e in hitl.store.audit.query(event=["halted", "unhalted"])] == ["carol"]


def test_the_actor_is_the_signed_in_operator_never_a_form_field(client: TestClient, hitl: Approvals) -> None:
    """Fields naming someone else are ignored (alice's halt is hers); bob naming alice is still bob (403)."""
    login(client, "alice")
    fields = {"actor": "carol", "approver": "carol", "lifted_by": "carol"}
    post(client, "/operations/halt", kind="action", name="send_email", reason="r", **fields)
    assert [h.actor for h in hitl.halts()] == ["alice"]
    post(client, "/operations/unhalt", scope="action:send_email", reason="r", **fields)
    assert [h.lifted_by for h in hitl.halts(lifted=True)] == ["alice"]
    other = second_client(client.app)
    login(other, "bob")
    resp = post(other, "/operations/halt", kind="all", name="", reason="r", actor="alice")
    assert resp.status_code == 403 and hitl.halts() == []


def test_case_different_and_lookalike_operators(client: TestClient, hitl: Approvals) -> None:
    """`ALICE` (another token, the same canonical person) may; Cyrillic `аlice` may not, not even
    by a form field, and nothing she posts halts anything."""
    login(client, "ALICE")
    assert client.get("/operations").status_code == 200
    post(client, "/operations/halt", kind="all", name="", reason="upper")
    assert [h.actor for h in hitl.halts()] == ["alice"]
    other = second_client(client.app)
    login(other, "\u0430lice")
    assert other.get("/operations").status_code == 403
    assert 'href="/operations"' not in other.get("/").text
    resp = post(other, "/operations/unhalt", scope="all", reason="lookalike", actor="alice")
    assert resp.status_code == 403 and len(hitl.halts()) == 1


def test_operators_option_is_checked(db_url: str) -> None:
    """Operators must be approvers with acceptable names, given as a collection of names."""
    make_app(db_url, operators=["Alice", "carol "])  # canonicalized: alice, carol
    with pytest.raises(ValueError, match=r"'dave' is not an approver of this inbox \(approvers: alice, bob"):
        make_app(db_url, operators={"dave"})
    with pytest.raises(ValueError, match="operators"):
        make_app(db_url, operators={"\u0430lice"})  # mixed scripts
    with pytest.raises(ValueError, match="single string"):
        make_app(db_url, operators="alice")
    with pytest.raises(ValueError, match="reserved|system"):
        make_app(db_url, operators=["system:timeout"])


_LETTERS = {
    "a": "aA\uff41\u0430",
    "l": "lL\uff4c",
    "i": "iI\uff49\u0456",
    "c": "cC\uff43\u0441",
    "e": "eE\uff45\u0435",
}


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(*(st.sampled_from(_LETTERS[ch]) for ch in "alice")),
    st.sampled_from(["", "\u200b", " ", "\u202e"]),
    st.integers(0, 5),
)
def test_operator_names_fold_case_and_width_but_refuse_lookalikes(
    letters: tuple[str, ...], extra: str, where: int
) -> None:
    """A spelling of alice in another case or width is alice; one with a Cyrillic letter, an
    invisible character or a space inside is nobody (never an operator, never an error)."""
    name = "".join(letters)
    name = name[:where] + extra + name[where:]
    cyrillic = any("\u0400" <= ch <= "\u04ff" for ch in name)
    inside = extra in ("\u200b", "\u202e") or (extra == " " and 0 < where < 5)
    assert Operators({"alice"}, ["alice"]).allows(name) is (not cyrillic and not inside)


def test_halt_form_refusals(client: TestClient, hitl: Approvals) -> None:
    """Bad scopes and empty reasons are shown on the page (400), a lift of nothing is 409; nothing changes."""
    login(client, "alice")
    cases = [
        ({"kind": "all", "name": "send_email", "reason": "r"}, "takes no name"),
        ({"kind": "action", "name": "", "reason": "r"}, "give the exact action name"),
        ({"kind": "action", "name": "s\u0435nd_email", "reason": "r"}, "is refused"),  # Cyrillic е
        ({"kind": "action", "name": " send_email", "reason": "r"}, "surrounding spaces"),
        ({"kind": "everything", "name": "", "reason": "r"}, "choose all, graph or action"),
        ({"kind": "all", "name": "", "reason": "  "}, "say why"),
    ]
    for fields, message in cases:
        resp = post(client, "/operations/halt", **fields)
        assert resp.status_code == 400, fields
        assert message in html.unescape(resp.text.split('id="operations-error">')[1].split("</p>")[0])
    resp = post(client, "/operations/unhalt", scope="action:send_email", reason="r")
    assert resp.status_code == 409 and "No halt is on for scope" in html.unescape(resp.text)
    assert hitl.halts(lifted=True) == []


def test_forms_without_the_sessions_csrf_token_are_refused(client: TestClient, hitl: Approvals) -> None:
    """No token, or another session's, is 403 on every oversight form; nothing is halted or reversed."""
    hitl.start("t1", UPDATE)
    target = executed_id(hitl, "t1")
    login(client, "alice")
    other = second_client(client.app)
    foreign = login(other, "carol")
    forms = {
        "/operations/halt": {"kind": "all", "name": "", "reason": "r"},
        "/operations/unhalt": {"scope": "all", "reason": "r"},
        "/operations/resume": {},
        "/reversible/reverse": {"action_id": target, "reason": "r"},
    }
    for path, fields in forms.items():
        for token in ({}, {"csrf": ""}, {"csrf": foreign}):
            resp = client.post(path, data={**fields, **token})
            assert resp.status_code == 403 and "Form expired" in resp.text, (path, token)
    assert hitl.halts(lifted=True) == [] and hitl.store.ledger.get(f"reverse:{target}") is None


def test_the_halt_reason_is_escaped_everywhere(client: TestClient, hitl: Approvals) -> None:
    """A reason with markup is shown as text on the banner, the Operations page and the marks."""
    hitl.start("t-del", DELETE)
    login(client, "alice")
    post(client, "/operations/halt", kind="action", name="delete_record", reason=XSS)
    for path in ("/", "/operations", "/threads/t-del"):
        page = client.get(path).text
        assert "<script" not in page, path
        assert "&lt;script&gt;alert(&#39;halt&#39;)&lt;/script&gt;" in page, path


# -- continuing a run a halt stopped -------------------------------------------------------------------


def test_approving_under_a_halt_then_lift_and_continue(
    client: TestClient, hitl: Approvals, effects: Path
) -> None:
    """An approval while the action is halted is recorded and the handler waits (409 with the halt);
    once lifted, "Continue stopped runs" runs it exactly once."""
    rid = hitl.start("t-del", DELETE).pending[0].request_id
    login(client, "alice")
    post(client, "/operations/halt", kind="action", name="delete_record", reason="freeze")
    resp = client.post(
        f"/requests/{rid}/decision",
        data={"csrf": csrf_of(client.get(f"/requests/{rid}").text), "type": "approve"},
    )
    assert resp.status_code == 409 and "was not started: halted (action:delete_record)" in html.unescape(
        resp.text
    )
    assert graphs.count_effects(str(effects))[1] == {}
    assert post(client, "/operations/resume").status_code == 303
    assert "No stopped run could continue" in flash_of(client, "/operations")
    post(client, "/operations/unhalt", scope="action:delete_record", reason="thaw")
    assert post(client, "/operations/resume").status_code == 303
    assert "Continued 1 run(s): t-del." in flash_of(client, "/operations")
    assert list(graphs.count_effects(str(effects))[1].values()) == [1]
    assert post(client, "/operations/resume").status_code == 303
    assert list(graphs.count_effects(str(effects))[1].values()) == [1]


def test_the_json_api_answers_an_approval_under_a_halt_with_409(client: TestClient, hitl: Approvals) -> None:
    """The API's decision under a halt is a 409 naming the halt (it was a 400, as if the answer were bad)."""
    rid = hitl.start("t-api", DELETE).pending[0].request_id
    hitl.halt("action:delete_record", reason="freeze", actor="alice")
    resp = client.post(
        f"/api/requests/{rid}/decision",
        json={"type": "approve"},
        headers={"Authorization": f"Bearer {TOKENS['alice']}"},
    )
    assert resp.status_code == 409, resp.text
    assert "halted (action:delete_record)" in resp.json()["detail"]


# -- the "May be reversed" page ------------------------------------------------------------------------


def test_reverse_from_the_page_runs_the_compensation_once(store_url: str, effects: Path) -> None:
    """The page lists the executed update; Reverse runs the compensation as the signed-in person;
    the same form again says it was already reversed and runs nothing (SQLite and Postgres)."""
    app = make_app(store_url)
    with TestClient(app, follow_redirects=False) as client:
        reverse_round(client, app.state.approvals, effects)


def reverse_round(client: TestClient, hitl: Approvals, effects: Path) -> None:
    hitl.start("t1", UPDATE)
    target = executed_id(hitl, "t1")
    login(client, "carol")
    page = client.get("/reversible").text
    assert f'name="action_id" value="{target}"' in page and "update_record" in page
    form = {"action_id": target, "reason": "wrong value", "approver": "alice"}
    resp = post(client, "/reversible/reverse", **form)
    assert resp.status_code == 303 and resp.headers["location"] == "/reversible"
    assert flash_of(client, "/reversible").startswith(f"Reversed update_record (action {target}): ")
    assert undo_calls(effects) == {f"reverse:{target}": 1}
    assert target not in client.get("/reversible").text
    asked = hitl.store.audit.query(action_id=target, event="reversal_requested")
    assert [(e["actor"], e["detail"]["reason"]) for e in asked] == [("carol", "wrong value")]
    assert post(client, "/reversible/reverse", **form).status_code == 303
    assert "was already reversed; nothing ran again" in flash_of(client, "/reversible")
    assert undo_calls(effects) == {f"reverse:{target}": 1}


def test_reverse_refusals_are_shown_and_run_nothing(
    client: TestClient, hitl: Approvals, effects: Path
) -> None:
    """Not allowed by the policy (403, audited), a forged approver field (ignored), no reason (400),
    an unknown action (404), one without a compensation (400), under a halt (409)."""
    hitl.start("t1", UPDATE)
    target = executed_id(hitl, "t1")
    hitl.start("t2", {"action": {"name": "send_email", "args": {"to": "x"}}})
    login(client, "bob")

    def refused(who: TestClient, status: int, text: str, **fields: str) -> None:
        resp = post(who, "/reversible/reverse", **fields)
        assert resp.status_code == status, fields
        assert text in html.unescape(resp.text.split('id="reverse-error">')[1].split("</p>")[0])

    bob_refused = "'bob' may not reverse 'update_record'; allowed: alice, carol"
    refused(client, 403, bob_refused, action_id=target, reason="r", approver="alice")
    assert [e["actor"] for e in hitl.store.audit.query(action_id=target, event="refused")] == ["bob"]
    alice = second_client(client.app)
    login(alice, "alice")
    refused(alice, 400, "say why", action_id=target, reason=" ")
    refused(alice, 404, "no-such-action", action_id="no-such-action", reason="r")
    refused(alice, 400, "has no compensation", action_id=executed_id(hitl, "t2"), reason="r")
    refused(alice, 400, "No action to reverse", reason="r")
    hitl.halt("action:update_record", reason="freeze", actor="carol")
    refused(alice, 409, "was not started: halted (action:update_record)", action_id=target, reason="r")
    assert undo_calls(effects) == {}


def test_read_only_inbox_lists_nothing_to_reverse(db_url: str, effects: Path) -> None:
    """Without a graph there are no compensations: the page says so and a reverse is 503; halts still work."""
    with Approvals.open(oversight_worker.builder(POLICY), db_url) as runner:
        runner.start("t1", UPDATE)
        target = executed_id(runner, "t1")
    with TestClient(make_app(db_url, graph=None), follow_redirects=False) as client:
        login(client, "alice")
        assert "cannot run compensations" in client.get("/reversible").text
        assert post(client, "/reversible/reverse", action_id=target, reason="r").status_code == 503
        assert post(client, "/operations/halt", kind="all", name="", reason="r").status_code == 303
        assert post(client, "/operations/resume").status_code == 503
        assert 'id="halt-banner"' in client.get("/").text
    assert undo_calls(effects) == {}


# -- serve --operators ---------------------------------------------------------------------------------


def test_serve_operators_option(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --operators` passes the names to create_app; one who is not an approver is a usage error."""
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("alice:alice-token-7f3c0a9b2e\nbob:bob-token-51d8e6c4a0f2\n")
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))  # the app, not a server
    with Approvals.open(oversight_worker.builder(POLICY), db_url):
        pass  # the database the inbox serves
    runner = CliRunner()
    args = ["--db", db_url, "serve", "--approvers", str(tokens)]
    result = runner.invoke(cli_app, [*args, "--operators", "Alice, bob"])
    assert result.exit_code == 0, result.output
    assert served[0].state.hitl_operators.names == {"alice", "bob"}
    result = runner.invoke(cli_app, [*args, "--operators", "alice,dave"])
    assert result.exit_code == 2 and "'dave' is not an approver" in result.output
    assert len(served) == 1


# -- in Chromium ---------------------------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A page in Debian's Chromium, driven by Playwright (as `test_web_browser` does)."""
    import os

    if not os.path.exists(in_browser.CHROMIUM):
        skip_or_fail(f"{in_browser.CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=in_browser.CHROMIUM, headless=True, args=in_browser.CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()


@pytest.mark.browser
def test_in_chromium_halt_reverse_and_lift(db_url: str, effects: Path, chromium: Any) -> None:
    """An operator halts from the page (the markup in her reason stays text), every page shows the
    banner and the halted request, Reverse runs the compensation, and lifting clears the banner."""
    with Approvals.open(oversight_worker.builder(POLICY), db_url) as agent:
        agent.start("t-upd", UPDATE)
        agent.start("t-del", DELETE)
        target = executed_id(agent, "t-upd")
    page = chromium
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for base in in_browser.serve(make_app(db_url)):
        page.goto(f"{base}/login")
        page.fill("#token", TOKENS["alice"])
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{base}/")
        page.click("nav a:has-text('Operations')")
        page.select_option("#halt-kind", "action")
        page.fill("#halt-name", "delete_record")
        page.fill("#halt-reason", XSS)
        page.click("#halt-submit")
        page.wait_for_selector("#halt-banner")
        assert XSS in page.inner_text("#halt-banner") and dialogs == []
        in_browser.shot(page, "oversight-operations")
        page.click("nav a:has-text('Inbox')")
        assert "halted (action:delete_record) by alice" in page.inner_text("table.inbox")
        in_browser.shot(page, "oversight-halted")
        page.click("nav a:has-text('May be reversed')")
        in_browser.shot(page, "oversight-reversible")
        page.fill("#reverse-reason-1", "wrong value")
        page.click("#reverse-1")
        assert page.inner_text(".flash").startswith(f"Reversed update_record (action {target})")
        page.click("nav a:has-text('Operations')")
        page.fill("#lift-reason-1", "fixed")
        page.click("#lift-1")
        page.wait_for_selector(".flash")
        assert page.query_selector("#halt-banner") is None and dialogs == []
    assert undo_calls(effects) == {f"reverse:{target}": 1}
