"""Smoke-run every dataset x model recipe for a few batches: the check a user's CI calls.

Without network or data: data sets that live in files (MNIST, Fashion-MNIST, California
housing) come from small generated stand-ins that each data set declares, unless ``--data-dir``
names a folder with the real files. Exits non-zero if any recipe fails.

    python scripts/smoke.py [--data-dir DIR] [--keep DIR] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from nnrecipes.core.registry import declared, options
from nnrecipes.data import image_datasets
# Re-exported: tests and users' CI write stand-in data with them.
from nnrecipes.data.stand_ins import (synthetic_digits, write_california_cache,  # noqa: F401
                                      write_idx, write_idx_dataset)

SMOKE_OVERRIDES = ("trainer.epochs=1", "dataset.limit=256", "trainer.progress=false")


def write_smoke_data(root: Path) -> Dict[str, List[str]]:
    """Stand-in files for every declared data set that reads files; for each data set, the
    overrides that point it at them (a user's own table or image folder needs its path)."""
    overrides = {}
    for name, item in declared("dataset").items():
        if item.trait("stand_in"):
            overrides[name] = list(item.trait("stand_in")(root) or [])
    return overrides


def recipes() -> List[Tuple[str, str]]:
    """Every dataset option with every model that suits it, from the declarations (options that
    run the user's own code need a target, so they are left out)."""
    datasets, models, images = declared("dataset"), declared("model"), image_datasets()
    return [(dataset, model) for dataset in options("dataset") for model in options("model")
            if not datasets[dataset].trait("user_code") and not models[model].trait("user_code")
            and (dataset in images or not models[model].trait("image_only"))
            and (dataset not in images or not models[model].trait("table_only"))]


def run_recipe(dataset: str, model: str, data_dir: Path, out: Path,
               pointers: Sequence[str] = ()) -> Dict[str, object]:
    from nnrecipes import cli

    run_dir = out / f"{dataset}_{model}"
    captured = io.StringIO()
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            cli.main([f"dataset={dataset}", f"model={model}", f"dataset.data_dir={data_dir}",
                      *pointers, *SMOKE_OVERRIDES, f"hydra.run.dir={run_dir}"])
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
        # Stand-ins are written even with --data-dir: a user's own table or image folder has
        # no real counterpart there.
        pointers = write_smoke_data(Path(scratch) / "data")
        # Decoded stand-in images are of no use later: their cache goes with the scratch.
        os.environ.setdefault("NNRECIPES_CACHE_DIR", str(Path(scratch) / "image-cache"))
        data_dir = args.data_dir or Path(scratch) / "data"
        out = args.keep or Path(scratch) / "runs"
        chosen = [r for r in recipes() if not args.only or r[0] in args.only]
        results = [run_recipe(dataset, model, data_dir, out, pointers.get(dataset, ()))
                   for dataset, model in chosen]
    report(results)
    failed = sum(not result["ok"] for result in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0
