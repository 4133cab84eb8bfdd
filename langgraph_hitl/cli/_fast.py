"""A fast path for the reading commands: run a well-formed command line without loading typer.

typer 0.29 coerces every option value through a pydantic `TypeAdapter`, which costs more
than everything else `langgraph-hitl pending` does (about 150 ms of a cold start). The reading
commands are the ones people and scripts run in loops, so `main()` tries this small parser
first. Anything it does not fully understand (help, `--version`, an unknown or malformed
option, a number out of range, a missing argument) returns None and goes to the typer app,
which stays the one source of help text and usage errors. Both paths call the same
functions in `_read`; `tests/test_cli.py` checks that the option tables here match the typer
commands.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _read
from ._errors import report
from ._settings import resolve_settings

__all__ = ["COMMANDS", "GLOBAL_FLAGS", "GLOBAL_VALUES", "FastCommand", "parse", "run_fast"]


@dataclass(frozen=True)
class FastCommand:
    """The options of one reading command, as the fast parser understands them."""

    run: Callable[..., None]
    """The implementation in `_read`, called with the settings and the parsed options."""
    values: Mapping[str, tuple[str, type, int | None, int | None]] = field(default_factory=dict)
    """`--option` taking a value -> (keyword, str or int, minimum, maximum)."""
    flags: Mapping[str, str] = field(default_factory=dict)
    """`--flag` without a value -> keyword set to True."""
    multi: Mapping[str, str] = field(default_factory=dict)
    """Repeatable `--option value` -> keyword collecting a list."""
    argument: str | None = None
    """The keyword of the one required positional argument, if any."""
    instead: str | None = None
    """The keyword of an option that may stand in for the argument (`show --thread T`); the
    command itself refuses both or neither."""


GLOBAL_VALUES = {"--db": "db", "--graph": "graph"}
"""Global options (before the command) taking a value."""
GLOBAL_FLAGS = {"--debug": "debug"}
"""Global flags (before the command)."""

_DB = {"--db": ("db", str, None, None)}
COMMANDS: dict[str, FastCommand] = {
    "pending": FastCommand(
        _read.run_pending,
        values={
            "--approver": ("approver", str, None, None),
            "--risk": ("risk", str, None, None),
            "--thread": ("thread", str, None, None),
            "--limit": ("limit", int, 1, 500),
            "--cursor": ("cursor", str, None, None),
            **_DB,
        },
        flags={"--json": "as_json"},
    ),
    "show": FastCommand(
        _read.run_show,
        values={"--thread": ("thread", str, None, None), **_DB},
        flags={"--json": "as_json"},
        argument="request",
        instead="thread",
    ),
    "audit": FastCommand(
        _read.run_audit,
        values={
            "--thread": ("thread", str, None, None),
            "--request": ("request", str, None, None),
            "--actor": ("actor", str, None, None),
            "--action": ("action", str, None, None),
            "--since": ("since", str, None, None),
            "--until": ("until", str, None, None),
            "--limit": ("limit", int, 0, None),
            **_DB,
        },
        flags={"--verify": "verify", "--json": "as_json"},
        multi={"--event": "event"},
    ),
    "stats": FastCommand(
        _read.run_stats,
        values={"--since": ("since", str, None, None), "--min-samples": ("min_samples", int, 1, None), **_DB},
        flags={"--json": "as_json"},
    ),
}
"""The commands the fast path runs; every other command goes to typer."""

_DIGITS = re.compile(r"[0-9]{1,9}")


def _value(kind: type, low: int | None, high: int | None, text: str) -> Any:
    if kind is str:
        return text
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return number


def parse(argv: Sequence[str]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """Split a reading command line into (command, its keywords, the global options).

    Returns:
        None when the line is anything but a well-formed reading command; typer handles it.
    """
    top: dict[str, Any] = {}
    args = list(argv)
    while args and args[0].startswith("-"):
        name, eq, inline = args.pop(0).partition("=")
        if name in GLOBAL_FLAGS and not eq:
            top[GLOBAL_FLAGS[name]] = True
        elif name in GLOBAL_VALUES and (eq or args):
            top[GLOBAL_VALUES[name]] = inline if eq else args.pop(0)
        else:
            return None
    if not args or args[0] not in COMMANDS:
        return None
    command = COMMANDS[args.pop(0)]
    kwargs: dict[str, Any] = {}
    while args:
        token = args.pop(0)
        if not token.startswith("-"):
            if command.argument is None or command.argument in kwargs:
                return None
            kwargs[command.argument] = token
            continue
        name, eq, inline = token.partition("=")
        if name in command.flags and not eq:
            kwargs[command.flags[name]] = True
            continue
        if name not in command.values and name not in command.multi:
            return None  # --help, --, short options and typos: typer explains them
        if not eq and not args:
            return None
        text = inline if eq else args.pop(0)
        if text.startswith("--"):
            return None  # a forgotten value; let typer say so
        if name in command.multi:
            kwargs.setdefault(command.multi[name], []).append(text)
            continue
        keyword, kind, low, high = command.values[name]
        value = _value(kind, low, high, text)
        if value is None:
            return None
        kwargs[keyword] = value
    if command.argument is not None and command.argument not in kwargs and command.instead not in kwargs:
        return None
    return next(k for k, v in COMMANDS.items() if v is command), kwargs, top


def run_fast(argv: Sequence[str]) -> int | None:
    """Run a reading command without typer; None when typer must handle the line.

    Returns:
        The exit code, or None.
    """
    parsed = parse(argv)
    if parsed is None:
        return None
    name, kwargs, top = parsed
    debug = bool(top.get("debug"))
    try:
        settings = resolve_settings(kwargs.pop("db", None) or top.get("db"), top.get("graph"), debug=debug)
        COMMANDS[name].run(settings, **kwargs)
    except Exception as exc:
        return int(report(exc, debug=debug))
    return 0
