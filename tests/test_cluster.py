"""The signal SLURM sends before a job's time limit (SIGUSR2, through submitit): the job stops
cleanly, submitit requeues it, and the requeued job resumes to the result of an unbroken run.

submitit's local executor handles SIGUSR2 and requeues exactly as its SLURM executor does, so the
wiring is tested here without a cluster.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import RunResult
from test_cli import nnrun_command

# Epochs of about 10 ms: the epoch files are first written after a second (run/loop.py), and the
# signal below must reach the job after that and before it ends.
OVERRIDES = ("dataset=wine", "trainer.epochs=400", "trainer.plots=false", "trainer.progress=false",
             "trainer.baseline=off")


def rows(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1 if path.is_file() else 0


def job_process(sweep_dir: Path) -> int:
    """The pid of submitit's process that runs the sweep's job."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "submitit.core._submit" in words and any(str(sweep_dir) in word for word in words):
            return int(cmdline.parent.name)
    raise AssertionError("the submitit job process was not found")


@pytest.mark.skipif(not Path("/proc").is_dir() or not hasattr(signal, "SIGUSR2"),
                    reason="needs /proc and SIGUSR2")
def test_sigusr2_stops_requeues_and_resumes_a_submitit_job(nnrun, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep_dir = tmp_path / "sweep"
    sweep = subprocess.Popen([nnrun_command(), "-m", "hydra/launcher=submitit_local",
                              "hydra.launcher.timeout_min=10", *OVERRIDES,
                              f"hydra.sweep.dir={sweep_dir}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while rows(sweep_dir / "0" / "metrics.csv") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stopped_at = rows(sweep_dir / "0" / "metrics.csv")
    os.kill(job_process(sweep_dir), signal.SIGUSR2)
    output, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, output

    log = (sweep_dir / "0" / "nnrun.log").read_text()
    assert "interrupted by SIGUSR2" in log
    assert "resumed from" in log
    assert stopped_at < 400
    job = RunResult(sweep_dir / "0")
    assert job.summary["status"] == "completed"
    assert rows(job.dir / "metrics.csv") == 400
    whole = nnrun(*OVERRIDES)
    assert job.summary["test"] == whole.summary["test"]
