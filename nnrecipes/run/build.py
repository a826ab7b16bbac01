"""A run's parts, built from the config once: data, the nets, optimizer, schedule, losses, and
the settings the loop reads (run/settings.py); what a checkpoint holds of them is
run/saved_state.py's. After ``build_run`` nothing reads the config again."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from nnrecipes.components.loggers import check_available
from nnrecipes.components.models import build_model, check_model, check_model_fits_data, model_label
from nnrecipes.components.optimizers import build_optimizer
from nnrecipes.components.schedulers import build_scheduler
from nnrecipes.core.config import PATH_KEYS, ConfigError, TrainerConfig
from nnrecipes.core.imbalance import class_weights
from nnrecipes.core.registry import component
from nnrecipes.core.task import Monitor, Task, make_loss, monitored, new_run
from nnrecipes.core.validation import validate
from nnrecipes.data import DataBundle, build_data, declared_image_data, image_data
from nnrecipes.records.recorder import Recorder
from nnrecipes.run import distributed
from nnrecipes.run.augment import Augment, augment_for
from nnrecipes.run.averaging import WeightAverage
from nnrecipes.run.devices import resolve_device, use_deterministic_algorithms
from nnrecipes.run.engine import SINGLE_PROCESS, EpochPlan, Ranks, smallest_batch
from nnrecipes.run.settings import RunSettings
from nnrecipes.run.sizing import fit_threads, probe_model
from nnrecipes.run.transfer import Freezing, freezing_for, initialise

log = logging.getLogger("nnrecipes")


@dataclass
class Progress:
    """Everything about the loop that a resumed run must pick up again."""

    epoch: int = 0  # epochs completed
    best_value: Optional[float] = None
    best_epoch: int = 0
    bad_epochs: int = 0
    history: List[Dict[str, float]] = field(default_factory=list)


@dataclass
class Nets:
    """The network that trains and the one that is evaluated and saved (nanoGPT's two names),
    each with the module that runs it."""

    trains: torch.nn.Module  # the weights the optimizer steps
    # What validates, tests, predicts and is a checkpoint's "model": the weights' moving
    # average (trainer.ema, kept by `average`), or `trains` itself.
    saved: torch.nn.Module
    average: Optional[WeightAverage]
    # How each runs: `trains` compiled (trainer.compile) and wrapped in DDP when several
    # processes share each batch; `saved` compiled.
    stepping: torch.nn.Module
    evaluating: torch.nn.Module

    def rewrap(self, device: torch.device) -> None:
        """DDP keeps the parameters that trained when it wrapped the network: wrap it anew
        (an unfrozen backbone)."""
        self.stepping = distributed.wrap(getattr(self.stepping, "module", self.stepping), device)


@dataclass(frozen=True)
class Parts:
    """A run's parts, built once from the config by ``build_run`` and never replaced."""

    settings: RunSettings
    data: DataBundle
    nets: Nets
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss_fn: Any  # training loss (label smoothing applied)
    eval_loss_fn: Any
    monitor: Monitor
    # The resolved config as plain data: every checkpoint holds it (converted once per run).
    config_record: Dict[str, Any]
    autocast: Optional[torch.dtype] = None
    # fp16: scales the loss so small gradients survive float16, kept in checkpoints.
    scaler: Optional[torch.amp.GradScaler] = None
    ranks: Ranks = SINGLE_PROCESS
    min_batch: int = 1  # a smaller last training batch is skipped (engine.smallest_batch)
    augment: Optional[Augment] = None  # applied to each training batch (dataset.augment)
    freezing: Optional[Freezing] = None  # model.freeze: what trains in each epoch

    @property
    def steps_per_epoch(self) -> int:
        return optimizer_steps(len(self.data.train), self.settings)


@dataclass
class Run:
    """A run: its frozen parts, its progress (what a resume picks up again), and the recorder
    that writes its folder."""

    parts: Parts
    recorder: Recorder
    progress: Progress = field(default_factory=Progress)
    # Binary: the probability from which a row is positive (trainer.threshold; tuned ones are
    # 0.5 until the finish tunes them on the validation split).
    threshold: float = 0.5
    # Returns the signal that asked training to stop, or None.
    stop_signal: Callable[[], Optional[int]] = lambda: None

    @property
    def run_dir(self) -> Path:
        return self.recorder.run_dir

    @property
    def checkpoints(self) -> Path:
        return self.recorder.checkpoints

    def epoch_plan(self, on_step: Optional[Callable[[], None]] = None) -> EpochPlan:
        """How the engine takes this run's training steps."""
        parts = self.parts
        average = parts.nets.average
        return EpochPlan(batch_size=parts.settings.batch_size, scheduler=parts.scheduler,
                         autocast=parts.autocast, ranks=parts.ranks, min_batch=parts.min_batch,
                         augment=parts.augment, should_stop=self.stop_signal,
                         on_step=on_step, trainer=parts.settings.trainer,
                         after_step=average.update if average is not None else None,
                         scaler=parts.scaler)


def optimizer_steps(rows: int, settings: RunSettings) -> int:
    """Optimizer steps in an epoch of ``rows`` training rows (batches / trainer.accumulate)."""
    return math.ceil(math.ceil(rows / settings.batch_size) / settings.trainer.accumulate)


def prepare(cfg: DictConfig) -> torch.device:
    """Checks that need no data, so a bad config fails before any time is spent."""
    validate(cfg)
    check_model_fits_data(cfg.model.name, cfg.dataset.name, declared_image_data(cfg.dataset))
    augment_for(cfg.dataset, declared_image_data(cfg.dataset))
    if cfg.model.get("flip_average") and "flip" not in cfg.dataset.get("augment", []):
        log.warning("model.flip_average=true for a model trained without mirror images "
                    "(dataset.augment=[flip]): its outputs for the mirrored images may cost "
                    "accuracy (docs/models-and-speed.md)")
    check_available(cfg)
    use_deterministic_algorithms(cfg.trainer.deterministic)
    # Checkpoints must find the data (and an earlier run) again from any working directory.
    for key in (key for key in PATH_KEYS if key.startswith(("dataset.", "model."))):
        if OmegaConf.select(cfg, key):
            OmegaConf.update(cfg, key, str(Path(OmegaConf.select(cfg, key)).expanduser().resolve()))
    _fit_images_to_the_model(cfg)
    return distributed.device_for_this_process(resolve_device(cfg.device.name, cfg.device.threads))


def _fit_images_to_the_model(cfg: DictConfig) -> None:
    """Images a model wants at a size of its own (pretrained weights) are decoded at it where
    the data set decodes files and dataset.image_size leaves the size to nnrun; a size the user
    chose there is the size the model resizes to."""
    wanted = component("model", cfg.model.name).trait("input_size")
    if not wanted or "image_size" not in cfg.dataset:
        return
    if cfg.dataset.image_size is None and cfg.model.get("image_size") is None:
        size = wanted(cfg.model)
        if size:
            cfg.dataset.image_size = size
            log.info(f"dataset.image_size={size}: the size model.weights={cfg.model.weights} "
                     f"expect")
    if cfg.model.get("image_size") is None:
        cfg.model.image_size = cfg.dataset.image_size


def build_run(cfg: DictConfig, recorder: Recorder, device: torch.device,
              ranks: Ranks = SINGLE_PROCESS) -> Run:
    """The run ``cfg`` describes, its data on ``device``, its model checked on two samples,
    its folder written by ``recorder``."""
    settings = RunSettings.from_config(cfg)
    trainer = settings.trainer
    new_run()
    torch.manual_seed(settings.seed)
    data = build_data(cfg.dataset, settings.seed, device, fold=settings.fold)
    label = model_label(cfg.model)
    model = _network(cfg, data, settings, label, device)
    freezing = freezing_for(model, cfg.model, trainer.unfreeze_epoch, label, data.train.x[:2],
                            cfg.optimizer.backbone_lr_scale)
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), device,
                                backbone=freezing.backbone if freezing else ())
    scheduler = build_scheduler(cfg.scheduler, optimizer, settings.epochs,
                                optimizer_steps(len(data.train), settings))
    min_batch = smallest_batch(model, ranks)
    _check_batch_fits(settings.batch_size, min_batch, ranks)
    parts = Parts(settings, data, _nets(model, trainer, device), optimizer, scheduler,
                  loss_fn=make_loss(data.task, data.stats, trainer.label_smoothing, label,
                                    weights=_class_weights(trainer.class_weight, data)),
                  eval_loss_fn=make_loss(data.task, data.stats),
                  monitor=monitored(trainer.monitor, data.task),
                  config_record=OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
                  autocast=autocast_dtype(trainer.precision, device),
                  scaler=torch.amp.GradScaler(device.type)
                  if trainer.precision == "fp16" else None,
                  ranks=ranks, min_batch=min_batch,
                  augment=augment_for(cfg.dataset, image_data(data.input_shape)),
                  freezing=freezing)
    return Run(parts, recorder, threshold=_threshold(trainer.threshold, data.task))


