"""The runners' shadow policy (`Approvals.open(..., shadow_policy=candidate)`), as a mixin.

The runner does not assess proposals: the graph's `ClassifyAndGateNode` does. So the runner hands
its candidate to every gate in the graph through the run's config (`hitl_shadow_policy`, a key
only the runner may set; a caller's `config=` with it is refused), and a gate without a shadow
policy of its own assesses each proposal under it too (see `nodes.shadow_gate`). The candidate
never routes a run: the enforced policy is the graph's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from typing_extensions import Self

from ..errors import PolicyError
from ..nodes.shadow_gate import SHADOW_CONFIG_KEY
from ..policy import Policy
from .models import PLAIN, RunOptions

if TYPE_CHECKING:
    from .core import _Core

    _Base = _Core
else:
    _Base = object

__all__ = ["ShadowPolicy", "ShadowRunner"]

ShadowPolicy: TypeAlias = "Policy | None"
"""A candidate `Policy` to run in the shadow of the enforced one, or None."""


class ShadowRunner(_Base):
    """Adds `shadow_policy` to a runner: the candidate every gate of the graph also assesses with."""

    _shadow_policy: Policy | None = None

    @property
    def shadow_policy(self) -> Policy | None:
        """The candidate policy gates assess with beside their own (None: no shadow mode)."""
        return self._shadow_policy

    @shadow_policy.setter
    def shadow_policy(self, candidate: Policy | None) -> None:
        if candidate is not None and not isinstance(candidate, Policy):
            msg = f"shadow_policy is a {type(candidate).__name__}; pass the candidate Policy, or None."
            raise PolicyError(msg)
        self._shadow_policy = candidate

    def _shadowed(self, candidate: Policy | None) -> Self:
        """This runner with `candidate` as its shadow policy (for `open`)."""
        self.shadow_policy = candidate
        return self

    def _config(
        self,
        thread_id: str,
        *,
        decider: str | None = None,
        decided_at: float | None = None,
        run: RunOptions = PLAIN,
    ) -> dict[str, Any]:
        """The run's config, with the shadow policy for the graph's gates when there is one."""
        config = super()._config(thread_id, decider=decider, decided_at=decided_at, run=run)
        if self._shadow_policy is not None:
            config["configurable"] = {**config["configurable"], SHADOW_CONFIG_KEY: self._shadow_policy}
        return config
