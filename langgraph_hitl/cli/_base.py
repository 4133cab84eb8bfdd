"""The typer app, its global options, the options commands share, and the error-handling decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer

from ._errors import EPILOG, report
from ._settings import Settings, resolve_settings

__all__ = [
    "AllOption",
    "ApproverOption",
    "ArgsOption",
    "CallOption",
    "DbOption",
    "GraphOption",
    "InterruptIdOption",
    "JsonOption",
    "MessageOption",
    "RequestArg",
    "SinceOption",
    "ThreadOption",
    "UntilOption",
    "VerifyOption",
    "WebhookSecretOption",
    "WebhookUrlOption",
    "app",
    "command",
    "settings_of",
]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="langgraph-hitl",
    help="List, inspect and decide langgraph-hitl approval requests; audit and measure the gates.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Every command also takes --db / --graph after its name (`approve ID --as bob --graph g.py:builder`).
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        show_default=False,
        help="Database URL (sqlite:///hitl.db, postgresql://...) or a SQLite file path. "
        "Env LANGGRAPH_HITL_DB; default sqlite:///hitl.db.",
    ),
]
GraphOption = Annotated[
    str | None,
    typer.Option(
        "--graph",
        metavar="FILE.py:ATTR",
        show_default=False,
        help="The graph, named as in langgraph.json: path/to/file.py:builder (a builder, a compiled graph "
        "or a function returning one). Env LANGGRAPH_HITL_GRAPH.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SinceOption = Annotated[
    str | None, typer.Option(metavar="TIME", help="From this ISO 8601 time.", show_default=False)
]
UntilOption = Annotated[
    str | None, typer.Option(metavar="TIME", help="Before this ISO 8601 time.", show_default=False)
]
RequestArg = Annotated[
    str | None,
    typer.Argument(
        metavar="REQUEST",
        help="Request id, or a unique prefix of 6+ characters; or give --thread instead.",
        show_default=False,
    ),
]
ThreadOption = Annotated[
    str | None,
    typer.Option(
        "--thread",
        metavar="THREAD",
        help="Instead of REQUEST: the thread's request, by its exact thread id (case counts, no prefixes).",
        show_default=False,
    ),
]
InterruptIdOption = Annotated[
    str | None,
    typer.Option(
        "--interrupt-id",
        metavar="ID",
        help="With --thread: which request, when the thread waits on several (its interrupt id, as "
        "`pending --thread` and `show --thread` print it).",
        show_default=False,
    ),
]
ApproverOption = Annotated[
    str, typer.Option("--as", metavar="APPROVER", help="Who decides.", show_default=False)
]
MessageOption = Annotated[
    str | None,
    typer.Option(
        "--message", "-m", metavar="TEXT", help="A note for the agent and the audit log.", show_default=False
    ),
]
VerifyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--verify",
        metavar="[ID=]PHRASE",
        help="The confirmation phrase, when the request has one. With several calls, ID=PHRASE for the "
        "call that has one (ID: its tool-call id or number); repeat per call.",
        show_default=False,
    ),
]
AllOption = Annotated[
    bool,
    typer.Option("--all", help="Decide every call of the request this way (but those named by --call)."),
]
CallOption = Annotated[
    list[str] | None,
    typer.Option(
        "--call",
        metavar="ID=TYPE",
        help="One call's decision: approve, reject, edit or respond; ID is its tool-call id or its "
        "number (1 for the first). Repeat per call.",
        show_default=False,
    ),
]
ArgsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--args",
        metavar="[ID=]JSON",
        help="The edited arguments, a JSON object replacing the old ones: '{\"id\": 7}'; for a call "
        "edited with --call ID=edit, ID='{...}'. Repeat per call.",
        show_default=False,
    ),
]
WebhookUrlOption = Annotated[
    str | None,
    typer.Option(
        "--webhook-url",
        metavar="URL",
        show_default=False,
        help="Announce new requests and decisions to this webhook (signed JSON). "
        "Env LANGGRAPH_HITL_WEBHOOK_URL, or webhook_url in langgraph-hitl.toml.",
    ),
]
WebhookSecretOption = Annotated[
    str | None,
    typer.Option(
        "--webhook-secret",
        metavar="SECRET",
        show_default=False,
        help="The webhook's signing secret. Prefer env LANGGRAPH_HITL_WEBHOOK_SECRET or "
        "webhook_secret_file in langgraph-hitl.toml: other users can read command lines.",
    ),
]


@dataclass(frozen=True)
class _Globals:
    db: str | None = None
    graph: str | None = None
    debug: bool = False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"langgraph-hitl {version('langgraph-hitl')}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    db: DbOption = None,
    graph: GraphOption = None,
    debug: Annotated[bool, typer.Option("--debug", help="Print tracebacks with errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """List, inspect and decide approval requests; audit and measure the gates.

    Settings: option, then environment (LANGGRAPH_HITL_DB, LANGGRAPH_HITL_GRAPH), then
    langgraph-hitl.toml in this folder (keys db, graph), then sqlite:///hitl.db.
    """
    ctx.obj = _Globals(db, graph, debug)


def command(fn: F) -> F:
    """Run a command body, turning its errors into one line, a hint and a documented exit code."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        top = getattr(kwargs.get("ctx"), "obj", None)  # typer hands over its click context as `ctx`
        debug = isinstance(top, _Globals) and top.debug
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            raise typer.Exit(int(report(exc, debug=debug))) from None

    return run  # type: ignore[return-value]


def settings_of(
    ctx: typer.Context,
    db: str | None,
    graph: str | None,
    *,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Settings:
    """Resolve settings from the command's own options, then the global ones, env and config."""
    top = ctx.obj if isinstance(ctx.obj, _Globals) else _Globals()
    return resolve_settings(
        db or top.db,
        graph or top.graph,
        debug=top.debug,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )
