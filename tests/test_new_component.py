"""A new option is a file in its group's package and a YAML, nothing else edited: a model, a data
set and a logger each added so to a copy of the package train, are listed by --help and tab
completion, and run in the smoke script. The files are docs/extending.md's whole examples, read
from the page, so the recipes a newcomer copies are the ones that run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DOC = REPO / "docs" / "extending.md"


def recipes() -> dict:
    """docs/extending.md's whole examples: each code block after a ``<!-- recipe: PATH -->``
    comment, by PATH. The test writes exactly what the docs show."""
    found = dict(re.findall(r"<!-- recipe: (\S+) -->\n```\w*\n(.*?)```", DOC.read_text(), re.S))
    assert len(found) == 6, sorted(found)
    return found

CHECKS = '''
import contextlib, io, json, os, sys
from pathlib import Path
from nnrecipes import cli, smoke

def said(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            cli.main(list(args))
        except SystemExit as stop:
            assert not stop.code, (args, out.getvalue())
    return out.getvalue()

help_text = said("--help")
completed = {}
for group in ("model", "dataset", "logger"):
    os.environ["COMP_LINE"] = f"nnrun {group}="
    completed[group] = said("--shell-completion", "query=bash").split()
del os.environ["COMP_LINE"]
said("dataset=blobs", "model=tiny", "logger=jsonl", "optimizer.lr=0.05", "trainer.progress=false",
     "hydra.run.dir=" + sys.argv[1])
rows = (Path(sys.argv[1]) / "epochs.jsonl").read_text().splitlines()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = smoke.main(["--only", "blobs"])
print(json.dumps({"help": help_text, "completed": completed, "rows": len(rows),
                  "summary": json.loads((Path(sys.argv[1]) / "summary.json").read_text()),
                  "smoke": out.getvalue(), "smoke_code": code}))
'''


def test_a_model_a_data_set_and_a_logger_each_a_new_file_and_a_yaml(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "nnrecipes", copy / "nnrecipes", symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "configs"))
    shutil.copytree(REPO / "configs", copy / "nnrecipes" / "configs",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in recipes().items():
        target = copy / (name.replace("configs/", "nnrecipes/configs/", 1))
        target.write_text(textwrap.dedent(text).lstrip())
    done = subprocess.run([sys.executable, "-c", CHECKS, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(copy)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    import json

    found = json.loads(done.stdout.splitlines()[-1])
    groups = found["help"].split("== Config groups")[1]
    for group, option in (("model", "tiny"), ("dataset", "blobs"), ("logger", "jsonl")):
        assert option in groups.split(f"{group}:")[1].splitlines()[0], group
        assert f"{group}={option}" in found["completed"][group]
    assert found["summary"]["status"] == "completed" and found["rows"] == 3
    assert found["summary"]["test"]["accuracy"] > 0.6
    assert found["smoke_code"] == 0 and "blobs x tiny" in found["smoke"]


def test_a_component_file_that_fails_to_import_is_one_error_naming_it(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "nnrecipes", copy / "nnrecipes",
                    ignore=shutil.ignore_patterns("__pycache__", "configs"))
    shutil.copytree(REPO / "configs", copy / "nnrecipes" / "configs")
    (copy / "nnrecipes" / "components" / "models" / "broken.py").write_text(
        "import not_a_module_anywhere\n")
    done = subprocess.run([sys.executable, "-m", "nnrecipes.cli", "trainer.epochs=1",
                           f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(copy)})
    said = [line for line in (done.stdout + done.stderr).splitlines() if "error" in line]
    assert done.returncode == 2 and len(said) == 1, done.stdout + done.stderr
    assert "nnrecipes.components.models.broken failed to import (ModuleNotFoundError" in said[0]
    assert "Traceback" not in done.stdout + done.stderr
