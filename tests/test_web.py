"""The web inbox through Starlette's TestClient: sign-in, pages, forms, the JSON API, links, security."""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from langgraph_hitl import Approvals
from langgraph_hitl.notify import LinkSigner, MemoryNonceStore
from langgraph_hitl.web import SESSION_COOKIE, create_app, hash_token, load_approvers

from graphs import action, build

TOKENS = {
    "alice": "alice-token-7f3c0a9b2e",
    "bob": "bob-token-51d8e6c4a0f2",
    "carol": "carol-token-c29b7e1d44",
}
SECRET = "test-secret-key-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


def make_app(db_url: str, *, graph: Any = "default", **kwargs: Any) -> Any:
    """An app over `db_url` whose deletes need alice or bob and the phrase `DELETE <id>`."""
    if graph == "default":
        graph = build(approvers=["alice", "bob"], verify=True, timeout_s=3600)
    kwargs.setdefault("approvers", TOKENS)
    kwargs.setdefault("secret_key", SECRET)
    return create_app(db=db_url, graph=graph, **kwargs)


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner("link-secret-for-tests", ttl_s=600)


@pytest.fixture
def nonces() -> MemoryNonceStore:
    return MemoryNonceStore()


@pytest.fixture
def app(db_url: str, signer: LinkSigner, nonces: MemoryNonceStore) -> Any:
    return make_app(db_url, link_signer=signer, nonce_store=nonces)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def hitl(app: Any, client: TestClient) -> Approvals:
    """The app's own runner (open while the client is)."""
    return app.state.approvals  # type: ignore[no-any-return]


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, who: str) -> None:
    token = csrf_of(client.get("/login").text)
    resp = client.post("/login", data={"token": TOKENS[who], "csrf": token})
    assert resp.status_code == 303, resp.text


def start_delete(hitl: Approvals, thread: str, **args: Any) -> str:
    state = {
        **action("delete_record", **{"id": 7, **args}),
        "hitl_context": {"task": "Remove churned customers", "step": 2, "total_steps": 3},
    }
    run = hitl.start(thread, state)
    return run.pending[0].request_id


def decide_form(client: TestClient, rid: str, **fields: str) -> Any:
    page = client.get(f"/requests/{rid}")
    return client.post(f"/requests/{rid}/decision", data={"csrf": csrf_of(page.text), **fields})


def error_of(page: str) -> str:
    match = re.search(r'id="decision-error">([^<]*)<', page)
    assert match, "page shows no decision error"
    return html.unescape(match.group(1))


def bearer(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def thread_values(hitl: Approvals, thread: str) -> dict[str, Any]:
    return dict(hitl.graph.get_state({"configurable": {"thread_id": thread}}).values)


# -- sign-in ------------------------------------------------------------------------------------------


def test_pages_redirect_anonymous_to_login(client: TestClient) -> None:
    """Every page redirects a visitor without a session to the login page, remembering the target."""
    assert client.get("/").headers["location"] == "/login"
    resp = client.get("/requests/abc?x=1")
    assert resp.status_code == 303 and resp.headers["location"] == "/login?next=/requests/abc%3Fx%3D1"
    for path in ("/audit", "/metrics"):
        assert client.get(path).headers["location"].startswith("/login")


def test_login_sets_signed_httponly_lax_cookie(client: TestClient) -> None:
    """A valid token gives an HttpOnly, SameSite=Lax session cookie and goes to `next`."""
    csrf = csrf_of(client.get("/login?next=/audit").text)
    resp = client.post("/login", data={"token": TOKENS["alice"], "csrf": csrf, "next": "/audit"})
    assert resp.status_code == 303 and resp.headers["location"] == "/audit"
    cookie = resp.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE) and "httponly" in cookie and "samesite=lax" in cookie
    assert TOKENS["alice"] not in resp.headers["set-cookie"]
    assert "Signed in as <strong>alice</strong>" in client.get("/audit").text


def test_login_refuses_bad_token_and_offsite_next(client: TestClient) -> None:
    """A wrong token answers 401 on the form; `next` never leaves the site."""
    csrf = csrf_of(client.get("/login").text)
    resp = client.post("/login", data={"token": "not-a-token-at-all", "csrf": csrf})
    assert resp.status_code == 401 and "not valid" in resp.text
    assert client.get("/").status_code == 303
    for offsite in ("//evil.test/x", "/\t/evil.test", "https://evil.test", "/\\evil.test"):
        resp = client.post(
            "/login",
            data={"token": TOKENS["bob"], "csrf": csrf_of(client.get("/login").text), "next": offsite},
        )
        assert resp.headers["location"] == "/", offsite


