"""The ``nnrun`` command: the only module that touches Hydra's runtime."""

from __future__ import annotations

import logging
import re
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nnrecipes.config import ConfigError, Mode, config_dir, register_configs

log = logging.getLogger("nnrecipes")


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _run_dir_of(location: str) -> Optional[Path]:
    """The run directory a resume target belongs to: the dir itself, or a checkpoint's run."""
    path = Path(location).expanduser().resolve()
    for candidate in (path, path.parent, path.parent.parent):
        if (candidate / ".hydra" / "overrides.yaml").is_file():
            return candidate
    return None


def _override_value(text: str) -> str:
    """A path as a Hydra override value: bare when it is plain, quoted otherwise."""
    if re.fullmatch(r"[\w./-]+", text):
        return text
    return "'" + text.replace("'", "\\'") + "'"


def with_resume_overrides(args: List[str]) -> List[str]:
    """``nnrun resume=RUN`` recomposes RUN's own overrides and writes into RUN again.

    Overrides given beside ``resume`` (say ``trainer.epochs=20``) replace the original ones.
    """
    targets = [arg.split("=", 1)[1] for arg in args if _override_key(arg) == "resume"]
    run_dir = _run_dir_of(targets[-1]) if targets else None
    if run_dir is None or "-m" in args or "--multirun" in args:
        return args
    given = {_override_key(arg) for arg in args}
    original = OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")
    kept = [str(o) for o in original if _override_key(str(o)) not in given]
    others = [arg for arg in args if _override_key(arg) not in ("resume", "hydra.run.dir")]
    location = _override_value(str(run_dir))
    return [*kept, *others, f"resume={location}", f"hydra.run.dir={location}"]


def _task(cfg: DictConfig) -> None:
    # Imported here so that `nnrun --help` and config errors answer without loading torch.
    from nnrecipes.checkpoint import CheckpointError
    from nnrecipes.data import DataError
    from nnrecipes.evaluate import evaluate_checkpoint
    from nnrecipes.train import train

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    command = shlex.join(["nnrun", *HydraConfig.get().overrides.task])
    try:
        if cfg.mode == Mode.eval:
            evaluate_checkpoint(cfg, run_dir, command)
        else:
            train(cfg, run_dir, command)
    except (ConfigError, DataError, CheckpointError) as error:
        log.error(f"error: {error}")
        raise SystemExit(2) from None


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of ``nnrun``; ``argv`` (without the program name) defaults to sys.argv."""
    args = with_resume_overrides(list(sys.argv[1:] if argv is None else argv))
    register_configs()
    saved_argv = sys.argv
    sys.argv = ["nnrun", *args]
    try:
        hydra.main(config_path=str(config_dir()), config_name="config",
                   version_base="1.3")(_task)()
    finally:
        sys.argv = saved_argv


if __name__ == "__main__":
    main()