def _network(cfg: DictConfig, data: DataBundle, settings: RunSettings, label: str,
             device: torch.device) -> torch.nn.Module:
    """The model, tried on the meta device first, built, started from earlier weights where
    asked, checked on two samples, and given the CPU threads its batches keep busy."""
    probe_model(cfg.model, data, settings.batch_size, label, device)
    model = build_model(cfg.model, data.input_shape, data.num_outputs, data.stats).to(device)
    if cfg.model.init:
        initialise(model, cfg.model.init, label, data.train.x[:2], data.class_names)
    check_model(model, data.train.x[:2], data.task, data.num_outputs, label)
    if cfg.device.threads is None:
        fit_threads(model, data, settings.batch_size, device)
    if image_data(data.input_shape):
        # Convolutions run markedly faster in channels-last layout, on CPU as on GPU.
        model = model.to(memory_format=torch.channels_last)
    return model


def _nets(model: torch.nn.Module, trainer: TrainerConfig, device: torch.device) -> Nets:
    stepped = _compiled(model) if trainer.compile else model
    average = WeightAverage(model, trainer.ema) if trainer.ema is not None else None
    saved = model if average is None else average.module
    evaluating = stepped if average is None else \
        _compiled(saved) if trainer.compile else saved
    return Nets(model, saved, average, distributed.wrap(stepped, device), evaluating)