def test_login_requires_csrf(client: TestClient) -> None:
    """The login form is refused with 403 without the session's CSRF token."""
    client.get("/login")
    assert client.post("/login", data={"token": TOKENS["alice"]}).status_code == 403
    assert client.post("/login", data={"token": TOKENS["alice"], "csrf": "forged"}).status_code == 403
    assert client.get("/").status_code == 303


def test_logout_ends_session_and_needs_csrf(client: TestClient) -> None:
    """Sign-out needs the CSRF token, then pages redirect to login again."""
    login(client, "alice")
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200
    resp = client.post("/logout", data={"csrf": csrf_of(client.get("/").text)})
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_forged_or_foreign_session_cookie_is_refused(client: TestClient, db_url: str) -> None:
    """A tampered cookie, or one signed with another secret, is not a session."""
    login(client, "alice")
    good = client.cookies[SESSION_COOKIE]
    payload, sig = good.split(".")
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, payload[:-2] + "xx." + sig)
    assert client.get("/").status_code == 303
    other = make_app(db_url, secret_key="another-secret-key-entirely-0000")
    with TestClient(other, follow_redirects=False) as c2:
        c2.cookies.set(SESSION_COOKIE, good)
        assert c2.get("/").status_code == 303


def test_replacing_a_token_ends_its_sessions(db_url: str) -> None:
    """A session made with alice's old token stops working once her token changes."""
    with TestClient(make_app(db_url), follow_redirects=False) as c:
        login(c, "alice")
        cookie = c.cookies[SESSION_COOKIE]
    rotated = make_app(db_url, approvers={**TOKENS, "alice": "alice-new-token-99887766"})
    with TestClient(rotated, follow_redirects=False) as c:
        c.cookies.set(SESSION_COOKIE, cookie)
        assert c.get("/").status_code == 303


# -- pages --------------------------------------------------------------------------------------------


def test_inbox_lists_newest_first_with_filters(client: TestClient, hitl: Approvals) -> None:
    """The list shows pending requests newest first and filters by risk and by "mine"."""
    hitl.start("old", action("send_email", to="a@x.test"))
    high = start_delete(hitl, "t-high")
    crit = start_delete(hitl, "t-crit", env="prod")
    hitl.start("own", {**action("delete_record", id=9), "requested_by": "alice"})
    login(client, "alice")
    page = client.get("/").text
    ids = re.findall(r'href="/requests/([0-9a-f]+)"', page)
    assert ids[1:3] == [crit, high] and len(ids) == 4
    only_crit = re.findall(r'href="/requests/([0-9a-f]+)"', client.get("/?risk=critical").text)
    assert only_crit == [crit]
    mine = re.findall(r'href="/requests/([0-9a-f]+)"', client.get("/?mine=true").text)
    assert len(mine) == 3 and ids[0] not in mine  # alice requested the newest one herself


def test_inbox_paginates_with_the_cursor(client: TestClient, hitl: Approvals) -> None:
    """`limit` and the Older link walk every pending request once."""
    made = [start_delete(hitl, f"t{i}", id=i) for i in range(5)]
    login(client, "bob")
    seen: list[str] = []
    url = "/?limit=2"
    while url:
        page = client.get(url).text
        seen += re.findall(r'href="/requests/([0-9a-f]+)"', page)
        older = re.search(r'id="older" href="([^"]+)"', page)
        url = html.unescape(older.group(1)) if older else ""
    assert seen == list(reversed(made))


def test_detail_shows_full_context(client: TestClient, hitl: Approvals) -> None:
    """The detail page shows task, step N of M, earlier actions, arguments, impact, risk, people, deadline, history."""
    hitl.start(
        "ctx", {**action("read_record", id=1), "hitl_context": {"task": "t", "step": 1, "total_steps": 3}}
    )
    run = hitl.start(
        "ctx",
        {
            **action("delete_record", id=7, table="customers"),
            "hitl_context": {"task": "Remove churned customers", "step": 2, "total_steps": 3},
        },
    )
    rid = run.pending[0].request_id
    login(client, "alice")
    page = client.get(f"/requests/{rid}").text
    for text in (
        "Remove churned customers",
        "Step 2 of 3",
        "Irreversible, high impact",
        "DELETE 7",
        "Cannot be undone",
        "irreversible, high impact: hard gate",
        "alice, bob",
        "agent",
        "in 59 min",
        "Thread history",
        "proposed",
        "Approve",
        "Reject",
        "Edit and approve",
        "Respond",
    ):
        assert text in page, text
    assert "&#34;table&#34;: &#34;customers&#34;" in page  # arguments pretty-printed as JSON
    assert 'name="verify"' in page
    assert 'id="refusal"' not in page


