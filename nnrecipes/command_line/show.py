"""``nnrun --help`` and ``nnrun --cfg job|hydra|all [--package P] [--resolve]``: the composed
config printed, and nothing run or written.

Done here rather than by Hydra: its help lists every config group, the schema sub-groups
included, at a cost of seconds; and its ``--cfg hydra --resolve`` drops the run's own keys before
resolving, so the run folder's name (``${mode}``, ``${dataset.name}``) cannot resolve, while its
``--cfg all --resolve`` creates the run folder it prints. Here the whole config resolves, with
folder names worked out but not created, before the part asked for is printed.
"""

from __future__ import annotations

import argparse
from typing import List

from omegaconf import DictConfig, OmegaConf

from nnrecipes.core.config import ConfigError, config_dir, unique_dir

HELP_FLAGS = {"--help", "-h"}
CONFIG_FLAGS = {"--cfg", "-c"}


def _compose(overrides: List[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def show_help(overrides: List[str]) -> None:
    """The help template with the composed config (the template lists the groups itself,
    ${nnrun_groups:})."""
    cfg = _compose(overrides)
    template = cfg.hydra.help.template
    body = OmegaConf.to_yaml({key: cfg[key] for key in cfg if key != "hydra"})
    print(template.replace("$CONFIG", body))


def asks_for_config(args: List[str]) -> bool:
    return any(arg.split("=", 1)[0] in CONFIG_FLAGS for arg in args)


def _parse(args: List[str]) -> tuple:
    parser = argparse.ArgumentParser(prog="nnrun", add_help=False, exit_on_error=False)
    parser.add_argument("--cfg", "-c", choices=["job", "hydra", "all"], required=True)
    parser.add_argument("--package", "-p")
    parser.add_argument("--resolve", action="store_true")
    try:
        flags, overrides = parser.parse_known_args(args)
    except argparse.ArgumentError as error:
        raise ConfigError(f"{error}; e.g. nnrun --cfg job [--resolve]") from None
    unknown = [arg for arg in overrides if arg.startswith("-")]
    if unknown:
        raise ConfigError(f"{unknown[0]} cannot be used with --cfg")
    return flags, overrides


def show_config(args: List[str]) -> None:
    """Print the part of the composed config that ``--cfg`` names."""
    flags, overrides = _parse(args)
    cfg = _compose(overrides)
    if flags.resolve:
        _resolve(cfg)
    if flags.cfg == "job":
        part = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    elif flags.cfg == "hydra":
        part = OmegaConf.masked_copy(cfg, ["hydra"])
    else:
        part = cfg
    if flags.package:
        selected = OmegaConf.select(part, flags.package)
        if selected is None:
            raise ConfigError(f"--package {flags.package}: no such key in the --cfg "
                              f"{flags.cfg} config")
        print(f"# @package {flags.package}")
        part = selected
    print(OmegaConf.to_yaml(part) if OmegaConf.is_config(part) else part)


def _resolve(cfg: DictConfig) -> None:
    """Resolve every interpolation, as the run would, but leave the folders uncreated."""
    OmegaConf.register_new_resolver("unique_dir", _folder_it_would_take, replace=True)
    try:
        # What Hydra sets when the run starts, and its log file's name refers to.
        OmegaConf.update(cfg, "hydra.runtime.output_dir", OmegaConf.select(cfg, "hydra.run.dir"),
                         force_add=True)
        OmegaConf.resolve(cfg)
    finally:
        OmegaConf.register_new_resolver("unique_dir", unique_dir, replace=True, use_cache=True)


def _folder_it_would_take(path: str) -> str:
    return path
