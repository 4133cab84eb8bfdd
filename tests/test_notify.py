"""Tests for langgraph_hitl.notify: signatures, webhook delivery against a real local receiver, links."""

from __future__ import annotations

import doctest
import hashlib
import hmac
import importlib
import logging
import re
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from langgraph_hitl.errors import HITLError
from langgraph_hitl.notify import (
    SIGNATURE_HEADER,
    LinkError,
    LinkSigner,
    MemoryNonceStore,
    NonceStore,
    NotifierConfigError,
    SignatureError,
    SQLiteNonceStore,
    WebhookNotifier,
    sign,
    slack_review_message,
    verify_signature,
)
from langgraph_hitl.types import ReviewRequest

from loopback_receiver import Receiver, serving

SECRET = "test-secret-0123456789"
T0 = 1_700_000_000


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running local receiver (`loopback_receiver`); shut down and closed after the test."""
    with serving() as rec:
        yield rec


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def review_request(request_id: str = "req-1", approvers: list[str] | None = None) -> ReviewRequest:
    """A complete review request for `send_email`."""
    return {
        "action_requests": [{"name": "send_email", "args": {"to": "all@corp.test", "body": "<b>hi</b>"}}],
        "review_configs": [{"action_name": "send_email", "allowed_decisions": ["approve", "reject"]}],
        "hitl": {
            "request_id": request_id,
            "action_id": "act-1",
            "node": "review",
            "stage": 1,
            "risk": "high",
            "reversibility": "irreversible_high",
            "mode": "hard",
            "reasons": ["mass email", "external recipients"],
            "approvers": approvers,
            "exclude_approvers": ["agent"],
            "requested_by": "agent",
            "timeout_s": 600.0,
            "on_timeout": "reject",
            "verify_phrase": None,
            "impact": "Emails 5,000 people; cannot be recalled.",
            "context": {},
            "policy_version": "v1",
            "escalation_level": 0,
        },
    }


def notifier(url: str, delays: list[float], **options: Any) -> WebhookNotifier:
    """A notifier with tiny backoff whose sleeps are recorded, not slept."""
    options.setdefault("backoff_s", 0.01)
    return WebhookNotifier(url, secret=SECRET, sleep=delays.append, **options)


# -- signatures ----------------------------------------------------------------------------------


def test_sign_matches_documented_format() -> None:
    """The header is t=<unix>,v1=<hex hmac-sha256 of f"{t}." + body>, so any language can verify it."""
    body = b'{"event":"pending"}'
    expected = hmac.new(SECRET.encode(), f"{T0}.".encode() + body, hashlib.sha256).hexdigest()
    assert sign(body, secret=SECRET, timestamp=T0) == f"t={T0},v1={expected}"


def test_verify_signature_accepts_fresh_signature() -> None:
    """A signature made with the same secret within the tolerance verifies."""
    header = sign(b"{}", secret=SECRET.encode(), timestamp=T0)
    verify_signature(b"{}", secret=SECRET, header=header, now=T0 + 299)


def test_verify_signature_rejects_altered_body() -> None:
    """One changed byte in the body makes the signature fail."""
    header = sign(b'{"amount":1}', secret=SECRET, timestamp=T0)
    with pytest.raises(SignatureError, match="does not match the body"):
        verify_signature(b'{"amount":9}', secret=SECRET, header=header, now=T0)


def test_verify_signature_rejects_wrong_secret() -> None:
    """A signature made with another secret fails."""
    header = sign(b"{}", secret="other-secret", timestamp=T0)
    with pytest.raises(SignatureError, match="secret differs"):
        verify_signature(b"{}", secret=SECRET, header=header, now=T0)


@pytest.mark.parametrize("offset", [301, -301])
def test_verify_signature_rejects_timestamp_outside_tolerance(offset: int) -> None:
    """A timestamp more than tolerance_s in the past or future is refused (replay or skew)."""
    header = sign(b"{}", secret=SECRET, timestamp=T0)
    with pytest.raises(SignatureError, match="outside the 300 s tolerance"):
        verify_signature(b"{}", secret=SECRET, header=header, now=T0 + offset)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing or empty"),
        ("  ", "missing or empty"),
        ("garbage", "is not key=value"),
        ("v1=abcd", "exactly one t="),
        ("t=soon,v1=abcd", "exactly one t="),
        (f"t={T0},t={T0},v1=abcd", "exactly one t="),
        (f"t={T0}", "no v1="),
    ],
)
def test_verify_signature_rejects_malformed_header(header: str | None, message: str) -> None:
    """Malformed headers get a message naming what is missing and the expected format."""
    with pytest.raises(SignatureError, match=message):
        verify_signature(b"{}", secret=SECRET, header=header, now=T0)


def test_verify_signature_accepts_any_v1_during_rotation() -> None:
    """With two v1 entries (old and new secret) one matching entry is enough."""
    old = sign(b"{}", secret="old-secret", timestamp=T0).split(",")[1]
    header = sign(b"{}", secret=SECRET, timestamp=T0) + "," + old
    verify_signature(b"{}", secret="old-secret", header=header, now=T0)
    verify_signature(b"{}", secret=SECRET, header=header, now=T0)


def test_sign_rejects_empty_secret() -> None:
    """An empty secret is a configuration mistake, refused as a SignatureError (a HITLError and ValueError)."""
    with pytest.raises(SignatureError, match="secret is empty") as info:
        sign(b"{}", secret="", timestamp=T0)
    assert isinstance(info.value, HITLError) and isinstance(info.value, ValueError)


# -- webhook delivery --------------------------------------------------------------------------


def test_webhook_pending_delivers_signed_envelope(receiver: Receiver) -> None:
    """A pending event arrives once as signed JSON with the event, delivery id and the whole request."""
    delays: list[float] = []
    request = review_request()
    with notifier(receiver.url, delays) as hook:
        hook.on_pending(request, thread_id="thread-7")
        assert hook.flush(10)
        stats = hook.stats
    (got,) = receiver.requests
    verify_signature(got.body, secret=SECRET, header=got.headers[SIGNATURE_HEADER.lower()])
    body = got.json()
    assert got.path == "/hooks/hitl"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-hitl-event"] == "pending"
    assert body["event"] == "pending"
    assert body["delivery_id"] == got.headers["x-hitl-delivery"]
    assert body["thread_id"] == "thread-7"
    assert body["request"] == request
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*\+00:00", body["ts"])
    assert "links" not in body
    assert (stats.enqueued, stats.delivered, stats.failed, stats.attempts, stats.retries) == (1, 1, 0, 1, 0)


def test_webhook_decision_and_timeout_bodies(receiver: Receiver) -> None:
    """decided carries the decision, timed_out carries the outcome, both name the request."""
    with notifier(receiver.url, []) as hook:
        hook.on_decision("req-1", {"type": "approve", "approver": "alice"}, thread_id="t1")
        hook.on_timeout("req-2", thread_id=None, outcome="reject")
        assert hook.flush(10)
    bodies = sorted((r.json() for r in receiver.requests), key=lambda b: str(b["event"]))
    assert [b["event"] for b in bodies] == ["decided", "timed_out"]
    assert bodies[0]["request"] == {"request_id": "req-1"}
    assert bodies[0]["decision"] == {"type": "approve", "approver": "alice"}
    assert bodies[1]["request"] == {"request_id": "req-2"}
    assert bodies[1]["outcome"] == "reject" and bodies[1]["thread_id"] is None
    assert {r.headers["x-hitl-event"] for r in receiver.requests} == {"decided", "timed_out"}


def test_webhook_retries_5xx_with_growing_bounded_backoff(receiver: Receiver) -> None:
    """500, 500, 200: three attempts of one delivery, each freshly signed, delays doubling within jitter bounds."""
    receiver.answer(500, 503)
    delays: list[float] = []
    with notifier(receiver.url, delays, backoff_s=0.01, max_attempts=5) as hook:
        hook.on_timeout("req-1", thread_id="t1", outcome="reject")
        assert hook.flush(10)
        stats = hook.stats
    assert len(receiver.requests) == 3
    assert len({r.headers["x-hitl-delivery"] for r in receiver.requests}) == 1
    assert [r.headers["x-hitl-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    for got in receiver.requests:
        verify_signature(got.body, secret=SECRET, header=got.headers["x-hitl-signature"])
    assert len(delays) == 2
    assert 0.005 <= delays[0] <= 0.01 and 0.01 <= delays[1] <= 0.02
    assert (stats.delivered, stats.failed, stats.attempts, stats.retries) == (1, 0, 3, 2)
    assert stats.last_error == "HTTP 503"


def test_webhook_retries_429_honouring_retry_after(receiver: Receiver) -> None:
    """A 429 is retried, waiting at least the receiver's Retry-After seconds."""
    receiver.answer((429, {"Retry-After": "2"}))
    delays: list[float] = []
    with notifier(receiver.url, delays) as hook:
        hook.on_timeout("req-1", thread_id="t1", outcome="reject")
        assert hook.flush(10)
        assert hook.stats.delivered == 1
    assert delays == [2.0]
    assert len(receiver.requests) == 2


