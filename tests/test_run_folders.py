"""What a run folder says under faults: one nnrun at a time, no run written over another, a
refused resume that changes no byte, and a stop or a full disk after training that a resume
finishes without training again."""

from __future__ import annotations

import errno
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bad_inputs import error_lines
from conftest import RunResult, run_cli

import nnrecipes.records.checkpoint as checkpoint_module
import nnrecipes.records.recorder as recorder_module
import nnrecipes.run.finish as finish_module
import nnrecipes.run.train as train_module
from nnrecipes import report
from nnrecipes.records.checkpoint import load_checkpoint
from nnrecipes.smoke import write_idx_dataset

QUICK = ("trainer.progress=false", "trainer.baseline=off")
FIGURES = ("curves.png", "confusion_matrix.png")


def _bytes(folder: Path) -> dict:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _said(capsys) -> str:
    output = capsys.readouterr()
    return "\n".join(error_lines(output.out + output.err)) or output.out + output.err


def test_a_folder_in_use_is_refused_and_freed_when_its_run_is_killed(tmp_path, capsys):
    run_dir = tmp_path / "busy"
    first = subprocess.Popen(
        [sys.executable, "-m", "nnrecipes.cli", "dataset=digits", "trainer.epochs=100000",
         "trainer.plots=false", "device.threads=1", *QUICK, f"hydra.run.dir={run_dir}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoints" / "last.pt").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first run died"
            time.sleep(0.2)
        record = (run_dir / ".hydra" / "overrides.yaml").read_bytes()
        assert run_cli("dataset=wine", *QUICK, f"hydra.run.dir={run_dir}") == 2
        assert "is in use: another nnrun is writing into it" in _said(capsys)
        assert (run_dir / ".hydra" / "overrides.yaml").read_bytes() == record
        assert "wine" not in (run_dir / "nnrun.log").read_text()
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done = load_checkpoint(run_dir)["progress"]["epoch"]
    assert run_cli(f"resume={run_dir}", f"trainer.epochs={done + 1}", *QUICK) == 0
    resumed = RunResult(run_dir)
    assert resumed.summary["status"] == "completed" and resumed.summary["dataset"] == "digits"
    assert len(resumed.metrics_rows()) == done + 1


@pytest.fixture
def trained(tmp_path) -> Path:
    run_dir = tmp_path / "trained"
    assert run_cli("trainer.epochs=2", *QUICK, f"hydra.run.dir={run_dir}") == 0
    return run_dir


@pytest.mark.parametrize("command", [
    ("resume={run}", "optimizer=sgd"), ("resume={run}", "trainer.epochs=1"),
    ("resume={run}", "optimizer.lr=-1"), ("resume={run}", "dataset=wine"),
    ("dataset=wine", "hydra.run.dir={run}"), ("mode=eval", "checkpoint={run}", "dataset=wine"),
])
def test_a_refused_command_leaves_every_byte_of_the_run(command, trained, tmp_path, capsys):
    before = _bytes(trained)
    args = [arg.replace("{run}", str(trained)) for arg in command]
    if not any(arg.startswith(("resume=", "hydra.run.dir=")) for arg in args):
        args.append(f"hydra.run.dir={tmp_path / 'elsewhere'}")
    assert run_cli(*args, *QUICK) == 2
    assert "error" in _said(capsys)
    assert _bytes(trained) == before  # nnrun.log included


def test_overwrite_replaces_a_run_only_when_asked(trained, capsys):
    assert run_cli("--overwrite", "dataset=wine", "trainer.epochs=1", *QUICK,
                   f"hydra.run.dir={trained}") == 0
    replaced = RunResult(trained)
    assert replaced.summary["dataset"] == "wine" and len(replaced.metrics_rows()) == 1
    assert "iris" not in (trained / "nnrun.log").read_text()


def test_an_existing_sweep_is_refused_unless_resumed(tmp_path, capsys):
    sweep = ["-m", "optimizer.lr=0.1,0.01", "trainer.epochs=1", "trainer.plots=false", *QUICK,
             f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    assert run_cli(*sweep) == 0
    before = _bytes(tmp_path / "sweep")
    assert run_cli(*sweep[:-1], "optimizer.lr=0.5,0.05", sweep[-1]) == 2
    assert "already holds a sweep" in _said(capsys)
    assert _bytes(tmp_path / "sweep") == before
    assert run_cli(*sweep, "sweep.resume=true") == 0
    assert "already completed" in capsys.readouterr().out


def test_a_batch_of_one_trains(tmp_path):
    assert run_cli("dataset.batch_size=1", "trainer.epochs=1", *QUICK,
                   f"hydra.run.dir={tmp_path / 'one'}") == 0
    row = RunResult(tmp_path / "one").metrics_rows()[0]
    assert float(row["train_loss"]) > 0  # every batch was trained on, none dropped


def _stop_once(monkeypatch, after: str):
    """A stop request (SIGTERM) that arrives once ``after`` (a name in run/finish.py or, for
    the figures, records/recorder.py) has run."""
    module = recorder_module if after == "write_run_plots" else finish_module
    real, asked = getattr(module, after), []

    def marked(*args, **kwargs):
        result = real(*args, **kwargs)
        asked.append(True)
        return result

    class Requests:
        def __enter__(self):
            return lambda: signal.SIGTERM if asked else None

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(module, after, marked)
    monkeypatch.setattr(train_module, "stop_requests", Requests)


@pytest.mark.parametrize("after", ["score", "write_run_plots"])
def test_a_stop_after_training_is_finished_by_resume_without_training(after, tmp_path,
                                                                      monkeypatch, capsys):
    run_dir = tmp_path / "stopped"
    _stop_once(monkeypatch, after)
    assert run_cli("trainer.epochs=3", *QUICK, f"hydra.run.dir={run_dir}") == 128 + 15
    stopped = RunResult(run_dir)
    assert stopped.summary["status"] == "interrupted"
    assert "after training ended" in stopped.summary["error"]
    monkeypatch.undo()
    metrics = (run_dir / "metrics.csv").read_bytes()
    assert run_cli(f"resume={run_dir}", *QUICK) == 0
    finished = RunResult(run_dir)
    assert finished.summary["status"] == "completed" and finished.summary["epochs_run"] == 3
    assert (run_dir / "metrics.csv").read_bytes() == metrics  # no epoch trained again
    assert all((run_dir / figure).is_file() for figure in FIGURES)


def test_a_full_disk_while_drawing_names_the_figure_and_resume_finishes(tmp_path, monkeypatch,
                                                                        capsys):
    run_dir, real = tmp_path / "full", checkpoint_module._replace

    def no_room_for_pictures(path, payload):
        if path.suffix == ".png":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, payload)

    monkeypatch.setattr(checkpoint_module, "_replace", no_room_for_pictures)
    assert run_cli("trainer.epochs=2", *QUICK, f"hydra.run.dir={run_dir}") == 2
    assert "curves.png: No space left on device" in _said(capsys)
    assert RunResult(run_dir).summary["status"] == "failed"
    monkeypatch.undo()
    assert run_cli(f"resume={run_dir}", *QUICK) == 0
    assert RunResult(run_dir).summary["status"] == "completed"
    assert len(RunResult(run_dir).metrics_rows()) == 2


def test_torchrun_with_a_sweep_is_refused_before_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, says in (("0", "under torchrun nnrun trains one run"), ("1", "")):
        monkeypatch.setenv("RANK", rank)
        assert run_cli("-m", "optimizer.lr=0.1,0.01", f"hydra.sweep.dir={tmp_path / 'sw'}") == 2
        output = capsys.readouterr()
        assert says in output.err and (says or not output.err)  # rank 1 stays silent
    assert not (tmp_path / "sw").exists()


def test_a_relative_data_dir_means_the_launch_folder_with_chdir(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "data" / "MNIST" / "raw", compress=True)
    monkeypatch.chdir(tmp_path)
    assert run_cli("dataset=mnist", "model=perceptron", "dataset.data_dir=data",
                   "hydra.job.chdir=true", "trainer.epochs=1", *QUICK,
                   f"hydra.run.dir={tmp_path / 'run'}") == 0


@pytest.mark.parametrize("damage", ["summary.json", "metrics.csv", "out"])
def test_report_errors_are_one_line_and_exit_2(damage, trained, tmp_path, capsys):
    out = tmp_path / "report"
    if damage == "out":
        out = trained / "summary.json" / "report"  # a folder under a file
    else:
        (trained / damage).write_text("epoch,lr\n1,oops\n" if damage == "metrics.csv" else "{")
    assert report.main([str(trained), "--out", str(out)]) == 2
    said = capsys.readouterr().err
    assert said.startswith("nnrun-report: error:") and len(said.strip().splitlines()) == 1
    assert (damage if damage != "out" else "Not a directory") in said
