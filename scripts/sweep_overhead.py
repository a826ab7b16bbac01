"""What a sweep costs beyond its jobs' training: a 9-job lr x batch-size iris sweep with the
sequential launcher, timed as a user runs it (one ``nnrun -m`` process), in variants that turn
parts off so the difference shows where the time goes.

    python scripts/sweep_overhead.py [--epochs 20] [--keep DIR]
    python scripts/sweep_overhead.py --marginal     # one more job's cost: 18 jobs against 9

Per variant: the command's wall time, the sum of the jobs' training seconds (summary.json's
train_seconds: the epochs alone), the overhead per job, and its split into the time inside each
job's run until its summary is assembled (data, model, test, baseline: summary.json's
wall_seconds minus train_seconds) and the rest (the job's figures and files, the interpreter and
imports, Hydra composing each job's config, the sweep summary). Last, the floor under any
sweep of nnrun's: the seconds a fresh interpreter takes to import what every training job needs
(torch, torch._dynamo, which torch's optimizers import, scikit-learn's data sets and metrics,
Hydra), and that per job of 9. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

NNRUN = str(Path(sys.executable).parent / "nnrun")
GRID = ("optimizer.lr=0.1,0.01,0.001", "dataset.batch_size=16,32,64")
JOBS = math.prod(len(values.split("=")[1].split(",")) for values in GRID)
VARIANTS = {
    "as users run it": (),
    "no figures": ("trainer.plots=false",),
    "no figures, no baseline": ("trainer.plots=false", "trainer.baseline=off"),
}


def sweep(folder: Path, epochs: Optional[int], extra: tuple,
          grid: Sequence[str] = GRID) -> Dict[str, float]:
    jobs = math.prod(len(values.split("=")[1].split(",")) for values in grid)
    epochs_set = () if epochs is None else (f"trainer.epochs={epochs}",)
    command = [NNRUN, "-m", "dataset=iris", *epochs_set, "trainer.progress=false",
               *grid, *extra, f"hydra.sweep.dir={folder}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    summaries = [json.loads(path.read_text()) for path in sorted(folder.glob("*/summary.json"))]
    assert len(summaries) == jobs and all(s["status"] == "completed" for s in summaries), folder
    training = sum(s["train_seconds"] for s in summaries)
    inside = sum(s["wall_seconds"] - s["train_seconds"] for s in summaries)
    return {"wall": wall, "training": training, "per_job": (wall - training) / jobs,
            "inside": inside / jobs, "outside": (wall - training - inside) / jobs}


def marginal(root: Path) -> None:
    """What one more job costs beyond its training: (wall of 18 jobs - wall of 9 - their
    difference in training seconds) / 9, iris at its default epochs, as users run it."""
    nine = sweep(root / "nine", None, ())
    eighteen = sweep(root / "eighteen", None, (), (*GRID, "seed=0,1"))
    cost = (eighteen["wall"] - nine["wall"] - (eighteen["training"] - nine["training"])) / 9
    print(f"9 jobs: {nine['wall']:.1f} s wall, {nine['training']:.1f} s training; "
          f"18 jobs: {eighteen['wall']:.1f} s wall, {eighteen['training']:.1f} s training")
    print(f"marginal cost of a job beyond its training: {cost:.2f} s "
          f"(in the run to its summary {eighteen['inside']:.2f} s a job)")


FLOOR = """
import os, time
from nnrecipes.commands.collector import tune_collector
tune_collector()  # as nnrun does before its imports
started = time.perf_counter()
import torch, torch._dynamo, sklearn.datasets, sklearn.metrics, hydra, omegaconf
print(time.perf_counter() - started)
os._exit(0)  # the exit's collections are not imports
"""


def import_floor(repeats: int = 3) -> List[float]:
    """Seconds to import what every job needs, in fresh interpreters."""
    return [float(subprocess.run([sys.executable, "-c", FLOOR], check=True, text=True,
                                 capture_output=True).stdout) for _ in range(repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the sweeps in this folder")
    parser.add_argument("--marginal", action="store_true",
                        help="the marginal cost of a job: 18 jobs against 9, default epochs")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="nnrun-overhead-"))
    if args.marginal:
        try:
            return marginal(root)
        finally:
            shutil.rmtree(root, ignore_errors=True) if args.keep is None else None
    rows: List[str] = []
    try:
        for number, (name, extra) in enumerate(VARIANTS.items()):
            found = sweep(root / f"sweep{number}", args.epochs, extra)
            rows.append(f"| {name} | {found['wall']:.1f} | {found['training']:.1f} | "
                        f"{found['per_job']:.2f} | {found['inside']:.2f} | "
                        f"{found['outside']:.2f} |")
            print(rows[-1], flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\n| variant | wall s | training s (sum) | overhead s per job | in the run to its "
          "summary | the rest |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    floor = import_floor()
    print(f"\nimports every job needs, in a fresh interpreter: "
          f"{', '.join(f'{x:.2f}' for x in floor)} s; "
          f"{min(floor) / JOBS:.2f} s per job of {JOBS} at the least")


if __name__ == "__main__":
    main()
