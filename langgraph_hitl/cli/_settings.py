"""Where the database and the graph come from: options, environment, `langgraph-hitl.toml`.

Graphs are named the way `langgraph.json` names them: `path/to/file.py:attribute` (or
`package.module:attribute`). The attribute may be a `StateGraph` builder, a compiled graph,
or a function without arguments that returns either.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HITLError
from ._errors import CLIError, ExitCode

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_DB",
    "ENV_DB",
    "ENV_GRAPH",
    "ENV_WEBHOOK_SECRET",
    "ENV_WEBHOOK_URL",
    "Settings",
    "graph_from_spec",
    "resolve_settings",
]

DEFAULT_DB = "sqlite:///hitl.db"
"""The database when nothing else names one."""
ENV_DB = "LANGGRAPH_HITL_DB"
"""Environment variable naming the database."""
ENV_GRAPH = "LANGGRAPH_HITL_GRAPH"
"""Environment variable naming the graph."""
ENV_WEBHOOK_URL = "LANGGRAPH_HITL_WEBHOOK_URL"
"""Environment variable naming the webhook that announces requests and decisions."""
ENV_WEBHOOK_SECRET = "LANGGRAPH_HITL_WEBHOOK_SECRET"
"""Environment variable holding the webhook's signing secret."""
CONFIG_FILE = "langgraph-hitl.toml"
"""Read from the current directory: top-level keys `db`, `graph`, `audit_key_file`, `webhook_url`
and `webhook_secret_file`."""
_CONFIG_KEYS = ("db", "graph", "audit_key_file", "webhook_url", "webhook_secret_file")

_GRAPH_HINT = "Name a graph as path/to/file.py:attribute, the way langgraph.json does."
_SCHEMES = ("sqlite:", "postgresql:", "postgres:")


@dataclass(frozen=True)
class Settings:
    """The resolved global options of one invocation."""

    db: str
    """The database URL."""
    graph: str | None
    """The graph spec, None when nothing names one."""
    debug: bool = False
    """Print tracebacks."""
    audit_key: bytes | None = None
    """The audit log's HMAC key: `LANGGRAPH_HITL_AUDIT_KEY`, the file `LANGGRAPH_HITL_AUDIT_KEY_FILE`
    names, or the file `audit_key_file` in the config file names (in that order)."""
    webhook_url: str | None = None
    """Where a `WebhookNotifier` posts: `--webhook-url`, `LANGGRAPH_HITL_WEBHOOK_URL` or `webhook_url`."""
    webhook_secret: str | None = None
    """Its signing secret: `--webhook-secret` or `LANGGRAPH_HITL_WEBHOOK_SECRET`."""
    webhook_secret_file: Path | None = None
    """The file holding the secret (`webhook_secret_file` in the config file), read only when needed."""

    def require_webhook_secret(self) -> str:
        """The webhook's secret, or a usage error saying where to put it.

        Raises:
            CLIError: No secret is given, or its file cannot be read or is empty.
        """
        if self.webhook_secret:
            return self.webhook_secret
        if self.webhook_secret_file is not None:
            return _read_secret(self.webhook_secret_file)
        msg = f"A webhook URL is set ({_redacted(self.webhook_url or '')}) but no secret to sign its posts with."
        hint = (
            f'Pass --webhook-secret, set {ENV_WEBHOOK_SECRET}, or add webhook_secret_file = "path" to '
            f"{CONFIG_FILE}; or drop the URL."
        )
        raise CLIError(msg, code=ExitCode.USAGE, hint=hint)

    def require_graph(self, command: str) -> str:
        """The graph spec, or a usage error saying how to give one."""
        if not self.graph:
            msg = f"`{command}` resumes the paused graph, so it needs the graph: no --graph given."
            hint = f"Pass --graph path/to/file.py:builder, or set {ENV_GRAPH}, or add graph = ... to {CONFIG_FILE}."
            raise CLIError(msg, code=ExitCode.USAGE, hint=hint)
        return self.graph

    def require_database(self) -> str:
        """The database URL, after checking that a SQLite file exists (the CLI never creates one)."""
        from .._sqlite import database_kind, sqlite_path_from_url

        if database_kind(self.db) == "sqlite":
            path = sqlite_path_from_url(self.db)
            if path != ":memory:" and not Path(path).expanduser().is_file():
                msg = f"No database at {str(Path(path).expanduser().resolve())!r} (from {self.db!r})."
                hint = f"Run from your project's folder, or pass --db / set {ENV_DB} (e.g. sqlite:///path/hitl.db)."
                raise CLIError(msg, code=ExitCode.DATABASE, hint=hint)
        return self.db


def normalize_db(value: str) -> str:
    """A database URL; a bare file path means a SQLite file."""
    value = value.strip()
    if value.startswith(_SCHEMES):
        return value
    if "://" in value:
        msg = f"Unsupported database URL {value!r}."
        hint = "Use sqlite:///path/hitl.db, postgresql://user@host/db, or a path to a SQLite file."
        raise CLIError(msg, code=ExitCode.USAGE, hint=hint)
    return f"sqlite:///{value}"


