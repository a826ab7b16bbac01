"""The command line as nnrun rewrites it before Hydra reads it: paths taken as typed, config
folders checked, the model for tables where none is named, and a scratch run folder where the
command writes elsewhere (torchrun's other ranks, mode=predict output=PATH). What resuming
rewrites is records/resume.py's."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

from nnrecipes.core.config import PATH_KEYS, ConfigError, Mode
from nnrecipes.core.overrides import mode_of, multirun, override_key, override_value
from nnrecipes.core.registry import declared, default_choice
from nnrecipes.run.torchrun import torchrun_rank

FOLDER_KEYS = (*PATH_KEYS, "hydra.run.dir", "hydra.sweep.dir")
# Keys that say which model a command uses, or where it comes from (a preset names its own; a
# resumed or evaluated run has its checkpoint's).
_MODEL_GIVEN = ("model", "experiment", "resume", "checkpoint")
# What was chosen for the user, said in the run's log once logging is set up (cli.py).
chosen_for_user: List[str] = []


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


def for_this_process(args: List[str]) -> Tuple[List[str], Optional[Path]]:
    """The command, and a scratch folder to remove when it ends (or None). Under torchrun only
    rank 0 keeps a run folder; the others get a scratch one. ``mode=predict output=PATH``
    writes PATH alone, so its run folder is a scratch one too."""
    rank = torchrun_rank()
    named = any(override_key(arg) == "hydra.run.dir" for arg in args)
    predicts_elsewhere = (mode_of(args) == Mode.predict and not named and not multirun(args)
                          and any(override_key(arg) == "output" for arg in args))
    if not rank and not predicts_elsewhere:
        return args, None
    scratch = Path(tempfile.mkdtemp(prefix=f"nnrun-rank{rank}-" if rank else "nnrun-predict-"))
    return [*args, f"hydra.run.dir={scratch}", "hydra.output_subdir=null"], scratch


def with_table_model(args: List[str]) -> List[str]:
    """The model declared ``table_default`` (model=tabular) added where the command names no
    model and every data set it trains on is a declared table; others keep config.yaml's."""
    chosen_for_user.clear()
    if any(override_key(arg) in _MODEL_GIVEN for arg in args) or "--info" in args or \
            mode_of(args) in (Mode.eval, Mode.predict):  # --info: Hydra's view, no run
        return args
    value = override_value(args, "dataset") or default_choice("dataset")
    names = [name.strip() for name in value.removeprefix("choice(").rstrip(")").split(",")]
    from nnrecipes.data import image_data_named  # here: --help loads no numpy

    # False, not None: a table by its declaration, not a user's own code yet to be loaded.
    if not all(name in declared("dataset") and image_data_named(name) is False
               for name in names):
        return args
    chosen = table_default()
    plain = default_choice("model")
    chosen_for_user.append(f"model={chosen}: the default for tables, with its training "
                           f"defaults (configs/model/{chosen}.yaml); model={plain} for the "
                           f"plain default")
    # Among the overrides: Hydra's parser takes its flags (-m, --cfg job) before them.
    first = next((index for index, arg in enumerate(args)
                  if "=" in arg and not arg.startswith("-")), len(args))
    return [*args[:first], f"model={chosen}", *args[first:]]


def table_default() -> str:
    """The model declared ``table_default``: the one a table gets unless model= says."""
    return next(name for name, item in declared("model").items() if item.trait("table_default"))