def test_untrusted_arguments_are_escaped(client: TestClient, hitl: Approvals) -> None:
    """Script in action arguments is shown as text on every page, never as markup."""
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    rid = start_delete(hitl, "xss", note=evil)
    hitl.start("xss2", action("delete_record", id=8, **{evil: evil}))
    login(client, "alice")
    for path in ("/", f"/requests/{rid}", "/audit", "/audit?actor=" + evil):
        page = client.get(path).text
        assert "<script" not in page and "<img" not in page, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"/requests/{rid}").text


def test_security_headers_on_pages(client: TestClient) -> None:
    """Pages forbid framing, restrict sources to the site and send no referrer."""
    resp = client.get("/login")
    assert resp.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in resp.text and "style=" not in resp.text
    assert client.get("/static/style.css").status_code == 200


def test_api_docs_page_is_served_from_local_files(client: TestClient) -> None:
    """/api/docs loads Swagger UI from this server (an installed package), under a policy with no other origin."""
    resp = client.get("/api/docs")
    assert resp.status_code == 200 and "swagger" in resp.text.lower()
    policy = resp.headers["content-security-policy"]
    assert "http" not in policy and "script-src 'self';" in policy and "unsafe-eval" not in policy
    assets = re.findall(r'(?:src|href)="([^"]+)"', resp.text)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    assert "<script>" not in resp.text  # no inline script: the start-up code is /static/docs.js
    for path in assets:
        got = client.get(path)
        assert got.status_code == 200 and len(got.content) > 100, path
    assert "swagger-ui-bundle.js" in " ".join(assets)


def test_unknown_request_is_404(client: TestClient) -> None:
    """A request id that is not in the inbox answers 404."""
    login(client, "alice")
    assert client.get("/requests/ffffffffffff").status_code == 404


# -- deciding with forms ------------------------------------------------------------------------------


def test_form_decision_requires_csrf(client: TestClient, hitl: Approvals) -> None:
    """A decision form without the session's CSRF token is refused with 403 and changes nothing."""
    rid = start_delete(hitl, "csrf")
    login(client, "alice")
    for data in ({"type": "reject"}, {"type": "reject", "csrf": "x" * 43}):
        assert client.post(f"/requests/{rid}/decision", data=data).status_code == 403
    assert hitl.get(rid).status == "pending"


def test_form_approve_resumes_and_finishes_the_graph(client: TestClient, hitl: Approvals) -> None:
    """Approve with the phrase: the request is resumed, the thread executes and ends, the list empties."""
    rid = start_delete(hitl, "ok")
    login(client, "alice")
    resp = decide_form(client, rid, type="approve", verify="DELETE 7", approver="mallory")
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    page = client.get("/").text
    assert "Approved delete_record" in page and "Thread ok finished: executed." in page
    assert f'class="action-link" href="/requests/{rid}"' not in page
    req = hitl.get(rid)
    assert req.status == "resumed" and req.decided_by == "alice"  # the form's approver field is ignored
    values = thread_values(hitl, "ok")
    assert values["status"] == "executed" and values["result"]["done"] == "delete_record"
    events = [(e["event"], e["actor"]) for e in hitl.history("ok")]
    assert ("approved", "alice") in events and "executed" in [name for name, _ in events]
    assert not any(actor == "mallory" for _, actor in events)


def test_form_reject_with_message(client: TestClient, hitl: Approvals) -> None:
    """A rejection carries its reason to the graph and the audit log."""
    rid = start_delete(hitl, "no")
    login(client, "bob")
    assert decide_form(client, rid, type="reject", message="Wrong customer").status_code == 303
    assert hitl.get(rid).status == "resumed"
    assert thread_values(hitl, "no")["status"] == "rejected"
    rejected = [e for e in hitl.history("no") if e["event"] == "rejected"]
    assert rejected and rejected[0]["actor"] == "bob" and rejected[0]["detail"]["message"] == "Wrong customer"


def test_form_invalid_edit_json_shows_error_and_stays_pending(client: TestClient, hitl: Approvals) -> None:
    """Broken JSON in the edit form answers 400 inline, keeps the typed text, and leaves the request pending."""
    rid = start_delete(hitl, "edit-bad")
    login(client, "alice")
    resp = decide_form(client, rid, type="edit", edited_args='{"id": 8,', verify="DELETE 8")
    assert resp.status_code == 400
    assert error_of(resp.text).startswith("Edited arguments are not valid JSON")
    assert "{&#34;id&#34;: 8," in resp.text
    resp = decide_form(client, rid, type="edit", edited_args="[1, 2]", verify="DELETE 8")
    assert resp.status_code == 400 and "must be a JSON object" in error_of(resp.text)
    assert hitl.get(rid).status == "pending"


