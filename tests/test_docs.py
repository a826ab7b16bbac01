"""Every shell command in README.md and docs/ that a user can copy (each line of a fenced block
that starts with a command) runs as written, on small data, or is listed in NOT_RUN with the
reason it cannot run here. So the docs cannot drift from the code.

Each page's commands run in order in one scratch folder, as a user following the page would
(a command may use what an earlier one made). nnrun and its sibling commands run in this process
(the same code path as the installed commands, and fast); other commands in a subprocess. Small
data: the built-in data sets that live in files come from generated stand-ins
(``NNRECIPES_DATA``), training pools are cut to 64 samples, epochs and trials to a few (a
command's own counts keep their order: 5 and 10 epochs become 4 and 5), and the baselines and
figures, which other tests check, are left out. A transcript line
``$ nnrun ...`` followed by an ``error:`` line must print that very line and exit 2.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from conftest import run_cli

from nnrecipes.smoke import write_smoke_data

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Where a line starts a command (after an optional "$ " prompt).
COMMANDS = ("nnrun", "nnrun-export", "nnrun-report", "nnrun-smoke", "python", "python3", "pip",
            "torchrun", "tensorboard", "mlflow", "optuna-dashboard", "eval", "cat")
# The commands that are not run here, each with why; a page's command that is neither run nor
# listed fails the test, so a new one needs a decision.
NOT_RUN: Dict[str, str] = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && nnrun":
        "sets up a fresh environment; checked by hand at each stop (the closing notes)",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest":
        ".ci/run runs it, as written, on every CI run",
    "pip install 'nnrecipes[tensorboard,mlflow]'": "installs packages (CI installs every extra)",
    "tensorboard --logdir outputs --host 127.0.0.1":
        "a server that runs until stopped; scripts/trackers.py starts it on 127.0.0.1 and reads it",
    "mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db --host 127.0.0.1":
        "a server that runs until stopped; scripts/trackers.py starts MLflow's on 127.0.0.1",
    "optuna-dashboard sqlite:///outputs/search_cancer/study.db --host 127.0.0.1":
        "a server that runs until stopped, from a package nnrecipes does not depend on",
    "torchrun --standalone --nproc_per_node=4 -m nnrecipes.cli +experiment=fashion_cnn":
        "4 processes, one per GPU; tests/test_distributed.py runs 2 on the CPU",
    "torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 "
    "-m nnrecipes.cli +experiment=fashion_cnn":
        "two nodes of 8 GPUs; tests/test_multinode.py runs it with 1 process per node on two "
        "hosts made of network namespaces",
    "torchrun --standalone --nproc_per_node=4 -m nnrecipes.cli resume=outputs/fashion_cnn":
        "4 processes, one per GPU; tests/test_distributed.py resumes a 2-process run",
    "nnrun -m hydra/launcher=slurm_gpu hydra.launcher.partition=gpu "
    "hydra.launcher.timeout_min=240 hydra.launcher.gpus_per_node=4 "
    "hydra.launcher.tasks_per_node=4 optimizer.lr=0.1,0.03,0.01": "a SLURM cluster with GPUs",
    "nnrun -m hydra/launcher=slurm optimizer.lr=0.1,0.01":
        "a SLURM cluster; tests/test_slurm.py runs such sweeps on a node of its own",
    "nnrun -m hydra/launcher=slurm_gpu hydra.launcher.partition=gpu optimizer.lr=0.1,0.01":
        "a SLURM cluster with GPUs",
    "nnrun -m hydra/launcher=submitit_slurm hydra.launcher.partition=gpu "
    "hydra.launcher.gpus_per_node=1 hydra.launcher.timeout_min=240 optimizer.lr=0.1,0.01":
        "a SLURM cluster with GPUs",
    "python scripts/smoke.py": ".ci/run runs it after the tests",
    "python scripts/scaling.py slurm --tasks 100":
        "a benchmark of minutes (docs/scaling.md's figures); tests/test_slurm.py tests its cluster",
    "python scripts/scaling.py storage --workers 1 2 4 8 --trials 400":
        "a benchmark (docs/scaling.md's figures); tests/test_search_workers.py tests the storage",
    "python scripts/scaling.py search --workers 1 2 4 8 --trials 16":
        "a benchmark of minutes (docs/scaling.md's figures); tests/test_search_workers.py runs "
        "workers",
}
SHRUNK_EPOCHS = ("trainer.epochs", "dataset.epochs")


def _blocks(text: str) -> List[List[str]]:
    """The lines of each fenced code block, as written (a heredoc keeps its indentation)."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line.rstrip())
    return blocks


