"""Every bad input nnrun is known to meet, with the exit code and the words its message must have.

Shared by tests/test_faults.py, which asserts each one, and scripts/error_table.py, which runs
each one with the real ``nnrun`` and writes the messages into docs/errors.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Tuple

from nnrecipes.smoke import write_california_cache, write_idx_dataset

QUICK = ("trainer.epochs=2", "trainer.progress=false", "trainer.plots=false")
ERROR_PREFIXES = ("error:", "nnrun: error:")


def error_lines(output: str) -> List[str]:
    """nnrun's output from its first error line on; [] if it printed none."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith(ERROR_PREFIXES)), None)
    return [] if first is None else lines[first:]


@dataclass(frozen=True)
class BadInput:
    what: str
    args: Tuple[str, ...]  # "{root}" stands for the folder prepare_fixtures filled
    exit_code: int
    says: str  # words the message must hold

    def command(self, root: Path) -> List[str]:
        """The case's arguments after QUICK; flags first, as Hydra's argument parser wants."""
        args = [arg.replace("{root}", str(root)) for arg in self.args]
        flags = [arg for arg in args if arg.startswith("-")]
        return [*flags, *QUICK, *(arg for arg in args if not arg.startswith("-"))]


def _case(what: str, args: str, says: str, exit_code: int = 2) -> BadInput:
    return BadInput(what, tuple(args.split()), exit_code, says)


CASES: List[BadInput] = [
    # the command line and the config
    _case("unknown group option", "model=resnet", "model=resnet is not a known model"),
    _case("unknown preset", "+experiment=fastest", "experiment=fastest is not a known experiment"),
    _case("misspelled key", "optimizer.lrr=0.1", "did you mean lr?"),
    _case("key of another optimizer", "optimizer=adam optimizer.momentum=0.9",
          "optimizer.momentum is not a setting"),
    _case("added key no schema has", "+trainer.epoch=3", "trainer.epoch is not a setting"),
    _case("wrong type", "trainer.epochs=ten", "trainer.epochs=ten is not allowed: must be a whole"),
    _case("fraction for a whole number", "dataset.batch_size=6.5", "must be a whole number"),
    _case("text for a list", "model.hidden_sizes=wide", "model.hidden_sizes must be a list"),
    _case("value outside a choice", "model.activation=swishy", "choose one of relu"),
    _case("null for a required key", "seed=null", "seed cannot be null"),
    _case("section given a value", "trainer=fast", "trainer is a section, not a value"),
    _case("override without '='", "lr", "cannot read the override 'lr'"),
    _case("unbalanced quote", "dataset.data_dir='data", "cannot read the override"),
    _case("sweep values without -m", "optimizer.lr=0.1,0.01", "needs -m"),
    _case("override of a group not in use", "experiment=fashion_fast",
          "'experiment' is not a config group of this run"),
    _case("unknown interpolation", "optimizer.lr=${best_lr}", "Interpolation key 'best_lr'"),
    _case("missing config folder", "--config-dir={root}/no_configs", "not found"),
    # values out of range
    _case("zero learning rate", "optimizer.lr=0", "optimizer.lr=0.0 is not allowed"),
    _case("negative learning rate", "optimizer.lr=-0.1", "must be greater than 0"),
    _case("batch size 0", "dataset.batch_size=0", "dataset.batch_size=0 is not allowed"),
    _case("epochs < 1", "trainer.epochs=0", "trainer.epochs=0 is not allowed"),
    _case("dropout >= 1", "model.dropout=1.0", "model.dropout=1.0 is not allowed"),
    _case("label smoothing >= 1", "trainer.label_smoothing=1", "trainer.label_smoothing"),
    _case("patience 0", "trainer.patience=0", "trainer.patience=0 is not allowed"),
    _case("validation size >= data size", "dataset.val_size=500", "leaves no room for training"),
    _case("test split takes everything", "dataset.test_size=0.99", "leaves no room for training"),
    _case("validation split empty", "dataset.limit=4", "gives no validation samples"),
    _case("monitor of another task", "trainer.monitor=r2", "trainer.monitor='r2' is not a"),
    # model, data and device
    _case("CNN on tabular data", "model=cnn", "needs image data"),
    _case("unavailable device", "device=mps", "device=mps was asked for"),
    _case("missing data folder", "dataset=mnist dataset.data_dir={root}/nowhere",
          "MNIST train split not found"),
    _case("truncated IDX file", "dataset=mnist dataset.data_dir={root}/truncated_idx",
          "is truncated or corrupt"),
    _case("IDX file with a bad header", "dataset=fashion_mnist dataset.data_dir={root}/bad_idx",
          "bad header"),
    _case("corrupt California cache", "dataset=california dataset.data_dir={root}/bad_cache",
          "cache"),
    # checkpoints
    _case("eval without a checkpoint", "mode=eval", "mode=eval needs checkpoint="),
    _case("missing checkpoint", "mode=eval checkpoint={root}/none.pt", "no checkpoint at"),
    _case("truncated checkpoint", "mode=eval checkpoint={root}/truncated.pt", "is unreadable"),
    _case("file that is not a checkpoint", "mode=eval checkpoint={root}/notes.pt",
          "is unreadable"),
    _case("resume with another model", "resume={root}/run model.hidden_sizes=[8]",
          "model.hidden_sizes is [128, 128] in the checkpoint, [8] now"),
    _case("resume with another data set", "resume={root}/run dataset=wine",
          "dataset.name is 'iris' in the checkpoint, 'wine' now"),
    _case("eval on another data set", "mode=eval checkpoint={root}/run dataset=wine",
          "tests the checkpoint's model on the data set it was trained on"),
    # output folders and training itself
    _case("output folder under a file", "hydra.run.dir={root}/notes.pt/run", "Not a directory"),
    _case("training diverges", "optimizer.lr=1e12", "training diverged: the loss became nan"),
]


def prepare_fixtures(root: Path, run_nnrun: Callable[..., None]) -> None:
    """The files the cases point at: broken data, broken checkpoints, one trained run."""
    write_idx_dataset(root / "truncated_idx" / "MNIST" / "raw", compress=False)
    images = root / "truncated_idx" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    write_idx_dataset(root / "bad_idx" / "FashionMNIST" / "raw", compress=False)
    (root / "bad_idx" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"junk")
    write_california_cache(root / "bad_cache" / "sklearn")
    cache = next((root / "bad_cache" / "sklearn").iterdir())
    cache.write_bytes(cache.read_bytes()[:100])
    run_nnrun("trainer.epochs=2", "trainer.plots=false", f"hydra.run.dir={root / 'run'}")
    checkpoint = (root / "run" / "checkpoints" / "best.pt").read_bytes()
    (root / "truncated.pt").write_bytes(checkpoint[: len(checkpoint) // 2])
    (root / "notes.pt").write_text("not a checkpoint\n")
