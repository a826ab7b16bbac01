"""The typed config schema: the sections every run has, and the base of each group's schemas.

Each data set, model, optimizer and schedule declares its own schema (a subclass of a base here)
beside its builder (in its group's package under components/); every YAML under ``configs/`` is
validated against it when the config is composed, so a misspelled key or a wrong type fails
before any work starts. Each number's allowed range is declared beside it with ``setting(...)``
(see bounds.py); checks that span several keys live in validation.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import II, MISSING

from nnrecipes.core.bounds import setting
from nnrecipes.core.target_transform import TARGET_TRANSFORM_CHOICES

# true/false (and YAML's yes/no, on/off, which PyYAML reads as booleans) for an on/off setting.
ON_OFF = (("true", "on"), ("false", "off"), ("yes", "on"), ("no", "off"))


class ConfigError(ValueError):
    """A config value that is well typed but not usable; the message names the key."""


def first_line(error: BaseException, limit: Optional[int] = None) -> str:
    """What ``error`` says, in its first line (at most ``limit`` characters), or its type's name
    when it says nothing: the part of another library's error that a one-line message quotes."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]


class Mode(str, Enum):
    train = "train"
    eval = "eval"
    search = "search"
    predict = "predict"
    lr_find = "lr_find"


@dataclass
class DatasetConfig:
    name: str = MISSING
    batch_size: int = setting(64, ge=1)
    eval_batch_size: int = setting(1024, ge=1)
    # Relative paths are taken from the directory nnrun was started in.
    data_dir: str = "${oc.env:NNRECIPES_DATA,data}"
    download: bool = False
    # A fraction (< 1) of the training pool, or a number of samples (>= 1).
    val_size: float = setting(0.1, gt=0)
    # Tabular data only: image data sets come with their official test split.
    test_size: float = setting(0.2, gt=0, lt=1, kind="a fraction")
    # Use only the first N training samples (smoke runs).
    limit: Optional[int] = setting(None, ge=2)
    # How many epochs suit this data set; trainer.epochs follows it unless overridden.
    epochs: int = setting(20, ge=1)
    # Image data only: each training batch augmented on the device, a fresh draw per image, by
    # any of "crop" (shifted by up to augment_padding pixels each way, the edge zero), "flip"
    # (half the images mirrored left to right) and "resized_crop" (below). Validation and test
    # data never are.
    augment: List[str] = field(default_factory=list)
    augment_padding: int = setting(2, ge=1)
    # "resized_crop": a random part of each image, this fraction of its area or more, with an
    # aspect ratio of 3/4 to 4/3, stretched back to the whole image (for photos).
    augment_scale: float = setting(0.35, gt=0, le=1, kind="a fraction")
    # Regression only: the space the network learns the targets in; metrics and predictions are
    # always in the targets' units. auto: log1p where the training targets are positive and
    # skewed and the validation split says it helps (data/target_space.py); none; log1p.
    target_transform: str = setting("auto", choices=TARGET_TRANSFORM_CHOICES)


@dataclass
class ModelConfig:
    name: str = MISSING
    # Start from an earlier run's weights (its folder or a checkpoint file): every layer whose
    # shape fits; the head is re-initialised when the classes differ. null: from scratch.
    init: Optional[str] = None
    # backbone: train the head (the last linear layer) only, batch-norm statistics kept as they
    # are, until trainer.unfreeze_epoch; none: train everything. auto: the fine-tuning default,
    # the head alone in the first epoch of a run started from weights (model.init,
    # model.weights), everything from the start of any other (run/transfer.py).
    freeze: str = setting("auto", choices=("auto", "none", "backbone"))


@dataclass
class OptimizerConfig:
    name: str = MISSING
    lr: float = setting(1e-3, gt=0)
    weight_decay: float = setting(0.0, ge=0)
    # The backbone's learning rate is lr times this (the head's is lr): gentler steps for weights
    # that start pretrained.
    backbone_lr_scale: float = setting(1.0, gt=0, le=1)


@dataclass
class SchedulerConfig:
    name: str = MISSING


@dataclass
class DeviceConfig:
    name: str = MISSING
    # CPU threads for torch; null keeps torch's default (one per physical core).
    threads: Optional[int] = setting(None, ge=1)


