"""The webhook a deciding command announces through: `--webhook-url` / `--webhook-secret`, env, config.

A decision can make the graph ask a new question (a second reviewer, the agent's next tool
calls), and a timeout can escalate: with a webhook configured, the runner announces those
(`pending`), and the decision or timeout itself (`decided`, `timed_out`), as `Approvals` does
in any other process. The command waits for the deliveries before it exits, and says on
stderr if one failed; the decision stands either way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._errors import CLIError, ExitCode
from ._settings import ENV_WEBHOOK_URL, Settings

if TYPE_CHECKING:
    from ..notify import WebhookNotifier

__all__ = ["DELIVERY_WAIT_S", "open_notifier"]

DELIVERY_WAIT_S = 15.0
"""How long a command waits, at most, for its webhook deliveries (with retries) before exiting."""


def build_notifier(settings: Settings) -> WebhookNotifier | None:
    """A `WebhookNotifier` for the settings' webhook, or None when no URL is set.

    Raises:
        CLIError: No secret, a URL that is not http(s), or the `notify` extra missing.
    """
    if not settings.webhook_url:
        return None
    secret = settings.require_webhook_secret()
    try:
        from ..notify import NotifierConfigError, WebhookNotifier
    except ImportError as exc:  # pragma: no cover - httpx ships with LangGraph
        msg = f"Webhooks need the notify extra: {exc}."
        raise CLIError(msg, code=ExitCode.ERROR, hint='pip install "langgraph-hitl[notify]"') from None
    try:
        return WebhookNotifier(settings.webhook_url, secret=secret, max_attempts=4, backoff_s=0.5)
    except NotifierConfigError as exc:
        hint = f"Fix --webhook-url (or {ENV_WEBHOOK_URL}, or webhook_url in langgraph-hitl.toml)."
        raise CLIError(str(exc), code=ExitCode.USAGE, hint=hint) from None
    except ImportError as exc:
        raise CLIError(str(exc), code=ExitCode.ERROR, hint='pip install "langgraph-hitl[notify]"') from None


@contextmanager
def open_notifier(settings: Settings) -> Iterator[WebhookNotifier | None]:
    """The settings' notifier (or None) for the length of a command; deliveries finish before it exits."""
    notifier = build_notifier(settings)
    if notifier is None:
        yield None
        return
    try:
        yield notifier
    finally:
        close_notifier(notifier)


def close_notifier(notifier: WebhookNotifier) -> None:
    """Wait for the notifier's deliveries (at most `DELIVERY_WAIT_S`), then warn on stderr about any lost."""
    notifier.close(DELIVERY_WAIT_S)
    stats = notifier.stats
    lost = stats.failed + stats.dropped
    if lost:
        from urllib.parse import urlsplit

        parts = urlsplit(notifier.url)
        error = f"; last error: {stats.last_error}" if stats.last_error else ""
        print(
            f"Warning: {lost} webhook event(s) to {parts.scheme}://{parts.netloc}/… were not delivered{error}. "
            "The decision stands; `langgraph-hitl pending` lists what waits.",
            file=sys.stderr,
        )
