"""Sweeps on a real SLURM cluster: a single node of this machine's own, started by
scripts/local_slurm.py from Debian's packages (.ci/run installs them). The launcher's defaults
fit the node, a job's CPUs are its threads, a job of two tasks writes each log line once, and a
job stopped by SIGUSR2 (what SLURM sends before a time limit) or requeued by an operator
resumes to the metrics of an unbroken run."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from conftest import RunResult, service_script

QUICK = ("trainer.plots=false", "trainer.progress=false", "trainer.baseline=off")
# Epochs of about 10 ms: the epoch files are first written after a second (run/loop.py), and the
# signals below must reach the jobs after that and before they end.
LONG = ("dataset=wine", "model=mlp", "trainer.epochs=400", "device.threads=1", *QUICK)
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason="needs Hydra's submitit launcher: pip install 'nnrecipes[launchers]'")


@pytest.fixture(scope="module")
def slurm() -> Iterator[Dict[str, str]]:
    """The environment that reaches the cluster (SLURM_CONF), for the commands of the tests."""
    local_slurm = service_script("local_slurm")
    why = local_slurm.missing()
    if why:
        pytest.skip(why)
    folder = Path(tempfile.mkdtemp(prefix="nnrecipes-slurm-"))
    conf = local_slurm.start(folder)
    try:
        yield local_slurm.environment(conf)
    finally:
        local_slurm.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _sweep(env: Dict[str, str], sweep_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nnrecipes.cli", "-m", "hydra/launcher=slurm",
                             "hydra.launcher.cpus_per_task=1", *overrides,
                             f"hydra.sweep.dir={sweep_dir}"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _finished(sweep: subprocess.Popen, seconds: float = 300) -> str:
    output, _ = sweep.communicate(timeout=seconds)
    assert sweep.returncode == 0, output
    return output


def _summary_rows(sweep_dir: Path) -> List[Dict[str, str]]:
    with open(sweep_dir / "sweep_summary.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_a_sweep_fits_a_cpu_node_quietly_with_a_thread_per_cpu(slurm, tmp_path):
    sweep_dir = tmp_path / "sweep"
    output = _finished(_sweep(slurm, sweep_dir, "optimizer.lr=0.1,0.01", "trainer.epochs=5",
                              *QUICK))
    rows = _summary_rows(sweep_dir)
    assert sorted(row["status"] for row in rows) == ["completed", "completed"]
    assert "sacct" not in output and "WARNING" not in output  # no accounting on this node
    for job in ("0", "1"):
        assert RunResult(sweep_dir / job).summary["device_name"].endswith(", 1 threads")


def test_a_job_of_two_tasks_trains_as_two_ranks_and_logs_once(slurm, tmp_path):
    sweep_dir = tmp_path / "sweep"
    _finished(_sweep(slurm, sweep_dir, "hydra.launcher.tasks_per_node=2", "trainer.epochs=3",
                     *QUICK))
    log = (sweep_dir / "0" / "nnrun.log").read_text()
    assert "x 2 processes" in log
    epoch_lines = [line for line in log.splitlines() if " epoch " in line]
    assert len(epoch_lines) == 3, log  # each line once: rank 1 does not write rank 0's log
    assert RunResult(sweep_dir / "0").summary["status"] == "completed"


def _epochs(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    return len(path.read_text().splitlines()) - 1 if path.is_file() else 0


def _job_ids(sweep_dir: Path) -> Dict[str, str]:
    """Sweep job number -> SLURM job id (submitit's folders are named by the id: 12_0, 12_1)."""
    return {folder.name.split("_")[-1]: folder.name
            for folder in (sweep_dir / ".submitit").iterdir() if "_" in folder.name}


def _wait_for_epochs(sweep: subprocess.Popen, sweep_dir: Path, jobs: List[str],
                     epochs: int) -> None:
    deadline = time.monotonic() + 180
    while any(_epochs(sweep_dir / job) < epochs for job in jobs):
        assert sweep.poll() is None, sweep.communicate()[0]
        assert time.monotonic() < deadline, "the jobs did not start training"
        time.sleep(0.05)


def test_usr2_and_requeue_each_resume_to_an_unbroken_runs_metrics(slurm, tmp_path, nnrun):
    """Job 0 gets SIGUSR2 (scancel --signal=USR2: submitit then requeues it); job 1 is
    requeued by an operator (scontrol requeue: SLURM stops it with SIGTERM)."""
    sweep_dir = tmp_path / "sweep"
    sweep = _sweep(slurm, sweep_dir, "seed=1,2", *LONG)
    _wait_for_epochs(sweep, sweep_dir, ["0", "1"], 3)
    ids = _job_ids(sweep_dir)
    subprocess.run(["scancel", "--signal=USR2", ids["0"]], check=True, env=slurm)
    subprocess.run(["scontrol", "requeue", ids["1"]], check=True, env=slurm)
    _finished(sweep)

    for job, seed, signal_name in (("0", 1, "SIGUSR2"), ("1", 2, "SIGTERM")):
        log = (sweep_dir / job / "nnrun.log").read_text()
        assert f"interrupted by {signal_name}" in log and "resumed from" in log, log
        done = RunResult(sweep_dir / job)
        assert done.summary["status"] == "completed"
        assert _epochs(done.dir) == 400
        unbroken = nnrun(f"seed={seed}", *LONG)
        assert done.summary["test"] == unbroken.summary["test"]
        assert done.summary["best_val"] == unbroken.summary["best_val"]


def test_a_request_the_cluster_refuses_is_one_line(slurm, tmp_path):
    sweep = _sweep(slurm, tmp_path / "sweep", "hydra.launcher.gpus_per_node=1", *QUICK)
    output, _ = sweep.communicate(timeout=120)
    assert sweep.returncode == 2
    assert "nnrun: error: SLURM refused the sweep's jobs (sbatch: error: Invalid generic " \
           "resource (gres) specification)" in output, output
    assert "Traceback" not in output