@dataclass
class TrainerConfig:
    epochs: int = setting(II("dataset.epochs"), ge=1)
    # Gradient-norm clipping; null turns it off.
    grad_clip: Optional[float] = setting(None, gt=0)
    # Gradient accumulation: each optimizer step sums the gradients of this many batches of
    # dataset.batch_size (a batch this many times larger, in the memory of one); schedules
    # count optimizer steps.
    accumulate: int = setting(1, ge=1)
    # An exponential moving average of the weights with this decay (e.g. 0.999), updated after
    # every optimizer step (warming up over the first steps, run/averaging.py); it validates,
    # tests, and is the checkpoint predict and export use.
    # null: the trained weights themselves.
    ema: Optional[float] = setting(None, gt=0, lt=1, kind="a fraction")
    # Validation metric that picks the best epoch: "auto" is accuracy for classification and
    # loss for regression. Loss-like metrics are minimised, the others maximised.
    monitor: str = "auto"
    # Early stopping: stop after this many epochs without improvement; null turns it off.
    patience: Optional[int] = setting(None, ge=1)
    min_delta: float = setting(0.0, ge=0)
    # Progress bar while training; shown only when output is a terminal.
    progress: bool = True
    # Cross-entropy label smoothing for multiclass training (evaluation loss stays plain).
    label_smoothing: float = setting(0.0, ge=0, lt=1, kind="a fraction")
    # auto: bf16 autocast on CUDA (where supported), float32 elsewhere; or fp32, bf16, or fp16
    # (float16 autocast with a gradient scaler, for GPUs without bf16).
    precision: str = setting("auto", choices=("auto", "fp32", "bf16", "fp16"))
    # torch.compile the model: pays off on long GPU runs, slows short ones (compile time).
    compile: bool = False
    # PNG figures in the run directory at the end of training. Unset: a single run draws them, a
    # job of a sweep or search does not (they cost a small job more than its training; the sweep
    # draws its own, and nnrun-report compares the jobs' curves). true or false to choose.
    plots: Optional[bool] = None
    # scikit-learn baselines on the same split: auto is on for tabular data, off for images.
    baseline: str = setting("auto", choices=("auto", "on", "off"), aliases=ON_OFF)
    # PyTorch's deterministic algorithms (and the cuBLAS workspace they need on CUDA): the same
    # seed gives the same numbers, at some cost in speed on GPU (README, "Reproducible runs").
    deterministic: bool = False
    # With model.freeze=backbone: the last epoch with the backbone frozen; everything trains from
    # the next one (fastai's fine_tune). null: frozen to the end (model.freeze=auto: 1).
    unfreeze_epoch: Optional[int] = setting(None, ge=1)
    # k-fold cross-validation: one run per fold of the training pool (the fold validates it;
    # stratified for classification), each in fold_<k>/ under the run, their scores' mean and
    # std in its summary, the test split scored by their models averaged. null: one run.
    folds: Optional[int] = setting(None, ge=2)
    # The one fold (1..folds) a run trains: set in each fold's own config; set it to train one
    # fold alone (a job per fold).
    fold: Optional[int] = setting(None, ge=1)
    # Classification: weights of the classes in the training loss. none; balanced (each class
    # weighs rows / (classes x its rows), from the training split; binary: BCE's pos_weight);
    # or a list of one positive weight per class, in class_names' order.
    class_weight: Any = "none"
    # Binary: the probability above which a row is the positive class; tuned: the one that
    # maximises balanced accuracy on the validation split, kept in the checkpoint.
    threshold: Any = 0.5


@dataclass
class SweepConfig:
    # Stop the whole sweep at the first failed job instead of running the others.
    fail_fast: bool = False
    # Rerun an earlier sweep of the same command: skip finished jobs, continue interrupted ones.
    resume: bool = False