def _compiled(module: torch.nn.Module) -> torch.nn.Module:
    return torch.compile(module)  # imports torch._dynamo (0.9 s): only where asked


def _class_weights(setting: Any, data: DataBundle) -> Optional[List[float]]:
    weights = class_weights(setting, data.task, data.train.y.cpu().numpy(),
                            data.class_names or [])
    if weights is not None:
        shown = ", ".join(f"{name} {weight:.3g}" for name, weight in
                          zip(data.class_names, weights))
        log.info(f"trainer.class_weight={setting}: training loss weighs {shown}")
    return weights


def _threshold(setting: Any, task: Task) -> float:
    if setting != 0.5 and not task.thresholded:
        raise ConfigError(f"trainer.threshold={setting} is the decision threshold of a binary "
                          f"task; this one is {task} (leave trainer.threshold at 0.5)")
    return 0.5 if setting == "tuned" else float(setting)


def _check_batch_fits(batch_size: int, smallest: int, ranks: Ranks) -> None:
    if batch_size >= smallest:
        return
    why = (f"{ranks.world_size} processes each need a sample of every batch"
           if smallest == ranks.world_size else "batch norm needs at least 2 samples to train "
           "(model.batch_norm=false trains with batches of 1)")
    raise ConfigError(f"dataset.batch_size={batch_size} is too small: {why}; use at least "
                      f"dataset.batch_size={smallest}")


def autocast_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """bf16 autocast on CUDA by default (where the GPU has it); plain float32 elsewhere."""
    if precision == "auto":
        bf16_gpu = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16_gpu else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
