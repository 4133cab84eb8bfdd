"""`open_checkpointer` / `aopen_checkpointer`: set up on open, SQLite pragmas, clear errors, a Postgres pool."""

from __future__ import annotations

import asyncio
import operator
import os
import socket
import threading
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from langgraph_hitl import CheckpointerError, aopen_checkpointer, open_checkpointer

PG_TABLES = {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"}


class Counter(TypedDict):
    steps: Annotated[list[str], operator.add]


def counter_graph() -> StateGraph[Any, Any, Any, Any]:
    """One node that appends to a list: enough to see a checkpoint written and read back."""
    builder = StateGraph(Counter)
    builder.add_node("step", lambda state: {"steps": ["x"]})
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    return builder


def config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sqlite_tables(conn: Any) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}


def pg_tables(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nothing has touched yet: a new SQLite file, or a new empty Postgres database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("pg_url")  # type: ignore[no-any-return]


def test_open_checkpointer_fresh_database_works_without_setup(fresh_url: str) -> None:
    """A fresh database is set up on open: a graph runs, and a second open reads its checkpoint."""
    with open_checkpointer(fresh_url) as saver:
        graph = counter_graph().compile(checkpointer=saver)
        assert graph.invoke({"steps": []}, config("t1"))["steps"] == ["x"]
    with open_checkpointer(fresh_url) as saver:
        graph = counter_graph().compile(checkpointer=saver)
        assert graph.get_state(config("t1")).values["steps"] == ["x"]
        assert graph.invoke({"steps": []}, config("t1"))["steps"] == ["x", "x"]
    if fresh_url.startswith("postgresql"):
        assert PG_TABLES <= pg_tables(fresh_url)


def test_aopen_checkpointer_fresh_database_works_without_setup(fresh_url: str) -> None:
    """The async twin sets up on open too, and yields an async saver the graph awaits."""

    async def scenario() -> None:
        async with aopen_checkpointer(fresh_url) as saver:
            assert type(saver).__name__ in ("AsyncSqliteSaver", "AsyncPostgresSaver")
            graph = counter_graph().compile(checkpointer=saver)
            assert (await graph.ainvoke({"steps": []}, config("t1")))["steps"] == ["x"]
        async with aopen_checkpointer(fresh_url) as saver:
            graph = counter_graph().compile(checkpointer=saver)
            assert (await graph.aget_state(config("t1"))).values["steps"] == ["x"]

    asyncio.run(scenario())
    if fresh_url.startswith("postgresql"):
        assert PG_TABLES <= pg_tables(fresh_url)


def test_open_checkpointer_sqlite_wal_and_busy_timeout(tmp_path: Path) -> None:
    """The sync SQLite saver's own connection runs in WAL mode with a 30 s busy timeout."""
    with open_checkpointer(f"sqlite:///{tmp_path / 'hitl.db'}") as saver:
        assert type(saver).__name__ == "SqliteSaver"
        assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert saver.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        assert {"checkpoints", "writes"} <= sqlite_tables(saver.conn)


def test_aopen_checkpointer_sqlite_wal_and_busy_timeout(tmp_path: Path) -> None:
    """The async SQLite saver's aiosqlite connection runs in WAL mode with a 30 s busy timeout."""

    async def pragma(saver: Any, name: str) -> Any:
        async with saver.conn.execute(f"PRAGMA {name}") as cur:
            return (await cur.fetchone())[0]

    async def scenario() -> None:
        async with aopen_checkpointer(f"sqlite:///{tmp_path / 'hitl.db'}") as saver:
            assert await pragma(saver, "journal_mode") == "wal"
            assert await pragma(saver, "busy_timeout") == 30_000

    asyncio.run(scenario())


@pytest.mark.parametrize("url", ["mysql://hitl:s3cret@127.0.0.1/hitl", "hitl.db", "", "redis://127.0.0.1"])
def test_open_checkpointer_unsupported_url(url: str) -> None:
    """An unsupported URL is refused with both supported forms named, and no password shown."""
    with pytest.raises(CheckpointerError, match=r"sqlite:///path\.db.*postgresql://") as info:
        with open_checkpointer(url):
            pass
    assert "s3cret" not in str(info.value)
    with pytest.raises(CheckpointerError, match=r"sqlite:///path\.db.*postgresql://"):
        asyncio.run(_aenter(url))


async def _aenter(url: str) -> None:
    async with aopen_checkpointer(url):
        pass


def test_open_checkpointer_missing_folder(tmp_path: Path) -> None:
    """A SQLite path in a folder that does not exist is refused, naming the folder and the fix."""
    url = f"sqlite:///{tmp_path / 'nope' / 'hitl.db'}"
    with pytest.raises(CheckpointerError, match=r"folder '.*nope' does not exist\. Create it"):
        with open_checkpointer(url):
            pass
    with pytest.raises(CheckpointerError, match=r"folder '.*nope' does not exist"):
        asyncio.run(_aenter(url))
    assert not (tmp_path / "nope").exists()


def test_open_checkpointer_path_under_a_file(tmp_path: Path) -> None:
    """A SQLite path below a regular file (no folder can be there) is refused before SQLite runs."""
    (tmp_path / "plain.txt").write_text("not a folder")
    with pytest.raises(CheckpointerError, match="does not exist"):
        with open_checkpointer(f"sqlite:///{tmp_path / 'plain.txt' / 'hitl.db'}"):
            pass


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    # root may write anywhere except on a read-only mount; /proc/sys is one in most containers
    if os.path.isdir("/proc/sys") and not os.access("/proc/sys", os.W_OK):
        return Path("/proc/sys")
    pytest.skip("running as root with no read-only folder available: root can write to any folder")


def test_open_checkpointer_unwritable_folder(tmp_path: Path) -> None:
    """A SQLite path in a folder this process may not write to is refused with the reason."""
    folder = _unwritable_folder(tmp_path)
    url = f"sqlite:///{folder / 'hitl.db'}"
    with pytest.raises(CheckpointerError, match="is not writable. Choose a writable path"):
        with open_checkpointer(url):
            pass
    with pytest.raises(CheckpointerError, match="is not writable"):
        asyncio.run(_aenter(url))


def test_open_checkpointer_unreachable_postgres_redacts_password() -> None:
    """A Postgres nobody listens on is a CheckpointerError naming the server, with the password hidden."""
    url = f"postgresql://hitl:s3cret@127.0.0.1:{free_port()}/hitl"
    with pytest.raises(
        CheckpointerError, match=r"Cannot connect to 'postgresql://hitl:\*\*\*@127\.0\.0\.1"
    ) as info:
        with open_checkpointer(url):
            pass
    assert "s3cret" not in str(info.value)
    with pytest.raises(CheckpointerError, match=r"Cannot connect to 'postgresql://hitl:\*\*\*@") as ainfo:
        asyncio.run(_aenter(url))
    assert "s3cret" not in str(ainfo.value)


def test_open_checkpointer_redacts_password_in_query_string() -> None:
    """A password given as a URL parameter is hidden in the error message too."""
    url = f"postgresql://hitl@127.0.0.1:{free_port()}/hitl?password=s3cret"
    with pytest.raises(CheckpointerError) as info:
        with open_checkpointer(url):
            pass
    assert "s3cret" not in str(info.value)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "size",
    [
        4,
        8,
        2,
    ],
)
def test_open_checkpointer_pool_size_serves_concurrent_threads(pg_url: str, size: int) -> None:
    """pool_size= gives a connection pool of that size; eight threads run graphs through it at once."""
    from psycopg_pool import ConnectionPool

    with open_checkpointer(pg_url, pool_size=size) as saver:
        assert isinstance(saver.conn, ConnectionPool) and saver.conn.max_size == size
        graph = counter_graph().compile(checkpointer=saver)
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def run(n: int) -> None:
            try:
                barrier.wait(timeout=60)
                for _ in range(3):
                    graph.invoke({"steps": []}, config(f"t{n}"))
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert [graph.get_state(config(f"t{n}")).values["steps"] for n in range(8)] == [["x"] * 3] * 8
    assert saver.conn.closed  # the pool is closed on exit
    assert PG_TABLES <= pg_tables(pg_url)


@pytest.mark.parametrize(
    "url",
    ["postgres:db", "postgresql:/db", "mysql://u:s3cret@h/db", "", "SQLITE:///x.db", " sqlite:///x.db"],
)
def test_one_reading_of_database_urls_for_checkpoints_store_and_cli(url: str) -> None:
    """The checkpointer, the store and the CLI read a URL's scheme in one place
    (`_sqlite.database_kind`): what one refuses the others refuse, naming the forms allowed and
    never echoing a password (0.1's store took `postgres:db`, which its checkpointer refused)."""
    from langgraph_hitl.cli._settings import Settings
    from langgraph_hitl.store import open_store

    for door in (
        lambda: open_checkpointer(url).__enter__(),
        lambda: open_store(url),
        lambda: Settings(db=url, graph=None).require_database(),
    ):
        with pytest.raises(CheckpointerError, match=r"sqlite:///path\.db.*postgresql://") as info:
            door()
        assert "s3cret" not in str(info.value)
