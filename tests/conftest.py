"""Shared fixtures: run nnrun in-process into tmp_path, small IDX data sets, the real-data folder."""

from __future__ import annotations

import gzip
import itertools
import json
import os
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from nnrecipes import cli
from nnrecipes.config import config_dir, register_configs

SHARED_DATA_VARIABLE = "NNRECIPES_TEST_DATA"


class RunResult:
    def __init__(self, run_dir: Path):
        self.dir = run_dir

    @property
    def summary(self) -> Dict:
        return json.loads((self.dir / "summary.json").read_text())

    def metrics_rows(self) -> List[Dict[str, str]]:
        import csv

        with open(self.dir / "metrics.csv", newline="") as handle:
            return list(csv.DictReader(handle))


@pytest.fixture
def nnrun(tmp_path: Path) -> Callable[..., RunResult]:
    """Run ``nnrun`` with overrides in this process, each run into its own folder of tmp_path."""
    counter = itertools.count()

    def run(*overrides: str, run_dir: Path = None) -> RunResult:
        target = run_dir or tmp_path / f"run{next(counter)}"
        cli.main([*overrides, "trainer.progress=false", f"hydra.run.dir={target}"])
        return RunResult(target)

    return run


@pytest.fixture
def composed():
    """Compose a config as nnrun would, without running it."""
    register_configs()

    def make(*overrides: str, with_hydra: bool = False):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides),
                           return_hydra_config=with_hydra)

    yield make
    GlobalHydra.instance().clear()


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def synthetic_digits(count: int, seed: int):
    """Learnable 28x28 images: class k lights up its own 4x4 square, on a noisy background."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 60, size=(count, 28, 28))
    for index, label in enumerate(labels):
        row, col = 2 + 6 * (label // 4), 2 + 6 * (label % 4)
        images[index, row:row + 4, col:col + 4] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_idx_dataset(folder: Path, compress: bool, train: int = 300, test: int = 100) -> None:
    for split, count in (("train", train), ("t10k", test)):
        images, labels = synthetic_digits(count, seed=count)
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress)


@pytest.fixture(scope="session")
def idx_data_dir(tmp_path_factory) -> Path:
    """A data_dir laid out as torchvision leaves it: MNIST as .gz, Fashion-MNIST uncompressed."""
    root = tmp_path_factory.mktemp("idx")
    write_idx_dataset(root / "MNIST" / "raw", compress=True)
    write_idx_dataset(root / "FashionMNIST" / "raw", compress=False)
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder (../shared/data), given by the environment; skip when absent."""
    location = os.environ.get(SHARED_DATA_VARIABLE)
    if not location:
        pytest.skip(f"{SHARED_DATA_VARIABLE} is not set: no real data for this test")
    path = Path(location)
    if not path.is_dir():
        pytest.fail(f"{SHARED_DATA_VARIABLE}={location} is not a folder")
    return path