def test_webhook_does_not_retry_400(receiver: Receiver) -> None:
    """A 400 is final: one attempt, counted as failed, never retried."""
    receiver.answer(400)
    delays: list[float] = []
    with notifier(receiver.url, delays, max_attempts=5) as hook:
        hook.on_timeout("req-1", thread_id="t1", outcome="reject")
        assert hook.flush(10)
        stats = hook.stats
    assert len(receiver.requests) == 1 and delays == []
    assert (stats.delivered, stats.failed, stats.attempts) == (0, 1, 1)
    assert stats.last_error == "HTTP 400 (not retried)"


def test_webhook_down_receiver_counts_failure_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    """A receiver that refuses connections costs max_attempts tries, a warning and a failure count, never an exception."""
    delays: list[float] = []
    with caplog.at_level(logging.WARNING, logger="langgraph_hitl.notify"):
        with notifier(closed_port_url(), delays, max_attempts=3) as hook:
            hook.on_pending(review_request(), thread_id="t1")  # returns at once, no exception
            assert hook.flush(10)
            stats = hook.stats
    assert (stats.delivered, stats.failed, stats.attempts, stats.retries) == (0, 1, 3, 2)
    assert stats.last_error is not None and stats.last_error.startswith("ConnectError")
    assert len(delays) == 2
    assert "failed after 3 attempt(s)" in caplog.text
    assert "/hooks" not in caplog.text, "the URL path (it may hold a token) must not be logged"


