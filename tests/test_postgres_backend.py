"""The Postgres backend against a real throwaway server: migrations, locks, transactions, errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langgraph_hitl.errors import CheckpointerError
from langgraph_hitl.store.postgres import PostgresBackend, redact_url, translate_placeholders
from langgraph_hitl.store.schema import POSTGRES_MIGRATIONS

from pgcluster import PostgresCluster

ROOT = Path(__file__).resolve().parent.parent

BackendFactory = Callable[[], PostgresBackend]


@pytest.fixture
def connect(pg_url: str) -> Iterator[BackendFactory]:
    """Open any number of backends on the test's database; all are closed afterwards."""
    opened: list[PostgresBackend] = []

    def factory() -> PostgresBackend:
        backend = PostgresBackend(pg_url)
        opened.append(backend)
        return backend

    yield factory
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(connect: BackendFactory) -> PostgresBackend:
    """One backend on a fresh, empty database."""
    return connect()


@pytest.fixture
def migrated(backend: PostgresBackend) -> PostgresBackend:
    """One backend on a fresh database with langgraph-hitl's tables."""
    backend.apply_migrations(POSTGRES_MIGRATIONS)
    return backend


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _insert_audit_row(backend: PostgresBackend, seq: int = 1) -> None:
    backend.execute(
        "INSERT INTO hitl_audit (seq, event_id, ts, event, actor, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, f"e{seq}", "2025-01-01T00:00:00Z", "proposed", "agent", "0" * 64, "1" * 64),
    )


def _count(backend: PostgresBackend, table: str) -> int:
    return int(backend.execute(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


# --- the cluster itself ---------------------------------------------------------------------


@pytest.mark.postgres
def test_cluster_serves_connections(pg_cluster: PostgresCluster, pg_url: str) -> None:
    """The session's cluster accepts connections on loopback, with the test settings applied."""
    with psycopg.connect(pg_cluster.dsn) as conn:
        settings = {
            name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]  # type: ignore[index]
            for name in ("listen_addresses", "fsync", "max_connections", "server_encoding")
        }
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "max_connections": "200",
        "server_encoding": "UTF8",
    }
    other = pg_cluster.create_database()
    assert other != pg_url
    for url in (pg_url, other):
        with psycopg.connect(url) as conn:
            tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
            assert tables == []


@pytest.mark.postgres
@pytest.mark.usefixtures("pg_cluster")
def test_cluster_stop_leaves_no_process(tmp_path: Path) -> None:
    """`stop()` ends and reaps the postmaster, frees the port and removes the dir it created."""
    cluster = PostgresCluster(tmp_path / "pg")
    with cluster:
        pid, port, data_dir = cluster.pid, cluster.port, cluster.data_dir
        assert cluster.running
        with psycopg.connect(cluster.dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not cluster.running
    assert pid is not None and not Path(f"/proc/{pid}").exists()
    with pytest.raises(psycopg.OperationalError, match="Connection refused|connection failed"):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2)
    assert (
        data_dir.parent == tmp_path / "pg" or not data_dir.parent.exists()
    )  # a mkdtemp dir (root) is removed


