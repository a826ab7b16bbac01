"""The space a regression network learns its targets in: as they are, or ``log1p`` for skewed
positive targets (prices, counts), where an error of 10% weighs the same on a cheap house as
on a dear one. The model's last layer maps back (``inverse``), so predictions, metrics, exports
and predict are always in the targets' own units; the training loss compares ``forward`` of the
outputs with ``forward`` of the targets."""

from __future__ import annotations

from enum import Enum

# dataset.target_transform: auto lets the data decide (data/target_space.py).
TARGET_TRANSFORM_CHOICES = ("auto", "none", "log1p")
# log1p(y) is never below this for targets >= 0; outputs are kept above it, where the inverse
# (exp(z) - 1 > -1) can be transformed back.
_LOWEST = -1.0


class TargetTransform(str, Enum):
    none = "none"
    log1p = "log1p"

    def forward(self, values):
        """Targets (or outputs, in the targets' units) into the space the network learns in."""
        if self is TargetTransform.none:
            return values
        import torch

        return torch.log1p(values.clamp_min(_inverse_of_lowest()))

    def inverse(self, learnt):
        """Back to the targets' units. exp - 1 rather than expm1: every exporter knows exp."""
        if self is TargetTransform.none:
            return learnt
        return learnt.clamp_min(_LOWEST).exp() - 1

    def in_words(self, target: str) -> str:
        return target if self is TargetTransform.none else f"log1p({target})"


def _inverse_of_lowest() -> float:
    import math

    return math.exp(_LOWEST) - 1
