"""What a sweep costs beyond its jobs' training: a 9-job lr x batch-size iris sweep with the
sequential launcher, timed as a user runs it (one ``nnrun -m`` process), in variants that turn
parts off so the difference shows where the time goes.

    python scripts/sweep_overhead.py [--epochs 20] [--keep DIR]
    python scripts/sweep_overhead.py --marginal [--repeats 3]  # one job more: 18 jobs against 9
    python scripts/sweep_overhead.py --single [--repeats 5] [--source DIR]  # the first command

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
import statistics
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


def marginal(root: Path, repeats: int) -> None:
    """What one more job costs beyond its training: (wall of 18 jobs - wall of 9 - their
    difference in training seconds) / 9, iris at its default epochs, as users run it. A
    difference of two walls is noisy: it is measured ``repeats`` times and the median given."""
    costs = []
    for repeat in range(repeats):
        nine = sweep(root / f"nine{repeat}", None, ())
        eighteen = sweep(root / f"eighteen{repeat}", None, (), (*GRID, "seed=0,1"))
        costs.append((eighteen["wall"] - nine["wall"]
                      - (eighteen["training"] - nine["training"])) / 9)
        print(f"9 jobs: {nine['wall']:.1f} s wall, {nine['training']:.1f} s training; "
              f"18 jobs: {eighteen['wall']:.1f} s wall, {eighteen['training']:.1f} s training; "
              f"marginal cost of a job beyond its training: {costs[-1]:.2f} s (in the run to "
              f"its summary {eighteen['inside']:.2f} s a job)", flush=True)
    print(f"median of {repeats}: {statistics.median(costs):.2f} s a job")


def _wall(command: List[str], cwd: Optional[Path] = None, env=None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


# What any training run imports, in a fresh interpreter that then exits at once: torch,
# torch._dynamo (torch 2.14's optimizers import it at their first step), scikit-learn's splits
# and metrics (the split and every epoch's scores) and Hydra.
RUN_FLOOR = ("import os, torch, torch._dynamo, sklearn.model_selection, sklearn.metrics, hydra; "
             "os._exit(0)")


def single(root: Path, repeats: int, source: Optional[Path] = None) -> None:
    """The README's first command, `nnrun` (iris, default epochs) in a fresh folder, timed as
    a user waits for it, beside a bare `python -c "import torch"` and the import floor of any
    training run (RUN_FLOOR), alternating, each in a fresh process; the run split into the run
    itself (summary.json's wall_seconds, of which train_seconds is training) and what comes
    before and after it (the interpreter, imports, composition, the figures and the exit).
    ``source``: another checkout's nnrecipes instead (as scripts/busy_machine.py runs it)."""
    from busy_machine import environment, nnrun_command

    command, env = nnrun_command(source), environment(source)
    walls: Dict[str, List[float]] = {"import torch": [], "import floor": [], "nnrun": []}
    for repeat in range(repeats):
        walls["import torch"].append(_wall([sys.executable, "-c", "import torch"]))
        walls["import floor"].append(_wall([sys.executable, "-c", RUN_FLOOR]))
        folder = root / f"single{repeat}"
        folder.mkdir(parents=True)
        walls["nnrun"].append(_wall(command, cwd=folder, env=env))
        summary = json.loads(next(folder.glob("outputs/*/*/summary.json")).read_text())
        print(f"import torch {walls['import torch'][-1]:.2f} s; import floor "
              f"{walls['import floor'][-1]:.2f} s; nnrun {walls['nnrun'][-1]:.2f} s wall, the run "
              f"{summary['wall_seconds']:.2f} s, of it training {summary['train_seconds']:.2f} s; "
              f"before and after the run {walls['nnrun'][-1] - summary['wall_seconds']:.2f} s",
              flush=True)
    medians = {name: statistics.median(values) for name, values in walls.items()}
    torch_wall = medians["import torch"]
    print(f"medians of {repeats}: import torch {torch_wall:.2f} s; import floor "
          f"{medians['import floor']:.2f} s ({medians['import floor'] / torch_wall:.2f}x); "
          f"nnrun {medians['nnrun']:.2f} s ({medians['nnrun'] / torch_wall:.2f}x import torch)")


FLOOR = """
import os, time
from nnrecipes.command_line.collector import tune_collector
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
    parser.add_argument("--single", action="store_true",
                        help="the wall time of the README's first command, nnrun")
    parser.add_argument("--source", type=Path, help="--single: another checkout's nnrecipes")
    parser.add_argument("--repeats", type=int, help="measurements of --marginal (1) or "
                        "--single (5)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="nnrun-overhead-"))
    if args.marginal or args.single:
        try:
            if args.single:
                return single(root, args.repeats or 5,
                              args.source.resolve() if args.source else None)
            return marginal(root, args.repeats or 1)
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
