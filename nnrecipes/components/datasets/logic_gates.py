"""``dataset=logic_gates``: a two-input gate's truth table (the perceptron's XOR lesson)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnrecipes.core.config import DatasetConfig
from nnrecipes.core.registry import declare
from nnrecipes.core.task import Task
from nnrecipes.data.errors import DataError
from nnrecipes.data.raw import RawData


@dataclass
class LogicGatesConfig(DatasetConfig):
    # The truth table to learn: and, or, nand, nor or xor.
    gate: str = "xor"


GATES = {"and": [0, 0, 0, 1], "or": [0, 1, 1, 1], "nand": [1, 1, 1, 0], "nor": [1, 0, 0, 0],
         "xor": [0, 1, 1, 0]}


def load_logic_gates(cfg) -> RawData:
    """A two-input gate's truth table: 200 noisy copies to train on, the 4 exact rows to test."""
    if cfg.gate not in GATES:
        raise DataError(f"dataset.gate={cfg.gate!r} is unknown; known: {', '.join(GATES)}")
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    outputs = np.array(GATES[cfg.gate], dtype=np.int64)
    rng = np.random.default_rng(0)
    copies = np.tile(inputs, (50, 1)) + rng.normal(0, 0.05, (200, 2)).astype(np.float32)
    return RawData(copies, np.tile(outputs, 50), ["0", "1"], test=(inputs, outputs))



declare("dataset", "logic_gates", LogicGatesConfig, load_logic_gates, task=Task.binary)
