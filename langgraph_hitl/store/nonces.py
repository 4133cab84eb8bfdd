"""Used approval-link nonces (`hitl_link_nonces`): the replay guard behind one-time links, in the
store's own database, so every server on it (SQLite file or Postgres) refuses a link used once."""

from __future__ import annotations

import time
from collections.abc import Callable

from ._db import Backend

__all__ = ["LinkNonces"]


class LinkNonces:
    """A `notify.links.NonceStore` on the store's database (migration 4 creates its table).

    `claim_nonce` is one `INSERT ... ON CONFLICT DO NOTHING ... RETURNING`: of two servers
    redeeming the same link at once, exactly one gets True.
    """

    def __init__(self, backend: Backend, *, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock

    def claim_nonce(self, nonce: str, expires_at: float) -> bool:
        """Mark `nonce` used; return False if any server on this database used it before."""
        rows = self.backend.execute(
            "INSERT INTO hitl_link_nonces (nonce, expires_at, used_at) VALUES (?, ?, ?) "
            "ON CONFLICT (nonce) DO NOTHING RETURNING nonce",
            (nonce, float(expires_at), self.clock()),
        )
        return bool(rows)

    def purge(self, *, before: float | None = None) -> int:
        """Forget nonces of links that expired before `before` (default: now); return how many.

        Use the `LinkSigner`'s clock: a forgotten nonce is only safe once its link has expired.
        """
        cutoff = self.clock() if before is None else before
        rows = self.backend.execute(
            "DELETE FROM hitl_link_nonces WHERE expires_at < ? RETURNING nonce", (cutoff,)
        )
        return len(rows)
