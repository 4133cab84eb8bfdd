"""`ConfidenceBands`: route by the model's self-reported confidence (re-exported by `policy`)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PolicyError

__all__ = ["ConfidenceBands"]


@dataclass(frozen=True)
class ConfidenceBands:
    """Route by the model's self-reported confidence (a noisy hint: calibrate with the metrics).

    At or above `auto_approve_at` an action that would be soft-gated runs without review;
    below `auto_reject_below` it is denied; in between a person is asked. Hard and verify
    gates are never loosened by confidence.
    """

    auto_approve_at: float = 0.85
    auto_reject_below: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.auto_reject_below <= self.auto_approve_at <= 1.0:
            msg = (
                f"ConfidenceBands(auto_approve_at={self.auto_approve_at}, auto_reject_below="
                f"{self.auto_reject_below}): need 0 <= auto_reject_below <= auto_approve_at <= 1."
            )
            raise PolicyError(msg)

    def band(self, confidence: float) -> str:
        """`approve`, `ask` or `reject` for a confidence in [0, 1]."""
        if confidence >= self.auto_approve_at:
            return "approve"
        if confidence < self.auto_reject_below:
            return "reject"
        return "ask"