@dataclass
class SearchConfig:
    """``mode=search``: an Optuna study over ``space``, pruning trials that fall behind."""

    trials: int = setting(20, ge=1)
    # Stop starting new trials after this many seconds; null for no limit.
    timeout: Optional[float] = setting(None, gt=0)
    # Median pruning: compare a trial's validation metric with the others' at the same epoch.
    pruner: str = setting("median", choices=("median", "none"))
    startup_trials: int = setting(5, ge=0)
    warmup_epochs: int = setting(1, ge=0)
    # Each entry: {low, high, log} for a float, {low, high, step} with integers for an int,
    # {choices: [...]} for a categorical; a key naming a config group picks its option.
    space: Dict[str, Any] = field(default_factory=dict)
    # Where the study lives. null: study.db in the search folder (one process). A URL shares it
    # between any number of nnrun mode=search workers: sqlite:///PATH, postgresql://USER@HOST/DB
    # (pip install 'nnrecipes[postgresql]'), or journal:PATH (Optuna's journal file).
    storage: Optional[str] = None
    # The study's name in that storage: workers with the same storage and name share trials.
    study: str = "nnrun"
    # Seconds between a running trial's heartbeats in a database; a trial silent for twice as
    # long (its worker died) is failed and tried once more.
    heartbeat: int = setting(60, ge=1, le=86400)  # at most a day


@dataclass
class LrFindConfig:
    """``mode=lr_find``: the learning-rate range test (fastai's lr_find, Lightning's tuner)."""

    # The rate rises exponentially from start to end over at most this many training steps
    # (it stops early once the loss has blown up).
    # A start below 1e-12 or an end above 1e3 tests rates no optimizer trains with (and a
    # denormal start is below what float32 holds).
    start: float = setting(1e-7, ge=1e-12, lt=1)
    end: float = setting(10.0, gt=0, le=1e3)
    steps: int = setting(100, ge=10)


@dataclass
class Config:
    dataset: DatasetConfig = MISSING
    model: ModelConfig = MISSING
    optimizer: OptimizerConfig = MISSING
    scheduler: SchedulerConfig = MISSING
    device: DeviceConfig = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    search: SearchConfig = MISSING
    lr_find: LrFindConfig = field(default_factory=LrFindConfig)
    # The chosen loggers' settings, one section each (logger.tensorboard, logger.mlflow);
    # each section is checked against its logger's schema when the config is composed.
    logger: Dict[str, Any] = field(default_factory=dict)
    # scikit-learn's splits take seeds in [0, 2**32).
    seed: int = setting(0, ge=0, le=2**32 - 1)
    mode: Mode = Mode.train
    # A run directory or checkpoint to continue from (train), or to evaluate or predict with.
    resume: Optional[str] = None
    checkpoint: Optional[str] = None
    # mode=predict: a CSV, an image, or a folder of images; where predictions.csv goes (null:
    # the run folder).
    input: Optional[str] = None
    output: Optional[str] = None


# Where the data lives, and how big evaluation batches are, may change between the run that
# trained a checkpoint and one that resumes or evaluates it; what the data is may not.
MOVABLE_DATASET_KEYS = ("data_dir", "path", "test_path", "download", "eval_batch_size")
# Keys that hold paths; a relative one means the folder nnrun was started in.
PATH_KEYS = ("dataset.data_dir", "dataset.path", "dataset.test_path", "checkpoint", "resume",
             "input", "output", "model.init")
# Keys every model has, which its builder does not take (run/build.py applies them).
MODEL_RUN_KEYS = ("name", "init", "freeze")


def folder_name(mode: str, dataset: str, model: str) -> str:
    """The tail of a run folder's name: what was trained, or which other mode ran."""
    mode = str(mode).replace("Mode.", "")
    names = {"train": f"{dataset}_{model}", "search": f"search_{dataset}",
             "lr_find": f"lr_find_{dataset}_{model}"}
    return names.get(mode, mode)  # eval: the data set is the checkpoint's, not the config's


def unique_dir(path: str) -> str:
    """Create ``path`` (or ``path-2``, ``path-3``, ...) and return it.

    ``mkdir`` is atomic, so two runs started in the same second, in one process or several,
    never share a folder.
    """
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, number = base, 1
    while True:
        try:
            candidate.mkdir()
            return str(candidate)
        except FileExistsError:
            number += 1
            candidate = base.with_name(f"{base.name}-{number}")


def config_dir() -> Path:
    """The folder of YAML configs, wherever the package is installed."""
    from importlib.resources import files

    return Path(str(files("nnrecipes.configs")))