def test_webhook_full_queue_drops_with_warning(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    """While the worker is stuck, events beyond queue_size are dropped, logged and counted, not blocking."""
    entered, release = threading.Event(), threading.Event()

    def stuck_sleep(delay: float) -> None:
        entered.set()
        release.wait(10)

    receiver.answer(500)
    hook = WebhookNotifier(receiver.url, secret=SECRET, queue_size=1, max_attempts=2, sleep=stuck_sleep)
    try:
        hook.on_timeout("req-1", thread_id="t", outcome="reject")
        assert entered.wait(10), "the worker never reached its first backoff"
        hook.on_timeout("req-2", thread_id="t", outcome="reject")
        with caplog.at_level(logging.WARNING, logger="langgraph_hitl.notify"):
            hook.on_timeout("req-3", thread_id="t", outcome="reject")
        assert hook.stats.dropped == 1
        assert "dropped: 1 deliveries already queued" in caplog.text
    finally:
        release.set()
        hook.close()
    stats = hook.stats
    assert (stats.enqueued, stats.delivered, stats.dropped) == (2, 2, 1)
    assert sorted(r.json()["request"]["request_id"] for r in receiver.requests) == ["req-1", "req-1", "req-2"]


def test_webhook_close_abandons_retry_and_drops_later_events(receiver: Receiver) -> None:
    """close() wakes a worker waiting to retry, gives the event up, and later events are dropped."""
    receiver.answer(500)
    hook = WebhookNotifier(receiver.url, secret=SECRET, backoff_s=60, max_backoff_s=60)
    hook.on_timeout("req-1", thread_id="t", outcome="reject")
    hook.close(timeout=0)
    hook.close()
    hook.on_timeout("req-2", thread_id="t", outcome="reject")
    stats = hook.stats
    assert stats.delivered == 0 and stats.failed + stats.dropped == 2
    assert len(receiver.requests) <= 1


@pytest.mark.parametrize("event", ["decision", "pending"])
def test_webhook_never_raises_on_bad_payload(event: str, receiver: Receiver) -> None:
    """A payload that cannot be serialized or read is logged and counted as failed, not raised."""
    circular: dict[str, Any] = {"type": "approve"}
    circular["self"] = circular
    with WebhookNotifier(
        receiver.url, secret=SECRET, link_signer=LinkSigner(SECRET), base_url="https://hitl.test/links"
    ) as hook:
        if event == "decision":
            hook.on_decision("req-1", circular, thread_id="t")
        else:
            hook.on_pending({"action_requests": []}, thread_id="t")  # type: ignore[typeddict-item]
        assert hook.flush(10)
        assert hook.stats.failed == 1 and hook.stats.enqueued == 0
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://x.test/"}, "is not an http\\(s\\) URL"),
        ({"secret": ""}, "secret is empty"),
        ({"max_attempts": 0}, "max_attempts=0 must be an integer >= 1"),
        ({"timeout_s": 0}, "timeout_s=0 must be a positive"),
        ({"backoff_s": 5, "max_backoff_s": 1}, "backoff_s=5 must be >= 0 and <= max_backoff_s=1"),
        ({"layout": "teams"}, "layout='teams' is not allowed. Allowed: json, slack"),
        ({"queue_size": 0}, "queue_size=0 must be an integer >= 1"),
        ({"link_signer": LinkSigner(SECRET)}, "need both link_signer and base_url"),
    ],
)
def test_webhook_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    """Bad options fail when the notifier is built, with the fix in the message."""
    kwargs: dict[str, Any] = {"url": "https://hooks.test/hitl", "secret": SECRET, **options}
    url = kwargs.pop("url")
    with pytest.raises(NotifierConfigError, match=message):
        WebhookNotifier(url, **kwargs)


