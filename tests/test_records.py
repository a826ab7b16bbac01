"""What a run records about where it came from (git commit, host, packages) and
trainer.deterministic: the same seed twice gives the same numbers."""

import csv
import shutil
import subprocess
from importlib import metadata

import pytest
import torch

from nnrecipes.records.provenance import code_version

QUICK = ("dataset=iris", "trainer.epochs=1")


def git(folder, *args):
    return subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_summary_names_the_commit_and_whether_tracked_files_changed(nnrun, tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("first\n")
    git(project, "init", "-q")
    git(project, "add", "notes.txt")
    git(project, "commit", "-q", "-m", "first")
    monkeypatch.chdir(project)
    clean = nnrun(*QUICK, run_dir=tmp_path / "clean").summary["git"]
    assert clean == {"repository": str(project.resolve()), "commit": git(project, "rev-parse",
                                                                         "HEAD"), "dirty": False}
    (project / "notes.txt").write_text("changed\n")
    assert nnrun(*QUICK, run_dir=tmp_path / "dirty").summary["git"]["dirty"] is True


def test_outside_a_repository_the_summary_says_there_is_none(nnrun, tmp_path, monkeypatch):
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    if code_version(outside)["repository"] is not None:
        pytest.skip(f"{outside} lies inside a git repository")
    run = nnrun(*QUICK, run_dir=tmp_path / "run")
    record = run.summary["git"]
    assert record["commit"] is None and record["dirty"] is None
    assert "not in a git repository" in record["note"]
    assert run.summary["host"]


def test_environment_txt_lists_every_installed_package(nnrun):
    run = nnrun(*QUICK)
    lines = (run.dir / "environment.txt").read_text().splitlines()
    assert lines[0].startswith("# python ")
    listed = dict(line.split("==", 1) for line in lines[1:])
    assert listed["torch"] == metadata.version("torch")
    assert {"hydra-core", "omegaconf", "scikit-learn", "nnrecipes"} <= set(listed)


def metrics_without_timing(run):
    """metrics.csv less its seconds column, the one that measures the machine, not the run."""
    with open(run.dir / "metrics.csv", newline="") as handle:
        return [{key: value for key, value in row.items() if key != "seconds"}
                for row in csv.DictReader(handle)]


def test_deterministic_runs_with_one_seed_give_identical_metrics(nnrun):
    same = ("dataset=digits", "model=cnn", "trainer.epochs=2", "trainer.deterministic=true",
            "seed=3")
    first, second = nnrun(*same), nnrun(*same)
    assert torch.are_deterministic_algorithms_enabled()
    assert metrics_without_timing(first) == metrics_without_timing(second)
    assert first.summary["test"] == second.summary["test"]
    nnrun(*QUICK)  # a later run in the same process gets PyTorch's default kernels back
    assert not torch.are_deterministic_algorithms_enabled()
