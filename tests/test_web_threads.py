"""The web inbox by thread: the inbox's `thread=` filter and the thread page `/threads/{thread_id}`.

A thread page lists the thread's requests, pending and decided, and its audit history; the
inbox rows and each request's detail page link to it. Thread ids match exactly and may hold
any printable character, `/`, `?`, `#`, `..` and markup included: the links escape them as
one path segment and the page prints them inert.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_web import login, make_app, start_delete

from langgraph_hitl import Approvals
from langgraph_hitl.web.views import thread_url

from graphs import action


@pytest.fixture
def app(db_url: str) -> Any:
    return make_app(db_url)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def hitl(app: Any, client: TestClient) -> Approvals:
    """The app's own runner (open while the client is)."""
    return app.state.approvals  # type: ignore[no-any-return]


def request_links(page: str) -> list[str]:
    return re.findall(r'href="/requests/([0-9a-f]+)"', page)


def thread_links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="(/threads/[^"]*)"', page)]


def test_thread_url_escapes_the_id_as_one_path_segment() -> None:
    """`thread_url` (its docstring's example): reserved characters escaped, `/` too; `.` and `..` in the query."""
    assert thread_url("orders/42?x#y") == "/threads/orders%2F42%3Fx%23y"
    assert thread_url("a b&c") == "/threads/a%20b%26c"
    assert (thread_url("."), thread_url("..")) == ("/threads/?id=.", "/threads/?id=..")


def test_inbox_filters_by_thread_exactly(client: TestClient, hitl: Approvals) -> None:
    """`/?thread=T` lists T's requests only: not a thread it is a prefix of, not another case."""
    long = start_delete(hitl, "ticket-42")
    short = start_delete(hitl, "ticket-4", id=4)
    upper = start_delete(hitl, "TICKET-42", id=42)
    login(client, "alice")
    assert request_links(client.get("/?thread=ticket-4").text) == [short]
    assert request_links(client.get("/?thread=ticket-42").text) == [long]
    assert request_links(client.get("/?thread=TICKET-42").text) == [upper]
    for other in ("ticket", "Ticket-42", "ticket-42 "):
        page = client.get("/", params={"thread": other}).text
        assert request_links(page) == [] and "with these filters" in page, other
    page = client.get("/?thread=ticket-4").text
    assert 'id="thread-filter"' in page and 'value="ticket-4"' in page
    assert thread_links(page)[:2] == ["/threads/ticket-4", "/threads/ticket-4"]  # the note, then the row
    assert 'id="thread-filter"' not in client.get("/").text
    assert len(request_links(client.get("/").text)) == 3


def test_inbox_thread_filter_pages_with_the_cursor(db_url: str) -> None:
    """Two parallel reviews on one thread, a page of one: the Older link keeps the thread filter."""
    from test_subgraphs import first_input, graph

    app = make_app(db_url, graph=graph("parallel"))
    with TestClient(app, follow_redirects=False) as client:
        runner: Approvals = app.state.approvals
        made = {
            p.request_id for p in runner.start("two/a?b", first_input("parallel", "delete_record")).pending
        }
        runner.start("other", first_input("parallel", "delete_record"))
        login(client, "alice")
        first = client.get("/", params={"thread": "two/a?b", "limit": 1}).text
        older = re.search(r'id="older" href="([^"]+)"', first)
        assert older is not None and "thread=two%2Fa%3Fb" in older.group(1)
        second = client.get(html.unescape(older.group(1))).text
        assert set(request_links(first) + request_links(second)) == made
        assert 'id="older"' not in second


def test_thread_page_lists_requests_pending_and_decided_and_the_history(
    client: TestClient, hitl: Approvals
) -> None:
    """Four-eyes on thread `prod`: the first request decided by alice, the second waiting; both
    listed with their status, the history below; the inbox row and both detail pages link here."""
    first = start_delete(hitl, "prod", env="prod")
    second = hitl.decide(first, {"type": "approve", "verify": "DELETE 7"}, approver="alice").pending[0]
    start_delete(hitl, "prod-2", id=8)  # another thread, whose id starts the same
    login(client, "bob")
    resp = client.get("/threads/prod")
    assert resp.status_code == 200
    page = resp.text
    assert request_links(page) == [first, second.request_id]
    rows = re.findall(r'<tr class="request-(\w+)">', page)
    assert rows == ["resumed", "pending"]
    assert "Waiting on 1 request" in page and "Decided" in page and "Waiting for a decision" in page
    history = page.split("Thread history", 1)[1]
    events = re.findall(r'<span class="event event-(\w+)">', history)
    assert events == [e["event"] for e in hitl.history("prod")] and events[:2] == ["proposed", "approved"]
    assert ">alice<" in history and 'href="/audit?thread_id=prod"' in history
    inbox = client.get("/").text
    assert "/threads/prod" in thread_links(inbox) and "/threads/prod-2" in thread_links(inbox)
    for rid in (first, second.request_id):
        assert 'id="thread-link" href="/threads/prod"' in client.get(f"/requests/{rid}").text


