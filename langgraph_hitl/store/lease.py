"""Leases: who is driving a claim, a thread or a handler right now, timed by the database's clock.

A runner that claims a request (`deciding`), marks a thread `in_flight`, or begins an action's
handler (`started` in the ledger) writes its *owner* and `lease_until` on the row. While the
work lasts, one heartbeat thread per process pushes `lease_until` forward every `ttl / 3`
seconds. `recover()` and `Ledger.begin()` take over a row only when its lease is over:

- its owner runs on this machine (same kernel boot, same PID namespace), where liveness is
  known exactly: the owner is this process's own finished work, or a process that no longer
  exists (or is a different process now). A live local owner keeps its lease even if its
  heartbeat is starved of CPU;
- its owner runs elsewhere and `lease_until` has passed **by the database's clock** (never a
  host's: a host whose clock runs ahead cannot take over a live lease).

So a handler slower than any timeout is never run a second time while it runs, and the work
of a killed process is picked up at once on its own machine and within `ttl` elsewhere.
A process that hangs holds its lease; stop it and the lease ends.

Example:
    ```python
    with hold(store.backend, ttl=30.0) as owner:
        inbox.claim(...)   # rows written now carry `owner` and stay leased while the block runs
    ```
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._db import Backend

__all__ = ["DEFAULT_TTL", "current_owner", "current_ttl", "expired", "hold", "is_gone", "new_owner", "renew"]

log = logging.getLogger("langgraph_hitl")

DEFAULT_TTL = 30.0
"""Seconds a lease lasts without a heartbeat (the heartbeat renews it every third of that)."""

_TABLES = (
    ("hitl_requests", "status", "deciding"),
    ("hitl_threads", "state", "in_flight"),
    ("hitl_ledger", "status", "started"),
)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def _machine() -> str:
    """This kernel boot and PID namespace (Linux); a random id elsewhere, so only the TTL applies."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        ns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        ns = ""
    if not boot or not ns:
        return "x" + uuid.uuid4().hex[:11]
    return hashlib.sha256(f"{boot}/{ns}".encode()).hexdigest()[:12]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, None if it does not exist (or is a zombie)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19] if len(fields) > 19 else None


_MACHINE = _machine()
_live: set[str] = set()
_live_lock = threading.Lock()
_owner: ContextVar[str | None] = ContextVar("langgraph_hitl_lease_owner", default=None)
_ttl: ContextVar[float] = ContextVar("langgraph_hitl_lease_ttl", default=DEFAULT_TTL)


_self_started: tuple[int, str] | None = None
"""This process's `(pid, start time)`, read once per process (a forked child reads its own)."""


def _own_start_time(pid: int) -> str:
    global _self_started
    known = _self_started
    if known is not None and known[0] == pid:
        return known[1]
    started = _start_time(pid)
    if started is None:  # not readable now: not remembered either, so the next owner reads again
        return "0"
    _self_started = (pid, started)
    return started


def new_owner() -> str:
    """A fresh owner id: `machine:pid:start-time:nonce`."""
    pid = os.getpid()
    return f"{_MACHINE}:{pid}:{_own_start_time(pid)}:{uuid.uuid4().hex[:12]}"


def current_owner() -> str | None:
    """The owner of the work running in this context (`hold()`), or None."""
    return _owner.get()


def current_ttl() -> float | None:
    """The lease length of the work running in this context; None outside `hold()`, where rows
    are written without a lease (free for recovery at once, as before leases existed)."""
    return _ttl.get() if _owner.get() is not None else None


def _local(owner: str | None) -> bool:
    parts = (owner or "").split(":")
    return len(parts) == 4 and parts[0] == _MACHINE and parts[1].isdigit()


def is_gone(owner: str | None) -> bool:
    """True when `owner` provably holds nothing any more (see the module docstring).

    An owner on another machine (or in another PID namespace) is never gone by this test:
    only its lease's end by the database's clock frees its rows.
    """
    if not owner:
        return False  # written outside `hold()`: only the lease's end frees it
    parts = owner.split(":")
    if len(parts) != 4 or parts[0] != _MACHINE or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        with _live_lock:
            return owner not in _live
    started = _start_time(pid)
    return started is None or started != parts[2]


def expired(row: Mapping[str, Any]) -> bool:
    """True when a row's lease is over: never leased (written before leases existed), past its
    end by the database's clock (`row["db_now"]`), or held by an owner that is provably gone."""
    until = row["lease_until"]
    if until is None:
        return True
    owner = row["lease_owner"]
    if _local(owner):  # on this machine liveness is known exactly: a starved heartbeat is no death
        return is_gone(owner)
    return float(until) <= float(row["db_now"])


