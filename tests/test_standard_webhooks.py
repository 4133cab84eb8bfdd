"""Standard Webhooks signing of `WebhookNotifier`, verified by the `standardwebhooks` library itself."""

from __future__ import annotations

import base64
import doctest
import importlib
import json
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from langgraph_hitl.notify import (
    SIGNATURE_HEADER,
    NotifierConfigError,
    SignatureError,
    WebhookNotifier,
    verify_signature,
)
from langgraph_hitl.notify.signers import make_signer
from langgraph_hitl.notify.standard_webhooks import standard_key
from langgraph_hitl.notify.webhook_delivery import dumps

from loopback_receiver import Received, Receiver, serving


def whsec(n: int = 32) -> str:
    """A fresh Standard Webhooks secret of `n` random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(n)).decode()


NEW, OLD = whsec(), whsec()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as rec:
        yield rec


def deliver(receiver: Receiver, *, secret: Any = NEW, clock: Any = time.time, **options: Any) -> Received:
    """Send one `decided` event with standard signing; the one request the receiver got."""
    with WebhookNotifier(
        receiver.url, secret=secret, signing="standard", clock=clock, backoff_s=0.01, **options
    ) as hook:
        hook.on_decision("req-1", {"type": "approve", "approver": "alice"}, thread_id="t-1")
        assert hook.flush(10)
    assert len(receiver.requests) == 1
    return receiver.requests[0]


# -- what goes out verifies ------------------------------------------------------------------------


def test_standard_delivery_verifies_with_the_reference_library(receiver: Receiver) -> None:
    """`Webhook(secret).verify` accepts the delivery and returns the JSON envelope; the id is the delivery id."""
    got = deliver(receiver)
    body = Webhook(NEW).verify(got.body, got.headers)
    assert body["event"] == "decided" and body["decision"]["approver"] == "alice"
    assert got.header("webhook-id") == body["delivery_id"]
    assert (got.header("webhook-signature") or "").startswith("v1,")
    assert got.header(SIGNATURE_HEADER) is None  # one scheme per delivery


def test_standard_webhook_id_is_the_same_on_every_retry(receiver: Receiver) -> None:
    """A retried delivery keeps its `webhook-id` (the receiver's idempotency key) and is signed anew."""
    receiver.statuses.extend([503, 500])
    with WebhookNotifier(
        receiver.url, secret=NEW, signing="standard", backoff_s=0.01, sleep=lambda s: None
    ) as hook:
        hook.on_timeout("req-9", thread_id="t", outcome="reject")
        assert hook.flush(10)
    ids = {r.header("webhook-id") for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(ids) == 1
    for r in receiver.requests:
        Webhook(NEW).verify(r.body, r.headers)


def test_standard_forged_signature_is_rejected(receiver: Receiver) -> None:
    """An altered body, another key's signature, or a swapped id fails `verify`."""
    got = deliver(receiver)
    altered = got.body.replace(b"alice", b"mallo")
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(NEW).verify(altered, got.headers)
    forged = Webhook(whsec()).sign(got.header("webhook-id") or "", _when(got), altered.decode())
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(NEW).verify(altered, {**got.headers, "webhook-signature": forged})
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(NEW).verify(got.body, {**got.headers, "webhook-id": "another-delivery"})


def _when(got: Received) -> Any:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(got.header("webhook-timestamp") or 0), tz=timezone.utc)


@pytest.mark.parametrize(("skew", "message"), [(-600, "too old"), (600, "too new")])
def test_standard_stale_or_future_timestamp_is_rejected(receiver: Receiver, skew: int, message: str) -> None:
    """A delivery signed 10 minutes ago (a replay) or ahead is refused by the library's 5-minute window."""
    got = deliver(receiver, clock=lambda: time.time() + skew)
    with pytest.raises(WebhookVerificationError, match=message):
        Webhook(NEW).verify(got.body, got.headers)


def test_standard_replay_with_a_fresh_timestamp_is_rejected(receiver: Receiver) -> None:
    """Replaying a captured delivery under a new `webhook-timestamp` breaks its signature (the time is signed)."""
    got = deliver(receiver, clock=lambda: time.time() - 600)
    replayed = {**got.headers, "webhook-timestamp": str(int(time.time()))}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(NEW).verify(got.body, replayed)


# -- rotation ----------------------------------------------------------------------------------------


def test_standard_rotation_signs_with_every_secret(receiver: Receiver) -> None:
    """With [new, old], both receivers verify (two signatures); a third secret does not."""
    got = deliver(receiver, secret=[NEW, OLD])
    assert len((got.header("webhook-signature") or "").split(" ")) == 2
    assert Webhook(NEW).verify(got.body, got.headers)["event"] == "decided"
    assert Webhook(OLD).verify(got.body, got.headers)["event"] == "decided"
    with pytest.raises(WebhookVerificationError):
        Webhook(whsec()).verify(got.body, got.headers)


def test_hitl_rotation_signs_with_every_secret(receiver: Receiver) -> None:
    """The default scheme rotates the same way: one `v1=` per secret, either verifies."""
    with WebhookNotifier(receiver.url, secret=["new-secret-0123", "old-secret-0123"]) as hook:
        hook.on_timeout("req-1", thread_id="t", outcome="reject")
        assert hook.flush(10)
    got = receiver.requests[0]
    header = got.header(SIGNATURE_HEADER)
    assert header is not None and header.count("v1=") == 2 and header.count("t=") == 1
    verify_signature(got.body, secret="new-secret-0123", header=header)
    verify_signature(got.body, secret="old-secret-0123", header=header)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(got.body, secret="third-secret-01", header=header)


# -- bad secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("s3cret-that-is-long-enough-0123456789", "does not start with 'whsec_'"),
        ("whsec_not*base64!chars-here-0123456789", "not valid base64 \\(characters outside base64"),
        ("whsec_QUJDREVGR0g=A", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short-key").decode(), "encodes a 9-byte key"),
        ("whsec_", "encodes a 0-byte key"),
        (b"whsec_" + base64.b64encode(b"k" * 32), "is a bytes, not a Standard Webhooks secret"),
        ([NEW, "plain-old-secret-0123456789"], "secret #2 does not start with 'whsec_'"),
        ([], "empty list"),
        ("", "does not start with 'whsec_'"),
    ],
)
def test_standard_bad_secret_is_named_not_echoed(secret: Any, message: str) -> None:
    """A secret that is not a valid whsec_ secret fails at construction, saying why, never showing it."""
    with pytest.raises(NotifierConfigError, match=message) as info:
        WebhookNotifier("https://hooks.test/hitl", secret=secret, signing="standard")
    texts = secret if isinstance(secret, list) else [secret]
    for one in texts:
        shown = one.decode() if isinstance(one, bytes) else one
        if len(shown) > len("whsec_"):
            assert shown not in str(info.value) and shown[6:] not in str(info.value)


