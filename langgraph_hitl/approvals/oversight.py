"""Human oversight beyond approve and reject, as the runners' mixins: the stop switch
(`halting`) and reversal of executed actions (`reversal`)."""

from __future__ import annotations

from .halting import AsyncHaltMethods, HaltMethods
from .reversal import AsyncReverseMethods, ReverseMethods

__all__ = ["AsyncOversight", "Oversight"]


class Oversight(HaltMethods, ReverseMethods):
    """`Approvals`' oversight methods."""


class AsyncOversight(AsyncHaltMethods, AsyncReverseMethods):
    """`AsyncApprovals`' oversight methods, awaited."""
