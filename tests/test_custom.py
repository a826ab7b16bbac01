"""A user's own model class and data loader, in a module outside the package, trained by nnrun."""

from __future__ import annotations

import sys
import textwrap

import pytest
from bad_inputs import error_lines
from conftest import run_cli

USER_MODULE = textwrap.dedent('''
    import numpy as np
    import torch
    from torch import nn


    class TinyNet(nn.Module):
        """A model nnrecipes has never seen: a residual block over a linear stem."""

        def __init__(self, input_shape, num_outputs, width: int = 16, scale: float = 1.0):
            super().__init__()
            self.stem = nn.Linear(int(np.prod(input_shape)), width)
            self.block = nn.Sequential(nn.ReLU(), nn.Linear(width, width))
            self.head = nn.Linear(width, num_outputs)
            self.scale = scale

        def forward(self, x):
            hidden = self.stem(x.flatten(1))
            return self.head(hidden + self.scale * self.block(hidden))


    def blobs(count: int = 300, classes: int = 3):
        """Three well-separated clusters in 5 dimensions, with their class names."""
        rng = np.random.default_rng(0)
        labels = np.arange(count) % classes
        x = rng.normal(0, 0.3, (count, 5)) + labels[:, None] * 2.0
        return {"x": x, "y": labels, "class_names": ["a", "b", "c"][:classes]}


    def sums(count: int = 200):
        rng = np.random.default_rng(1)
        x = rng.uniform(0, 1, (count, 3))
        return x, x.sum(axis=1)


    def broken():
        raise RuntimeError("the database is down")
''')


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    """my_code.py in a folder of its own, which nnrun is started in (as a user would)."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "my_code.py").write_text(USER_MODULE)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", list(sys.path))  # nnrun adds the folder; undo it after
    yield folder
    sys.modules.pop("my_code", None)


def test_a_user_model_class_trains_through_nnrun(nnrun, user_code):
    run = nnrun("model=custom", "model.target=my_code:TinyNet", "+model.args.width=32",
                "dataset=wine", "trainer.epochs=30")
    summary = run.summary
    assert summary["status"] == "completed" and summary["model"] == "custom"
    assert summary["test"]["accuracy"] > 0.8
    # width=32 reached the class: stem 13x32+32, block 32x32+32, head 32x3+3.
    assert summary["parameters"] == 13 * 32 + 32 + 32 * 32 + 32 + 32 * 3 + 3


def test_a_user_data_set_trains_through_nnrun(nnrun, user_code):
    run = nnrun("dataset=custom", "dataset.target=my_code:blobs", "+dataset.args.count=240",
                "trainer.epochs=20")
    summary = run.summary
    assert summary["dataset"] == "custom" and summary["task"] == "multiclass"
    assert sum(summary["samples"].values()) == 240
    assert summary["test"]["accuracy"] > 0.9
    regression = nnrun("dataset=custom", "dataset.target=my_code:sums",
                       "dataset.task=regression", "trainer.epochs=20").summary
    assert regression["task"] == "regression" and "r2" in regression["test"]


@pytest.mark.parametrize("overrides,words", [
    (["model=custom", "model.target=no_such_module:Net"], "cannot import no_such_module"),
    (["model=custom", "model.target=my_code:TinyNett"], "did you mean TinyNet"),
    (["model=custom", "model.target=my_code"], "must name module:Name"),
    (["model=custom", "model.target=my_code:TinyNet", "+model.args.widht=8"],
     "did you mean width"),
    (["model=custom", "model.target=my_code:TinyNet", "+model.args.width=wide"],
     "model.args.width='wide' is not allowed"),
    (["model=custom", "model.target=my_code:blobs"], "model.target=my_code:blobs"),
    (["dataset=custom", "dataset.target=my_code:broken"], "the database is down"),
    (["dataset=custom", "dataset.target=my_code:TinyNet"], "dataset.target=my_code:TinyNet"),
    (["model=custom"], "model.target"),
])
def test_a_user_target_that_does_not_import_or_build_is_one_line(user_code, capsys, overrides,
                                                                words):
    code = run_cli(*overrides, "trainer.epochs=1", "trainer.progress=false",
                   f"hydra.run.dir={user_code / 'run'}")
    captured = capsys.readouterr()
    lines = error_lines(captured.out + captured.err)
    assert code == 2 and len(lines) == 1, lines
    assert words in lines[0] and "Traceback" not in lines[0]