def resolve_settings(
    db: str | None,
    graph: str | None,
    *,
    debug: bool = False,
    cwd: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> Settings:
    """Combine options, environment and the config file, in that order of precedence.

    Args:
        db: The `--db` option, if given.
        graph: The `--graph` option, if given.
        debug: The `--debug` flag.
        cwd: Where to look for `langgraph-hitl.toml` (the current directory by default).
        webhook_url: The `--webhook-url` option, if given.
        webhook_secret: The `--webhook-secret` option, if given.

    Raises:
        CLIError: The config file cannot be read, or a database URL is unsupported.
    """
    from ..store import audit_key_from, audit_key_from_env

    db = db or os.environ.get(ENV_DB) or None
    graph = graph or os.environ.get(ENV_GRAPH) or None
    config_path = (cwd or Path.cwd()) / CONFIG_FILE
    config = read_config(config_path)
    db = db or config.get("db")
    graph = graph or config.get("graph")
    try:
        key = audit_key_from_env()
        if key is None and config.get("audit_key_file"):
            key_path = Path(config["audit_key_file"]).expanduser()
            if not key_path.is_absolute():
                key_path = config_path.parent / key_path
            key = audit_key_from(key_path, source=f"audit_key_file in {config_path}")
    except HITLError as exc:
        raise CLIError(
            str(exc), code=ExitCode.USAGE, hint="Fix the path, or unset it to use no key."
        ) from None
    secret_file = None
    if config.get("webhook_secret_file"):
        secret_file = Path(config["webhook_secret_file"]).expanduser()
        secret_file = secret_file if secret_file.is_absolute() else config_path.parent / secret_file
    return Settings(
        db=normalize_db(db or DEFAULT_DB),
        graph=graph,
        debug=debug,
        audit_key=key,
        webhook_url=webhook_url or os.environ.get(ENV_WEBHOOK_URL) or config.get("webhook_url") or None,
        webhook_secret=webhook_secret or os.environ.get(ENV_WEBHOOK_SECRET) or None,
        webhook_secret_file=secret_file,
    )


def _redacted(url: str) -> str:
    """Scheme and host only: a webhook URL (Slack's in particular) may embed its own secret."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.scheme and parts.netloc else repr(url[:40])


def _read_secret(path: Path) -> str:
    """The first line of a secret file (a mounted secret)."""
    source = f"webhook_secret_file in {CONFIG_FILE}"
    hint = "Fix the path, or pass --webhook-secret / set LANGGRAPH_HITL_WEBHOOK_SECRET instead."
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"Cannot read the webhook secret file {str(path)!r} (from {source}): {getattr(exc, 'strerror', None) or exc}."
        raise CLIError(msg, code=ExitCode.USAGE, hint=hint) from None
    if not secret:
        msg = f"The webhook secret file {str(path)!r} (from {source}) is empty."
        raise CLIError(msg, code=ExitCode.USAGE, hint="Put the secret on its first line.")
    return secret


def read_config(path: Path) -> dict[str, str]:
    """The settings in a config file (`db`, `graph`, `audit_key_file`, `webhook_url`,
    `webhook_secret_file`); empty when the file does not exist.

    Raises:
        CLIError: The file is not valid TOML, or a key is not text.
    """
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        data = _parse_toml(text)
    except ValueError as exc:
        msg = f"Cannot read {path}: {exc}"
        raise CLIError(msg, code=ExitCode.USAGE, hint='Write it as TOML: db = "sqlite:///hitl.db"') from None
    out: dict[str, str] = {}
    if "webhook_secret" in data:
        msg = f"{path}: webhook_secret is not read from the config file; a secret does not belong in it."
        hint = 'Put it in a file and name it: webhook_secret_file = "/run/secrets/hitl_webhook".'
        raise CLIError(msg, code=ExitCode.USAGE, hint=hint)
    for key in _CONFIG_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            msg = f"{path}: {key} must be text, got {value!r}."
            raise CLIError(msg, code=ExitCode.USAGE, hint=f'Quote it: {key} = "..."')
        out[key] = value
    return out


def _parse_toml(text: str) -> dict[str, Any]:
    for name in ("tomllib", "tomli"):  # tomllib from Python 3.11; tomli is its 3.10 backport
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        try:
            return dict(module.loads(text))
        except module.TOMLDecodeError as exc:
            raise ValueError(str(exc)) from None
    return _parse_flat_toml(text)


_LINE = re.compile(r"""^\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')\s*(?:#.*)?$""")


def _parse_flat_toml(text: str) -> dict[str, Any]:
    """Top-level `key = "text"` lines only: enough for this file when neither tomllib nor tomli exists."""
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("["):
            break  # tables hold no top-level keys
        match = _LINE.match(line)
        if match is None:
            msg = f'line {number}: expected key = "text" (install tomli for full TOML on Python 3.10)'
            raise ValueError(msg)
        key, double, single = match.groups()
        out[key] = single if double is None else double.encode("utf-8").decode("unicode_escape")
    return out


def graph_from_spec(spec: str) -> Any:
    """Import the graph named by `spec` (see `langgraph_hitl.graphspec.load_graph`).

    Raises:
        CLIError: The file, module or attribute is missing, or it is not a graph (a usage error).
    """
    from ..graphspec import GraphSpecError
    from ..graphspec import load_graph as _load

    try:
        return _load(spec)
    except GraphSpecError as exc:
        raise CLIError(str(exc), code=ExitCode.USAGE, hint=exc.hint) from None