def test_form_edit_is_regated_then_runs_the_edited_arguments(client: TestClient, hitl: Approvals) -> None:
    """An edit is re-assessed: the edited delete asks again with its own phrase, then runs as edited."""
    rid = start_delete(hitl, "edit-ok")
    login(client, "alice")
    resp = decide_form(client, rid, type="edit", edited_args='{"id": 8}', verify="DELETE 7")
    assert resp.status_code == 303, error_of(resp.text)
    assert "now waits for delete_record at review" in client.get("/").text
    again = hitl.pending().items[0]
    assert again.action["args"] == {"id": 8} and again.payload["hitl"]["verify_phrase"] == "DELETE 8"
    assert decide_form(client, again.request_id, type="approve", verify="DELETE 8").status_code == 303
    values = thread_values(hitl, "edit-ok")
    assert values["status"] == "executed" and values["result"]["args"] == {"id": 8}


def test_form_decision_errors_are_inline_and_leave_pending(client: TestClient, hitl: Approvals) -> None:
    """A wrong phrase or a respond without a message answers 400 with the runner's message."""
    rid = start_delete(hitl, "bad")
    login(client, "alice")
    resp = decide_form(client, rid, type="approve", verify="DELETE 70")
    assert resp.status_code == 400 and "Type exactly 'DELETE 7'" in error_of(resp.text)
    resp = decide_form(client, rid, type="respond")
    assert resp.status_code == 400 and "needs a message" in error_of(resp.text)
    resp = decide_form(client, rid, type="aprove")
    assert resp.status_code == 400 and "'aprove'" in error_of(resp.text)
    assert hitl.get(rid).status == "pending"


def test_non_approver_sees_notice_and_gets_403(client: TestClient, hitl: Approvals) -> None:
    """carol is not an approver: the page says so and her decision is refused with 403."""
    rid = start_delete(hitl, "carol")
    login(client, "carol")
    page = client.get(f"/requests/{rid}").text
    assert 'id="refusal"' in page and "Approvers: alice, bob" in html.unescape(page)
    resp = decide_form(client, rid, type="approve", verify="DELETE 7")
    assert resp.status_code == 403 and "'carol' may not decide" in error_of(resp.text)
    assert hitl.get(rid).status == "pending"


def test_requester_cannot_approve_own_action(client: TestClient, hitl: Approvals) -> None:
    """The person who requested an action gets 403 on approving it."""
    run = hitl.start("self", {**action("delete_record", id=3), "requested_by": "alice"})
    rid = run.pending[0].request_id
    login(client, "alice")
    resp = decide_form(client, rid, type="approve", verify="DELETE 3")
    assert resp.status_code == 403 and "requested this action" in error_of(resp.text)


def test_four_eyes_second_review_needs_another_person(client: TestClient, hitl: Approvals) -> None:
    """A critical action: alice approves stage 1, may not approve stage 2; bob can, and the run finishes."""
    first = start_delete(hitl, "prod", env="prod")
    login(client, "alice")
    assert decide_form(client, first, type="approve", verify="DELETE 7").status_code == 303
    flash = client.get("/").text
    assert "now waits for delete_record at second_review" in flash
    second = hitl.pending().items[0].request_id
    resp = decide_form(client, second, type="approve", verify="DELETE 7")
    assert resp.status_code == 403 and "four-eyes" in error_of(resp.text)
    login(client, "bob")
    assert decide_form(client, second, type="approve", verify="DELETE 7").status_code == 303
    assert thread_values(hitl, "prod")["status"] == "executed"


def test_deciding_twice_is_409(client: TestClient, hitl: Approvals) -> None:
    """A decided request shows as decided, and a stale form answers 409."""
    rid = start_delete(hitl, "twice")
    login(client, "alice")
    page = client.get(f"/requests/{rid}").text
    assert decide_form(client, rid, type="reject").status_code == 303
    resp = client.post(f"/requests/{rid}/decision", data={"csrf": csrf_of(page), "type": "reject"})
    assert resp.status_code == 409 and "Decided" in resp.text


# -- audit and metrics pages ----------------------------------------------------------------------------


