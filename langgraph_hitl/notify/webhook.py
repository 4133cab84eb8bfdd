"""`WebhookNotifier`: signed, retried webhook deliveries on a background thread.

Each event becomes one JSON POST signed with `X-HITL-Signature` (see `signing`).
The `on_*` methods only enqueue: they never block a graph run and never raise.
A single worker thread delivers, retrying connection errors, timeouts, 5xx and 429
with exponential backoff and bounded jitter; other 4xx answers are final.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._canonical import iso
from ..types import ReviewRequest
from .base import DeliveryStats, Layout, NotifierConfigError
from .links import LinkSigner
from .signing import SIGNATURE_HEADER, sign
from .slack import slack_decided_message, slack_review_message, slack_timed_out_message

if TYPE_CHECKING:
    import httpx

__all__ = ["WebhookNotifier"]

logger = logging.getLogger("langgraph_hitl.notify")


@dataclass(frozen=True)
class _Delivery:
    event: str
    delivery_id: str
    body: bytes


def _redact(url: str) -> str:
    """Scheme and host only: webhook URLs (Slack's in particular) embed their own secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def _option_problem(
    url: object,
    secret: object,
    timeout_s: float,
    max_attempts: object,
    backoff_s: float,
    max_backoff_s: float,
    layout: object,
    queue_size: object,
) -> str | None:
    """What is wrong with the notifier's options, with the fix, or None."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return f"url {url!r:.80} is not an http(s) URL; pass e.g. 'https://hooks.example.com/hitl'."
    if not secret:
        return "secret is empty; pass the shared secret the receiver verifies with (a long random string)."
    if not (isinstance(max_attempts, int) and max_attempts >= 1):
        return f"max_attempts={max_attempts!r} must be an integer >= 1 (1 disables retries)."
    if not timeout_s > 0:
        return f"timeout_s={timeout_s!r} must be a positive number of seconds."
    if not 0 <= backoff_s <= max_backoff_s:
        return f"backoff_s={backoff_s!r} must be >= 0 and <= max_backoff_s={max_backoff_s!r}."
    if layout not in ("json", "slack"):
        return f"layout={layout!r} is not allowed. Allowed: json, slack."
    if not (isinstance(queue_size, int) and queue_size >= 1):
        return f"queue_size={queue_size!r} must be an integer >= 1."
    return None


class WebhookNotifier:
    """Posts signed JSON (or Slack messages) about review requests to a URL, in the background.

    Args:
        url: Where to POST, an http(s) URL.
        secret: Shared secret for `X-HITL-Signature`; receivers check it with `verify_signature`.
        timeout_s: Seconds each HTTP attempt may take.
        max_attempts: Attempts per event before it counts as failed (1 means no retries).
        backoff_s: Delay before the first retry; it doubles each time, with jitter in [delay/2, delay].
        max_backoff_s: Cap on a single delay (also on a receiver's `Retry-After`).
        layout: `json` for the event envelope, `slack` for a Slack message.
        link_signer: With `base_url`, adds one-time Approve/Reject links per approver to `pending` events.
        base_url: The page that redeems approval links.
        link_approvers: Who gets links when a request names no approvers (anyone may decide).
            Links are delivered per recipient: each `pending` delivery carries one person's
            links only (`recipient` names them), so nobody who reads one message can approve
            as someone else.
        slack_channels: With `layout="slack"` and links: approver -> the Slack channel or user
            id their own message goes to (`channel`, for `chat.postMessage`); required then,
            since one shared channel would show everyone's links to everyone.
        queue_size: Events that may wait for delivery; more are dropped with a warning.
        clock: Returns Unix time, for `ts` and signatures.
        sleep: Waits between retries; the default wakes early on `close()`.

    Raises:
        NotifierConfigError: If an option is invalid.
        ImportError: If httpx is missing (`pip install 'langgraph-hitl[notify]'`).

    Example:
        >>> with WebhookNotifier("http://127.0.0.1:9/hooks", secret="s3cret", max_attempts=1, timeout_s=1) as notifier:
        ...     notifier.on_timeout("req-1", thread_id="t1", outcome="reject")
        ...     notifier.flush(5)
        True
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes,
        timeout_s: float = 5.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        layout: Layout = "json",
        link_signer: LinkSigner | None = None,
        base_url: str | None = None,
        link_approvers: Iterable[str] = (),
        slack_channels: Mapping[str, str] | None = None,
        queue_size: int = 1000,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        problem = _option_problem(
            url, secret, timeout_s, max_attempts, backoff_s, max_backoff_s, layout, queue_size
        )
        if problem is None and (link_signer is None) != (base_url is None):
            problem = "approval links need both link_signer and base_url; pass both or neither."
        if problem is None and layout == "slack" and link_signer is not None and not slack_channels:
            problem = (
                "approval links in Slack go to each approver's own channel: pass slack_channels="
                "{'alice': 'U012AB3CD', ...}; one shared channel would let anyone there approve as anyone."
            )
        if problem is not None:
            msg = f"WebhookNotifier: {problem}"
            raise NotifierConfigError(msg)
        try:
            import httpx  # noqa: F401  (fail now, with the fix, rather than on the worker thread)
        except ImportError as exc:
            msg = "WebhookNotifier needs httpx. Install it with: pip install 'langgraph-hitl[notify]'"
            raise ImportError(msg) from exc
        self.url = url
        self.layout: Layout = layout
        self._secret = secret
        self._timeout_s = float(timeout_s)
        self._max_attempts = max_attempts
        self._backoff_s = float(backoff_s)
        self._max_backoff_s = float(max_backoff_s)
        self._link_signer = link_signer
        self._base_url = base_url
        self._link_approvers = list(link_approvers)
        self._slack_channels = dict(slack_channels or {})
        self._clock = clock
        self._stop = threading.Event()
        self._sleep: Callable[[float], object] = sleep if sleep is not None else self._stop.wait
        self._random = random.Random()
        self._queue: queue.Queue[_Delivery | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Condition()
        self._stats = DeliveryStats()
        self._pending = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- the Notifier interface -------------------------------------------------------------

    def on_pending(self, request: ReviewRequest, *, thread_id: str | None) -> None:
        """Announce a request awaiting review (event `pending`), one delivery per link recipient;
        returns at once, never raises."""
        self._submit_each("pending", lambda: self._pending_bodies(request, thread_id))

    def on_decision(self, request_id: str, decision: Mapping[str, Any], *, thread_id: str | None) -> None:
        """Announce a decision on `request_id` (event `decided`); returns at once, never raises."""
        if self.layout == "slack":
            self._submit("decided", lambda: slack_decided_message(request_id, decision))
        else:
            self._submit(
                "decided", lambda: self._envelope("decided", thread_id, request_id, decision=dict(decision))
            )

    def on_timeout(self, request_id: str, *, thread_id: str | None, outcome: str) -> None:
        """Announce that `request_id` timed out and what the runner did (event `timed_out`); never raises."""
        if self.layout == "slack":
            self._submit("timed_out", lambda: slack_timed_out_message(request_id, outcome))
        else:
            self._submit(
                "timed_out", lambda: self._envelope("timed_out", thread_id, request_id, outcome=outcome)
            )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        with self._lock:
            return self._stats

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every accepted event is delivered or given up on.

        Args:
            timeout: Seconds to wait at most; None waits as long as it takes.

        Returns:
            True if nothing is left in flight, False if `timeout` passed first.
        """
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting events, give queued ones up to `timeout` seconds, then stop the worker.

        Events still queued after that are dropped and retries in progress are abandoned
        (counted as failed). Safe to call twice.

        Args:
            timeout: Seconds to let queued events finish; None waits for all of them.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout)
        self._stop.set()
        if self._thread is None:
            return
        while True:
            try:
                leftover = self._queue.get_nowait()
            except queue.Empty:
                break
            if leftover is not None:
                logger.warning(
                    "Webhook %s (%s) dropped at shutdown before delivery.",
                    leftover.delivery_id,
                    leftover.event,
                )
                self._finish(dropped=1)
        self._queue.put_nowait(None)
        # The worker stops after at most the HTTP attempt in flight (an injected sleep may take longer).
        self._thread.join(self._timeout_s + 5)

    def __enter__(self) -> WebhookNotifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- building bodies (on the caller's thread, so later mutations do not leak in) ---------

    def _envelope(
        self, event: str, thread_id: str | None, request_id: str | None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "event": event,
            "ts": iso(self._clock()),
            "delivery_id": uuid.uuid4().hex,
            "thread_id": thread_id,
            "request": {"request_id": request_id},
            **extra,
        }

    def _links(self, request: ReviewRequest) -> dict[str, dict[str, str]]:
        if self._link_signer is None or self._base_url is None:
            return {}
        hitl = request["hitl"]
        excluded = set(hitl.get("exclude_approvers") or [])
        approvers = hitl.get("approvers")
        names = [a for a in (self._link_approvers if approvers is None else approvers) if a not in excluded]
        signer, base, rid = self._link_signer, self._base_url, hitl["request_id"]
        return {a: {d: signer.make_url(base, rid, a, d) for d in ("approve", "reject")} for a in names}

    def _pending_bodies(self, request: ReviewRequest, thread_id: str | None) -> list[dict[str, Any]]:
        """One body without links, or one per recipient, each with that person's links only."""
        links = self._links(request)
        if not links:
            return [self._pending_body(request, thread_id, None, None)]
        return [self._pending_body(request, thread_id, who, mine) for who, mine in sorted(links.items())]

    def _pending_body(
        self,
        request: ReviewRequest,
        thread_id: str | None,
        recipient: str | None,
        links: dict[str, str] | None,
    ) -> dict[str, Any]:
        if self.layout == "slack":
            if recipient is None or links is None:
                return slack_review_message(request)
            channel = self._slack_channels.get(recipient)
            if channel is None:  # nowhere private to send this person's links: no links for them
                logger.warning("No slack_channels entry for %r: their message goes without links.", recipient)
                return slack_review_message(request)
            message = slack_review_message(request, links={recipient: links}, recipient=recipient)
            return {"channel": channel, **message}
        body = self._envelope("pending", thread_id, None)
        body["request"] = dict(request)
        if recipient is not None and links is not None:
            body["recipient"] = recipient
            body["links"] = {recipient: links}
        return body

    def _submit_each(self, event: str, build: Callable[[], list[dict[str, Any]]]) -> None:
        try:
            payloads = build()
        except Exception as exc:
            logger.error("Webhook %s event could not be built, not sent: %r", event, exc)
            with self._lock:
                self._stats = replace(self._stats, failed=self._stats.failed + 1, last_error=repr(exc))
            return
        for payload in payloads:
            self._submit(event, lambda payload=payload: payload)  # type: ignore[misc]

    def _submit(self, event: str, build: Callable[[], dict[str, Any]]) -> None:
        # Notifications are best effort: nothing here may break the graph run that called us.
        try:
            payload = build()
            delivery_id = str(payload.get("delivery_id") or uuid.uuid4().hex)
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")
        except Exception as exc:
            logger.error("Webhook %s event could not be built, not sent: %r", event, exc)
            with self._lock:
                self._stats = replace(self._stats, failed=self._stats.failed + 1, last_error=repr(exc))
            return
        with self._lock:
            if self._closed:
                logger.warning("Webhook %s (%s) dropped: the notifier is closed.", delivery_id, event)
                self._stats = replace(self._stats, dropped=self._stats.dropped + 1)
                return
            try:
                self._queue.put_nowait(_Delivery(event, delivery_id, body))
            except queue.Full:
                logger.warning(
                    "Webhook %s (%s) dropped: %d deliveries already queued for %s. Raise queue_size or check the receiver.",
                    delivery_id,
                    event,
                    self._queue.maxsize,
                    _redact(self.url),
                )
                self._stats = replace(self._stats, dropped=self._stats.dropped + 1)
                return
            self._pending += 1
            self._stats = replace(self._stats, enqueued=self._stats.enqueued + 1)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="langgraph-hitl-webhook", daemon=True)
                self._thread.start()

    # -- the worker thread -----------------------------------------------------------------------

    def _finish(self, **counts: int) -> None:
        with self._lock:
            self._stats = replace(self._stats, **{k: getattr(self._stats, k) + v for k, v in counts.items()})
            self._pending -= 1
            self._lock.notify_all()

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self._timeout_s, follow_redirects=False) as client:
            while (item := self._queue.get()) is not None:
                if self._stop.is_set():
                    self._finish(dropped=1)
                    continue
                try:
                    ok = self._deliver(client, item)
                except Exception:  # a bug here must not kill the worker and strand later events
                    logger.exception(
                        "Webhook %s (%s) crashed the delivery loop.", item.delivery_id, item.event
                    )
                    ok = False
                self._finish(**({"delivered": 1} if ok else {"failed": 1}))

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        base = min(self._max_backoff_s, self._backoff_s * 2.0 ** (attempt - 1))
        delay = base / 2 + self._random.uniform(0, base / 2)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), self._max_backoff_s))
        return delay

    def _deliver(self, client: httpx.Client, item: _Delivery) -> bool:
        import httpx

        where = _redact(self.url)
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1 and self._stop.is_set():
                logger.warning(
                    "Webhook %s (%s) to %s abandoned at shutdown while retrying.",
                    item.delivery_id,
                    item.event,
                    where,
                )
                return False
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(item.body, secret=self._secret, timestamp=int(self._clock())),
                "X-HITL-Event": item.event,
                "X-HITL-Delivery": item.delivery_id,
                "X-HITL-Attempt": str(attempt),
                "User-Agent": "langgraph-hitl-webhook/1",
            }
            retry_after: str | None = None
            try:
                response = client.post(self.url, content=item.body, headers=headers)
            except httpx.TransportError as exc:  # connection refused, DNS, timeouts, resets
                error, retryable = f"{type(exc).__name__}: {exc}", True
            else:
                if 200 <= response.status_code < 300:
                    self._count(attempt, None)
                    logger.debug(
                        "Webhook %s (%s) delivered to %s on attempt %d.",
                        item.delivery_id,
                        item.event,
                        where,
                        attempt,
                    )
                    return True
                retryable = response.status_code >= 500 or response.status_code == 429
                retry_after = response.headers.get("Retry-After")
                error = f"HTTP {response.status_code}" + ("" if retryable else " (not retried)")
            self._count(attempt, error)
            if not retryable or attempt == self._max_attempts:
                logger.warning(
                    "Webhook %s (%s) to %s failed after %d attempt(s): %s.",
                    item.delivery_id,
                    item.event,
                    where,
                    attempt,
                    error,
                )
                return False
            delay = self._delay(attempt, retry_after)
            logger.info(
                "Webhook %s (%s) attempt %d failed (%s); retrying in %.2f s.",
                item.delivery_id,
                item.event,
                attempt,
                error,
                delay,
            )
            self._sleep(delay)
        return False  # pragma: no cover  (the loop always returns)

    def _count(self, attempt: int, error: str | None) -> None:
        with self._lock:
            self._stats = replace(
                self._stats,
                attempts=self._stats.attempts + 1,
                retries=self._stats.retries + (attempt > 1),
                last_error=error if error is not None else self._stats.last_error,
            )
