"""How nnrun fares on a busy machine: the default run's training seconds alone and beside two
busy processes (a core each, as a CI runner's other jobs), and a 9-job sweep run by the
sequential launcher and by ``hydra/launcher=joblib hydra.launcher.n_jobs=2``.

    python scripts/busy_machine.py [--repeats 5] [--source DIR]

``--source DIR`` runs the nnrecipes of another checkout (its package first on PYTHONPATH, its
configs linked into it), to measure a change against the code before it on the same machine.
Prints the medians, the busy/quiet ratio (goal: at most 2.0) and each sweep's wall time. Run it
on an otherwise idle machine: the busy processes are the script's own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

SWEEP = ("optimizer.lr=0.1,0.01,0.001", "dataset.batch_size=32,64,128")


def nnrun_command(source: Optional[Path]) -> List[str]:
    if source is None:
        return [str(Path(sys.executable).parent / "nnrun")]
    link = source / "nnrecipes" / "configs"
    if not link.exists():
        link.symlink_to(source / "configs")  # where an installed package keeps them
    return [sys.executable, "-m", "nnrecipes.cli"]


def environment(source: Optional[Path]) -> dict:
    env = dict(os.environ)
    if source is not None:  # the runs start in a scratch folder, so no other checkout is ''
        env["PYTHONPATH"] = str(source)
    return env


@contextlib.contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """``count`` processes that each keep a core busy, until the block ends."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def train_seconds(command: List[str], env: dict, folder: Path) -> float:
    subprocess.run([*command, "trainer.progress=false", "trainer.plots=false",
                    f"hydra.run.dir={folder}"], check=True, env=env, cwd=folder.parent,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((folder / "summary.json").read_text())["train_seconds"]


def sweep_seconds(command: List[str], env: dict, folder: Path, *launcher: str) -> float:
    started = time.perf_counter()
    subprocess.run([*command, "-m", *SWEEP, *launcher, "trainer.progress=false",
                    "trainer.plots=false", f"hydra.sweep.dir={folder}"], check=True, env=env,
                   cwd=folder.parent,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--source", type=Path, help="another checkout's nnrecipes to run")
    args = parser.parse_args()
    source = args.source.resolve() if args.source else None
    command, env = nnrun_command(source), environment(source)
    root = Path(tempfile.mkdtemp(prefix="nnrun-busy-"))
    quiet = [train_seconds(command, env, root / f"quiet{i}") for i in range(args.repeats)]
    with busy_processes(2):
        busy = [train_seconds(command, env, root / f"busy{i}") for i in range(args.repeats)]
    sequential = sweep_seconds(command, env, root / "sequential")
    parallel = sweep_seconds(command, env, root / "joblib", "hydra/launcher=joblib",
                             "hydra.launcher.n_jobs=2")
    threads = json.loads((root / "quiet0" / "summary.json").read_text())["device_name"]
    print(f"code: {source or 'this checkout'}; {len(os.sched_getaffinity(0))} cores; the "
          f"default run on {threads}")
    print(f"default nnrun, training seconds, quiet: {' '.join(f'{s:.3f}' for s in quiet)} "
          f"(median {statistics.median(quiet):.3f})")
    print(f"beside 2 busy processes: {' '.join(f'{s:.3f}' for s in busy)} "
          f"(median {statistics.median(busy):.3f})")
    print(f"busy / quiet: {statistics.median(busy) / statistics.median(quiet):.2f} (goal <= 2.0)")
    print(f"9-job sweep ({' '.join(SWEEP)}), wall seconds: sequential {sequential:.1f}, "
          f"joblib n_jobs=2 {parallel:.1f}")


if __name__ == "__main__":
    main()
