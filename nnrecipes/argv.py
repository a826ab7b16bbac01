"""The command line as nnrun rewrites it before Hydra reads it: ``resume=RUN`` recomposes RUN's
own overrides, ``sweep.resume=true`` finds the earlier sweep, torchrun's other ranks write nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

from omegaconf import OmegaConf

from nnrecipes.config import PATH_KEYS, ConfigError

SWEEP_ROOT = Path("outputs") / "multirun"
# What makes a folder an nnrun run: any of these inside it.
RUN_MARKERS = (".hydra", "summary.json", "checkpoints", "metrics.csv")


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _override_value(text: str) -> str:
    """A path as a Hydra override value: bare when it is plain, quoted otherwise."""
    if re.fullmatch(r"[\w./-]+", text):
        return text
    return "'" + text.replace("'", "\\'") + "'"


def _run_dir_of(location: str) -> Optional[Path]:
    """The run directory a resume target belongs to: the dir itself, or a checkpoint's run."""
    path = Path(location).expanduser().resolve()
    for candidate in (path, path.parent, path.parent.parent):
        if (candidate / ".hydra" / "overrides.yaml").is_file():
            return candidate
    return None


def _holds_a_run(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).exists() for name in RUN_MARKERS)


def multirun(args: List[str]) -> bool:
    return "-m" in args or "--multirun" in args


def with_resume_overrides(args: List[str]) -> List[str]:
    """``nnrun resume=RUN`` recomposes RUN's own overrides and writes into RUN again.

    Overrides given beside ``resume`` (say ``trainer.epochs=20``) replace the original ones.
    """
    targets = [arg.split("=", 1)[1] for arg in args if override_key(arg) == "resume"]
    run_dir = _run_dir_of(targets[-1]) if targets else None
    if run_dir is None and targets and _holds_a_run(Path(targets[-1]).expanduser()):
        raise ConfigError(
            f"resume={targets[-1]}: this run folder has no .hydra/overrides.yaml, so nnrun "
            f"cannot tell which command made it. Restore .hydra/, or continue its checkpoint "
            f"into a new folder with the command's settings: resume={targets[-1]}/checkpoints/"
            f"last.pt plus the overrides it was trained with")
    if run_dir is None or multirun(args) or mode_of(args) in ("eval", "predict"):
        return args  # eval and predict read the run's checkpoint and write a new folder
    given = {override_key(arg) for arg in args}
    original = OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")
    kept = [str(o) for o in original if override_key(str(o)) not in given]
    others = [arg for arg in args if override_key(arg) not in ("resume", "hydra.run.dir")]
    location = _override_value(str(run_dir))
    # Hydra would rewrite RUN/.hydra before the checkpoint is checked; _task does it after.
    return [*_config_dirs_of(run_dir), *kept, *others, f"resume={location}",
            f"hydra.run.dir={location}", "hydra.output_subdir=null"]


def _config_dirs_of(run_dir: Path) -> List[str]:
    """The --config-dir a run was started with, so that its own YAML files are found again."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    if not hydra_yaml.is_file():
        return []
    sources = OmegaConf.load(hydra_yaml).hydra.runtime.config_sources
    return [item for source in sources if source.provider == "command-line"
            for item in ("--config-dir", source.path.removeprefix("file://"))]


def _sweep_identity(overrides: List[str]) -> List[str]:
    """What makes two sweep commands the same sweep: their overrides, less flags and Hydra's."""
    return sorted(item for item in without_resume(overrides)
                  if not item.startswith(("-", "hydra")))


def previous_sweep(args: List[str], root: Path = SWEEP_ROOT) -> Optional[Path]:
    """The newest sweep under ``root`` that ran the same overrides as ``args``."""
    wanted = _sweep_identity(args)
    found = sorted(root.glob("*/*/multirun.yaml"), key=lambda path: path.stat().st_mtime)
    for path in reversed(found):
        ran = OmegaConf.load(path).hydra.overrides.task
        if _sweep_identity([str(item) for item in ran]) == wanted:
            return path.parent.resolve()
    return None


def with_sweep_resume(args: List[str]) -> List[str]:
    """``nnrun -m ... sweep.resume=true`` goes on in the earlier sweep of the same command."""
    asked = any(arg.replace(" ", "") == "sweep.resume=true" for arg in args)
    named = any(override_key(arg) == "hydra.sweep.dir" for arg in args)
    if not (multirun(args) and asked) or named:
        return args
    earlier = previous_sweep(args)
    if earlier is None:
        print(f"nnrun: no earlier sweep of these overrides under {SWEEP_ROOT}; starting a new one")
        return args
    print(f"nnrun: resuming the sweep in {earlier}")
    return [*args, f"hydra.sweep.dir={_override_value(str(earlier))}"]


