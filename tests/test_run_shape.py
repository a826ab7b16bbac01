"""The run's shape: ``train()`` one run top to bottom, the pair of nets, one writer of the run
folder, one path for a trainer option, duplicate declarations refused, and a plain run that
imports only what it uses."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from dataclasses import fields, make_dataclass
from pathlib import Path
from typing import Optional

import pytest
import torch
from omegaconf import OmegaConf

PACKAGE = Path(__file__).resolve().parents[1] / "nnrecipes"
# Calls that write a file. A run's folder is written by records/ alone (its Recorder); the
# modules below write elsewhere, each for the reason given.
WRITERS = {"write_atomically", "write_json", "write_summary", "save_checkpoint", "record_failure",
           "write_text", "write_bytes", "savefig", "savez", "save", "open_memmap"}
WRITING_ELSEWHERE = {
    "data/image_cache.py": "the decoded-image cache, beside the pictures or in the user's cache",
    "data/stand_ins.py": "generated stand-in data for smoke runs and tests",
    "export.py": "exported models, beside the checkpoint or where --out says",
    "modes/predict.py": "predictions.csv, where output= says (anywhere)",
    "report.py": "a report of several runs, where --out says",
    "run/torchrun.py": "torchrun's error file, where torchrun's TORCHELASTIC_ERROR_FILE says",
}


def _writers():
    found = set()
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("records/", "configs/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name in WRITERS:
                    found.add(relative)
    return found


def test_every_write_into_a_run_folder_goes_through_records():
    assert _writers() == set(WRITING_ELSEWHERE)
    assert [name for name in _writers() if name.startswith("run/")] == ["run/torchrun.py"]


def test_train_is_one_run_top_to_bottom():
    from nnrecipes.run import train as train_module

    source = inspect.getsource(train_module.train)
    assert len(source.splitlines()) <= 35
    assert not re.search(r"\.rank\b|rank\(\)|== 0", source)  # no rank test: the recorder's
    for path in (PACKAGE / "run").glob("*.py"):
        assert "import cross_validation" not in path.read_text(), path.name
        assert "modes.cross_validation import" not in path.read_text(), path.name


def test_a_run_holds_the_net_that_trains_and_the_net_that_is_saved(nnrun):
    from nnrecipes.run.build import Nets, Parts, Run

    assert [field.name for field in fields(Run)][:3] == ["parts", "recorder", "progress"]
    assert Parts.__dataclass_params__.frozen  # built once, never replaced
    for holder in (Run, Parts):
        modules = [field.name for field in fields(holder) if "Module" in str(field.type)]
        assert modules == []  # the nets are Parts.nets: one that trains, one that is saved
    assert [field.name for field in fields(Nets)][:2] == ["trains", "saved"]


def test_the_saved_net_is_the_average_with_ema_and_the_trained_one_without():
    from nnrecipes.core.config import TrainerConfig
    from nnrecipes.run.build import _nets

    network = torch.nn.Linear(3, 2)
    plain = _nets(network, TrainerConfig(), torch.device("cpu"))
    assert plain.saved is plain.trains is network and plain.average is None
    averaged = _nets(network, TrainerConfig(ema=0.9), torch.device("cpu"))
    assert averaged.trains is network and averaged.saved is averaged.average.module
    assert averaged.saved is not network and averaged.evaluating is averaged.saved


def test_a_new_trainer_option_is_its_schema_and_its_one_consumer(nnrun, monkeypatch):
    """A throwaway option, trainer.clip_value: declared in a schema (here a subclass of
    TrainerConfig, standing in for a new field of it) and read by its one consumer (the
    engine's optimizer step); nothing in between (settings, build, plan) is touched."""
    from nnrecipes.core import config
    from nnrecipes.run import engine, settings

    with_clip = make_dataclass("TrainerConfig", [("clip_value", Optional[float], None)],
                               bases=(config.TrainerConfig,))
    real_from_config, seen = settings.RunSettings.from_config, []

    def from_config(cfg):  # what a new schema field does: the composed trainer node has it
        cfg.trainer = OmegaConf.merge(OmegaConf.structured(with_clip),
                                      OmegaConf.to_container(cfg.trainer, resolve=True),
                                      {"clip_value": 1e-3})
        return real_from_config(cfg)

    real_step = engine._optimizer_step

    def step_clipping_by_value(model, optimizer, plan):  # the one consumer
        torch.nn.utils.clip_grad_value_(model.parameters(), plan.trainer.clip_value)
        seen.append(max(float(p.grad.abs().max()) for p in model.parameters()
                        if p.grad is not None))
        real_step(model, optimizer, plan)

    monkeypatch.setattr(settings.RunSettings, "from_config", staticmethod(from_config))
    monkeypatch.setattr(engine, "_optimizer_step", step_clipping_by_value)
    run = nnrun("trainer.epochs=1")
    assert run.summary["status"] == "completed"
    assert seen and max(seen) <= 1.0001e-3  # float32


def test_a_second_declaration_of_a_taken_name_names_both_files(tmp_path):
    from nnrecipes.core import registry
    from nnrecipes.core.config import ModelConfig

    registry.declared("model")  # the built-in ones first
    clash = tmp_path / "my_models.py"
    clash.write_text("from nnrecipes.core.registry import declare\n"
                     "from nnrecipes.core.config import ModelConfig\n"
                     "declare('model', 'mlp', ModelConfig, object)\n")
    with pytest.raises(ValueError) as refused:
        exec(compile(clash.read_text(), str(clash), "exec"), {})
    said = str(refused.value)
    assert "model=mlp is declared twice" in said
    assert "components/models/mlp.py" in said and str(clash) in said
    assert registry.component("model", "mlp").schema is not ModelConfig  # the built-in kept


PLAIN_RUN = """
import sys, traceback

class Watch:  # who first imports torch._dynamo
    callers = None

    def find_spec(self, name, path=None, target=None):
        if name == "torch._dynamo" and Watch.callers is None:
            Watch.callers = [(frame.filename, frame.name) for frame in traceback.extract_stack()]


sys.meta_path.insert(0, Watch())
from nnrecipes.cli import main
main(["trainer.epochs=2", "trainer.progress=false", "hydra.run.dir=" + sys.argv[1]])
loaded = sorted(name for name in ("optuna", "nnrecipes.modes.search", "nnrecipes.modes.lr_find",
                                  "sklearn.ensemble") if name in sys.modules)
compiled = any(file.endswith("torch/__init__.py") and name == "compile"
               for file, name in Watch.callers or [])
print(" ".join(loaded), "|", "torch.compile" if compiled else "no torch.compile")
"""


def test_a_plain_run_imports_neither_optuna_nor_the_search_mode_nor_compiles(tmp_path):
    """A mode is imported when chosen, scikit-learn's ensembles at the baselines. torch 2.14
    imports torch._dynamo itself, at the first optimizer step (torch/optim/optimizer.py's
    _use_grad) or meta-device operation: what nnrecipes controls is that a plain run never
    calls torch.compile, which only trainer.compile=true does."""
    done = subprocess.run([sys.executable, "-c", PLAIN_RUN, str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded, compiled = done.stdout.splitlines()[-1].split("|")
    assert loaded.split() == ["sklearn.ensemble"]  # the baselines, at the finish: used
    assert compiled.strip() == "no torch.compile"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"


def test_the_nnrun_command_ends_with_its_files_flushed_and_its_exit_code(tmp_path):
    """cli.entry skips the interpreter's teardown once all is written: the log is whole, and an
    error still exits 2 with its one line."""
    nnrun = Path(sys.executable).parent / "nnrun"
    done = subprocess.run([str(nnrun), "trainer.epochs=2", "trainer.progress=false",
                           f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test  loss" in (tmp_path / "run" / "nnrun.log").read_text()
    assert "run directory" in done.stdout  # the results table, flushed before the exit
    refused = subprocess.run([str(nnrun), "optimizer.lrr=0.1", f"hydra.run.dir={tmp_path / 'x'}"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "lrr" in refused.stdout + refused.stderr
