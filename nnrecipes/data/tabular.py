"""Tabular data sets from scikit-learn: the bundled ones and California housing's cache."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List

import numpy as np

from nnrecipes.components import declare
from nnrecipes.config import DatasetConfig
from nnrecipes.data.errors import DataError, DataNotFound
from nnrecipes.data.raw import RawData
from nnrecipes.data.stand_ins import write_california_cache

CALIFORNIA_CACHE = "cal_housing_py3.pkz"


def _classification(bunch) -> RawData:
    names = [str(name) for name in bunch.target_names]
    return RawData(bunch.data.astype(np.float32), bunch.target.astype(np.int64), names,
                   columns=[str(name) for name in bunch.feature_names])


def _regression(bunch) -> RawData:
    return RawData(bunch.data.astype(np.float32), bunch.target.astype(np.float32), None,
                   columns=[str(name) for name in bunch.feature_names])


def load_iris(cfg) -> RawData:
    from sklearn import datasets as sk

    return _classification(sk.load_iris())


def load_wine(cfg) -> RawData:
    from sklearn import datasets as sk

    return _classification(sk.load_wine())


def load_breast_cancer(cfg) -> RawData:
    from sklearn import datasets as sk

    return _classification(sk.load_breast_cancer())


def load_diabetes(cfg) -> RawData:
    from sklearn import datasets as sk

    return _regression(sk.load_diabetes())


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


def california_homes(data_dir: str) -> List[Path]:
    """Where nnrun looks for scikit-learn's California cache, in order."""
    from sklearn import datasets as sk

    root = Path(data_dir).expanduser().resolve()
    return [root / "sklearn", root, Path(sk.get_data_home())]


def load_california(cfg) -> RawData:
    homes = california_homes(cfg.data_dir)
    found = next((home for home in homes if (home / CALIFORNIA_CACHE).exists()), None)
    if found is not None and not (found / CALIFORNIA_CACHE).is_file():
        raise DataError(f"{found / CALIFORNIA_CACHE} is not a file (a folder?): nnrun expects "
                        f"scikit-learn's cache file there")
    if found is None and not cfg.download:
        looked = "\n".join(f"  {home / CALIFORNIA_CACHE}" for home in homes)
        raise DataNotFound(
            "California housing not found. nnrun looked for scikit-learn's cache file in:\n"
            f"{looked}\n"
            "Supply it: copy cal_housing_py3.pkz into one of these folders, point "
            "dataset.data_dir (or NNRECIPES_DATA) at a folder that holds it, or pass "
            "dataset.download=true on a machine with network access.")
    home = found or homes[0]
    from sklearn import datasets as sk

    try:
        bunch = sk.fetch_california_housing(data_home=str(home), download_if_missing=cfg.download)
    except OSError as error:  # URLError is an OSError: no network, or the server refused
        raise DataError(f"California housing could not be downloaded into {home}: {error}. "
                        "Copy cal_housing_py3.pkz there by hand instead.") from error
    except Exception as error:
        raise DataError(f"California housing cache {home / CALIFORNIA_CACHE} is unreadable "
                        f"({type(error).__name__}: {error}); delete it and supply it again.") \
            from error
    return _regression(bunch)


declare("dataset", "iris", DatasetConfig, load_iris, task="multiclass")
declare("dataset", "wine", DatasetConfig, load_wine, task="multiclass")
declare("dataset", "breast_cancer", DatasetConfig, load_breast_cancer, task="binary")
declare("dataset", "diabetes", DatasetConfig, load_diabetes, task="regression")
declare("dataset", "california", DatasetConfig, load_california, task="regression",
        stand_in=lambda root: write_california_cache(root / "sklearn"))
declare("dataset", "logic_gates", LogicGatesConfig, load_logic_gates, task="binary")
