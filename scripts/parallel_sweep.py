"""What a parallel launcher gains on this machine: the same 12-job digits CNN sweep run by the
sequential launcher and by ``hydra/launcher=joblib hydra.launcher.n_jobs=N``, one after the other.

    python scripts/parallel_sweep.py [--n-jobs 2] [--epochs 10]

Prints each sweep's wall time, the speed-up, every job's test accuracy (identical to a
sequential sweep with the same threads per job; a thread count sums in its own order, so other
counts differ a little), the threads each job ran with (summary.json), and how many threads of
ours were running at once (sampled from /proc every 0.2 s), which must not exceed the cores.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

NNRUN = str(Path(sys.executable).parent / "nnrun")
# The batch size first: jobs start in this order, and the slow batch-32 jobs run first instead of
# leaving one alone at the end (README, "Choosing n_jobs").
GRID = ("dataset.batch_size=32,64,128", "optimizer.lr=0.003,0.001,0.0003,0.0001")


def running_threads(root_pid: int) -> int:
    """Threads in state R (running or runnable) in the process tree under ``root_pid``."""
    running = 0
    for task in Path("/proc").glob("[0-9]*/task/[0-9]*"):
        try:
            stat = (task / "stat").read_text()
            parts = stat.rsplit(")", 1)[1].split()
            state, pgid = parts[0], int(parts[2])
        except (OSError, IndexError, ValueError):
            continue
        if state == "R" and pgid == root_pid:
            running += 1
    return running


def sweep(folder: Path, epochs: int, extra: Tuple[str, ...]
          ) -> Tuple[float, List[int], List[Dict]]:
    command = [NNRUN, "-m", "dataset=digits", "model=cnn", f"trainer.epochs={epochs}",
               "trainer.progress=false", *GRID, *extra, f"hydra.sweep.dir={folder}"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # its own process group, to sample
    samples = []
    while process.poll() is None:
        samples.append(running_threads(process.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    assert process.returncode == 0, f"{' '.join(command)} exited {process.returncode}"
    jobs = sorted((path for path in folder.iterdir() if path.name.isdigit()),
                  key=lambda path: int(path.name))
    summaries = [json.loads((job / "summary.json").read_text()) for job in jobs]
    assert len(summaries) == 12 and all(s["status"] == "completed" for s in summaries)
    return wall, samples, summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nnrun-parallel-"))
    try:
        runs = {"sequential": sweep(root / "sequential", args.epochs, ()),
                f"joblib n_jobs={args.n_jobs}": sweep(
                    root / "joblib", args.epochs,
                    ("hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}")),
                # The same threads per job as under joblib: the results must be identical.
                "sequential, joblib's threads per job": sweep(
                    root / "same_threads", args.epochs,
                    (f"device.threads={max(1, len(os.sched_getaffinity(0)) // args.n_jobs)}",))}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cores = len(os.sched_getaffinity(0))
    (first, (wall0, _, jobs0)), (second, (_, _, jobs1)), (third, (_, _, jobs2)) = runs.items()
    print(f"{cores} cores; 12 jobs, dataset=digits model=cnn trainer.epochs={args.epochs}, "
          f"{' '.join(GRID)}\n")
    print(f"| launcher | wall s | speed-up | threads per job | our threads running at once: "
          f"median, most | samples with more than {cores} |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for name, (wall, samples, jobs) in runs.items():
        threads = sorted({job["device_name"].rsplit(", ", 1)[-1] for job in jobs})
        over = sum(count > cores for count in samples) / max(1, len(samples))
        print(f"| {name} | {wall:.1f} | {wall0 / wall:.2f} | {', '.join(threads)} | "
              f"{sorted(samples)[len(samples) // 2]}, {max(samples)} | {over:.1%} of "
              f"{len(samples)} |")
    accuracy = lambda jobs: [job["test"]["accuracy"] for job in jobs]  # noqa: E731
    print()
    for name, (_, _, jobs) in runs.items():
        print(f"test accuracy per job, {name}: {' '.join(f'{a:.4f}' for a in accuracy(jobs))}")
    differences = [abs(a - b) for a, b in zip(accuracy(jobs0), accuracy(jobs1))]
    print(f"{second} against {first}: max |difference in test accuracy| {max(differences):.4f} "
          "(another thread count sums in another order)")
    same = all(a["test"] == b["test"] for a, b in zip(jobs1, jobs2))
    print(f"{second} against {third}: every job's test metrics "
          f"{'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
