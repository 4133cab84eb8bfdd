"""`evidence` (export a period of the audit log as a self-verifying folder) and `audit-prune`
(archive and delete old audit rows behind a signed checkpoint): `store.evidence`, `store.retention`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._base import DbOption, JsonOption, SinceOption, UntilOption, app, command, settings_of
from ._common import open_db, usage_error
from ._errors import CLIError, ExitCode
from ._render import console, print_json, text
from ._settings import Settings

if TYPE_CHECKING:
    from ..store.evidence import ArgsMode

__all__ = ["run_evidence", "run_prune"]

_TIMES = "Times are ISO 8601, e.g. 2026-01-31 or 2026-01-31T09:30:00+00:00."
ArgsModeOption = Annotated[
    str,
    typer.Option(
        "--args",
        metavar="MODE",
        help="How the actions' arguments are exported: digest (only args_hash), redacted (keys kept, "
        "values replaced) or stored.",
    ),
]


def _mode(args: str) -> ArgsMode:
    from ..store.evidence import ARGS_MODES

    if args not in ARGS_MODES:
        msg = f"--args {args!r} is not an export mode."
        raise usage_error(msg, f"Use one of: {', '.join(ARGS_MODES)}.")
    return args


def run_evidence(
    settings: Settings,
    *,
    out: str,
    since: str | None = None,
    until: str | None = None,
    args: str = "digest",
    as_json: bool = False,
) -> None:
    """Write the audit rows of a period, their receipts, a summary, a manifest and a verifier into `out`."""
    from ..store.evidence import export_evidence

    mode = _mode(args)
    with open_db(settings) as store:
        try:
            done = export_evidence(store, out, since=since, until=until, args=mode)
        except ValueError as exc:
            raise usage_error(str(exc), _TIMES + " --out must be a new or empty folder.") from None
    if as_json:
        print_json(
            {
                "folder": str(done.folder),
                "first_seq": done.first_seq,
                "last_seq": done.last_seq,
                "rows": done.rows,
                "prev_hash": done.prev_hash,
                "head_hash": done.head_hash,
                "counts": done.counts,
                "manifest_sha256": done.manifest_sha256,
            }
        )
        return
    console().print(
        text(
            f"Exported audit rows seq {done.first_seq}..{done.last_seq} ({done.rows}) into {str(done.folder)!r}; "
            f"head hash {done.head_hash[:16]}, manifest sha256 {done.manifest_sha256[:16]}."
        )
    )
    console().print(text(f"Verify: python {done.folder / 'verify_evidence.py'} {done.folder}"))


def run_prune(
    settings: Settings,
    *,
    before: str,
    archive: str,
    args: str = "stored",
    force: bool = False,
    yes: bool = False,
    as_json: bool = False,
) -> None:
    """Archive the audit rows before `before` into `archive`, checkpoint the head, delete them."""
    from ..store.retention import PruneError, plan_prune, prune

    mode = _mode(args)
    with open_db(settings) as store:
        try:
            plan = plan_prune(store, before=before)
            if not yes:
                _show_plan(plan, archive, as_json=as_json)
                return
            report = prune(store, before=before, archive=archive, args=mode, force=force)
        except PruneError as exc:
            raise CLIError(str(exc), code=ExitCode.REFUSED, hint="Nothing was archived or deleted.") from None
        except ValueError as exc:
            raise usage_error(str(exc), _TIMES + " --archive must be a new or empty folder.") from None
    cut = report.cut
    if as_json:
        print_json(
            {
                "pruned": report.rows,
                "cut_seq": None if cut is None else cut.seq,
                "head_hash": None if cut is None else cut.head_hash,
                "archive": None if report.archive is None else str(report.archive),
                "archive_sha256": None if cut is None else cut.archive_sha256,
            }
        )
        return
    if cut is None or report.archive is None:
        console().print(text(f"Nothing to prune before {before}: the newest row always stays."))
        return
    console().print(
        text(
            f"Pruned audit rows up to seq {cut.seq} ({report.rows}) into {str(report.archive)!r}; "
            f"checkpoint head {cut.head_hash[:16]}. `langgraph-hitl audit --verify` now starts there."
        )
    )


def _show_plan(plan: object, archive: str, *, as_json: bool) -> None:
    from ..store.retention import PrunePlan

    assert isinstance(plan, PrunePlan)
    if as_json:
        print_json(
            {"dry_run": True, "first_seq": plan.first_seq, "cut_seq": plan.cut_seq, "rows": plan.rows,
             "open_threads": list(plan.open_threads)}
        )  # fmt: skip
        return
    blocked = (
        f" Threads still open in the range: {', '.join(plan.open_threads)}." if plan.open_threads else ""
    )
    console().print(
        text(
            f"Would archive audit rows seq {plan.first_seq}..{plan.cut_seq} ({plan.rows}) into {archive!r} "
            f"and delete them.{blocked} Run again with --yes to do it."
        )
    )


@app.command()
@command
def evidence(
    ctx: typer.Context,
    out: Annotated[str, typer.Option("--out", metavar="DIR", help="A new or empty folder to write into.")],
    since: SinceOption = None,
    until: UntilOption = None,
    args: ArgsModeOption = "digest",
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Export a period of the audit log as evidence: JSON Lines, receipts, a summary, a manifest of
    sha256 digests and a standalone verifier (python DIR/verify_evidence.py DIR)."""
    run_evidence(settings_of(ctx, db, None), out=out, since=since, until=until, args=args, as_json=as_json)


@app.command("audit-prune")
@command
def audit_prune(
    ctx: typer.Context,
    before: Annotated[
        str, typer.Option("--before", metavar="TIME", help="Prune rows before this ISO 8601 time.")
    ],
    archive: Annotated[
        str,
        typer.Option("--archive", metavar="DIR", help="A new or empty folder for the pruned rows' evidence."),
    ],
    args: ArgsModeOption = "stored",
    force: Annotated[
        bool, typer.Option("--force", help="Prune even while threads with rows in the range wait or run.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it; without --yes, only show what would go.")
    ] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Archive old audit rows (as `evidence` does), record a signed checkpoint of the chain head at
    the cut, and delete the rows; `audit --verify` then verifies from the checkpoint."""
    run_prune(
        settings_of(ctx, db, None),
        before=before,
        archive=archive,
        args=args,
        force=force,
        yes=yes,
        as_json=as_json,
    )