def test_audit_page_filters_and_verifies(client: TestClient, hitl: Approvals, app: Any) -> None:
    """The audit page filters events and shows the chain as verified, then as broken after tampering."""
    start_delete(hitl, "a1")
    rid = start_delete(hitl, "a2", id=8)
    login(client, "bob")
    decide_form(client, rid, type="reject", message="nope")
    page = client.get("/audit?thread_id=a2").text
    assert "Chain verified" in page and "nope" in page and ">a1<" not in page
    assert "rejected" in client.get("/audit?actor=bob").text
    assert client.get("/audit?since=yesterday").status_code == 400
    conn = sqlite3.connect(hitl.store.backend.path)  # type: ignore[attr-defined]
    with conn:
        conn.execute("DROP TRIGGER hitl_audit_no_update")
        conn.execute("UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 2")
    conn.close()
    assert "Chain broken at row 2" in client.get("/audit").text


def test_metrics_page_shows_decisions(client: TestClient, hitl: Approvals) -> None:
    """After a decision the metrics page counts it per gate, action and approver."""
    rid = start_delete(hitl, "m")
    login(client, "alice")
    decide_form(client, rid, type="approve", verify="DELETE 7")
    page = client.get("/metrics").text
    assert "Per gate" in page and "Per approver" in page
    assert re.search(r'<th scope="row">alice</th><td class="num">1</td><td class="num">1</td>', page)
    assert client.get("/metrics?since=not-a-time").status_code == 400


# -- JSON API -------------------------------------------------------------------------------------------


def test_api_requires_bearer_token(client: TestClient, hitl: Approvals) -> None:
    """API calls without a valid bearer token get 401, even with a session cookie."""
    rid = start_delete(hitl, "api401")
    assert client.get("/api/requests").status_code == 401
    assert client.get("/api/requests", headers={"Authorization": "Bearer nope"}).status_code == 401
    login(client, "alice")
    resp = client.post(f"/api/requests/{rid}/decision", json={"type": "reject"})
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert hitl.get(rid).status == "pending"


def test_api_lists_and_shows_requests(client: TestClient, hitl: Approvals) -> None:
    """GET /api/requests pages newest first; GET /api/requests/{id} adds history and may_decide."""
    first = start_delete(hitl, "l1")
    second = start_delete(hitl, "l2", id=8)
    body = client.get("/api/requests?limit=1", headers=bearer("bob")).json()
    assert [r["request_id"] for r in body["items"]] == [second]
    more = client.get(f"/api/requests?limit=1&cursor={body['next_cursor']}", headers=bearer("bob")).json()
    assert [r["request_id"] for r in more["items"]] == [first] and more["next_cursor"] is None
    one = client.get(f"/api/requests/{first}", headers=bearer("carol")).json()
    assert one["payload"]["hitl"]["context"]["task"] == "Remove churned customers"
    assert one["history"][0]["event"] == "proposed" and one["may_decide"] is False
    assert client.get("/api/requests/nope", headers=bearer("bob")).status_code == 404
    assert client.get("/api/requests?risk=severe", headers=bearer("bob")).status_code == 422


