"""Running `flow`'s operations: perform each effect, hand the result back (or throw the error in
where the operation asked), and pass the graph's stream parts out to the caller.

The runners give `perform` (one effect: a store step, a snapshot, an index, an `invoke`) and, for
streams, `stream` (the graph's parts for a `Run`); `run` / `arun` drive an operation to its result,
`steps` / `asteps` also yield the parts as they come and, last, the result.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from contextlib import aclosing
from typing import Any

from .flow import Effect, Flow, Run

__all__ = ["Stopped", "arun", "asteps", "run", "steps"]


class Stopped(Exception):  # noqa: N818 - a signal, not a failure
    """Thrown into a flow when the caller closes its stream: the flow indexes what the run left
    (store steps only) and re-raises it. Not `GeneratorExit`, which `yield from` would turn into
    closing the inner generator, so it could not do that work."""


def _streamed(effect: Effect) -> bool:
    return isinstance(effect, Run) and not effect.invoke and effect.run.stream_mode is not None


def run(perform: Callable[[Effect], Any], flow: Flow) -> Any:
    """Run `flow` to its end and return its result (nobody reads a stream)."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = perform(effect), None
        except BaseException as exc:
            value, error = None, exc


def steps(
    perform: Callable[[Effect], Any], stream: Callable[[Run], Iterator[Any]], flow: Flow
) -> Generator[Any, None, None]:
    """Run `flow`, yielding the graph's stream parts as they come and, last, the flow's result.

    Closed early, it stops the graph's stream and throws `Stopped` into the flow, which indexes
    what the run left (doing store steps, never yielding) and re-raises it.
    """
    value: Any = None
    error: BaseException | None = None
    closing = False
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            if not closing:
                yield stop.value
            return
        except Stopped:
            if closing:
                return
            raise
        value, error = None, None
        if closing and _streamed(effect):
            error = Stopped()  # no more parts once the caller has closed the stream
            continue
        try:
            if _streamed(effect):
                parts = stream(effect)  # type: ignore[arg-type]
                try:
                    yield from parts
                finally:
                    getattr(parts, "close", lambda: None)()
            else:
                value = perform(effect)
        except GeneratorExit:  # the caller closed the stream: let the flow clean up, then stop
            error, closing = Stopped(), True
        except BaseException as exc:
            error = exc


async def arun(perform: Callable[[Effect], Awaitable[Any]], flow: Flow) -> Any:
    """`run`, with each effect awaited."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value
        try:
            value, error = await perform(effect), None
        except BaseException as exc:
            value, error = None, exc


async def asteps(
    perform: Callable[[Effect], Awaitable[Any]], stream: Callable[[Run], AsyncIterator[Any]], flow: Flow
) -> AsyncGenerator[Any, None]:
    """`steps`, with each effect awaited and the graph's parts read with `async for`."""
    value: Any = None
    error: BaseException | None = None
    closing = False
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            if not closing:
                yield stop.value
            return
        except Stopped:
            if closing:
                return
            raise
        value, error = None, None
        if closing and _streamed(effect):
            error = Stopped()  # no more parts once the caller has closed the stream
            continue
        try:
            if _streamed(effect):
                async with aclosing(stream(effect)) as parts:  # type: ignore[arg-type,type-var]
                    async for part in parts:
                        yield part
            else:
                value = await perform(effect)
        except GeneratorExit:  # the caller closed the stream: let the flow clean up, then stop
            error, closing = Stopped(), True
        except BaseException as exc:
            error = exc