FOLDER_KEYS = (*PATH_KEYS, "hydra.run.dir", "hydra.sweep.dir")


def with_paths_as_typed(args: List[str]) -> List[str]:
    """A path typed bare that Hydra would read as a number or a boolean (``input=2024.10``,
    ``dataset.path=1_000``, ``output=true``) is quoted, so that it names the file as typed
    rather than ``2024.1`` or ``1000``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser, rewritten = OverridesParser.create(), []
    for arg in args:
        if "=" in arg and override_key(arg) in FOLDER_KEYS and not arg.startswith("-"):
            try:
                value = parser.parse_override(arg).value()
            except Exception:  # left for Hydra to word
                value = None
            if isinstance(value, (bool, int, float)):
                key, text = arg.split("=", 1)
                arg = f"{key}='{text}'"
        rewritten.append(arg)
    return rewritten


CONFIG_FOLDER_FLAGS = ("--config-path", "-cp", "--config-dir", "-cd")


def with_config_folders_checked(args: List[str]) -> List[str]:
    """--config-path and --config-dir name folders that exist, taken from the folder nnrun was
    started in (Hydra would take a relative --config-path from nnrecipes' own package)."""
    rewritten, index = [], 0
    while index < len(args):
        arg, index = args[index], index + 1
        flag, joined, value = arg.partition("=")
        if flag not in CONFIG_FOLDER_FLAGS:
            rewritten.append(arg)
            continue
        if not joined:
            if index >= len(args):
                raise ConfigError(f"{flag} needs a folder: {flag}=DIR")
            value, index = args[index], index + 1
        if "://" in value and not value.startswith("file://"):  # pkg://, Hydra's own
            rewritten.append(f"{flag}={value}")
            continue
        folder = Path(value.removeprefix("file://")).expanduser()
        if not folder.is_dir():
            what = ("the folder of your own primary config (config.yaml); to add configs "
                    "beside nnrun's own, use --config-dir" if flag in ("--config-path", "-cp")
                    else "a folder of configs to add beside nnrun's own")
            raise ConfigError(f"{flag}={value}: no such folder ({flag} names {what})")
        rewritten.append(f"{flag}={folder.resolve()}")
    return rewritten


def mode_of(args: List[str]) -> Optional[str]:
    """The mode the command line sets (mode=eval), if it sets one."""
    modes = [arg.split("=", 1)[1].strip("'\"") for arg in args if override_key(arg) == "mode"]
    return modes[-1] if modes else None


def without_resume(overrides: List[str]) -> List[str]:
    return [item for item in overrides if override_key(item) != "sweep.resume"]


def tell_torchrun(message: str) -> None:
    """Under torchrun, put this process's one-line error where torchrun reads a failed
    process's error (TORCHELASTIC_ERROR_FILE): its failure report then shows the line as the
    root cause, instead of a link to its docs below its own traceback."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path or torchrun_rank() is None:
        return
    import json
    import time

    try:
        Path(path).write_text(json.dumps({"message": message,
                                          "timestamp": str(int(time.time()))}))
    except OSError:  # torchrun's own folder gone: its report is all there is
        pass


def torchrun_rank() -> Optional[int]:
    return int(os.environ["RANK"]) if "RANK" in os.environ and "WORLD_SIZE" in os.environ else None


def for_this_process(args: List[str]) -> Tuple[List[str], Optional[Path]]:
    """The command, and a scratch folder to remove when it ends (or None). Under torchrun only
    rank 0 keeps a run folder; the others get a scratch one. ``mode=predict output=PATH``
    writes PATH alone, so its run folder is a scratch one too."""
    rank = torchrun_rank()
    named = any(override_key(arg) == "hydra.run.dir" for arg in args)
    predicts_elsewhere = (mode_of(args) == "predict" and not named and not multirun(args)
                          and any(override_key(arg) == "output" for arg in args))
    if not rank and not predicts_elsewhere:
        return args, None
    scratch = Path(tempfile.mkdtemp(prefix=f"nnrun-rank{rank}-" if rank else "nnrun-predict-"))
    return [*args, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"], scratch
