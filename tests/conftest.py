"""Shared fixtures: run nnrun in-process into tmp_path, small IDX data sets, the real-data folder."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
from pathlib import Path
from typing import Callable, Dict, List

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from nnrecipes import cli
from nnrecipes.core.config import config_dir
from nnrecipes.core.registry import register_configs
from nnrecipes.smoke import write_idx_dataset

SHARED_DATA_VARIABLE = "NNRECIPES_TEST_DATA"


@pytest.fixture(autouse=True, scope="session")
def _image_cache_of_the_tests(tmp_path_factory):
    """Image folders decoded by the tests (and the nnrun processes they start) are cached in a
    folder of the tests' own, never in the user's ~/.cache."""
    if "NNRECIPES_CACHE_DIR" not in os.environ:
        os.environ["NNRECIPES_CACHE_DIR"] = str(tmp_path_factory.mktemp("image-cache"))


def service_script(name: str):
    """scripts/NAME.py as a module: local_postgres and local_slurm start a service in a
    folder (start, stop, missing)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str) -> int:
    """``nnrun ARGS`` in this process; its exit code."""
    try:
        cli.main(list(args))
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


class RunResult:
    def __init__(self, run_dir: Path):
        self.dir = run_dir

    @property
    def summary(self) -> Dict:
        return json.loads((self.dir / "summary.json").read_text())

    @property
    def log(self) -> str:
        """What the run said in its log file."""
        return (self.dir / "nnrun.log").read_text()

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