def test_webhook_json_links_one_delivery_per_recipient(receiver: Receiver) -> None:
    """With a LinkSigner, a pending event goes once per listed approver, each delivery with that
    person's approve/reject links only (one message with everyone's links let whoever read it
    approve as anyone: alice, then bob, and a four-eyes action ran with nobody signed in)."""
    signer = LinkSigner(SECRET)
    with notifier(receiver.url, [], link_signer=signer, base_url="https://hitl.test/links?src=hook") as hook:
        hook.on_pending(review_request(approvers=["alice", "bob", "agent"]), thread_id="t")
        assert hook.flush(10)
    bodies = sorted((r.json() for r in receiver.requests), key=lambda b: b["recipient"])
    assert [b["recipient"] for b in bodies] == ["alice", "bob"], "excluded approvers get no links"
    for body in bodies:
        assert list(body["links"]) == [body["recipient"]]
        for decision, url in body["links"][body["recipient"]].items():
            token = parse_qs(urlsplit(url).query)["token"][0]
            assert signer.check(token, request_id="req-1").approver == body["recipient"], decision
    links = bodies[1]["links"]
    url = links["bob"]["reject"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("https://hitl.test/links?") and query["src"] == ["hook"]
    claim = signer.check(query["token"][0], request_id="req-1")
    assert (claim.approver, claim.decision) == ("bob", "reject")


def test_webhook_slack_layout_shape(receiver: Receiver) -> None:
    """The slack layout posts text plus header, section (name, args, risk, reasons, impact) and link buttons."""
    signer = LinkSigner(SECRET)
    with notifier(
        receiver.url,
        [],
        layout="slack",
        link_signer=signer,
        base_url="https://hitl.test/links",
        link_approvers=["oncall"],
        slack_channels={"oncall": "U0ONCALL"},
    ) as hook:
        hook.on_pending(review_request(approvers=None), thread_id="t")
        hook.on_timeout("req-1", thread_id="t", outcome="reject")
        assert hook.flush(10)
    by_event = {r.headers["x-hitl-event"]: r.json() for r in receiver.requests}
    pending, timed_out = by_event["pending"], by_event["timed_out"]
    assert pending["channel"] == "U0ONCALL"  # the one person's own channel
    assert pending["text"] == "Approval needed (high risk): send_email"
    header, section, actions = pending["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Approval needed: send_email"}}
    text = section["text"]["text"]
    assert section["text"]["type"] == "mrkdwn"
    for fragment in ("`send_email`", "all@corp.test", "*Risk:* high", "• mass email", "cannot be recalled"):
        assert fragment in text
    assert "&lt;b&gt;hi&lt;/b&gt;" in text and "<b>" not in text
    assert actions["type"] == "actions"
    approve, reject = actions["elements"]
    assert (approve["text"]["text"], approve["style"], approve["value"]) == ("Approve", "primary", "req-1")
    assert (reject["text"]["text"], reject["style"]) == ("Reject", "danger")
    approve_claim = signer.check(parse_qs(urlsplit(approve["url"]).query)["token"][0], decision="approve")
    reject_claim = signer.check(parse_qs(urlsplit(reject["url"]).query)["token"][0], decision="reject")
    assert {approve_claim.approver, reject_claim.approver} == {"oncall"}
    assert {approve_claim.request_id, reject_claim.request_id} == {"req-1"}
    assert timed_out["text"] == "Request req-1 timed out; outcome: reject"
    assert set(timed_out) == {"text", "blocks"}