class _Heartbeat:
    """One daemon thread per process renewing every live lease's `lease_until`.

    It writes through its own connection to each database (`Backend.clone()`), so a renewal
    never waits behind a transaction of the connection doing the work (which may be waiting
    for another process's write lock far longer than a lease lasts).
    """

    def __init__(self) -> None:
        self._held: dict[str, list[tuple[Backend, float]]] = {}
        self._due: dict[str, float] = {}
        """When each owner's leases must next be renewed (monotonic): a third of its shortest
        ttl after it was added or last renewed."""
        self._own: dict[int, Backend] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0.0
        """When the sleeping thread wakes up by itself (0 while it renews): a lease due earlier
        wakes it; others wait for that time (a wake costs the caller a thread switch)."""

    def add(self, owner: str, backend: Backend, ttl: float) -> None:
        with self._lock:
            self._held.setdefault(owner, []).append((backend, ttl))
            due = time.monotonic() + ttl / 3
            self._due[owner] = min(due, self._due.get(owner, due))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="langgraph-hitl-lease", daemon=True)
                self._thread.start()
            elif 0 < self._next and due < self._next:
                self._wake.set()  # asleep past this lease's first renewal

    def remove(self, owner: str, backend: Backend) -> None:
        with self._lock:
            held = list(self._held.get(owner, []))
            for i, (b, _) in enumerate(held):
                if b is backend:
                    del held[i]
                    break
            if held:
                self._held[owner] = held
            else:
                self._held.pop(owner, None)
                self._due.pop(owner, None)

    def _connection(self, backend: Backend) -> Backend:
        own = self._own.get(id(backend))
        if own is None:
            try:
                own = backend.clone()
            except NotImplementedError:
                own = backend
            self._own[id(backend)] = own
        return own

    def _release_unused(self) -> None:
        with self._lock:
            used = {id(b) for hs in self._held.values() for b, _ in hs}
        for key in [k for k in self._own if k not in used]:
            own = self._own.pop(key)
            with contextlib.suppress(Exception):
                own.close()

    def _run(self) -> None:
        """Renew each owner when it is due; sleep until the next one is. Each owner keeps its own
        schedule, so leases coming and going (and the wake-ups they cause) never put off
        the renewal of one that stays."""
        while True:
            with self._lock:
                now = time.monotonic()
                due = [
                    (o, b, ttl)
                    for o, hs in self._held.items()
                    if self._due[o] <= now + 0.001
                    for b, ttl in hs
                ]
                if not due:
                    self._next = min(self._due.values(), default=now + DEFAULT_TTL / 3)
                    self._wake.clear()
            if not due:
                self._wake.wait(timeout=max(self._next - now, 0.0))
                with self._lock:
                    self._next = 0.0
                continue
            for owner, backend, ttl in due:
                with self._lock:
                    if owner not in self._held:
                        continue
                try:
                    renew(self._connection(backend), owner, ttl)
                except Exception:  # a closed store or a lost connection: its work fails on its own
                    log.warning("lease heartbeat for %s failed", owner, exc_info=True)
                    with contextlib.suppress(Exception):
                        self._own.pop(id(backend)).close()
            with self._lock:
                renewed = time.monotonic()
                for owner in {o for o, _, _ in due}:
                    if owner in self._held:
                        self._due[owner] = renewed + min(ttl for _, ttl in self._held[owner]) / 3
            self._release_unused()


_heartbeat = _Heartbeat()


def renew(backend: Backend, owner: str, ttl: float) -> None:
    """Push `lease_until` of every row `owner` holds to the database's now + `ttl`."""
    with backend.transaction():
        for table, column, value in _TABLES:
            backend.execute(
                f"UPDATE {table} SET lease_until = {backend.now_sql} + ? "  # noqa: S608 - fixed names
                f"WHERE lease_owner = ? AND {column} = ?",
                (ttl, owner, value),
            )


@contextlib.contextmanager
def hold(backend: Backend, *, ttl: float = DEFAULT_TTL) -> Iterator[str]:
    """Run a block as one lease owner: rows claimed inside it stay leased until it ends.

    Nested blocks share the outer owner. When the block ends, by return or by exception, the
    owner is gone (`is_gone`), so a recovery in this process may take its rows at once.

    Args:
        backend: The store's database, for the heartbeat.
        ttl: Seconds a lease outlives its last heartbeat.
    """
    if not ttl > 0:
        msg = f"A lease needs a positive ttl in seconds, got {ttl!r}."
        raise ValueError(msg)
    outer = _owner.get()
    if outer is not None:  # the outer owner holds this block's rows too, on this backend as well
        _heartbeat.add(outer, backend, min(ttl, _ttl.get()))
        try:
            yield outer
        finally:
            _heartbeat.remove(outer, backend)
        return
    owner = new_owner()
    with _live_lock:
        _live.add(owner)
    owner_token, ttl_token = _owner.set(owner), _ttl.set(ttl)
    _heartbeat.add(owner, backend, ttl)
    try:
        yield owner
    finally:
        _heartbeat.remove(owner, backend)
        with _live_lock:
            _live.discard(owner)
        _owner.reset(owner_token)
        _ttl.reset(ttl_token)