def test_unknown_signing_is_refused() -> None:
    """`signing` takes the documented names only."""
    with pytest.raises(NotifierConfigError, match="signing='svix' is not allowed. Allowed: hitl, standard"):
        WebhookNotifier("https://hooks.test/hitl", secret=NEW, signing="svix")  # type: ignore[arg-type]


def test_failed_delivery_log_never_shows_the_urls_credentials(caplog: pytest.LogCaptureFixture) -> None:
    """A receiver URL may carry its secret as `user:password@`, as well as in its path or query: the
    log of a failed delivery, and the notifier's stats, name the host and port only."""
    with socket.socket() as probe:  # a loopback port nobody listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://hook-user:pw-7Q2x@127.0.0.1:{port}/T0/B0/XyZ-path?token=tk-55"
    with caplog.at_level("DEBUG", logger="langgraph_hitl"):
        with WebhookNotifier(url, secret=NEW, signing="standard", max_attempts=1) as hook:
            hook.on_decision("req-1", {"type": "approve", "approver": "alice"}, thread_id="t-1")
            hook.flush(10)
    shown = caplog.text + repr(hook.stats)
    assert f"http://127.0.0.1:{port}/…" in caplog.text and "failed after 1 attempt" in caplog.text
    for secret in ("hook-user", "pw-7Q2x", "XyZ-path", "tk-55"):
        assert secret not in shown


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=10, max_size=80))
def test_standard_key_never_echoes_any_secret(text: str) -> None:
    """Any text is either a valid key (and decodes as the library decodes it) or an error without it."""
    secret = "whsec_" + text
    try:
        key = standard_key(secret)
    except ValueError as exc:
        assert text not in str(exc)
    else:
        assert Webhook(secret)._whsecret == key


# -- what the body may hold --------------------------------------------------------------------------


def test_standard_odd_payload_values_still_verify(receiver: Receiver) -> None:
    """Lone surrogates, NaN, non-JSON objects and a 2 MB message are delivered as valid JSON that verifies."""
    decision = {
        "type": "reject",
        "message": "lone \ud800 surrogate \x00 nul",
        "score": float("nan"),
        "when": object(),
        "big": "é" * 1_000_000,
        3: "an int key",
    }
    with WebhookNotifier(receiver.url, secret=NEW, signing="standard") as hook:
        hook.on_decision("req-1", decision, thread_id="t")
        assert hook.flush(30)
    got = receiver.requests[0]
    body = Webhook(NEW).verify(got.body, got.headers)
    assert body["decision"]["message"] == "lone \ud800 surrogate \x00 nul"
    assert body["decision"]["score"] == "nan" and body["decision"]["3"] == "an int key"
    assert len(body["decision"]["big"]) == 1_000_000
    json.loads(got.body.decode("utf-8"), parse_constant=_refuse)  # strict JSON: no NaN tokens


def _refuse(token: str) -> None:
    raise AssertionError(f"not JSON: {token}")


_CODEPOINTS = st.lists(st.integers(0, 0x10FFFF), max_size=30).map(lambda cps: "".join(map(chr, cps)))
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _CODEPOINTS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_CODEPOINTS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(_VALUES, st.sampled_from([[NEW], [NEW, OLD]]))
def test_standard_any_payload_serializes_and_verifies(value: Any, keys: list[str]) -> None:
    """Whatever a payload holds (any code point, NaN, nesting), the body is JSON and every secret verifies it."""
    body = dumps({"event": "decided", "value": value})
    json.loads(body, parse_constant=_refuse)
    headers = make_signer("standard", keys)("msg_" + "x" * 8, int(time.time()), body)
    for key in keys:
        assert Webhook(key).verify(body, headers)["event"] == "decided"


@pytest.mark.parametrize("module", ["standard_webhooks", "cloud_events", "trace_context"])
def test_docstring_examples_run(module: str) -> None:
    """Every Example in the Standard Webhooks, CloudEvents and trace context modules runs as shown."""
    result = doctest.testmod(importlib.import_module(f"langgraph_hitl.notify.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_a_mistyped_webhook_url_is_refused_without_showing_its_path() -> None:
    """An incoming-webhook URL's path is its secret: a mistyped scheme is named, the path is not."""
    secret_path = "/services/T0001/B0001/AbCdEfSeCrEt0123456789"
    with pytest.raises(NotifierConfigError) as caught:
        WebhookNotifier(f"htps://hooks.slack.com{secret_path}", secret="s" * 32)
    assert "htps://hooks.slack.com/" in str(caught.value)
    assert "AbCdEfSeCrEt" not in str(caught.value) and "T0001" not in str(caught.value)
