"""Checks at the runner's edge: the caller's run config, stream mode, thread id and input.

Everything a caller passes through to LangGraph is checked before anything runs, with an error
that names the value and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, get_args

from ..errors import ConflictError, ThreadStateError
from .models import RunOptions

__all__ = [
    "check_run_config", "check_start", "check_stream_mode", "raise_busy", "raise_start_failure", "run_options",
]  # fmt: skip


def _config_keys() -> tuple[str, ...]:
    """The keys of langchain's `RunnableConfig` (callbacks, configurable, metadata, recursion_limit, ...)."""
    from langchain_core.runnables import RunnableConfig

    return tuple(sorted(RunnableConfig.__annotations__))


def _stream_modes() -> tuple[str, ...]:
    """LangGraph's stream modes (`langgraph.types.StreamMode`)."""
    from langgraph.types import StreamMode

    return tuple(str(mode) for mode in get_args(StreamMode))


_RESERVED_WHY = {
    "checkpoint_id": "the runner runs a thread from its latest checkpoint; an older one would leave the inbox "
    "out of step with the thread (change state with graph.update_state, then refresh())",
    "checkpoint_ns": "the runner runs the root graph; subgraph namespaces are LangGraph's to set",
    "checkpoint_map": "the runner runs the root graph; subgraph namespaces are LangGraph's to set",
    "hitl_": "keys starting with 'hitl_' carry the runner's store and who decided (decide(approver=...))",
    "langgraph_auth_": "under the runner, who decides is decide(approver=...), never the run's config",
    "__": "keys starting with '__' are LangGraph's internal ones",
}


def _reserved(key: str) -> str | None:
    """Why a `configurable` key is the runner's (or LangGraph's) to set, or None when the caller may set it."""
    for name, why in _RESERVED_WHY.items():
        if key == name or (name.endswith("_") and key.startswith(name)):
            return why
    return None


def check_stream_mode(stream_mode: Any) -> Any:
    """`stream_mode` if LangGraph knows it (one mode or a list of modes); else a `ValueError` naming the fix."""
    allowed = _stream_modes()
    modes = [stream_mode] if isinstance(stream_mode, str) else stream_mode
    if isinstance(modes, Sequence) and modes and all(isinstance(m, str) and m in allowed for m in modes):
        return stream_mode if isinstance(stream_mode, str) else list(stream_mode)
    msg = f"stream_mode={stream_mode!r}. Allowed: one of {', '.join(allowed)}, or a list of them."
    raise ValueError(msg)


def check_run_config(config: Any, *, thread_id: str | None, call: str) -> Mapping[str, Any] | None:
    """A caller's `config=` as the runner can merge it, or an error saying what to change.

    Args:
        config: A `RunnableConfig` or None.
        thread_id: The one thread the call runs; None for calls that run many (`expire_overdue`, `recover`).
        call: The method's name, for the messages.

    Raises:
        TypeError: `config` (or its `configurable`) is not a dict.
        ValueError: An unknown key, a `thread_id` other than the call's, a key only the runner
            sets, or a `run_id` on a call that runs many threads.
    """
    if config is None:
        return None
    keys = _config_keys()
    if not isinstance(config, Mapping):
        msg = f"{call}(config={config!r:.80}): pass a RunnableConfig dict ({', '.join(keys)}) or None."
        raise TypeError(msg)
    unknown = sorted(str(k) for k in config if k not in keys)
    if unknown:
        msg = (
            f"{call}(config=...) has {', '.join(map(repr, unknown))}, not RunnableConfig keys. Allowed: "
            f"{', '.join(keys)}; runtime values go in context=, LangGraph options such as durability "
            "are the runner's."
        )
        raise ValueError(msg)
    if "run_id" in config and thread_id is None:
        msg = f"{call}(config=...) has run_id, which names one run; {call}() runs one per thread. Drop it."
        raise ValueError(msg)
    configurable = config.get("configurable")
    if configurable is None:
        return config
    if not isinstance(configurable, Mapping):
        msg = f"{call}(config=...): configurable={configurable!r:.80} must be a dict of your graph's keys."
        raise TypeError(msg)
    for key, value in configurable.items():
        _check_configurable(str(key), value, thread_id=thread_id, call=call)
    return config


