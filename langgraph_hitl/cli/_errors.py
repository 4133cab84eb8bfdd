"""Exit codes, and turning exceptions into one error line plus one hint line."""

from __future__ import annotations

import sqlite3
import sys
from enum import IntEnum

from ..errors import (
    AuditIntegrityError,
    AuthorizationError,
    CheckpointerError,
    ConflictError,
    DecisionError,
    NotPendingError,
    ThreadStateError,
)

__all__ = ["EPILOG", "CLIError", "ExitCode", "classify", "report"]


class ExitCode(IntEnum):
    """What the process's exit status means (documented in the module docstring and `--help`)."""

    OK = 0
    """Done."""
    ERROR = 1
    """Unexpected error."""
    USAGE = 2
    """Bad option, argument, `--graph` or JSON."""
    NOT_FOUND = 3
    """Unknown request, or no longer pending."""
    CONFLICT = 4
    """Someone else decided first."""
    REFUSED = 5
    """The decision was refused; the request stays pending."""
    UNAUTHORIZED = 6
    """This approver may not decide the request; it stays pending."""
    DATABASE = 7
    """The database or checkpointer cannot be opened or used."""
    AUDIT_BROKEN = 8
    """The audit log's hash chain does not verify."""
    BACKTEST_FAILED = 9
    """`policy backtest --fail-on-looser` / `--fail-on-overruled`: the candidate would do what they forbid."""


EPILOG = (
    "Exit codes: 0 ok, 1 unexpected error, 2 usage error, 3 not found / not pending, "
    "4 conflict (someone else decided), 5 decision refused, 6 not authorized, "
    "7 database/checkpointer error, 8 audit log failed verification, "
    "9 a policy backtest failed its --fail-on-* check."
)

_PENDING_HINT = "The request is still pending; `langgraph-hitl show REQUEST` lists what it accepts."


class CLIError(Exception):
    """An error the command line reports as one line, a hint and an exit code.

    Args:
        message: What went wrong, with the bad value.
        code: The exit code.
        hint: What to do about it.
    """

    def __init__(self, message: str, *, code: ExitCode, hint: str) -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


def classify(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and hint for an exception raised while a command ran."""
    if isinstance(exc, CLIError):
        return exc.code, exc.hint
    if isinstance(exc, ConflictError):
        return ExitCode.CONFLICT, "See who decided with `langgraph-hitl show REQUEST`."
    if isinstance(exc, (NotPendingError, ThreadStateError)):
        return ExitCode.NOT_FOUND, "List waiting requests with `langgraph-hitl pending`."
    if isinstance(exc, AuthorizationError):
        return ExitCode.UNAUTHORIZED, f"{_PENDING_HINT} Ask one of its approvers."
    if isinstance(exc, DecisionError):
        return ExitCode.REFUSED, f"{_PENDING_HINT} Fix the decision and try again."
    if isinstance(exc, AuditIntegrityError):
        return ExitCode.AUDIT_BROKEN, "Restore the database from a backup and find out who wrote to it."
    if isinstance(exc, (CheckpointerError, sqlite3.Error)) or type(exc).__module__.startswith("psycopg"):
        return ExitCode.DATABASE, "Check --db (or LANGGRAPH_HITL_DB), e.g. --db sqlite:///hitl.db."
    return ExitCode.ERROR, "Rerun with --debug for the traceback."


def report(exc: BaseException, *, debug: bool) -> ExitCode:
    """Print `exc` as one error line and a hint on stderr (and the traceback when `debug`)."""
    code, hint = classify(exc)
    if debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    from ._safe import visible

    text = " ".join(str(exc).split()) or type(exc).__name__
    if code is ExitCode.ERROR and not isinstance(exc, CLIError):
        text = f"{type(exc).__name__}: {text}"
    print(f"Error: {visible(text)}", file=sys.stderr)  # messages quote data: thread ids, names, phrases
    print(f"Hint: {visible(hint)}", file=sys.stderr)
    return code