def test_thread_page_needs_sign_in_and_404s_for_an_unknown_thread(
    client: TestClient, hitl: Approvals
) -> None:
    """Signed out, the page sends you to sign in and back; a thread nobody knows (another case, a
    prefix) answers 404 naming it."""
    start_delete(hitl, "ticket-42")
    resp = client.get("/threads/ticket-42")
    assert resp.status_code == 303 and resp.headers["location"] == "/login?next=/threads/ticket-42"
    login(client, "alice")
    for unknown in ("TICKET-42", "ticket-4", "ghost"):
        resp = client.get(thread_url(unknown))
        assert resp.status_code == 404, unknown
        assert "No such thread" in resp.text and f"There is no thread &#39;{unknown}&#39;" in resp.text
    assert client.get("/threads/").status_code == 404


@pytest.mark.parametrize(
    "thread", ["orders/42", "a b?c=d&e#f", "../audit", "..", ".", "/lead", "x//y", "é 日本"]
)
def test_url_special_thread_ids_round_trip(client: TestClient, hitl: Approvals, thread: str) -> None:
    """The inbox row's link opens that thread's page, whatever its id holds; signed out, sign-in
    comes back to it."""
    rid = start_delete(hitl, thread)
    target = thread_url(thread)
    anonymous = client.get(target)
    assert anonymous.status_code == 303
    back = client.get(anonymous.headers["location"]).text
    next_url = html.unescape(re.search(r'name="next" value="([^"]*)"', back).group(1))  # type: ignore[union-attr]
    login_page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login_page).group(1)  # type: ignore[union-attr]
    signed = client.post("/login", data={"token": "alice-token-7f3c0a9b2e", "csrf": csrf, "next": next_url})
    assert signed.status_code == 303 and signed.headers["location"] == target
    assert target in thread_links(client.get("/").text)
    page = client.get(target)
    assert page.status_code == 200 and request_links(page.text) == [rid]
    assert f'<code id="thread-id">{html.escape(thread, quote=True)}</code>' in page.text.replace(
        "&#34;", "&quot;"
    )


def test_thread_ids_are_printed_inert(client: TestClient, hitl: Approvals) -> None:
    """Markup in a thread id is text on the inbox, the thread page and the 404; a bidi override in a
    row someone wrote to the database is shown as its escape."""
    evil = '<img src=x onerror=alert(1)>"'
    rid = start_delete(hitl, evil)
    row = hitl.store.inbox.get(rid)  # someone wrote to the database; the runner only takes printable ids
    assert row is not None
    payload: Any = {**row.payload, "hitl": {**row.payload["hitl"], "request_id": "f" * 32}}
    hitl.store.inbox.index("bidi\u202eevil", [("interrupt-1", "", payload)])
    login(client, "alice")
    for path in ("/", thread_url(evil), thread_url(evil + "x"), f"/requests/{rid}", f"/?thread={evil}"):
        page = client.get(path).text
        assert "<img" not in page, path
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get(thread_url(evil)).text
    page = client.get(thread_url("bidi\u202eevil")).text
    assert "bidi\\u202eevil" in page and "\u202e" not in page
    assert "bidi\\u202eevil" in client.get("/").text


def test_thread_page_of_a_thread_that_never_paused_shows_its_history(
    client: TestClient, hitl: Approvals
) -> None:
    """A thread only the audit log knows (auto-approved, never asked) has a page: no requests, its events."""
    hitl.start("auto", action("read_record", id=1))
    login(client, "alice")
    page = client.get("/threads/auto").text
    assert "No requests: this thread never paused for a decision." in page and "Waiting on nothing" in page
    assert "auto_approved" in page and "executed" in page