def test_slack_review_message_without_links_has_plain_buttons() -> None:
    """Without links the buttons carry only action ids and the request id, for a Slack app."""
    elements = slack_review_message(review_request())["blocks"][2]["elements"]
    assert [(e["action_id"], e["value"], "url" in e) for e in elements] == [
        ("hitl_approve", "req-1", False),
        ("hitl_reject", "req-1", False),
    ]


@pytest.mark.parametrize("module", ["__init__", "signing", "links", "slack", "webhook"])
def test_notify_docstring_examples_run(module: str) -> None:
    """Every Example in the notify modules' docstrings runs and prints what it shows."""
    name = "langgraph_hitl.notify" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_notify_import_does_not_import_httpx() -> None:
    """Importing the package and this module leaves httpx unimported; building a notifier without it names the extra."""
    code = (
        "import sys\n"
        "import langgraph_hitl, langgraph_hitl.notify as n\n"
        "assert 'httpx' not in sys.modules, 'httpx imported at import time'\n"
        "sys.modules['httpx'] = None\n"
        "try:\n"
        "    n.WebhookNotifier('https://hooks.test/x', secret='s')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "pip install 'langgraph-hitl[notify]'" in out.stdout


# -- approval links --------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def nonce_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NonceStore]:
    """Each nonce store implementation; the SQLite one on a real file."""
    if request.param == "memory":
        yield MemoryNonceStore()
    else:
        with SQLiteNonceStore(tmp_path / "nonces.db") as store:
            yield store


def test_link_token_round_trip() -> None:
    """A token checks back to the request, approver, decision and expiry it was made for, and is URL-safe."""
    signer = LinkSigner(SECRET, ttl_s=600, clock=FakeClock())
    token = signer.make_token("req-1", "alice", "approve")
    assert re.fullmatch(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", token)
    claim = signer.check(token, request_id="req-1", approver="alice", decision="approve")
    assert (claim.request_id, claim.approver, claim.decision, claim.expires_at) == (
        "req-1",
        "alice",
        "approve",
        T0 + 600,
    )
    assert len(claim.nonce) >= 16
    assert signer.make_token("req-1", "alice", "approve") != token, "each link has its own nonce"


def test_link_make_url_adds_token_query() -> None:
    """make_url keeps the base URL's query and adds a token that checks."""
    signer = LinkSigner(SECRET)
    url = signer.make_url("https://hitl.test/links?team=ops", "req-1", "alice", "reject")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "hitl.test", "/links")
    query = parse_qs(parts.query)
    assert query["team"] == ["ops"]
    assert signer.check(query["token"][0]).decision == "reject"
    with pytest.raises(LinkError, match="is not an http\\(s\\) URL"):
        signer.make_url("hitl.test/links", "req-1", "alice", "reject")


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_link_check_refuses_tampered_token(where: str) -> None:
    """Flipping one character of the payload or of the signature is detected."""
    signer = LinkSigner(SECRET)
    token = signer.make_token("req-1", "alice", "approve")
    i = 5 if where == "payload" else len(token) - 5
    flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    with pytest.raises(LinkError, match="tampered with or signed with another secret"):
        signer.check(flipped)


def test_link_check_refuses_other_secret() -> None:
    """A token made with another secret is refused as tampered."""
    token = LinkSigner("another-secret").make_token("req-1", "alice", "approve")
    with pytest.raises(LinkError, match="tampered with or signed with another secret"):
        LinkSigner(SECRET).check(token)


@pytest.mark.parametrize("token", ["", "nodot", ".sig", "payload.", "a.b.c", "é.x"])
def test_link_check_refuses_malformed_token(token: str) -> None:
    """Tokens without the payload.signature shape are refused as malformed."""
    with pytest.raises(LinkError, match="token is malformed"):
        LinkSigner(SECRET).check(token)


def test_link_check_refuses_expired_token() -> None:
    """A token is valid until its expiry and refused from then on."""
    clock = FakeClock()
    signer = LinkSigner(SECRET, ttl_s=60, clock=clock)
    token = signer.make_token("req-1", "alice", "approve")
    clock.now = T0 + 59
    signer.check(token)
    clock.now = T0 + 90
    with pytest.raises(
        LinkError, match="expired at 2023-11-14T22:14:20.* \\(30 s ago\\); ask for a new link"
    ):
        signer.check(token)


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"request_id": "req-B"}, "is for request 'req-1', not 'req-B'"),
        ({"approver": "bob"}, "is for approver 'alice', not 'bob'"),
        ({"decision": "reject"}, "is for decision 'approve', not 'reject'"),
    ],
)
def test_link_redeem_refuses_other_binding_without_burning(
    expect: dict[str, Any], message: str, nonce_store: NonceStore
) -> None:
    """A token for request A / alice / approve cannot serve B, bob or reject, and stays usable for its own."""
    signer = LinkSigner(SECRET)
    token = signer.make_token("req-1", "alice", "approve")
    with pytest.raises(LinkError, match=message):
        signer.redeem(token, store=nonce_store, **expect)
    assert signer.redeem(token, store=nonce_store, request_id="req-1").approver == "alice"