def test_api_decides_as_the_token_owner(client: TestClient, hitl: Approvals) -> None:
    """POST a decision: the run finishes and the decision is recorded under the token's approver."""
    rid = start_delete(hitl, "api-ok")
    resp = client.post(
        f"/api/requests/{rid}/decision", json={"type": "approve", "verify": "DELETE 7"}, headers=bearer("bob")
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["thread_status"] == "done" and body["outcome"] == "executed" and body["pending"] == []
    assert body["request"]["status"] == "resumed" and body["request"]["decided_by"] == "bob"
    assert hitl.get(rid).status == "resumed"


def test_api_decision_errors(client: TestClient, hitl: Approvals) -> None:
    """400 bad decision, 403 not an approver or impersonation refused, 404 unknown, 409 decided."""
    rid = start_delete(hitl, "api-err")
    url = f"/api/requests/{rid}/decision"
    resp = client.post(url, json={"type": "approve", "verify": "nope"}, headers=bearer("alice"))
    assert resp.status_code == 400 and resp.json()["error"] == "DecisionError"
    resp = client.post(url, json={"type": "approve", "verify": "DELETE 7"}, headers=bearer("carol"))
    assert resp.status_code == 403 and resp.json()["error"] == "AuthorizationError"
    resp = client.post(
        url, json={"type": "approve", "verify": "DELETE 7", "approver": "alice"}, headers=bearer("carol")
    )
    assert resp.status_code == 403 and "identity comes from the submitter" in resp.json()["detail"]
    assert client.post(url, json={"type": "maybe"}, headers=bearer("alice")).status_code == 422
    assert (
        client.post(
            "/api/requests/nope/decision", json={"type": "reject"}, headers=bearer("alice")
        ).status_code
        == 404
    )
    assert hitl.get(rid).status == "pending"
    assert client.post(url, json={"type": "reject"}, headers=bearer("alice")).status_code == 200
    resp = client.post(url, json={"type": "reject"}, headers=bearer("bob"))
    assert resp.status_code == 409 and "resumed" in resp.json()["detail"]


def test_api_audit_and_stats(client: TestClient, hitl: Approvals) -> None:
    """GET /api/audit filters newest first and can verify; GET /api/stats reports the decisions."""
    rid = start_delete(hitl, "aud")
    start_delete(hitl, "other", id=9)
    client.post(
        f"/api/requests/{rid}/decision", json={"type": "reject", "message": "no"}, headers=bearer("alice")
    )
    body = client.get("/api/audit?thread_id=aud&verify=true", headers=bearer("bob")).json()
    assert {e["thread_id"] for e in body["events"]} == {"aud"}
    seqs = [e["seq"] for e in body["events"]]
    assert seqs == sorted(seqs, reverse=True) and body["verify"]["ok"] is True
    assert [
        e["event"] for e in client.get("/api/audit?actor=alice", headers=bearer("bob")).json()["events"]
    ] == ["rejected"]
    assert client.get("/api/audit?since=soon", headers=bearer("bob")).status_code == 400
    stats = client.get("/api/stats", headers=bearer("bob")).json()
    assert stats["approvers"]["alice"]["rejected"] == 1 and stats["totals"]["decisions"] == 1


def test_openapi_documents_the_api(client: TestClient) -> None:
    """/openapi.json lists the API routes with bearer auth, and no HTML pages."""
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {
        "/api/requests",
        "/api/requests/{request_id}",
        "/api/requests/{request_id}/decision",
        "/api/audit",
        "/api/stats",
    } <= set(paths)
    assert "post" in paths["/api/requests/{request_id}/decision"]
    assert not [p for p in paths if not p.startswith("/api/")]
    assert any(s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())


# -- one-time approval links ------------------------------------------------------------------------------


def link_post(client: TestClient, token: str) -> Any:
    page = client.get(f"/links/{token}")
    return client.post(f"/links/{token}", data={"csrf": csrf_of(page.text)})


def test_link_get_only_confirms(client: TestClient, hitl: Approvals, signer: LinkSigner) -> None:
    """Opening a link, signed in as its approver, shows what it will do and changes nothing."""
    rid = hitl.start("lnk", action("send_email", to="a@x.test")).pending[0].request_id
    token = signer.make_token(rid, "bob", "approve")
    login(client, "bob")
    page = client.get(f"/links/{token}")
    assert page.status_code == 200 and "Approve as bob" in page.text and "send_email" in page.text
    assert hitl.get(rid).status == "pending"


def test_link_needs_its_own_approver_signed_in(
    client: TestClient, hitl: Approvals, signer: LinkSigner
) -> None:
    """A link read by anyone else shows nothing and decides nothing: sign-in first, then only as its approver."""
    rid = hitl.start("lnk", action("send_email", to="secret@x.test")).pending[0].request_id
    token = signer.make_token(rid, "bob", "approve")
    resp = client.get(f"/links/{token}")
    assert resp.status_code == 303 and resp.headers["location"] == f"/login?next=/links/{token}"
    assert (
        client.post(f"/links/{token}", data={"csrf": csrf_of(client.get("/login").text)}).status_code == 303
    )
    login(client, "alice")  # an approver of the request, but the link is bob's
    for resp in (client.get(f"/links/{token}"), link_post(client, token)):
        assert resp.status_code == 403 and "only 'bob' can use it" in html.unescape(resp.text)
        assert "secret@x.test" not in resp.text and "Approve as bob" not in resp.text
    assert hitl.get(rid).status == "pending"
    login(client, "bob")
    assert link_post(client, token).status_code == 200 and hitl.get(rid).decided_by == "bob"


def test_link_made_by_make_url_opens_the_same_page(
    client: TestClient, hitl: Approvals, signer: LinkSigner
) -> None:
    """`LinkSigner.make_url` puts the token in the query string; that address works too."""
    rid = hitl.start("lnk", action("send_email", to="a@x.test")).pending[0].request_id
    url = signer.make_url("http://testserver/links", rid, "bob", "approve")
    login(client, "bob")
    page = client.get(url.removeprefix("http://testserver"))
    assert page.status_code == 200 and "Approve as bob" in page.text
    assert client.get("/links").status_code == 404


def test_link_redeems_once_and_replay_is_refused(
    client: TestClient, hitl: Approvals, signer: LinkSigner
) -> None:
    """POST decides as the link's approver and says what ran; posting the same link again is refused."""
    rid = hitl.start("lnk", action("send_email", to="a@x.test")).pending[0].request_id
    token = signer.make_token(rid, "bob", "approve")
    login(client, "bob")
    resp = link_post(client, token)
    assert resp.status_code == 200 and "bob approved send_email" in resp.text
    assert "send_email approved, ran: " in html.unescape(resp.text)
    assert hitl.get(rid).decided_by == "bob" and thread_values(hitl, "lnk")["status"] == "executed"
    again = client.post(f"/links/{token}", data={"csrf": csrf_of(client.get("/").text)})
    assert again.status_code == 409 and "already decided" in again.text


def test_link_with_burned_nonce_is_refused(
    client: TestClient, hitl: Approvals, signer: LinkSigner, nonces: MemoryNonceStore
) -> None:
    """A link whose nonce another server already used is refused and the request stays pending."""
    rid = hitl.start("lnk", action("send_email", to="a@x.test")).pending[0].request_id
    token = signer.make_token(rid, "bob", "reject")
    signer.redeem(token, store=nonces)
    login(client, "bob")
    resp = link_post(client, token)
    assert resp.status_code == 409 and "already used" in resp.text
    assert hitl.get(rid).status == "pending"


def test_links_are_one_time_across_servers_on_every_backend(store_url: str, signer: LinkSigner) -> None:
    """Without a `nonce_store`, the app keeps used nonces in the store's migrated table: a link a
    second server on the same database already used is refused, on Postgres as on SQLite (0.1
    fell back to an in-memory store on Postgres, so a link could be replayed on another server)."""
    from langgraph_hitl.store import open_store

    with TestClient(make_app(store_url, link_signer=signer), follow_redirects=False) as client:
        hitl: Approvals = client.app.state.approvals  # type: ignore[attr-defined]
        rid = hitl.start("lnk", action("send_email", to="a@x.test")).pending[0].request_id
        token = signer.make_token(rid, "bob", "reject")
        with open_store(store_url) as other_server:
            signer.redeem(token, store=other_server.nonces)  # used there (and that server died)
        login(client, "bob")
        resp = link_post(client, token)
        assert resp.status_code == 409 and "already used" in resp.text
        assert hitl.get(rid).status == "pending"


def test_link_refusals(client: TestClient, hitl: Approvals, signer: LinkSigner) -> None:
    """Tampered links, links needing a typed phrase, non-approvers and missing CSRF are refused."""
    rid = start_delete(hitl, "lnk-verify")
    token = signer.make_token(rid, "alice", "approve")
    login(client, "alice")
    page = client.get(f"/links/{token}")
    assert (
        page.status_code == 409
        and "confirmation phrase" in page.text
        and f'href="/requests/{rid}"' in page.text
    )
    assert link_post(client, token).status_code == 409
    assert client.get(f"/links/{token[:-3]}abc").status_code == 400
    login(client, "carol")
    carol = signer.make_token(rid, "carol", "reject")
    assert link_post(client, carol).status_code == 403
    assert client.post(f"/links/{signer.make_token(rid, 'carol', 'reject')}", data={}).status_code == 403
    assert hitl.get(rid).status == "pending"


def test_links_without_sign_in_when_delivered_per_person(
    db_url: str, signer: LinkSigner, nonces: MemoryNonceStore
) -> None:
    """`links_need_sign_in=False` (links sent to each approver alone): the link itself authenticates."""
    app = make_app(db_url, link_signer=signer, nonce_store=nonces, links_need_sign_in=False)
    with TestClient(app, follow_redirects=False) as c:
        rid = app.state.approvals.start("lnk", action("send_email", to="a@x.test")).pending[0].request_id
        resp = link_post(c, signer.make_token(rid, "bob", "approve"))
        assert resp.status_code == 200 and app.state.approvals.get(rid).decided_by == "bob"


def test_links_off_without_a_signer(db_url: str) -> None:
    """Without a link signer, /links answers 404."""
    with TestClient(make_app(db_url), follow_redirects=False) as c:
        assert c.get("/links/abc.def").status_code == 404


# -- configuration -----------------------------------------------------------------------------------------


def test_read_only_inbox_without_graph(db_url: str) -> None:
    """Started without a graph, the inbox lists and shows requests but answers 503 to decisions."""
    with Approvals.open(build(approvers=["alice", "bob"]), db_url) as runner:
        rid = runner.start("ro", action("delete_record", id=1)).pending[0].request_id
    with TestClient(make_app(db_url, graph=None), follow_redirects=False) as c:
        login(c, "alice")
        assert "Read-only inbox" in c.get("/").text and rid in c.get("/").text
        resp = c.post(f"/api/requests/{rid}/decision", json={"type": "approve"}, headers=bearer("alice"))
        assert resp.status_code == 503 and resp.json()["error"] == "ReadOnlyInboxError"


def test_graph_spec_string_is_loaded(db_url: str) -> None:
    """A `path/to/file.py:attr` graph spec is imported and a function is called to get the builder."""
    app = make_app(db_url, graph=f"{ROOT / 'tests' / 'graphs.py'}:builder")
    with TestClient(app, follow_redirects=False) as c:
        rid = app.state.approvals.start("spec", action("delete_record", id=1)).pending[0].request_id
        resp = c.post(f"/api/requests/{rid}/decision", json={"type": "approve"}, headers=bearer("alice"))
        assert resp.status_code == 200 and resp.json()["outcome"] == "executed"
    with pytest.raises(ValueError, match="does not exist"):
        make_app(db_url, graph="nowhere/graph.py:builder")
    with pytest.raises(ValueError, match="is not 'path/to/file.py:attr'"):
        make_app(db_url, graph="graphs.py")


def test_approvers_config_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing approvers, short tokens and shared tokens are refused with the fix in the message."""
    monkeypatch.delenv("HITL_WEB_TOKENS", raising=False)
    with pytest.raises(ValueError, match="needs approvers"):
        create_app(db=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ValueError, match="at least 16"):
        load_approvers({"alice": "short"})
    with pytest.raises(ValueError, match="shares a token"):
        load_approvers({"alice": "same-token-0123456789", "bob": "same-token-0123456789"})
    with pytest.raises(ValueError, match="reserved"):
        load_approvers({"system:timeout": "some-token-0123456789"})


def test_tokens_files_keep_only_hashes(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text and JSON tokens files load (also from $HITL_WEB_TOKENS); `sha256:` entries keep tokens off the disk."""
    text = tmp_path / "tokens.txt"
    text.write_text(f"# approvers\nalice:{TOKENS['alice']}\n\nbob:sha256:{hash_token(TOKENS['bob'])}\n")
    assert load_approvers(text) == {"alice": hash_token(TOKENS["alice"]), "bob": hash_token(TOKENS["bob"])}
    data = tmp_path / "tokens.json"
    data.write_text(json.dumps({"carol": TOKENS["carol"]}))
    assert load_approvers(str(data)) == {"carol": hash_token(TOKENS["carol"])}
    with TestClient(make_app(db_url, approvers=text), follow_redirects=False) as c:
        login(c, "bob")
        assert c.get("/").status_code == 200
    monkeypatch.setenv("HITL_WEB_TOKENS", str(text))
    monkeypatch.setenv("HITL_WEB_SECRET", SECRET)
    with TestClient(create_app(db=db_url, graph=None), follow_redirects=False) as c:
        login(c, "alice")
        cookie = c.cookies[SESSION_COOKIE]
    with TestClient(create_app(db=db_url, graph=None), follow_redirects=False) as c:
        c.cookies.set(SESSION_COOKIE, cookie)
        assert (
            c.get("/").status_code == 200
        )  # same secret from the environment: the session survives a restart
    bad = tmp_path / "bad.txt"
    bad.write_text("alice\n")
    with pytest.raises(ValueError, match="line 1"):
        load_approvers(bad)


def test_pipeline_stage_page_offers_a_revision(db_url: str) -> None:
    """`revise` lives in the payload's `hitl.allowed_decisions` (its `review_configs` are langchain's
    strict types); the page still offers "Request a revision", and sending it asks again."""
    from langgraph_hitl.patterns import Stage, create_approval_pipeline

    pipeline = create_approval_pipeline([Stage("polish", lambda text: text + "!", approvers=["alice"])])
    app = make_app(db_url, graph=pipeline)
    with TestClient(app, follow_redirects=False) as client:
        runner: Approvals = app.state.approvals
        rid = runner.start("pipe", {"input": "hi"}).pending[0].request_id
        assert "revise" not in runner.get(rid).payload["review_configs"][0]["allowed_decisions"]
        login(client, "alice")
        page = client.get(f"/requests/{rid}").text
        assert "Request a revision" in page
        resp = decide_form(client, rid, type="revise", message="louder")
        assert resp.status_code in (200, 303), resp.text
        assert runner.get(rid).status != "pending"
