"""A throwaway PostgreSQL cluster for the test session: `initdb` into a temp dir, `pg_ctl start`.

The cluster listens on 127.0.0.1 only, on a free port, with durability switched off
(`fsync=off`): it is fast to start and gone when the session ends. Each test gets its own
database from `create_database()`.

`initdb` and `postgres` refuse to run as root. When the tests run as root (CI containers,
this machine), they run as the `postgres` system user (created by Debian's `postgresql`
package): `subprocess` switches user and group in the child before `exec`, as `runuser`
would, in a directory under /tmp that user owns; pytest's own temp dirs are 0700 root and
that user could not enter them.

Example:
    ```python
    with PostgresCluster(tmp_path) as cluster:
        url = cluster.create_database()  # postgresql://postgres@127.0.0.1:54321/hitl_1_...
    ```
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PostgresCluster", "find_postgres_bin"]

SUPERUSER = "postgres"
"""The cluster's superuser role (`initdb -U`); trust auth, so no password."""

_SERVICE_ACCOUNT = "postgres"
"""The system user that runs the server when the tests run as root."""

_MAX_SOCKET_DIR = 90
"""Unix socket paths are limited to ~107 bytes; past this a short dir under /tmp is used."""


def find_postgres_bin() -> Path | None:
    """The folder holding `initdb` and `pg_ctl`: from PATH first, then the newest `/usr/lib/postgresql/*/bin`.

    Returns:
        The folder, or None when no PostgreSQL server binaries are installed.
    """
    on_path = shutil.which("initdb")
    if on_path:
        folder = Path(on_path).resolve().parent
        if _is_exe(folder / "pg_ctl"):
            return folder
    candidates = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        version = tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))
        if _is_exe(folder / "initdb") and _is_exe(folder / "pg_ctl"):
            candidates.append((version, folder))
    if not candidates:
        return None
    return max(candidates)[1]


