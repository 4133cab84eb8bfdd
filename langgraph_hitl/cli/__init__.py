"""`langgraph-hitl`: list, inspect and decide paused requests from a terminal.

```
langgraph-hitl pending                                  # what waits, newest first
langgraph-hitl show 11d730ab6de9                        # full context and the thread's audit trail
langgraph-hitl approve 11d730ab6de9 --as bob --verify "DELETE 1002" --graph examples/quickstart.py:build_graph
langgraph-hitl approve --thread ticket-42 --as bob --graph ...   # the one request thread ticket-42 waits on
langgraph-hitl audit --verify                           # is the hash chain intact?
```

`pending`, `show`, `audit` and `stats` read langgraph-hitl's own tables and never import
LangGraph, so they start fast. `approve`, `reject`, `edit`, `respond`, `expire` and `recover`
resume graphs and need `--graph path/to/file.py:attribute` (named the way `langgraph.json`
names graphs: a builder, a compiled graph, or a function annotated to return one; nothing
else is called).

A request with several tool calls (a `ToolGateNode` question) is decided per call:
`--all` (every call), `--call ID=approve|reject|edit|respond` (ID: the tool-call id or its
number), `--verify ID=PHRASE`, `--args ID=JSON`; the answer goes through `Approvals.decide`
as langchain's `{"decisions": [...]}`. Text from the database is printed with control and
bidi characters made visible (`_safe`).

Settings come from, in order: the option (`--db`, `--graph`, before or after the command),
the environment (`LANGGRAPH_HITL_DB`, `LANGGRAPH_HITL_GRAPH`), `langgraph-hitl.toml` in the
current directory (keys `db` and `graph`), then the default `sqlite:///hitl.db`. The deciding
commands and `serve` announce through a webhook given by `--webhook-url` / `--webhook-secret`,
`LANGGRAPH_HITL_WEBHOOK_URL` / `LANGGRAPH_HITL_WEBHOOK_SECRET`, or `webhook_url` /
`webhook_secret_file` in the config file.

Exit codes:

| code | meaning |
|---|---|
| 0 | ok |
| 1 | unexpected error (rerun with `--debug` for the traceback) |
| 2 | usage error: bad option, bad `--graph`, bad JSON |
| 3 | not found, or no longer pending |
| 4 | conflict: someone else decided first |
| 5 | decision refused (`DecisionError`); the request stays pending |
| 6 | not authorized (`AuthorizationError`); the request stays pending |
| 7 | database or checkpointer error |
| 8 | the audit log failed verification (`audit --verify`) |

Errors print one line on stderr and a hint line; `--debug` adds the traceback.
Needs the `cli` extra: `pip install "langgraph-hitl[cli]"`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

INSTALL_HINT = 'langgraph-hitl: the command line needs the [cli] extra: pip install "langgraph-hitl[cli]"'


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Args:
        argv: Arguments without the program name; `sys.argv[1:]` when None.

    Returns:
        The exit code (see the module docstring).
    """
    from importlib.util import find_spec

    if find_spec("typer") is None or find_spec("rich") is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    args = list(sys.argv[1:] if argv is None else argv)
    from ._fast import run_fast

    fast = run_fast(args)  # the reading commands, without typer's start-up cost
    if fast is not None:
        return fast
    from ._app import app

    try:
        app(args=args, prog_name="langgraph-hitl")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0
