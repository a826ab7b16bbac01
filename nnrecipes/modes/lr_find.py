"""``mode=lr_find``: the learning-rate range test of fastai's ``lr_find`` and Lightning's tuner.

A short run of the configured model, data and optimizer whose rate rises exponentially from
``lr_find.start`` to ``lr_find.end``, one training step each, until the smoothed loss blows up
(4x its lowest) or the steps run out. The suggested rate is where the smoothed loss falls
fastest against log(rate) (Lightning's suggestion). The run folder holds ``lr_find.csv``,
``lr_find.png`` and a summary.json whose ``kind`` says it was a range test; no weights are kept.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from omegaconf import DictConfig

from nnrecipes.records.provenance import environment_facts
from nnrecipes.records.recorder import Recorder
from nnrecipes.run.build import Run, build_run, prepare
from nnrecipes.run.engine import batch_indices, train_step

log = logging.getLogger("nnrecipes")
SMOOTHING = 0.98  # the loss's exponential moving average, as fastai and Lightning smooth it
BLOWN_UP = 4.0  # stop once the smoothed loss is this many times its lowest
KIND = "learning-rate range test"


def run(cfg: DictConfig, run_dir: Path, context) -> None:
    find_learning_rate(cfg, run_dir, context.overrides)


def find_learning_rate(cfg: DictConfig, run_dir: Path, overrides: Sequence[str]) -> Dict:
    """Run the range test into ``run_dir``; its summary."""
    settings = cfg.lr_find
    device = prepare(cfg)  # checks lr_find.start < lr_find.end too
    recorder = Recorder(run_dir)
    run = build_run(cfg, recorder, device)
    rates, losses = _range_test(run, settings.start, settings.end, settings.steps)
    suggested = suggestion(rates, losses)
    _write_records(recorder, rates, losses, suggested)
    names = run.parts.settings
    summary = {"status": "completed", "kind": KIND, "dataset": names.dataset,
               "model": names.model, "start": settings.start, "end": settings.end,
               "steps": len(rates), "stopped_early": len(rates) < settings.steps,
               "suggested_lr": suggested, **environment_facts(device, overrides)}
    recorder.completed(summary)
    if suggested is None:
        log.warning(f"lr_find: the loss did not fall by {FALL:.0%} over the tested rates "
                    f"({settings.start:g} to {settings.end:g}), so there is no rate to suggest; "
                    f"check the data and the model, or test more steps (lr_find.steps)")
    else:
        log.info(f"lr_find: the loss fell fastest at {suggested:.3g} ({len(rates)} steps, "
                 f"{rates[0]:.3g} to {rates[-1]:.3g}); {Path(run_dir) / 'lr_find.png'}")
        print(f"suggested: optimizer.lr={suggested:.3g}")
    return summary


def _batches(run: Run) -> Iterator[torch.Tensor]:
    """Training batches, epoch after epoch, for as many steps as the test takes."""
    while True:
        parts = run.parts
        yield from batch_indices(len(parts.data.train), parts.settings.batch_size,
                                 parts.data.train.x.device, True, parts.min_batch)


def _range_test(run: Run, start: float, end: float,
                steps: int) -> Tuple[List[float], List[float]]:
    """The rates tried and the smoothed loss at each, one training step per rate."""
    parts = run.parts
    groups = parts.optimizer.param_groups
    shares = [group["lr"] / groups[0]["lr"] for group in groups]  # e.g. a backbone's lower rate
    plan = replace(run.epoch_plan(), scheduler=None, after_step=None)
    growth = (end / start) ** (1 / (steps - 1))
    rates, losses, average, lowest = [], [], 0.0, math.inf
    for step, batch in zip(range(steps), _batches(run)):
        rate = start * growth ** step
        for group, share in zip(groups, shares):
            group["lr"] = rate * share
        loss = train_step(parts.nets.stepping, parts.data.train, batch, parts.optimizer,
                          parts.loss_fn, plan)
        if not math.isfinite(loss):
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        smoothed = average / (1 - SMOOTHING ** (step + 1))
        rates.append(rate)
        losses.append(smoothed)
        if smoothed > BLOWN_UP * lowest:
            break
        lowest = min(lowest, smoothed)
    return rates, losses


# The loss must fall by this share of where it started before a rate counts as one that
# trains: below it, the fall is the smoothed average settling or noise.
FALL = 0.05


def suggestion(rates: Sequence[float], losses: Sequence[float]) -> Optional[float]:
    """The rate where the smoothed loss falls fastest against log(rate), among the rates where
    it has begun to fall (FALL below its level after the first tenth, left out while the
    average settles) and up to its lowest; None if it never falls that much."""
    skip = max(1, len(rates) // 10)
    if len(rates) < skip + 3:
        return None
    rates, losses = np.asarray(rates[skip:]), np.asarray(losses[skip:])
    lowest = int(np.argmin(losses))
    if lowest < 2 or losses[lowest] > (1 - FALL) * losses[0]:
        return None
    slopes = np.gradient(losses[:lowest + 1], np.log(rates[:lowest + 1]))
    falling = losses[:lowest + 1] <= losses[0] - FALL * (losses[0] - losses[lowest])
    slopes = np.where(falling, slopes, np.inf)
    steepest = int(np.argmin(slopes))
    return float(rates[steepest]) if slopes[steepest] < 0 else None


def _write_records(recorder: Recorder, rates: List[float], losses: List[float],
                   suggested: Optional[float]) -> None:
    from nnrecipes.records.plots import lr_range

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["step", "lr", "smoothed_loss"])
    writer.writerows((step + 1, rate, loss) for step, (rate, loss) in
                     enumerate(zip(rates, losses)))
    recorder.output("lr_find.csv", buffer.getvalue().encode())
    lr_range(rates, losses, suggested, recorder.run_dir / "lr_find.png")