def _check_configurable(key: str, value: Any, *, thread_id: str | None, call: str) -> None:
    if key == "thread_id":
        if thread_id is None:
            msg = (
                f"{call}(config=...) has configurable thread_id={value!r}, but {call}() runs many threads and "
                "sets each one's thread_id itself. Drop it from the config."
            )
            raise ValueError(msg)
        if str(value) != thread_id:
            msg = (
                f"{call}(config=...) has configurable thread_id={value!r}, but this call runs thread "
                f"{thread_id!r}: the runner sets thread_id itself. Drop it from the config, or run "
                f"thread {value!r} instead."
            )
            raise ValueError(msg)
        return
    why = _reserved(key)
    if why is not None:
        msg = (
            f"{call}(config=...) sets configurable {key!r}, which the runner does not take: {why}. Remove it."
        )
        raise ValueError(msg)


def check_start(thread_id: Any, input: Any) -> None:
    """Refuse a thread id or input `start()` must not run: bad id, a `Command`, a value no checkpoint can save."""
    from langgraph.types import Command

    if not isinstance(thread_id, str) or not thread_id:
        msg = f"thread_id={thread_id!r}: use a non-empty string."
        raise ThreadStateError(msg)
    if (
        len(thread_id) > 500
        or not thread_id.isprintable()
        or thread_id != thread_id.encode("utf-8", "replace").decode("utf-8")
    ):
        msg = (
            f"thread_id={ascii(thread_id)[:80]}: use at most 500 printable characters (no NUL, control "
            "characters or lone surrogates, which some stores cannot hold)."
        )
        raise ThreadStateError(msg)
    if isinstance(input, Command):
        msg = "start() takes the graph's input; answer a paused request with decide(request_id, ...)."
        raise ThreadStateError(msg)
    problem = _unsaveable(input, "input")
    if problem is not None:
        msg = (
            f"Thread {thread_id!r}: {problem}; no checkpoint store can save it, so the run would be lost. "
            "Fix the value before start(). Nothing was run."
        )
        raise ThreadStateError(msg)


def _unsaveable(value: Any, path: str, depth: int = 0) -> str | None:
    """Where `value` holds what LangGraph's checkpoints cannot save: text with a lone surrogate,
    an integer outside 64 bits. Only plain containers are walked; other objects are the graph's own."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path} holds text with a lone surrogate ({ascii(value)[:40]}), which is not valid UTF-8"
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if -(2**63) <= value < 2**64:
            return None
        return f"{path} holds an integer outside 64 bits ({str(value)[:24]}...); send it as text"
    if depth > 100:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}[{ascii(key)[:40]}]"
            found = _unsaveable(key, f"{path} key {ascii(key)[:40]}", depth + 1) or _unsaveable(
                item, where, depth + 1
            )
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _unsaveable(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def run_options(
    config: Any,
    context: Any,
    *,
    thread_id: str | None,
    call: str,
    stream_mode: Any = None,
    subgraphs: bool = False,
) -> RunOptions:
    """Check what a caller passes through to LangGraph, at the API edge (see `check_run_config`)."""
    if not isinstance(subgraphs, bool):
        msg = f"{call}(subgraphs={subgraphs!r}): pass True or False."
        raise TypeError(msg)
    return RunOptions(
        config=check_run_config(config, thread_id=thread_id, call=call),
        context=context,
        stream_mode=None if stream_mode is None else check_stream_mode(stream_mode),
        subgraphs=subgraphs,
    )


def raise_busy(thread_id: str) -> NoReturn:
    """`ConflictError`: another run of the thread is going on."""
    msg = (
        f"Thread {thread_id!r} is being run right now (another start(), a decision, or a recovery of a "
        "crashed run); one run at a time. Try again when it pauses, or run recover() if its process died."
    )
    raise ConflictError(msg)


def raise_start_failure(thread_id: str, exc: BaseException) -> NoReturn:
    """Re-raise a failed start; a value LangGraph cannot save becomes a `ThreadStateError` naming the fix."""
    text = str(exc)
    if isinstance(exc, TypeError) and (
        "64-bit" in text or "serializ" in text or "msgpack" in text.lower() or "surrogate" in text
    ):
        msg = (
            f"Thread {thread_id!r}: the run's input or state could not be saved ({text}). Checkpoints hold "
            "plain JSON-like values: send integers beyond 64 bits as text and convert other objects "
            "before start(). Nothing is waiting; the thread can be started again."
        )
        raise ThreadStateError(msg) from exc
    raise exc
