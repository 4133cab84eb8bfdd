"""Throttling wrong tokens: after `limit` failures from one client within `window_s`, answer 429.

Failures are wrong tokens on the sign-in form and unknown bearer tokens on the API, counted
together per client address. While a client is throttled every attempt is refused, even one
with a valid token, so guessing learns nothing; a success does not clear the count (a person
holding one token cannot use it to keep guessing others). Counts live in the process: behind a
load balancer, each server throttles on its own; behind a reverse proxy, run uvicorn with
`--proxy-headers` so the client address is the person's, not the proxy's.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["FailureThrottle", "Throttled"]


class Throttled(Exception):
    """Too many failures from one client; retry after `retry_after` seconds (answered with 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class FailureThrottle:
    """Counts authentication failures per client in a sliding window.

    Args:
        limit: Failures allowed per client within `window_s`; the next attempt is refused.
        window_s: Length of the window in seconds.
        clock: Monotonic seconds.
        max_clients: Clients tracked at once; the oldest are forgotten first.

    Raises:
        ValueError: `limit` below 1 or `window_s` not positive.
    """

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = f"auth_failures limit={limit!r}: allow at least 1 failure per window, e.g. (10, 300.0)."
            raise ValueError(msg)
        if not isinstance(window_s, (int, float)) or not window_s > 0:
            msg = f"auth_failures window_s={window_s!r}: use a positive number of seconds, e.g. (10, 300.0)."
            raise ValueError(msg)
        self.limit = limit
        self.window_s = float(window_s)
        self._clock = clock
        self._max = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def check(self, client: str) -> None:
        """Raise `Throttled` when `client` used up its failures in the current window."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            if len(times) >= self.limit:
                raise Throttled(max(1, math.ceil(times[0] + self.window_s - now)))

    def fail(self, client: str) -> None:
        """Count one failure by `client`."""
        with self._lock:
            now = self._clock()
            times = self._recent(client, now)
            times.append(now)
            self._failures.pop(client, None)
            self._failures[client] = times  # most recent last, so the oldest go first
            while len(self._failures) > self._max:
                self._failures.pop(next(iter(self._failures)))
