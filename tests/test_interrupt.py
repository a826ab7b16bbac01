"""SIGTERM or Ctrl-C during training: a clean stop, a resumable folder, the same final metrics."""

import json
import signal
import subprocess
import time

import pytest
import torch
from conftest import RunResult
from test_cli import nnrun_command

from nnrecipes import cli

OVERRIDES = ("dataset=digits", "model=cnn", "trainer.epochs=12", "trainer.progress=false")


def rows(run_dir):
    path = run_dir / "metrics.csv"
    return len(path.read_text().splitlines()) - 1 if path.is_file() else 0


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_cleanly_and_resume_matches(nnrun, tmp_path, signal_number):
    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen([nnrun_command(), *OVERRIDES, f"hydra.run.dir={run_dir}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while rows(run_dir) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal_number)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number, output
    assert f"interrupted by {signal.Signals(signal_number).name}" in output
    assert "Traceback" not in output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert saved["progress"]["epoch"] == rows(run_dir) < 12

    cli.main([f"resume={run_dir}", "trainer.progress=false"])
    whole = nnrun(*OVERRIDES)
    resumed = RunResult(run_dir)
    assert resumed.summary["status"] == "completed"
    assert resumed.summary["test"] == whole.summary["test"]
    assert rows(run_dir) == 12
