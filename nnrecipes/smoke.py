"""Smoke-run every dataset x model recipe for a few batches: the check a user's CI calls.

Without network or data: MNIST and Fashion-MNIST come from small generated IDX files and
California housing from a small generated scikit-learn cache, unless ``--data-dir`` names a folder
with the real files. Exits non-zero if any recipe fails.

    python scripts/smoke.py [--data-dir DIR] [--keep DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from nnrecipes.config import config_dir

IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist")
IMAGE_MODELS = ("perceptron", "mlp", "cnn")
TABULAR_MODELS = ("perceptron", "mlp")
SMOKE_OVERRIDES = ("trainer.epochs=1", "dataset.limit=256", "trainer.progress=false")


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """An IDX file of unsigned bytes, as MNIST ships them (``path`` + ``.gz`` if compressed)."""
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def synthetic_digits(count: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 images: class k lights up its own 4x4 square, on a noisy background."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 60, size=(count, 28, 28))
    for index, label in enumerate(labels):
        row, col = 2 + 6 * (label // 4), 2 + 6 * (label % 4)
        images[index, row:row + 4, col:col + 4] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_idx_dataset(folder: Path, compress: bool, train: int = 300, test: int = 100) -> None:
    """The four MNIST-format files of a small synthetic data set in ``folder``."""
    for split, count in (("train", train), ("t10k", test)):
        images, labels = synthetic_digits(count, seed=count)
        write_idx(folder / f"{split}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, compress)


def write_california_cache(folder: Path, rows: int = 500) -> None:
    """A small stand-in for scikit-learn's California cache: target column, then 8 features."""
    import joblib

    rng = np.random.default_rng(0)
    features = rng.uniform(1.0, 10.0, size=(rows, 8))
    target = features[:, 0] * 30000 + rng.normal(0, 5000, rows) + 50000
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(np.column_stack([target, features]), folder / "cal_housing_py3.pkz", compress=3)


def write_smoke_data(root: Path) -> Path:
    write_idx_dataset(root / "MNIST" / "raw", compress=True)
    write_idx_dataset(root / "FashionMNIST" / "raw", compress=True)
    write_california_cache(root / "sklearn")
    return root


def recipes() -> List[Tuple[str, str]]:
    """Every dataset option with every model that suits it."""
    datasets = sorted(path.stem for path in (config_dir() / "dataset").glob("*.yaml"))
    return [(dataset, model) for dataset in datasets
            for model in (IMAGE_MODELS if dataset in IMAGE_DATASETS else TABULAR_MODELS)]


def run_recipe(dataset: str, model: str, data_dir: Path, out: Path) -> Dict[str, object]:
    from nnrecipes import cli

    run_dir = out / f"{dataset}_{model}"
    captured = io.StringIO()
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            cli.main([f"dataset={dataset}", f"model={model}", f"dataset.data_dir={data_dir}",
                      *SMOKE_OVERRIDES, f"hydra.run.dir={run_dir}"])
        ok, detail = True, ""
    except (Exception, SystemExit) as error:
        ok, detail = False, captured.getvalue()[-2000:] or repr(error)
    return {"recipe": f"{dataset} x {model}", "ok": ok, "detail": detail,
            "seconds": time.perf_counter() - started}


def report(results: List[Dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="nnrecipes smoke run", header_style="bold")
    for column in ("recipe", "result", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for result in results:
        table.add_row(str(result["recipe"]), "ok" if result["ok"] else "[bold red]FAILED[/]",
                      f"{result['seconds']:.1f}")
    console = Console(highlight=False)
    console.print(table)
    for result in results:
        if not result["ok"]:
            console.print(f"[bold red]{result['recipe']}[/]\n{result['detail']}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="real data (default: generated data)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    parser.add_argument("--only", nargs="*", default=[], help="dataset names to run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nnrecipes-smoke-") as scratch:
        data_dir = args.data_dir or write_smoke_data(Path(scratch) / "data")
        out = args.keep or Path(scratch) / "runs"
        chosen = [r for r in recipes() if not args.only or r[0] in args.only]
        results = [run_recipe(dataset, model, data_dir, out) for dataset, model in chosen]
    report(results)
    failed = sum(not result["ok"] for result in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0
