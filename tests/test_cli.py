"""The installed ``nnrun`` command, as a user runs it from any directory."""

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nnrecipes.records.resume import resume_command as with_resume_overrides

REPO = Path(__file__).resolve().parents[1]


def nnrun_command():
    found = shutil.which("nnrun") or str(Path(sys.executable).parent / "nnrun")
    if not Path(found).exists():
        pytest.skip("the nnrun console script is not installed")
    return found


def run_nnrun(cwd, *args):
    return subprocess.run([nnrun_command(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_nnrun_trains_from_another_directory(tmp_path):
    result = run_nnrun(tmp_path, "trainer.epochs=2")
    assert result.returncode == 0, result.stderr
    summaries = list((tmp_path / "outputs").glob("*/*/summary.json"))
    assert len(summaries) == 1
    summary = json.loads(summaries[0].read_text())
    # the model nnrun chose for the table is part of the command that reproduces the run
    assert summary["command"] == "nnrun model=tabular trainer.epochs=2"
    assert "test accuracy" in result.stdout


def test_help_names_every_option_of_every_group(tmp_path):
    result = run_nnrun(tmp_path, "--help")
    assert result.returncode == 0
    section = result.stdout.split("== Config groups")[1].split("== Config (")[0]
    for group in ("dataset", "model", "optimizer", "scheduler", "device", "search"):
        # the group's line, and any indented lines that continue it
        listed = re.search(rf"^{group}:(.*?)(?=^\S|\Z)", section, re.M | re.S).group(1)
        for path in (REPO / "configs" / group).glob("*.yaml"):
            assert re.search(rf"\b{path.stem}\b", listed), f"--help misses {group}={path.stem}"
    assert "schema" not in result.stdout


def test_unknown_group_option_lists_the_choices(tmp_path):
    result = run_nnrun(tmp_path, "model=densenet")
    assert result.returncode != 0
    assert "densenet" in result.stderr and "mlp" in result.stderr


def test_user_errors_exit_2_without_a_traceback(tmp_path):
    result = run_nnrun(tmp_path, "dataset=california", f"dataset.data_dir={tmp_path}")
    assert result.returncode == 2
    assert "California housing not found" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_resume_recomposes_the_original_overrides(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- dataset=wine\n- trainer.epochs=4\n")
    args = with_resume_overrides([f"resume={run / 'checkpoints' / 'last.pt'}",
                                  "trainer.epochs=8"])
    assert args[:2] == ["dataset=wine", "trainer.epochs=8"]
    assert f"hydra.run.dir={run}" in args


def test_resume_quotes_paths_that_hydra_would_misread(tmp_path):
    run = tmp_path / "lr=0.1,bs=32"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("- dataset=wine\n")
    args = with_resume_overrides([f"resume={run}"])
    assert f"resume='{run}'" in args


def test_wheel_ships_every_config(tmp_path):
    pytest.importorskip("setuptools")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                             "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    wheel = next(tmp_path.glob("nnrecipes-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    yaml_files = {f"nnrecipes/configs/{path.relative_to(REPO / 'configs')}"
                  for path in (REPO / "configs").rglob("*.yaml")}
    assert yaml_files <= names
    assert "nnrecipes/configs/dataset/fashion_mnist.yaml" in names
    modules = {str(path.relative_to(REPO)) for path in (REPO / "nnrecipes").rglob("*.py")
               if "configs" not in path.relative_to(REPO).parts}
    assert modules <= names, sorted(modules - names)  # a new package folder is in pyproject.toml
