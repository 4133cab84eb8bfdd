"""`Handler`: an action's handler, with its compensation.

`ExecuteNode` takes, per action name, a plain callable or a `Handler(do=..., undo=...)`. The
`undo` is the compensation `Approvals.reverse` runs, through the policy, the ledger and the audit
log, like the action itself. An action without one says so when asked to reverse it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import PolicyError

__all__ = ["Handler", "HandlerLike", "accepts", "compensation_of", "do_of"]

HandlerLike = Callable[..., Any]
"""`handler(args)`, `handler(args, *, idempotency_key)` or `handler(args, *, idempotency_key, receipts)`
returning a JSON-able result; or a `Handler`."""


@dataclass(frozen=True)
class Handler:
    """An action's handler and, optionally, its compensation.

    Args:
        do: Runs the action: `do(args)`, with `idempotency_key=` and `receipts=` if it takes them.
        undo: Reverses it (`Approvals.reverse`): `undo(args)`, with `idempotency_key=` (the
            reversal's own, derived from the action's id) and `result=` (what `do` returned) if it
            takes them. None: the action cannot be reversed.

    Example:
        ```python
        handlers = {
            "update_record": Handler(
                do=lambda args, *, idempotency_key: db.set(args["id"], args["value"], key=idempotency_key),
                undo=lambda args, *, result: db.set(args["id"], result["old"]),
            )
        }
        ```
    """

    do: Callable[..., Any]
    undo: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if not callable(self.do):
            msg = f"Handler(do={self.do!r}) is not callable; pass the function that runs the action."
            raise PolicyError(msg)
        if self.undo is not None and not callable(self.undo):
            msg = f"Handler(undo={self.undo!r}) is not callable; pass the compensation function, or None."
            raise PolicyError(msg)

    def __call__(self, args: Any, **kwargs: Any) -> Any:
        """Run `do`."""
        return self.do(args, **kwargs)


def do_of(handler: HandlerLike) -> Callable[..., Any]:
    """The function that runs the action."""
    return handler.do if isinstance(handler, Handler) else handler


def compensation_of(handler: HandlerLike | None) -> Callable[..., Any] | None:
    """The action's compensation, or None."""
    return handler.undo if isinstance(handler, Handler) else None


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether `fn` takes the keyword `name` (or any keyword)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)