def test_link_redeem_refuses_replay(nonce_store: NonceStore) -> None:
    """The second redemption of the same link is refused as already used."""
    signer = LinkSigner(SECRET)
    token = signer.make_token("req-1", "alice", "approve")
    assert signer.redeem(token, store=nonce_store, request_id="req-1").decision == "approve"
    with pytest.raises(LinkError, match="req-1 \\(approve as alice\\) was already used"):
        signer.redeem(token, store=nonce_store, request_id="req-1")


def test_link_redeem_replay_refused_across_processes(tmp_path: Path) -> None:
    """A link redeemed by another process on the same SQLite file is refused here."""
    signer = LinkSigner(SECRET)
    token = signer.make_token("req-1", "alice", "approve")
    db = tmp_path / "nonces.db"
    code = (
        "import sys\n"
        "from langgraph_hitl.notify import LinkSigner, SQLiteNonceStore\n"
        "with SQLiteNonceStore(sys.argv[1]) as store:\n"
        "    print(LinkSigner(sys.argv[2]).redeem(sys.argv[3], store=store).approver)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(db), SECRET, token],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "alice"
    with SQLiteNonceStore(db) as store, pytest.raises(LinkError, match="already used"):
        signer.redeem(token, store=store)


def test_sqlite_nonce_store_on_given_connection(tmp_path: Path) -> None:
    """On a caller's connection the store creates hitl_link_nonces, commits claims and leaves the connection open."""
    conn = sqlite3.connect(tmp_path / "app.db")
    try:
        store = SQLiteNonceStore(conn)
        assert store.claim_nonce("n1", T0 + 10) is True
        assert store.claim_nonce("n1", T0 + 10) is False
        store.close()
        columns = [(row[1], row[2]) for row in conn.execute("PRAGMA table_info(hitl_link_nonces)")]
        assert columns == [("nonce", "TEXT"), ("expires_at", "REAL"), ("used_at", "REAL")]
        assert not conn.in_transaction
        assert store.purge(before=T0 + 11) == 1
    finally:
        conn.close()


def test_memory_nonce_store_purges_only_expired() -> None:
    """purge forgets nonces whose links expired and keeps the rest."""
    store = MemoryNonceStore()
    store.claim_nonce("old", T0)
    store.claim_nonce("new", T0 + 100)
    assert store.purge(before=T0 + 50) == 1
    assert store.claim_nonce("old", T0) is True
    assert store.claim_nonce("new", T0 + 100) is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("req-1", "alice", "edit"), "decision 'edit'. Allowed: approve, reject"),
        (("", "alice", "approve"), "request_id='' must be a non-empty string"),
        (("req-1", "", "approve"), "approver='' must be a non-empty string"),
    ],
)
def test_link_make_token_rejects_bad_arguments(args: tuple[str, str, Any], message: str) -> None:
    """Links are only made for a real request and approver, to approve or reject."""
    with pytest.raises(LinkError, match=message):
        LinkSigner(SECRET).make_token(*args)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"secret": ""}, "secret is empty"), ({"ttl_s": 0}, "ttl_s=0 must be a positive")],
)
def test_link_signer_rejects_bad_options(options: dict[str, Any], message: str) -> None:
    """An empty secret or a non-positive TTL fails when the signer is built."""
    kwargs: dict[str, Any] = {"secret": SECRET, **options}
    with pytest.raises(LinkError, match=message):
        LinkSigner(kwargs.pop("secret"), **kwargs)


