"""`langgraph-hitl policy check FILE` and `policy backtest CANDIDATE`: review a policy file before it ships.

`check` loads and lints the file (exit 2 on an error, or on a warning with `--strict`).
`backtest` replays the audit log's proposals through the candidate (exit 9 when a
`--fail-on-*` condition holds, for CI).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ..store.backtest import BacktestReport
from ._base import DbOption, JsonOption, app, command, settings_of
from ._common import open_db, usage_error
from ._errors import CLIError, ExitCode
from ._render import console, print_json
from ._safe import visible

__all__ = ["BACKTEST_FAILED", "policy_app"]

BACKTEST_FAILED = int(ExitCode.BACKTEST_FAILED)
"""The exit code of `policy backtest` when a `--fail-on-*` condition holds."""

policy_app = typer.Typer(
    help="Check a policy file, and backtest it against the audit log.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")

FileArg = Annotated[Path, typer.Argument(metavar="FILE", help="The policy file (.toml, .yaml, .yml).")]
PredicatesOption = Annotated[
    str | None,
    typer.Option(
        "--predicates",
        metavar="MODULE:ATTR",
        help="The named predicates the file's rules call: a dict of name -> function, importable "
        "from the current folder (e.g. myapp.policy:PREDICATES).",
        show_default=False,
    ),
]


def _predicates(spec: str | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    module, _, attr = spec.partition(":")
    if not module or not attr:
        msg = f"--predicates {spec!r} is not MODULE:ATTR."
        raise usage_error(msg, "e.g. --predicates myapp.policy:PREDICATES")
    sys.path.insert(0, str(Path.cwd()))
    try:
        found = getattr(importlib.import_module(module), attr, None)
    finally:
        sys.path.pop(0)
    if not isinstance(found, dict):
        msg = f"--predicates {spec!r} is not a dict."
        raise usage_error(msg, "Point it at a dict of name -> function.")
    return found


def _load(path: Path, predicates: dict[str, Any] | None) -> Any:
    from ..policy import Policy
    from ..policy_files import PolicyFileError

    try:
        return Policy.from_file(path, predicates=predicates)
    except PolicyFileError as exc:
        for line in exc.lines():
            print(f"Error: {visible(line)}", file=sys.stderr)
        hint = "Fix each line above (a rule calling a registered predicate needs --predicates MODULE:ATTR)."
        msg = f"{path}: {len(exc.problems)} problem(s); nothing was loaded."
        raise CLIError(msg, code=ExitCode.USAGE, hint=hint) from None


@policy_app.command("check")
@command
def check(
    file: FileArg,
    predicates: PredicatesOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 2 on warnings too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate and lint a policy file: exit 2 if it does not load or has errors."""
    from ..policy_lint import lint_policy

    policy = _load(file, _predicates(predicates))
    findings = lint_policy(policy)
    if as_json:
        print_json({"file": str(file), "version": policy.version, "findings": [asdict(f) for f in findings]})
    else:
        for f in findings:
            print(visible(f"{file}: {f.severity}: {f.key}: {f.message} Fix: {f.fix}"))
        errors = sum(f.severity == "error" for f in findings)
        print(
            f"{file}: policy {visible(policy.version)}: {errors} error(s), {len(findings) - errors} warning(s)."
        )
    if any(f.severity == "error" or strict for f in findings):
        raise typer.Exit(int(ExitCode.USAGE))


@policy_app.command("backtest")
@command
def backtest(
    ctx: typer.Context,
    candidate: FileArg,
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="Proposals from this ISO 8601 time.", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="Proposals before this ISO 8601 time.", show_default=False),
    ] = None,
    predicates: PredicatesOption = None,
    fail_on_looser: Annotated[
        bool, typer.Option("--fail-on-looser", help=f"Exit {BACKTEST_FAILED} if any gate would be looser.")
    ] = False,
    fail_on_overruled: Annotated[
        bool,
        typer.Option(
            "--fail-on-overruled",
            help=f"Exit {BACKTEST_FAILED} if the candidate would run anything a person refused.",
        ),
    ] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Replay the audit log's proposals through CANDIDATE and report what would change."""
    from ..store.backtest import backtest as run

    policy = _load(candidate, _predicates(predicates))
    with open_db(settings_of(ctx, db, None)) as store:
        try:
            report = run(store.backend, policy, since=since, until=until)
        except ValueError as exc:
            raise usage_error(str(exc), "Times are ISO 8601, e.g. 2026-01-31.") from None
    if as_json:
        print_json(report)
    else:
        _print(str(candidate), report)
    if (fail_on_looser and report["changes"]["looser"]) or (fail_on_overruled and report["overruled"]):
        raise typer.Exit(BACKTEST_FAILED)


def _print(name: str, r: BacktestReport) -> None:
    out = console()
    skipped = ", ".join(f"{why}: {n:,}" for why, n in r["not_replayable"].items()) or "none"
    out.print(
        visible(
            f"Backtest of {name} (version {r['candidate_version']}) on {r['proposals']:,} proposals "
            f"from {r['first'] or '-'} to {r['last'] or '-'} ({r['days']:g} days)."
        ),
        markup=False,
    )
    out.print(
        f"Replayed {r['replayed']:,}; not replayable {sum(r['not_replayable'].values()):,} ({skipped}); "
        f"pipeline sign-offs {r['not_policy_gated']:,}.",
        markup=False,
    )
    c = r["changes"]
    out.print(
        f"Gates: {c['looser']:,} looser, {c['stricter']:,} stricter, {c['unchanged']:,} unchanged.",
        markup=False,
    )
    for action, a in r["by_action"].items():
        if a["looser"] or a["stricter"]:
            steps = ", ".join(
                f"{k}: {v:,}" for k, v in sorted(a["transitions"].items(), key=lambda kv: -kv[1])
            )
            out.print(
                visible(
                    f"  {action}: {a['looser']:,} looser, {a['stricter']:,} stricter of {a['proposals']:,} ({steps})"
                ),
                markup=False,
            )
    if r["load"]:
        out.print("Reviewer load (expected reviews per day): before -> after", markup=False)
        for who, load in r["load"].items():
            out.print(
                visible(f"  {who}: {load['before']:g} -> {load['after']:g} ({load['change']:+g})"),
                markup=False,
            )
    out.print(f"Would run without review although a person refused it: {len(r['overruled']):,}", markup=False)
    for o in r["overruled"][:20]:
        out.print(
            visible(
                f"  {o['ts']} {o['action']} (thread {o['thread_id']}): {o['decision']} by {o['actor']}; "
                f"{o['recorded_mode']} -> {o['candidate_mode']}"
            ),
            markup=False,
        )
    if len(r["overruled"]) > 20:
        out.print(f"  ... and {len(r['overruled']) - 20:,} more (--json lists all).", markup=False)
    for message, n in r["candidate_errors"].items():
        out.print(visible(f"Candidate error on {n:,} proposal(s): {message}"), markup=False)