Step = Tuple[str, Optional[str], Optional[str]]  # (command, expected error line, file text)


def _commands(block: List[str]) -> List[Step]:
    """Each command of a block, joined across continuations, with the error line a transcript
    shows after it, or the file a heredoc writes."""
    steps, index = [], 0
    while index < len(block):
        line, index = block[index].strip(), index + 1
        prompt = line.startswith("$ ")
        line = line[2:] if prompt else line
        if not line or line.split()[0] not in COMMANDS:
            continue
        while line.endswith("\\") or not _complete(line):
            line = line.rstrip("\\").rstrip() + " " + block[index].strip() \
                if line.endswith("\\") else line + "\n" + block[index]
            index += 1
        heredoc = re.match(r"cat > (\S+) <<'EOF'$", line)
        if heredoc:
            end = next(at for at in range(index, len(block)) if block[at].strip() == "EOF")
            steps.append((line, None, "\n".join(block[index:end]) + "\n"))
            index = end + 1
            continue
        shown = block[index].strip() if prompt and index < len(block) and \
            "error:" in block[index] else None
        steps.append((line, shown, None))
    return steps


def _complete(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
        return True
    except ValueError:  # an open quote: the command goes on on the next line
        return False


def _shrunk(args: List[str]) -> List[str]:
    """A command's overrides for small data: few samples, epochs and trials."""
    if any(arg.startswith("--") and arg != "--config-dir" for arg in args):
        return args  # --help, --cfg, --info, --shell-completion: nothing runs
    keys = {arg.split("=", 1)[0].lstrip("+~") for arg in args}
    out = []
    for arg in args:
        key, _, value = arg.partition("=")
        if key in SHRUNK_EPOCHS and value.isdigit():
            arg = f"{key}={min(int(value), 1 + math.ceil(math.log2(int(value))))}"
        elif key == "search.trials" and value.isdigit():
            arg = f"{key}={min(int(value), 3)}"
        out.append(arg)
    reads_a_checkpoint = {"mode=eval", "mode=predict"} & set(args)
    if not reads_a_checkpoint and not keys & {"resume"}:
        out += [] if "dataset.limit" in keys else ["dataset.limit=64"]
        out += [] if keys & set(SHRUNK_EPOCHS) else ["dataset.epochs=2"]
    if not reads_a_checkpoint:  # the baselines and figures, tested elsewhere, take seconds
        out += [f"{key}={value}" for key, value in (("trainer.baseline", "off"),
                                                   ("trainer.plots", "false")) if key not in keys]
    if "mode=search" in args and "search.trials" not in keys:
        out.append("search.trials=2")
    return [*out, "trainer.progress=false"] if not reads_a_checkpoint else out


def _run(command: str, shown: Optional[str], text: Optional[str], folder: Path, capsys) -> None:
    if text is not None:  # cat > FILE <<'EOF'
        (folder / command.split()[2]).write_text(text)
        return
    words = shlex.split(command, comments=True)
    name, args = words[0], words[1:]
    if name == "nnrun" and shown is not None:
        code = run_cli(*args, "trainer.progress=false")
        said = capsys.readouterr()
        assert code == 2 and shown in (said.out + said.err).splitlines(), (command, said)
    elif name == "nnrun":
        code = run_cli(*_shrunk(args))
        said = capsys.readouterr()
        assert code == 0, (command, said.out[-3000:] + said.err[-3000:])
    elif name in ("nnrun-export", "nnrun-report"):
        from nnrecipes.export import main as export
        from nnrecipes.report import main as report

        assert {"nnrun-export": export, "nnrun-report": report}[name](args) == 0, command
        capsys.readouterr()
    else:  # python -c ..., eval "$(nnrun ...)": as a shell runs them
        binaries = str(Path(sys.executable).parent)
        done = subprocess.run(["bash", "-c", command.replace("python ", f"{sys.executable} ", 1)],
                              cwd=folder, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PATH": f"{binaries}:{os.environ['PATH']}"})
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])


