"""How `WebhookNotifier` delivers: a bounded queue and one worker thread that signs, posts and retries.

`submit` only enqueues: it never blocks a graph run and never raises. It frames the body (the
JSON envelope, or a CloudEvent: `cloud_events`) and takes the trace context of the span active
then (`trace_context`). The worker, started with the first event, signs each attempt (`signers`:
`X-HITL-Signature` or Standard Webhooks), retries connection errors, timeouts, 5xx and 429 with
exponential backoff and bounded jitter (honouring a receiver's `Retry-After` up to
`max_backoff_s`), and treats other 4xx answers as final.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .base import DeliveryStats
from .cloud_events import Frame
from .signers import SignHeaders
from .trace_context import trace_headers

if TYPE_CHECKING:
    import httpx

__all__ = ["DeliveryWorker", "dumps", "json_frame", "redact"]

logger = logging.getLogger("langgraph_hitl.notify")


@dataclass(frozen=True)
class _Delivery:
    event: str
    delivery_id: str
    body: bytes
    headers: dict[str, str]
    """Content type, CloudEvents attributes and trace context, fixed when the event was enqueued."""


def redact(url: str) -> str:
    """Scheme, host and port only: webhook URLs (Slack's in particular) embed their own secret, in
    the path or the query, or as `user:password@` before the host.

    Example:
        >>> redact("https://bot:hunter2@hooks.example.com:8443/T0/B0/XyZ?token=abc")
        'https://hooks.example.com:8443/…'
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def json_frame(envelope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The `json` and `slack` layouts: the payload is the body."""
    return envelope, {"Content-Type": "application/json"}


def _text(document: Any, *, ascii_only: bool) -> str:
    return json.dumps(document, ensure_ascii=ascii_only, separators=(",", ":"), default=str, allow_nan=False)


def _plain(value: Any, seen: tuple[int, ...] = ()) -> Any:
    """`value` with what JSON cannot hold made text: NaN and infinities, and keys that are not
    strings. A cycle has no JSON form at all: `ValueError`, so the event counts as failed."""
    if isinstance(value, dict | list | tuple):
        if id(value) in seen or len(seen) > 200:
            msg = "the payload refers to itself (a cycle) or nests more than 200 levels deep"
            raise ValueError(msg)
        inner = (*seen, id(value))
        if isinstance(value, dict):
            return {str(k): _plain(v, inner) for k, v in value.items()}
        return [_plain(v, inner) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def dumps(document: Any) -> bytes:
    """Compact UTF-8 JSON that any receiver parses: values JSON cannot hold become text (see
    `_plain`, and `str()` for other objects), and text UTF-8 cannot carry (lone surrogates) goes
    as `\\udXXX` escapes; such a value costs its fidelity, never the delivery."""
    try:
        text = _text(document, ascii_only=False)
    except (TypeError, ValueError):
        document = _plain(document)
        text = _text(document, ascii_only=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _text(document, ascii_only=True).encode("ascii")


class DeliveryWorker:
    """The queue of a `WebhookNotifier`, its worker thread and its counters (options checked by the notifier)."""

    def __init__(
        self,
        url: str,
        *,
        signer: SignHeaders,
        frame: Frame = json_frame,
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        max_backoff_s: float,
        queue_size: int,
        clock: Callable[[], float],
        sleep: Callable[[float], object] | None,
    ) -> None:
        self.url = url
        self._signer = signer
        self._frame = frame
        self._timeout_s = float(timeout_s)
        self._max_attempts = max_attempts
        self._backoff_s = float(backoff_s)
        self._max_backoff_s = float(max_backoff_s)
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

    # -- enqueueing (on the caller's thread) --------------------------------------------------

    def submit_each(self, event: str, build: Callable[[], list[dict[str, Any]]]) -> None:
        """Enqueue one delivery per payload `build` returns; a failure to build counts as failed."""
        try:
            payloads = build()
        except Exception as exc:
            logger.error("Webhook %s event could not be built, not sent: %r", event, exc)
            with self._lock:
                self._stats = replace(self._stats, failed=self._stats.failed + 1, last_error=repr(exc))
            return
        for payload in payloads:
            self.submit(event, lambda payload=payload: payload)  # type: ignore[misc]

    def submit(self, event: str, build: Callable[[], dict[str, Any]]) -> None:
        """Build, serialize and enqueue one delivery, starting the worker with the first; never raises."""
        # Notifications are best effort: nothing here may break the graph run that called us.
        try:
            payload = build()
            delivery_id = str(payload.get("delivery_id") or uuid.uuid4().hex)
            document, headers = self._frame(payload)
            body = dumps(document)
            headers.update(trace_headers())
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
                self._queue.put_nowait(_Delivery(event, delivery_id, body, headers))
            except queue.Full:
                logger.warning(
                    "Webhook %s (%s) dropped: %d deliveries already queued for %s. Raise queue_size or check the receiver.",
                    delivery_id,
                    event,
                    self._queue.maxsize,
                    redact(self.url),
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
        where = redact(self.url)
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1 and self._stop.is_set():
                logger.warning(
                    "Webhook %s (%s) to %s abandoned at shutdown while retrying.",
                    item.delivery_id,
                    item.event,
                    where,
                )
                return False
            error, retryable, retry_after = self._attempt(client, item, attempt)
            if error is None:
                logger.debug(
                    "Webhook %s (%s) delivered to %s on attempt %d.",
                    item.delivery_id,
                    item.event,
                    where,
                    attempt,
                )
                return True
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

    def _attempt(
        self, client: httpx.Client, item: _Delivery, attempt: int
    ) -> tuple[str | None, bool, str | None]:
        """One signed POST, counted: `(None, ...)` when delivered, else `(error, retryable, Retry-After)`."""
        import httpx

        headers = {
            **item.headers,
            **self._signer(item.delivery_id, int(self._clock()), item.body),
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
                return None, False, None
            retryable = response.status_code >= 500 or response.status_code == 429
            retry_after = response.headers.get("Retry-After")
            error = f"HTTP {response.status_code}" + ("" if retryable else " (not retried)")
        self._count(attempt, error)
        return error, retryable, retry_after

    def _count(self, attempt: int, error: str | None) -> None:
        with self._lock:
            self._stats = replace(
                self._stats,
                attempts=self._stats.attempts + 1,
                retries=self._stats.retries + (attempt > 1),
                last_error=error if error is not None else self._stats.last_error,
            )