def test_slack_message_carries_one_persons_links_only() -> None:
    """A Slack message with two people's links is refused, naming the fix; the notifier refuses
    Slack links without a channel per approver, when it is built."""
    signer = LinkSigner(SECRET)
    links = {
        who: {"approve": signer.make_url("https://hitl.test/l", "req-1", who, "approve")}
        for who in ("alice", "bob")
    }
    with pytest.raises(ValueError, match="one person's links only"):
        slack_review_message(review_request(approvers=["alice", "bob"]), links=links)
    with pytest.raises(NotifierConfigError, match="slack_channels="):
        WebhookNotifier("https://hooks.test/h", secret=SECRET, layout="slack", link_signer=signer,
                        base_url="https://hitl.test/l")  # fmt: skip


def test_slack_layout_sends_each_approver_their_own_message(receiver: Receiver) -> None:
    """Two approvers, two messages, each to that person's channel with that person's buttons."""
    signer = LinkSigner(SECRET)
    channels = {"alice": "U0ALICE", "bob": "U0BOB"}
    with notifier(receiver.url, [], layout="slack", link_signer=signer, base_url="https://hitl.test/l",
                  slack_channels=channels) as hook:  # fmt: skip
        hook.on_pending(review_request(approvers=["alice", "bob"]), thread_id="t")
        assert hook.flush(10)
    messages = [r.json() for r in receiver.requests]
    assert sorted(m["channel"] for m in messages) == ["U0ALICE", "U0BOB"]
    for message in messages:
        person = next(who for who, ch in channels.items() if ch == message["channel"])
        buttons = message["blocks"][-1]["elements"]
        approvers = {signer.check(parse_qs(urlsplit(b["url"]).query)["token"][0]).approver for b in buttons}
        assert approvers == {person}
