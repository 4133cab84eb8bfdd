"""Shared fixtures: real SQLite files in a temp dir, a real throwaway Postgres cluster, a fake clock."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip locally when a server or browser is missing; under CI=true that is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this test may not skip)")
    pytest.skip(reason)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite URL for a fresh database file in the test's temp dir."""
    return f"sqlite:///{tmp_path / 'hitl.db'}"


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A throwaway PostgreSQL cluster on a free loopback port, for the whole session."""
    from pgcluster import PostgresCluster, find_postgres_bin

    if find_postgres_bin() is None:
        skip_or_fail(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"
        )
    cluster = PostgresCluster(tmp_path_factory.mktemp("pg"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: object) -> str:
    """A fresh, empty Postgres database on the session's cluster."""
    return pg_cluster.create_database()  # type: ignore[attr-defined, no-any-return]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store test on an embedded SQLite file and on a real Postgres database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hitl.db'}"
    return request.getfixturevalue("pg_url")  # type: ignore[no-any-return]


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a module written against `Approvals` on both runners: `async` patches the module's
    `Approvals` with `flavours.BlockingAsyncApprovals` (the real `AsyncApprovals`, awaited on a
    loop in a background thread). Use it with `pytestmark = pytest.mark.usefixtures("flavour")`."""
    if request.param == "async":
        from flavours import BlockingAsyncApprovals

        monkeypatch.setattr(request.module, "Approvals", BlockingAsyncApprovals)
    return str(request.param)
