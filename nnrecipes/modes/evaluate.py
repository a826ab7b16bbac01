"""``nnrun mode=eval checkpoint=RUN``: test a saved model without training, and without its YAML."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Sequence

from omegaconf import DictConfig, OmegaConf

from nnrecipes.components.models import model_from_checkpoint
from nnrecipes.core import console
from nnrecipes.core.config import MOVABLE_DATASET_KEYS, ConfigError
from nnrecipes.core.overrides import override_key
from nnrecipes.core.task import make_loss
from nnrecipes.core.validation import validate
from nnrecipes.data import build_data
from nnrecipes.records.checkpoint import check_fits, json_bytes, load_checkpoint
from nnrecipes.records.provenance import environment_facts
from nnrecipes.records.recorder import Recorder
from nnrecipes.run.devices import resolve_device
from nnrecipes.run.engine import evaluate

log = logging.getLogger("nnrecipes")
MOVABLE_KEYS = tuple(f"dataset.{key}" for key in MOVABLE_DATASET_KEYS)


def _trained_config(saved: Dict[str, Any], cfg: DictConfig, overrides: Sequence[str]):
    """The checkpoint's own config, with only where its data lives taken from this command."""
    trained = OmegaConf.create(saved["config"])
    for override in overrides:
        key = override_key(override)
        if key in MOVABLE_KEYS:
            OmegaConf.update(trained, key, OmegaConf.select(cfg, key))
        elif key in ("dataset", "model") and cfg[key].name == trained[key].name:
            continue  # the option it was trained with, named again
        elif key.split(".")[0] in ("dataset", "model") and \
                OmegaConf.select(cfg, key) != OmegaConf.select(trained, key):
            raise ConfigError(
                f"{override}: mode=eval tests the checkpoint's model on the data set it was "
                f"trained on (dataset={trained.dataset.name}, model={trained.model.name}); only "
                f"{', '.join(MOVABLE_KEYS)} can be changed")
    return trained


def run(cfg: DictConfig, run_dir: Path, context) -> None:
    evaluate_checkpoint(cfg, run_dir, context.overrides)


def evaluate_checkpoint(cfg: DictConfig, run_dir: Path,
                        overrides: Sequence[str] = ()) -> Dict[str, Any]:
    """Test metrics of a checkpoint's model on its own data set's test split -> eval.json."""
    validate(cfg)
    saved = load_checkpoint(cfg.checkpoint or cfg.resume, name="best.pt")
    trained = _trained_config(saved, cfg, overrides)
    device = resolve_device(cfg.device.name, cfg.device.threads)
    # The splits and the table's encoding of the run that saved it: a fold's own, say.
    fold = trained.trainer.get("fold")
    data = build_data(trained.dataset, trained.seed, device,
                      fold=(fold, trained.trainer.folds) if fold else None,
                      encoding=saved.get("encoding"))
    check_fits(saved, data.input_shape, data.num_outputs)
    model = model_from_checkpoint(saved).to(device)
    test = evaluate(model, data.test.x, data.test.y, make_loss(data.task, saved["stats"]),
                    data.task, trained.dataset.eval_batch_size,
                    threshold=saved.get("threshold") or 0.5)
    result = {"checkpoint": saved["path"], "dataset": trained.dataset.name,
              "model": trained.model.name, "task": data.task.value,
              "epoch": saved["progress"]["epoch"],
              "test": test, **environment_facts(device, overrides)}
    Recorder(run_dir).output("eval.json", json_bytes(result))
    log.info(f"test  {console.format_metrics(test)}")
    log.info(f"mode=eval: the scores are in {Path(run_dir) / 'eval.json'}")
    console.results_table(f"{trained.dataset.name} / {trained.model.name} (checkpoint)", test,
                          {"checkpoint": saved["path"]})
    return result