def _normalised(command: str) -> str:
    """A command as the shell reads it: comments and spacing gone, quoting made uniform."""
    return shlex.join(shlex.split(command, comments=True))


def _page_steps(page: Path) -> List[Step]:
    # A page's dated history (docs/benchmarks-archive.md) quotes what ran then, outputs included.
    text = page.read_text().split("\n## History\n")[0]
    return [step for block in _blocks(text) for step in _commands(block)]


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stand_ins")
    write_smoke_data(folder)
    return folder


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    """A $TORCH_HOME whose hub cache holds stand-ins for the pretrained weights the pages name
    (ImageNet's cannot be downloaded here): seeded random values of the right shapes, under
    torchvision's file names."""
    import torch
    from torchvision import models

    from nnrecipes.components.models.pretrained import cache_file, named_weights

    home = tmp_path_factory.mktemp("torch_home")
    for arch in ("resnet18",):
        path = home / "hub" / "checkpoints" / cache_file(named_weights(arch, "DEFAULT")).name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(models.get_model(arch, weights=None).state_dict(), path)
    return home


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_command_of_the_page_runs_as_written(page, stand_ins, hub_cache, tmp_path,
                                                   monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNRECIPES_DATA", str(stand_ins))
    monkeypatch.setenv("TORCH_HOME", str(hub_cache))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # a page's own modules, found from here
    before = set(sys.modules)
    not_run = {_normalised(command) for command in NOT_RUN}
    try:
        for command, shown, text in _page_steps(page):
            if _normalised(command) not in not_run:
                _run(command, shown, text, tmp_path, capsys)
    finally:  # the page's own modules (my_nets) are not another test's
        for name in set(sys.modules) - before:
            if str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(tmp_path)):
                del sys.modules[name]


def test_every_command_not_run_is_still_in_the_docs():
    found = {_normalised(command) for page in PAGES for command, _, _ in _page_steps(page)}
    missing = {command for command in NOT_RUN if _normalised(command) not in found}
    assert not missing, missing


def _tour_commands() -> List[str]:
    """The README tour's first block: the runs a newcomer tries first, as written."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## A tour", 1)[1].split("```", 2)[1]
    return [line.split("#", 1)[0].strip() for line in block.splitlines()
            if line.startswith("nnrun") and "--" not in line.split("#", 1)[0]]


@pytest.mark.parametrize("command", [
    pytest.param(command, marks=[pytest.mark.slow] if "fashion" in command else [])
    for command in _tour_commands()])
def test_the_tour_gives_what_it_promises_at_full_size(command, tmp_path):
    """The tour's commands on their real data, not shrunk: each run learns (the EMA example once
    ended with a network that had barely trained, exit 0). Fashion-MNIST's preset runs where the
    real data is (NNRECIPES_TEST_DATA) and is marked as slow by its 70 s."""
    args = shlex.split(command)[1:]
    if any("fashion" in arg for arg in args):
        data = os.environ.get("NNRECIPES_TEST_DATA")
        if not data:
            pytest.skip("NNRECIPES_TEST_DATA is not set: no Fashion-MNIST")
        args.append(f"dataset.data_dir={data}")
    assert run_cli(*args, "trainer.progress=false", "trainer.plots=false",
                   f"hydra.run.dir={tmp_path / 'run'}") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed"
    if "mode=lr_find" in args:
        assert summary["suggested_lr"] is not None
        return
    if "fashion_90s" in command:  # the README's own figure: 93.4%
        assert summary["test"]["accuracy"] >= 0.93
        return
    assert summary["test"]["accuracy"] >= 0.9 and summary["test"]["loss"] < 0.3, summary["test"]
