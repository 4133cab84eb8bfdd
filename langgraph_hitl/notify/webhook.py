"""`WebhookNotifier`: signed, retried webhook deliveries on a background thread.

Each event becomes one POST: the JSON envelope, a Slack message, or a CloudEvent
(`cloud_events`), signed with `X-HITL-Signature` (`signing`) or as Standard Webhooks do
(`standard_webhooks`). The `on_*` methods only enqueue: they never block a graph run and never raise.
A single worker thread delivers, retrying connection errors, timeouts, 5xx and 429
with exponential backoff and bounded jitter; other 4xx answers are final.

The notifier checks its options and builds each event's body on the caller's thread
(`webhook_bodies`); the queue, the worker thread and the retries are `webhook_delivery`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, get_args
from urllib.parse import urlsplit

from ..types import ReviewRequest
from .base import DeliveryStats, Layout, NotifierConfigError, Signing
from .cloud_events import DEFAULT_SOURCE, cloudevent_framer
from .links import LinkSigner
from .signers import make_signer
from .webhook_bodies import WebhookBodies
from .webhook_delivery import DeliveryWorker, json_frame

__all__ = ["WebhookNotifier"]


def _option_problem(
    url: object,
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
        shown = f"{parts.scheme}://{parts.netloc}/…" if parts is not None else type(url).__name__
        # the path is left out: a webhook URL's path is often its secret (Slack's incoming webhooks)
        return f"url {shown!r:.80} is not an http(s) URL; pass e.g. 'https://hooks.example.com/hitl'."
    if not (isinstance(max_attempts, int) and max_attempts >= 1):
        return f"max_attempts={max_attempts!r} must be an integer >= 1 (1 disables retries)."
    if not timeout_s > 0:
        return f"timeout_s={timeout_s!r} must be a positive number of seconds."
    if not 0 <= backoff_s <= max_backoff_s:
        return f"backoff_s={backoff_s!r} must be >= 0 and <= max_backoff_s={max_backoff_s!r}."
    if layout not in get_args(Layout):
        return f"layout={layout!r:.40} is not allowed. Allowed: {', '.join(get_args(Layout))}."
    if not (isinstance(queue_size, int) and queue_size >= 1):
        return f"queue_size={queue_size!r} must be an integer >= 1."
    return None


class WebhookNotifier:
    """Posts signed JSON (or Slack messages) about review requests to a URL, in the background.

    Args:
        url: Where to POST, an http(s) URL.
        secret: The shared secret, or several, newest first, while one rotates (each delivery is
            signed with every one, so receivers holding either verify). With `signing="hitl"`
            any long random text; with `signing="standard"` a `whsec_<base64>` secret.
        timeout_s: Seconds each HTTP attempt may take.
        max_attempts: Attempts per event before it counts as failed (1 means no retries).
        backoff_s: Delay before the first retry; it doubles each time, with jitter in [delay/2, delay].
        max_backoff_s: Cap on a single delay (also on a receiver's `Retry-After`).
        layout: `json` for the event envelope, `slack` for a Slack message, `cloudevents` or
            `cloudevents-binary` for a CloudEvents 1.0 event in structured or binary content mode
            (see `Layout`).
        signing: `hitl` for `X-HITL-Signature` (receivers check it with `verify_signature`),
            `standard` for Standard Webhooks headers (any Standard Webhooks library checks them).
        cloudevents_source: The CloudEvents `source` attribute: a URI-reference naming this producer.
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
        secret: str | bytes | Sequence[str | bytes],
        timeout_s: float = 5.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        layout: Layout = "json",
        signing: Signing = "hitl",
        cloudevents_source: str = DEFAULT_SOURCE,
        link_signer: LinkSigner | None = None,
        base_url: str | None = None,
        link_approvers: Iterable[str] = (),
        slack_channels: Mapping[str, str] | None = None,
        queue_size: int = 1000,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        problem = _option_problem(url, timeout_s, max_attempts, backoff_s, max_backoff_s, layout, queue_size)
        if problem is None and not (isinstance(cloudevents_source, str) and cloudevents_source.strip()):
            problem = f"cloudevents_source={cloudevents_source!r:.80} must be a non-empty URI-reference, e.g. 'urn:acme:billing-agent'."
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
        signer = make_signer(signing, secret)
        self.cloudevents_source = cloudevents_source
        try:
            import httpx  # noqa: F401  (fail now, with the fix, rather than on the worker thread)
        except ImportError as exc:
            msg = "WebhookNotifier needs httpx. Install it with: pip install 'langgraph-hitl[notify]'"
            raise ImportError(msg) from exc
        self._bodies = WebhookBodies(
            layout=layout,
            clock=clock,
            link_signer=link_signer,
            base_url=base_url,
            link_approvers=link_approvers,
            slack_channels=slack_channels,
        )
        self._worker = DeliveryWorker(
            url,
            signer=signer,
            frame=self._frame,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            queue_size=queue_size,
            clock=clock,
            sleep=sleep,
        )

    @property
    def url(self) -> str:
        """Where deliveries are posted."""
        return self._worker.url

    @url.setter
    def url(self, value: str) -> None:
        self._worker.url = value

    @property
    def layout(self) -> Layout:
        """How each body looks (`json` or `slack`), read as each event is built."""
        return self._bodies.layout

    @layout.setter
    def layout(self, value: Layout) -> None:
        self._bodies.layout = value

    def _frame(self, envelope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The body's document and content headers for the current layout."""
        if self.layout in ("cloudevents", "cloudevents-binary"):
            binary = self.layout == "cloudevents-binary"
            return cloudevent_framer(binary=binary, source=self.cloudevents_source)(envelope)
        return json_frame(envelope)

    # -- the Notifier interface -------------------------------------------------------------

    def on_pending(self, request: ReviewRequest, *, thread_id: str | None) -> None:
        """Announce a request awaiting review (event `pending`), one delivery per link recipient;
        returns at once, never raises."""
        self._worker.submit_each("pending", lambda: self._bodies.pending(request, thread_id))

    def on_decision(self, request_id: str, decision: Mapping[str, Any], *, thread_id: str | None) -> None:
        """Announce a decision on `request_id` (event `decided`); returns at once, never raises."""
        self._worker.submit("decided", lambda: self._bodies.decided(request_id, decision, thread_id))

    def on_timeout(self, request_id: str, *, thread_id: str | None, outcome: str) -> None:
        """Announce that `request_id` timed out and what the runner did (event `timed_out`); never raises."""
        self._worker.submit("timed_out", lambda: self._bodies.timed_out(request_id, thread_id, outcome))

    def on_executed(self, request_id: str, *, thread_id: str | None, action: str, outcome: str) -> None:
        """Announce that the action `request_id` approved was run (event `executed`; `outcome`:
        `executed` or `failed`); returns at once, never raises."""
        self._worker.submit("executed", lambda: self._bodies.executed(request_id, thread_id, action, outcome))

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        return self._worker.stats

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every accepted event is delivered or given up on.

        Args:
            timeout: Seconds to wait at most; None waits as long as it takes.

        Returns:
            True if nothing is left in flight, False if `timeout` passed first.
        """
        return self._worker.flush(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting events, give queued ones up to `timeout` seconds, then stop the worker.

        Events still queued after that are dropped and retries in progress are abandoned
        (counted as failed). Safe to call twice.

        Args:
            timeout: Seconds to let queued events finish; None waits for all of them.
        """
        self._worker.close(timeout)

    def __enter__(self) -> WebhookNotifier:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