def _is_exe(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _shutdown(
    proc: subprocess.Popen[bytes],
    pg_ctl: list[str],
    as_account: dict[str, Any],
    cwd: Path,
    owned_dir: Path | None,
    log_copy: Path | None,
) -> None:
    """Stop the server immediately, reap the postmaster, remove the dir we created.

    A module function (not a method) so `weakref.finalize` can also run it at interpreter exit.
    """
    if proc.poll() is None:
        subprocess.run(
            pg_ctl, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, **as_account
        )
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if log_copy is not None:
        with contextlib.suppress(OSError):
            shutil.copyfile(cwd / "postgres.log", log_copy)
    if owned_dir is not None:
        shutil.rmtree(owned_dir, ignore_errors=True)


class PostgresCluster:
    """One PostgreSQL server on 127.0.0.1 and a free port, for tests; a context manager.

    The postmaster is this process's own child (`postgres -D data`, not daemonized by
    `pg_ctl start`), so `stop()` can reap it and nothing outlives the session, not even a
    zombie under an init that does not reap orphans.

    Args:
        base_dir: A fresh folder for the cluster (pytest's `tmp_path_factory.mktemp("pg")`).
            As root, the data lives in a `tempfile.mkdtemp()` dir owned by `postgres` instead,
            and the server log is copied here on `stop()`.
        start_timeout: Seconds to wait for the server to accept connections.
    """

    def __init__(self, base_dir: Path, *, start_timeout: float = 60.0) -> None:
        self.base_dir = Path(base_dir)
        self.start_timeout = start_timeout
        self.port = 0
        self.user = SUPERUSER
        self.start_seconds = 0.0
        """How long `start()` took: initdb, server start, first connection."""
        self._bin: Path | None = None
        self._work_dir: Path | None = None
        self._owned_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[..., PostgresCluster] | None = None
        self._counter = 0

    @property
    def running(self) -> bool:
        """True while the server process runs."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The postmaster's process id (None before `start()`)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (`PGDATA`)."""
        return self._require_work_dir() / "data"

    @property
    def log_path(self) -> Path:
        """The server log."""
        return self._require_work_dir() / "postgres.log"

    @property
    def dsn(self) -> str:
        """A URL for the admin database `postgres` (superuser, trust auth)."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        """A `postgresql://` URL for database `dbname` on this cluster."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        """Run `initdb`, start the server on a free loopback port and wait until it accepts connections.

        Raises:
            RuntimeError: No server binaries, no `postgres` account to drop root to, or the server
                did not start (the message carries the tail of the server log).
        """
        if self.running:
            return
        began = time.monotonic()
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            msg = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
            raise RuntimeError(msg)
        self._bin = bin_dir
        self._prepare_dirs()
        try:
            self._initdb(bin_dir)
            self._launch(bin_dir, deadline=began + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop the server at once (`pg_ctl stop -m immediate`), reap it, remove the dir this class made.

        Safe to call twice; also runs at interpreter exit if the caller forgot.
        """
        if self._finalizer is not None:
            self._finalizer()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)

    def create_database(self) -> str:
        """Create a fresh, empty database and return its URL.

        Returns:
            `postgresql://postgres@127.0.0.1:<port>/<fresh name>`.
        """
        import psycopg
        from psycopg import sql

        self._counter += 1
        name = f"hitl_{self._counter}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            # FILE_COPY (PostgreSQL 15+) copies the tiny template faster than the WAL_LOG default.
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(sql.SQL("CREATE DATABASE {}" + strategy).format(sql.Identifier(name)))
        return self.url_for(name)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _require_work_dir(self) -> Path:
        if self._work_dir is None:
            msg = "The cluster has not been started: call start() first."
            raise RuntimeError(msg)
        return self._work_dir

    def _account(self) -> pwd.struct_passwd | None:
        """The account the server runs as: `postgres` when we are root, else None (ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(_SERVICE_ACCOUNT)
        except KeyError:
            msg = (
                f"Running as root, so PostgreSQL must run as the {_SERVICE_ACCOUNT!r} system user, "
                "which does not exist: apt-get install postgresql creates it."
            )
            raise RuntimeError(msg) from None

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        account = self._account()
        if account is not None or len(str(self.base_dir / "sock")) > _MAX_SOCKET_DIR:
            # /tmp is world-traversable; pytest's basetemp (0700 root) is not.
            self._owned_dir = Path(tempfile.mkdtemp(prefix="lghitl-pg-"))
            self._work_dir = self._owned_dir
        else:
            self._work_dir = self.base_dir
        (self._work_dir / "sock").mkdir(exist_ok=True)
        if account is not None:
            for folder, _dirs, files in os.walk(self._work_dir):
                os.chown(folder, account.pw_uid, account.pw_gid)
                for name in files:
                    os.chown(os.path.join(folder, name), account.pw_uid, account.pw_gid)

    def _as_account(self) -> dict[str, Any]:
        """`subprocess` arguments that run a child as the server account (setuid after fork)."""
        account = self._account()
        if account is None:
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _initdb(self, bin_dir: Path) -> None:
        argv = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", self.user]
        argv += ["-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        result = subprocess.run(
            argv,
            cwd=self._require_work_dir(),
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=self.start_timeout,
            check=False,
            **self._as_account(),
        )
        if result.returncode != 0:
            msg = f"initdb failed (exit {result.returncode}): {result.stdout}"
            raise RuntimeError(msg)

    def _launch(self, bin_dir: Path, *, deadline: float) -> None:
        work = self._require_work_dir()
        pg_ctl = [str(bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"]
        as_account = self._as_account()
        for attempt in range(3):
            self.port = _free_port()
            with open(self.log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [
                        str(bin_dir / "postgres"),
                        "-D",
                        str(self.data_dir),
                        "-c",
                        "listen_addresses=127.0.0.1",
                        "-p",
                        str(self.port),
                        "-c",
                        f"unix_socket_directories={work / 'sock'}",
                        "-c",
                        "max_connections=200",
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ],
                    cwd=work,
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    **as_account,
                )
            log_copy = self.base_dir / "postgres.log" if self._owned_dir is not None else None
            self._finalizer = weakref.finalize(
                self, _shutdown, self._proc, pg_ctl, as_account, work, self._owned_dir, log_copy
            )
            if self._wait_ready(deadline):
                return
            self._finalizer.detach()
            _shutdown(self._proc, pg_ctl, as_account, work, None, None)
            if attempt < 2 and "already in use" in self._log_tail():
                continue  # another process took the port between our probe and the server's bind
            break
        msg = f"PostgreSQL did not start on 127.0.0.1:{self.port}:\n{self._log_tail()}"
        raise RuntimeError(msg)

    def _wait_ready(self, deadline: float) -> bool:
        """Poll with real connections until one works; False if the server exits or time runs out."""
        import psycopg

        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"
