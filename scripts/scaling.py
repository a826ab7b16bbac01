"""What sharing a search and sending many jobs cost on this machine (docs/scaling.md).

    python scripts/scaling.py storage [--workers 1 2 4 8] [--trials 400]
    python scripts/scaling.py search  [--workers 1 2 4 8] [--trials 16]
    python scripts/scaling.py slurm   [--tasks 100]

``storage``: N processes share one study through nnrun's bounded storage (search.storage), each
trial empty (a random number), so what is measured is the storage itself: the claim under the
lock, the trial's rows, the heartbeat. On a PostgreSQL server of its own (scripts/
local_postgres.py) and on a journal file. ``search``: N ``nnrun mode=search`` processes on one
study of tiny trials (iris, 2 epochs), from the first start to the last exit. ``slurm``: a
100-task array of empty jobs (``sbatch --array --wrap true``) and a 100-job nnrun sweep
(``hydra/launcher=slurm``, 1 CPU per job, 1 epoch of iris) on a single-node cluster of its own
(scripts/local_slurm.py), from submission to the last job's end. Nothing else should run.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent
QUICK = ("dataset=iris", "trainer.progress=false", "trainer.baseline=off", "trainer.plots=false")


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _empty_trials(setting: str, study: str, trials: int, ready) -> None:
    import optuna

    from nnrecipes.modes.study_storage import StudyFull, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(setting, Path(tempfile.gettempdir()), study, trials, heartbeat=60)
    shared = optuna.load_study(study_name=study, storage=storage,
                               sampler=optuna.samplers.RandomSampler())
    ready.wait()
    try:
        shared.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=trials)
    except StudyFull:
        pass


def _count(setting: str, study: str) -> int:
    import optuna

    from nnrecipes.modes.study_storage import open_storage

    storage = open_storage(setting, Path(tempfile.gettempdir()), study, 0, heartbeat=60)
    loaded = optuna.load_study(study_name=study, storage=storage)
    return sum(trial.state == optuna.trial.TrialState.COMPLETE for trial in loaded.trials)


def storage_rate(setting: str, workers: int, trials: int) -> Dict[str, float]:
    """Trials a second for ``workers`` processes sharing one study of empty trials."""
    import optuna

    from nnrecipes.modes.study_storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = f"scaling-{workers}-{time.time_ns()}"
    optuna.create_study(study_name=study, storage=open_storage(
        setting, Path(tempfile.gettempdir()), study, trials, heartbeat=60))
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(workers + 1)
    processes = [spawn.Process(target=_empty_trials, args=(setting, study, trials, ready))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()  # every worker has imported and opened the storage
    started = time.perf_counter()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    finished = _count(setting, study)
    return {"workers": workers, "trials": finished, "seconds": seconds,
            "trials_per_second": finished / seconds}


def _search_workers(setting: str, workers: int, trials: int, folder: Path) -> Dict[str, float]:
    started = time.perf_counter()
    runs = [subprocess.Popen([sys.executable, "-m", "nnrecipes.cli", "mode=search", *QUICK,
                              f"search.trials={trials}", "search.startup_trials=3",
                              "trainer.epochs=2", f"search.storage='{setting}'",
                              f"search.study=scaling-{workers}", f"hydra.run.dir={folder}/{n}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
            for n in range(workers)]
    codes = [run.wait() for run in runs]
    seconds = time.perf_counter() - started
    return {"workers": workers, "trials": trials, "seconds": seconds,
            "trials_per_second": trials / seconds, "failed_workers": sum(map(bool, codes))}


def _with_postgres(measure: Callable[[str], List[dict]]) -> List[dict]:
    local_postgres = _script("local_postgres")
    if local_postgres.missing():
        print(f"PostgreSQL skipped: {local_postgres.missing()}")
        return []
    folder = Path(tempfile.mkdtemp(prefix="nnrecipes-pg-"))
    try:
        return measure(local_postgres.start(folder))
    finally:
        local_postgres.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _table(title: str, rows: List[dict]) -> None:
    print(f"\n{title}")
    for row in rows:
        print("  " + "  ".join(f"{key} {value:.3g}" if isinstance(value, float) else
                               f"{key} {value}" for key, value in row.items()))


def storage(args) -> None:
    def measure(setting: str) -> List[dict]:
        return [storage_rate(setting, workers, args.trials) for workers in args.workers]

    _table(f"PostgreSQL, {args.trials} empty trials", _with_postgres(measure))
    with tempfile.TemporaryDirectory() as folder:
        _table(f"journal file, {args.trials} empty trials",
               measure(f"journal:{folder}/study.log"))


def search(args) -> None:
    def measure(setting: str) -> List[dict]:
        with tempfile.TemporaryDirectory() as folder:
            return [_search_workers(setting, workers, args.trials, Path(folder) / str(workers))
                    for workers in args.workers]

    _table(f"PostgreSQL, nnrun mode=search, {args.trials} trials of iris",
           _with_postgres(measure))
    with tempfile.TemporaryDirectory() as folder:
        _table(f"journal file, nnrun mode=search, {args.trials} trials of iris",
               measure(f"journal:{folder}/study.log"))


def _drained(env: Dict[str, str]) -> None:
    while subprocess.run(["squeue", "--me", "--noheader"], env=env, capture_output=True,
                         text=True).stdout.strip():
        time.sleep(0.2)


def slurm(args) -> None:
    local_slurm = _script("local_slurm")
    if local_slurm.missing():
        sys.exit(f"scaling: {local_slurm.missing()}")
    folder = Path(tempfile.mkdtemp(prefix="nnrecipes-slurm-"))
    env = local_slurm.environment(local_slurm.start(folder))
    try:
        started = time.perf_counter()
        subprocess.run(["sbatch", f"--array=0-{args.tasks - 1}", "--wrap=true",
                        "--output=/dev/null", "--cpus-per-task=1"],
                       env=env, check=True, capture_output=True)
        _drained(env)
        empty = time.perf_counter() - started
        print(f"\n{args.tasks}-task array of empty jobs: {empty:.1f} s, "
              f"{args.tasks / empty:.2f} jobs/s")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nnrecipes.cli", "-m", "hydra/launcher=slurm",
                               "hydra.launcher.cpus_per_task=1", f"seed=range(0,{args.tasks})",
                               "trainer.epochs=1", *QUICK, f"hydra.sweep.dir={folder}/sweep"],
                              env=env, capture_output=True, text=True)
        sweep = time.perf_counter() - started
        completed = (folder / "sweep" / "sweep_summary.csv").read_text().count(",completed,")
        print(f"{args.tasks}-job nnrun sweep (1 CPU each, 1 epoch of iris): {sweep:.1f} s, "
              f"{args.tasks / sweep:.2f} jobs/s, {completed} completed, exit {done.returncode}")
    finally:
        local_slurm.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("storage", "search", "slurm"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    args.trials = args.trials or {"storage": 400, "search": 16}.get(args.what)
    {"storage": storage, "search": search, "slurm": slurm}[args.what](args)


if __name__ == "__main__":
    main()