# --- migrations ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_migrations_apply_and_are_idempotent(backend: PostgresBackend) -> None:
    """Applying the migrations twice creates every table once and records each version once."""
    backend.apply_migrations(POSTGRES_MIGRATIONS)
    backend.apply_migrations(POSTGRES_MIGRATIONS)
    tables = {
        r["tablename"] for r in backend.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert {"hitl_requests", "hitl_request_approvers", "hitl_threads", "hitl_audit", "hitl_ledger"} <= tables
    versions = [
        r["version"] for r in backend.execute("SELECT version FROM hitl_schema_version ORDER BY version")
    ]
    assert versions == [v for v, _ in POSTGRES_MIGRATIONS]
    locks = backend.execute("SELECT COUNT(*) AS n FROM pg_locks WHERE locktype = 'advisory'")
    assert locks == [{"n": 0}]


_SETUP_SCRIPT = textwrap.dedent(
    """
    import sys
    from langgraph_hitl.store.postgres import PostgresBackend
    from langgraph_hitl.store.schema import POSTGRES_MIGRATIONS

    backend = PostgresBackend(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    backend.apply_migrations(POSTGRES_MIGRATIONS)
    backend.close()
    print("done", flush=True)
    """
)


@pytest.mark.postgres
def test_migrations_from_four_processes_at_once(pg_url: str, backend: PostgresBackend) -> None:
    """Four processes set up one empty database at the same moment; all succeed, each version lands once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SETUP_SCRIPT, pg_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for proc in procs:  # every process is connected before any starts migrating
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    outcomes = [(proc.returncode, out.strip(), err) for proc, (out, err) in zip(procs, results, strict=True)]
    assert outcomes == [(0, "done", "")] * 4
    versions = [
        r["version"] for r in backend.execute("SELECT version FROM hitl_schema_version ORDER BY version")
    ]
    assert versions == [v for v, _ in POSTGRES_MIGRATIONS]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE hitl_audit SET actor = 'mallory' WHERE seq = 1", "UPDATE"),
        ("DELETE FROM hitl_audit WHERE seq = 1", "DELETE"),
        ("TRUNCATE hitl_audit", "TRUNCATE"),
    ],
)
def test_audit_table_refuses_changes(migrated: PostgresBackend, statement: str, operation: str) -> None:
    """The append-only trigger refuses UPDATE, DELETE and TRUNCATE on `hitl_audit`; the row survives."""
    _insert_audit_row(migrated)
    with pytest.raises(
        psycopg.errors.RaiseException, match=f"hitl_audit is append-only: {operation} refused"
    ):
        migrated.execute(statement)
    assert migrated.execute("SELECT seq, actor FROM hitl_audit") == [{"seq": 1, "actor": "agent"}]


# --- statements and placeholders -----------------------------------------------------------


def test_translate_placeholders_leaves_quoted_text_alone() -> None:
    """`?` becomes `%s` only outside literals, identifiers, dollar quotes and comments; `%` is doubled."""
    sql = (
        "SELECT ?, 'a?b', E'it\\'s ?', 'x''?', \"we?rd\", $$ ? $$, $t$ ? $t$ -- why?\n"
        "/* or? */ FROM t WHERE c LIKE '5%' AND d = ?"
    )
    query, count = translate_placeholders(sql)
    assert count == 2
    assert query == (
        "SELECT %s, 'a?b', E'it\\'s ?', 'x''?', \"we?rd\", $$ ? $$, $t$ ? $t$ -- why?\n"
        "/* or? */ FROM t WHERE c LIKE '5%%' AND d = %s"
    )


def test_redact_url_hides_passwords() -> None:
    """Passwords in the userinfo and in `password=` parameters are replaced by `***`."""
    assert redact_url("postgresql://hitl:s3cret@db:5432/hitl") == "postgresql://hitl:***@db:5432/hitl"
    assert redact_url("postgres://db/hitl?user=a&password=s3cret") == "postgres://db/hitl?user=a&password=***"
    assert redact_url("host=db password='s 3' dbname=x") == "host=db password=*** dbname=x"
    assert redact_url("postgresql://hitl@db/hitl") == "postgresql://hitl@db/hitl"


@pytest.mark.postgres
def test_execute_translates_placeholders(backend: PostgresBackend) -> None:
    """`?` parameters bind in order; a `?` and a `%` inside literals reach the server untouched."""
    rows = backend.execute("SELECT ?::int + ?::int AS total, '?' AS mark, ? || '%' AS pct", (1, 2, "50"))
    assert rows == [{"total": 3, "mark": "?", "pct": "50%"}]
    assert backend.execute("SELECT '100%' AS raw") == [{"raw": "100%"}]


@pytest.mark.postgres
def test_parameters_bind_like_sqlite(backend: PostgresBackend) -> None:
    """An untyped NULL parameter works in `? IS NULL`, and a float parameter comes back a float, not a Decimal."""
    backend.execute("CREATE TABLE t (actor TEXT, at DOUBLE PRECISION)")
    backend.executemany("INSERT INTO t (actor, at) VALUES (?, ?)", [("ann", 1.5), ("bob", -2.25)])
    matching = "SELECT actor FROM t WHERE (? IS NULL OR actor = ?) ORDER BY actor"
    assert backend.execute(matching, (None, None)) == [{"actor": "ann"}, {"actor": "bob"}]
    assert backend.execute(matching, ("bob", "bob")) == [{"actor": "bob"}]
    assert backend.execute("SELECT ? AS x, ? AS y", (1732000000.123456, float("inf"))) == [
        {"x": 1732000000.123456, "y": float("inf")}
    ]
    assert backend.execute("SELECT actor FROM t WHERE at = ?", (-2.25,)) == [{"actor": "bob"}]


@pytest.mark.postgres
def test_execute_returns_no_rows_for_commands(backend: PostgresBackend) -> None:
    """Statements without a result set return an empty list; `executemany` inserts every row."""
    assert backend.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)") == []
    backend.executemany("INSERT INTO t (id, name) VALUES (?, ?)", [(1, "a"), (2, "b"), (3, "c")])
    assert backend.execute("UPDATE t SET name = ? WHERE id > ?", ("z", 1)) == []
    assert backend.execute("SELECT id, name FROM t ORDER BY id") == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "z"},
        {"id": 3, "name": "z"},
    ]


# --- transactions and locks ----------------------------------------------------------------


@pytest.mark.postgres
def test_transaction_rolls_back_on_error(backend: PostgresBackend) -> None:
    """An exception inside `transaction()` undoes its writes, and the connection stays usable."""
    backend.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with pytest.raises(ValueError, match="boom"), backend.transaction():
        backend.execute("INSERT INTO t (id) VALUES (?)", (1,))
        raise ValueError("boom")
    with pytest.raises(psycopg.errors.UniqueViolation, match="duplicate key"), backend.transaction():
        backend.execute("INSERT INTO t (id) VALUES (?)", (2,))
        backend.execute("INSERT INTO t (id) VALUES (?)", (2,))
    assert _count(backend, "t") == 0
    with backend.transaction():
        backend.execute("INSERT INTO t (id) VALUES (?)", (3,))
    assert backend.execute("SELECT id FROM t") == [{"id": 3}]
    assert not backend.in_transaction


@pytest.mark.postgres
def test_nested_transactions_join(connect: BackendFactory) -> None:
    """An inner `transaction()` joins the outer one: nothing is visible until, or kept unless, the outer commits."""
    writer, reader = connect(), connect()
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    with writer.transaction():
        with writer.transaction():
            writer.execute("INSERT INTO t (id) VALUES (?)", (1,))
        assert writer.in_transaction
        assert _count(reader, "t") == 0
    assert _count(reader, "t") == 1
    with pytest.raises(RuntimeError, match="outer fails"), writer.transaction():
        with writer.transaction():
            writer.execute("INSERT INTO t (id) VALUES (?)", (2,))
        raise RuntimeError("outer fails")
    assert reader.execute("SELECT id FROM t") == [{"id": 1}]


@pytest.mark.postgres
def test_threads_share_one_backend(backend: PostgresBackend) -> None:
    """Threads sharing one backend take turns: every transaction commits whole, none interleave."""
    backend.execute("CREATE TABLE t (worker INTEGER NOT NULL, n INTEGER NOT NULL)")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(25):
                with backend.transaction():
                    backend.execute("INSERT INTO t (worker, n) VALUES (?, ?)", (worker, n))
                    backend.execute("INSERT INTO t (worker, n) VALUES (?, ?)", (worker, -n))
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(backend, "t") == 8 * 25 * 2


@pytest.mark.postgres
def test_skip_locked_claims_disjoint_rows(connect: BackendFactory) -> None:
    """Two connections claiming with `skip_locked` get disjoint rows instead of waiting on each other."""
    first, second = connect(), connect()
    first.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY)")
    first.executemany("INSERT INTO jobs (id) VALUES (?)", [(i,) for i in range(10)])
    second.execute("SET lock_timeout = '5s'")  # a missing SKIP LOCKED fails fast instead of hanging
    claim = "SELECT id FROM jobs ORDER BY id LIMIT ?" + first.skip_locked
    with first.transaction():
        mine = [r["id"] for r in first.execute(claim, (5,))]
        with second.transaction():
            theirs = [r["id"] for r in second.execute(claim, (5,))]
    assert (mine, theirs) == ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])


@pytest.mark.postgres
def test_lock_audit_chain_serializes_transactions(connect: BackendFactory) -> None:
    """While one transaction holds the audit chain lock, another waits for it until the first commits."""
    holder, waiter, observer = connect(), connect(), connect()
    acquired = threading.Event()

    def append() -> None:
        with waiter.transaction():
            waiter.lock_audit_chain()
            acquired.set()

    thread = threading.Thread(target=append)
    with holder.transaction():
        holder.lock_audit_chain()
        thread.start()
        deadline = time.monotonic() + 10
        waiting: list[dict[str, Any]] = []
        while not waiting and time.monotonic() < deadline:
            waiting = observer.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            time.sleep(0.02)
        assert waiting, "the second transaction never queued for the lock"
        assert not acquired.is_set()
    assert acquired.wait(10)
    thread.join()


@pytest.mark.postgres
def test_lock_audit_chain_outside_transaction_raises(backend: PostgresBackend) -> None:
    """Taking the audit chain lock outside a transaction is refused: it would be released at once."""
    with pytest.raises(RuntimeError, match=r"inside backend\.transaction\(\)"):
        backend.lock_audit_chain()


@pytest.mark.postgres
def test_reconnects_after_the_server_drops_the_connection(connect: BackendFactory) -> None:
    """A connection the server dropped fails its statement once; the next statement gets a new connection."""
    backend, admin = connect(), connect()
    old_pid = backend.execute("SELECT pg_backend_pid() AS pid")[0]["pid"]
    admin.execute("SELECT pg_terminate_backend(?)", (old_pid,))
    with pytest.raises(psycopg.OperationalError, match="terminat|closed|lost"):
        backend.execute("SELECT 1")
    new_pid = backend.execute("SELECT pg_backend_pid() AS pid")[0]["pid"]
    assert new_pid != old_pid


# --- errors --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_unreachable_server_names_url_without_password() -> None:
    """A server that is not there gives CheckpointerError naming the URL with its password redacted."""
    url = f"postgresql://alice:s3cret-pw@127.0.0.1:{_free_port()}/hitl"
    with pytest.raises(
        CheckpointerError, match=r"Cannot connect to Postgres at 'postgresql://alice:\*\*\*@127"
    ) as info:
        PostgresBackend(url, connect_timeout=2)
    assert "s3cret-pw" not in str(info.value)
    assert "server is running" in str(info.value)


@pytest.mark.postgres
def test_missing_database_names_the_fix(pg_cluster: PostgresCluster) -> None:
    """A database that does not exist gives CheckpointerError with the server's reason and `createdb`."""
    url = f"postgresql://postgres:hunter2@127.0.0.1:{pg_cluster.port}/no_such_db"
    with pytest.raises(CheckpointerError, match=r'database "no_such_db" does not exist.*createdb') as info:
        PostgresBackend(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.postgres
def test_repr_hides_password(pg_cluster: PostgresCluster, pg_url: str) -> None:
    """A backend's repr names its URL with the password redacted (trust auth ignores the password)."""
    url = pg_url.replace("postgres@", "postgres:hunter2@")
    with PostgresBackend(url) as backend:
        assert repr(backend) == f"PostgresBackend({url.replace('hunter2', '***')!r})"
        assert backend.execute("SELECT 1 AS one") == [{"one": 1}]


def test_missing_psycopg_names_the_extra() -> None:
    """Without psycopg, opening the backend raises CheckpointerError with the pip command for the extra."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["psycopg"] = None  # as if it were not installed
        from langgraph_hitl.errors import CheckpointerError
        from langgraph_hitl.store.postgres import PostgresBackend
        try:
            PostgresBackend("postgresql://localhost/hitl")
        except CheckpointerError as exc:
            print(exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == 'PostgreSQL support needs psycopg: pip install "langgraph-hitl[postgres]"'


def test_link_nonces_one_winner_across_stores_and_purge(store_url: str) -> None:
    """`Store.nonces`: of many stores claiming one nonce at once exactly one wins; purge forgets
    only expired nonces."""
    import threading

    from langgraph_hitl.store import open_store

    stores = [open_store(store_url) for _ in range(4)]
    try:
        barrier, wins = threading.Barrier(len(stores)), []

        def claim(store: Any) -> None:
            barrier.wait()
            wins.append(store.nonces.claim_nonce("n-1", 2e9))

        threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(wins) == [False, False, False, True]
        assert stores[0].nonces.claim_nonce("old", 100.0)
        assert stores[1].nonces.purge(before=1000.0) == 1  # "old" expired; "n-1" kept
        assert not stores[2].nonces.claim_nonce("n-1", 2e9) and stores[3].nonces.claim_nonce("old", 100.0)
    finally:
        for s in stores:
            s.close()
