"""The Postgres backend: one psycopg connection, the same portable SQL as SQLite.

Only `open_store` imports this module, and only for a `postgresql://` URL, so psycopg is
needed only by those who use Postgres (`pip install "langgraph-hitl[postgres]"`).

Placeholders: store modules write `?`. This backend rewrites each `?` outside string
literals, quoted identifiers, dollar-quoted bodies and comments to psycopg's `%s`, and
doubles every `%` so it reaches the server unchanged. A `?` in any of those quoted places
is left alone. So `?` can never be Postgres's own jsonb `?` operator in our SQL: use
`jsonb_exists(doc, key)` instead. A statement run without parameters and without `?` is
sent exactly as written (no `%` handling), which is how the trigger bodies in the
migrations keep their `RAISE ... '%'` format.

Concurrency: the connection is in autocommit mode; `transaction()` opens `BEGIN ... COMMIT`
and holds a re-entrant lock, so threads sharing one backend take turns. Processes
coordinate through Postgres itself: row locks (`skip_locked`), a transaction-scoped
advisory lock for the audit chain, and a session advisory lock around migrations.

Example:
    ```python
    from langgraph_hitl.store import open_store

    with open_store("postgresql://hitl@db.internal:5432/hitl") as store:
        print(store.inbox.pending(limit=10))
    ```
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointerError
from ._db import Backend, Row
from .schema import POSTGRES_MIGRATIONS

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "AUDIT_CHAIN_LOCK_KEY",
    "INBOX_LOCK_KEY",
    "MIGRATIONS_LOCK_KEY",
    "PostgresBackend",
    "redact_url",
    "translate_placeholders",
]

MIGRATIONS_LOCK_KEY = 0x6C67_6869_746C_0001
"""`pg_advisory_lock` key held while migrations run ("lghitl" + 1), so concurrent `setup()` calls queue."""

AUDIT_CHAIN_LOCK_KEY = 0x6C67_6869_746C_0002
"""`pg_advisory_xact_lock` key that serializes appends to the audit hash chain ("lghitl" + 2)."""

INBOX_LOCK_KEY = 0x6C67_6869_746C_0003
"""`pg_advisory_xact_lock` key that serializes inbox indexing and its sequence numbers ("lghitl" + 3)."""

_INSTALL_HINT = 'PostgreSQL support needs psycopg: pip install "langgraph-hitl[postgres]"'

_TOKENS = re.compile(
    r"""
      (?P<quoted>
          (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*'       # E'...' with backslash escapes
        | '(?:[^']|'')*'                          # '...' (a doubled '' is a quote)
        | "(?:[^"]|"")*"                          # "quoted identifier"
        | (?<![\w$])\$(?P<tag>[A-Za-z_]\w*|)\$.*?\$(?P=tag)\$   # $tag$ ... $tag$
        | --[^\n]*                                # line comment
        | /\*.*?\*/                               # block comment
      )
    | (?P<placeholder>\?)
    | (?P<percent>%)
    """,
    re.VERBOSE | re.DOTALL,
)


@lru_cache(maxsize=1024)
def translate_placeholders(sql: str) -> tuple[str, int]:
    """Rewrite portable `?` placeholders as psycopg's `%s` and escape `%` as `%%`.

    Args:
        sql: One statement in the store modules' dialect.

    Returns:
        The psycopg query and the number of placeholders it has.

    Example:
        >>> translate_placeholders("SELECT ? AS a, '?%' AS b WHERE c LIKE 'x%' AND d = ?")
        ("SELECT %s AS a, '?%%' AS b WHERE c LIKE 'x%%' AND d = %s", 2)
    """
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group("placeholder"):
            count += 1
            return "%s"
        if match.group("percent"):
            return "%%"
        return match.group("quoted").replace("%", "%%")

    return _TOKENS.sub(replace, sql), count


_URL_PASSWORD = re.compile(r"(://[^:/@?#\s]*:)[^@/?#\s]*@")
_PARAM_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")


def redact_url(url: str) -> str:
    """The URL (or `key=value` DSN) with any password replaced by `***`.

    Example:
        >>> redact_url("postgresql://hitl:s3cret@db:5432/hitl?sslmode=require&password=x")
        'postgresql://hitl:***@db:5432/hitl?sslmode=require&password=***'
    """
    return _PARAM_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", url))


def _import_psycopg() -> Any:
    try:
        import psycopg
        import psycopg.rows
    except ImportError as exc:
        raise CheckpointerError(_INSTALL_HINT) from exc
    return psycopg


@lru_cache(maxsize=1)
def _float8_dumper() -> type:
    """A float dumper for client-side binding that writes `'1.5'::float8`, not a bare `1.5`.

    A bare literal is `numeric` to Postgres, so `SELECT ? AS x` would give back a Decimal
    where SQLite (and server-side binding) give a float.
    """
    from psycopg.types.numeric import FloatDumper

    class Float8Dumper(FloatDumper):
        def quote(self, obj: Any) -> bytes:
            value = bytes(super().quote(obj)).strip()
            return value if value.startswith((b"'", b"NULL")) else b"'" + value + b"'::float8"

    return Float8Dumper


class PostgresBackend(Backend):
    """One psycopg connection in autocommit mode with `dict_row` rows.

    `transaction()` issues `BEGIN ... COMMIT` through `conn.transaction()` (`ROLLBACK` when
    the block raises); nested calls join the outer transaction, as on SQLite. Unlike SQLite's
    `BEGIN IMMEDIATE`, a transaction here does not shut out other writers (READ COMMITTED):
    a read-then-write that must not race needs `INSERT ... ON CONFLICT`, a conditional
    `UPDATE ... RETURNING`, `skip_locked`, or an advisory lock such as `lock_audit_chain()`.

    Parameters are bound on the client (`psycopg.ClientCursor`), as SQLite binds them: a
    NULL parameter needs no type, so `WHERE (? IS NULL OR actor = ?)` works on both, and
    floats are sent as `float8`. It also keeps the backend usable behind PgBouncer, since
    no statement is prepared on the server.

    Args:
        url: `postgresql://user:password@host:port/dbname` (or `postgres://`), with any libpq
            parameters in the query string.
        connect_timeout: Seconds to wait for the server, unless the URL sets `connect_timeout`.
        application_name: Shown in `pg_stat_activity`, unless the URL sets it.

    Raises:
        CheckpointerError: psycopg is not installed, or the database cannot be reached; the
            message names the URL with its password redacted.
    """

    name = "postgres"
    migrations = POSTGRES_MIGRATIONS
    for_update = " FOR UPDATE"
    now_sql = "(extract(epoch FROM clock_timestamp())::double precision)"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 10,
        application_name: str = "langgraph-hitl",
    ) -> None:
        pg = _import_psycopg()
        self.url = url
        self.safe_url = redact_url(url)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            params: dict[str, Any] = pg.conninfo.conninfo_to_dict(url)
        except pg.ProgrammingError as exc:
            msg = (
                f"Invalid Postgres URL {self.safe_url!r}: {redact_url(str(exc))}. "
                "Use postgresql://user:password@host:5432/dbname."
            )
            raise CheckpointerError(msg) from exc
        params.setdefault("connect_timeout", max(1, round(connect_timeout)))
        params.setdefault("application_name", application_name)
        self._params = params
        self.conn: psycopg.Connection[Row] = self._connect()

    def clone(self) -> PostgresBackend:
        clone = PostgresBackend.__new__(PostgresBackend)
        clone.url, clone.safe_url, clone._params = self.url, self.safe_url, dict(self._params)
        clone._lock, clone._depth = threading.RLock(), 0
        clone.conn = clone._connect()
        return clone

    def _connect(self) -> psycopg.Connection[Row]:
        pg = _import_psycopg()
        try:
            conn: psycopg.Connection[Row] = pg.connect(
                autocommit=True, row_factory=pg.rows.dict_row, cursor_factory=pg.ClientCursor, **self._params
            )
        except pg.Error as exc:
            reason = " ".join(redact_url(str(exc)).split())
            password = str(self._params.get("password") or "")
            if password:
                reason = reason.replace(password, "***")
            msg = (
                f"Cannot connect to Postgres at {self.safe_url!r}: {reason}. "
                "Check that the server is running and reachable, that the database exists "
                "(createdb <name>), and the user and password; the URL has the form "
                "postgresql://user:password@host:5432/dbname."
            )
            raise CheckpointerError(msg) from exc
        conn.adapters.register_dumper(float, _float8_dumper())
        return conn

    def _live_conn(self) -> psycopg.Connection[Row]:
        """The connection, replaced first if the server dropped it between transactions.

        The statement that met the dropped connection has already raised; reconnecting only
        for the next one never replays anything.
        """
        if self.conn.broken and not self._depth:
            self.conn.close()
            self.conn = self._connect()
        return self.conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and return its rows as dicts (an empty list when it returns none)."""
        query, count = translate_placeholders(sql)
        with self._lock, self._live_conn().cursor() as cur:
            if count == 0 and not params:
                cur.execute(sql)
            else:
                cur.execute(query, tuple(params))
            if cur.description is None:
                return []
            return cur.fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        query, _count = translate_placeholders(sql)
        with self._lock, self._live_conn().cursor() as cur:
            cur.executemany(query, [tuple(r) for r in rows])

    def _outermost_transaction(self) -> Any:
        """psycopg's own transaction block: BEGIN, then COMMIT, or ROLLBACK on an exception."""
        return self._live_conn().transaction()

    def lock_audit_chain(self) -> None:
        """Take the audit chain's advisory lock until the current transaction ends.

        Raises:
            RuntimeError: Called outside `transaction()`, where the lock would be released at once.
        """
        if not self._depth:
            msg = "lock_audit_chain() must be called inside backend.transaction(); outside it the lock ends at once."
            raise RuntimeError(msg)
        self.execute(f"SELECT pg_advisory_xact_lock({AUDIT_CHAIN_LOCK_KEY})")

    def lock_inbox(self) -> None:
        """Take the inbox's advisory lock until the current transaction ends (sequence numbers)."""
        if not self._depth:
            msg = (
                "lock_inbox() must be called inside backend.transaction(); outside it the lock ends at once."
            )
            raise RuntimeError(msg)
        self.execute(f"SELECT pg_advisory_xact_lock({INBOX_LOCK_KEY})")

    def apply_migrations(self, migrations: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Apply pending migrations while holding a session advisory lock.

        Several processes may call `setup()` at once: the lock makes them take turns, and
        each one after the first finds nothing left to do. Without it, two concurrent
        `CREATE TABLE IF NOT EXISTS` can both try to create the table and one fails.
        """
        pg = _import_psycopg()
        self.execute(f"SELECT pg_advisory_lock({MIGRATIONS_LOCK_KEY})")
        try:
            super().apply_migrations(migrations)
        finally:
            # A broken connection drops its session locks anyway; keep the original error.
            with contextlib.suppress(pg.Error):
                self.execute(f"SELECT pg_advisory_unlock({MIGRATIONS_LOCK_KEY})")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self.conn.close()

    def __enter__(self) -> PostgresBackend:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresBackend({self.safe_url!r})"
