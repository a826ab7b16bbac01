"""torchrun, 2 processes on CPU (gloo): the same model as one process with the same global batch."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import RunResult

# Batch 15 splits 8 + 7 between the ranks, so the loss scaling for unequal shares is exercised.
# model=mlp: model=tabular under torchrun ends 1.8e-3 away from one process (wine, 3 epochs),
# an open defect (issue 44's note); the MLP's equality is what these tests pin.
OVERRIDES = ("dataset=wine", "model=mlp", "trainer.epochs=3", "dataset.batch_size=15",
             "trainer.plots=false", "trainer.progress=false", "device=cpu")


def torchrun(run_dir, *overrides, processes=2):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", "-m", "nnrecipes.cli", *overrides,
               f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
@pytest.mark.parametrize("fine_tuning", [(), ("model.freeze=backbone", "trainer.unfreeze_epoch=1",
                                               "optimizer.backbone_lr_scale=0.5"),
                                         ("trainer.accumulate=3",)],
                         ids=["all_trains", "frozen_then_thawed", "accumulated"])
def test_two_processes_train_the_same_model_as_one(fine_tuning, nnrun, tmp_path):
    single = nnrun(*OVERRIDES, *fine_tuning)
    parallel_dir = tmp_path / "two_processes"
    done = torchrun(parallel_dir, *OVERRIDES, *fine_tuning)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "x 2 processes" in done.stdout

    one, two = weights(single.dir), weights(parallel_dir)
    assert list(one) == list(two)
    largest = max((one[key].float() - two[key].float()).abs().max().item() for key in one
                  if one[key].numel())  # model=tabular's index of 0/1 columns may be empty
    print(f"largest parameter difference, 2 processes vs 1: {largest:.3g}")
    assert largest < 1e-5
    parallel = RunResult(parallel_dir)
    assert parallel.summary["test"] == pytest.approx(single.summary["test"], abs=1e-5)
    for row_one, row_two in zip(single.metrics_rows(), parallel.metrics_rows()):
        assert float(row_one["train_loss"]) == pytest.approx(float(row_two["train_loss"]), 1e-5)
    # only rank 0 wrote: one summary, one metrics file, and no rank's folder in the run's
    assert sorted(path.name for path in parallel_dir.iterdir() if path.is_dir()) == \
        [".hydra", "checkpoints"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_processes_that_cannot_connect_say_so_in_one_line(tmp_path):
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "nosuch0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "nnrecipes.cli", *OVERRIDES,
                           f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode != 0
    report = done.stdout + done.stderr
    assert "could not connect to the others (rank 0 at localhost:" in report, report
    assert "gloo on interface nosuch0): Unable to find address for: nosuch0" in report
    assert "internal error" not in report


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_a_cross_validation_under_two_processes_scores_as_one(nnrun, tmp_path):
    """Each fold used to make a process group again after the last one's was destroyed: the
    second fold met stale addresses in torchrun's store and hung. One group serves every fold
    now; the folds score as in one process (a test with a timeout: torchrun's 300 s)."""
    folds = ("trainer.folds=3", "trainer.epochs=30")  # folds long enough to have hung
    single = nnrun(*OVERRIDES, *folds)
    done = torchrun(tmp_path / "two_processes", *OVERRIDES, *folds)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr  # DDP's FutureWarning among them
    parallel = RunResult(tmp_path / "two_processes").summary
    assert parallel["cv"]["network"]["accuracy"]["folds"] == pytest.approx(
        single.summary["cv"]["network"]["accuracy"]["folds"], abs=1e-6)
    assert parallel["test"] == pytest.approx(single.summary["test"], abs=1e-5)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_a_range_test_under_torchrun_runs_in_rank_zero_alone(tmp_path):
    done = torchrun(tmp_path / "range", "mode=lr_find", "dataset=wine", "model=mlp",
                    "lr_find.steps=30")
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "mode=lr_find under torchrun: rank 0 runs it alone" in said
    assert "suggested: optimizer.lr=" in said and "Traceback" not in said
    assert RunResult(tmp_path / "range").summary["kind"] == "learning-rate range test"
