"""The registry of options: a data set, a model, an optimizer, a schedule or a logger is declared
once, beside its builder, with ``declare(group, name, schema, build, **traits)``.

One discovery rule for every group: each group has a package under ``nnrecipes/components/``
(``GROUP_PACKAGES``), and every module in it is imported when the group's options are first asked
for; a new option is a file there and a YAML in ``configs/<group>/``, with no list to edit. A
module that fails to import is one error naming it.

Everything else is derived from the declarations: the schemas Hydra checks every YAML against,
the builders' dispatch, the option lists of ``--help`` and the smoke recipes. A group's YAML file
``configs/<group>/<name>.yaml`` picks its schema with ``- schema/<name>@_here_``; the schemas sit
in a ``schema`` sub-group so that ``nnrun model=<TAB>`` offers only the real options.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from omegaconf import OmegaConf

from nnrecipes.core.config import (Config, ConfigError, DeviceConfig, SearchConfig, config_dir,
                                   folder_name, unique_dir)

# Each group's package: every module in it is imported to find the group's declarations, once,
# when a declaration is first asked for, so that importing this module costs nothing.
GROUP_PACKAGES = {"dataset": "nnrecipes.components.datasets",
                  "model": "nnrecipes.components.models",
                  "optimizer": "nnrecipes.components.optimizers",
                  "scheduler": "nnrecipes.components.schedulers",
                  "logger": "nnrecipes.components.loggers"}
GROUPS = tuple(GROUP_PACKAGES)
# Groups of which a run may pick several options (logger=[tensorboard,mlflow]); each option's
# YAML then puts its settings under <group>.<option>.
MANY_GROUPS = ("logger",)
# Groups whose options all share one schema and have no builder.
PLAIN_GROUPS = {"device": DeviceConfig, "search": SearchConfig}


@dataclass(frozen=True)
class Component:
    group: str
    name: str
    schema: type  # a dataclass; its fields are the option's keys, with their ranges
    build: Callable[..., Any]
    traits: Mapping[str, Any]

    def trait(self, key: str, default: Any = None) -> Any:
        return self.traits.get(key, default)


_declared: Dict[str, Dict[str, Component]] = {group: {} for group in GROUPS}
_declared_in: Dict[Tuple[str, str], str] = {}  # (group, name): the file that declared it
_discovered: Set[str] = set()


def declare(group: str, name: str, schema: type, build: Callable[..., Any],
            **traits: Any) -> Component:
    """Declare ``name`` in ``group``: its keys (``schema``), its builder and its traits."""
    if group not in _declared:
        raise ValueError(f"{group!r} is not a component group; one of {', '.join(GROUPS)}")
    where = sys._getframe(1).f_code.co_filename  # the declaring file, to name it if taken
    taken = _declared_in.get((group, name))
    if taken is not None and taken != where:  # the same file again is a reload, not a clash
        raise ValueError(f"{group}={name} is declared twice: in {taken} and in {where}; "
                         f"rename one of them")
    component = Component(group, name, schema, build, traits)
    _declared[group][name], _declared_in[(group, name)] = component, where
    return component


def _discover(group: str) -> None:
    """Import every module of the group's package: each declares its options."""
    _discovered.add(group)
    package = _import(GROUP_PACKAGES[group], group)
    for found in sorted(pkgutil.iter_modules(package.__path__, f"{package.__name__}."),
                        key=lambda module: module.name):
        _import(found.name, group)


def _import(module: str, group: str):
    try:
        return importlib.import_module(module)
    except Exception as error:  # a broken option file: name it, not Hydra's missing schema
        reason = (str(error).strip().splitlines() or [""])[0][:300]
        raise ConfigError(f"the {group} options could not be loaded: {module} failed to import "
                          f"({type(error).__name__}: {reason}); fix or remove that file") from None


def declared(group: str) -> Dict[str, Component]:
    """Every declared option of ``group``, by name."""
    if group not in _discovered:
        _discover(group)
    return dict(_declared[group])


def component(group: str, name: str) -> Component:
    """The declaration of ``group=name``; a ConfigError listing the options if there is none."""
    options = declared(group)
    if name not in options:
        close = difflib.get_close_matches(str(name), options, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{group}={name} is not a known {group}{hint}; choose one of: "
                          f"{', '.join(sorted(options))}")
    return options[name]


def options(group: str) -> List[str]:
    """The options a user can pick: the group's YAML files (what Hydra offers), sorted."""
    return sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))


def named_schema(item: Component) -> type:
    """The declaration's schema with ``name`` defaulting to the option's name, so YAML files
    need not repeat it."""
    return dataclasses.make_dataclass(
        item.schema.__name__, [("name", str, dataclasses.field(default=item.name))],
        bases=(item.schema,))


def schemas(group: str) -> Dict[str, type]:
    """The schema of every option of ``group``."""
    if group in PLAIN_GROUPS:
        return {name: PLAIN_GROUPS[group] for name in options(group)}
    return {name: item.schema for name, item in declared(group).items()}


def register_configs(group_schemas: bool = True) -> None:
    """Store the schemas and resolvers that composing a config needs. Without ``group_schemas``
    (which load every declaration, and with the models torch) Hydra can still list options."""
    from hydra.core.config_store import ConfigStore

    OmegaConf.register_new_resolver("folder_name", folder_name, replace=True)
    # Cached, like Hydra's ${now:}, so each composed config claims its folder exactly once.
    OmegaConf.register_new_resolver("unique_dir", unique_dir, replace=True, use_cache=True)
    OmegaConf.register_new_resolver("nnrun_groups", help_groups, replace=True)
    store = ConfigStore.instance()
    store.store(name="schema", node=Config)
    for group in GROUPS if group_schemas else ():
        for name, item in declared(group).items():
            store.store(group=f"{group}/schema", name=name, node=named_schema(item))
    for group, schema in PLAIN_GROUPS.items():
        store.store(group=f"{group}/schema", name=group, node=schema)


def default_choices() -> Dict[str, str]:
    """The option config.yaml picks for each group that it picks one for."""
    defaults = OmegaConf.load(config_dir() / "config.yaml").defaults
    return {key: value for entry in defaults if isinstance(entry, Mapping)
            for key, value in entry.items()}


def default_choice(group: str) -> Optional[str]:
    """The option config.yaml picks for ``group`` (None where it picks none)."""
    return default_choices().get(group)


def help_groups() -> str:
    """The config groups and their options, for ``nnrun --help``."""
    chosen = default_choices()
    lines = []
    for group in (*GROUPS, *PLAIN_GROUPS):
        names = options(group)
        default = chosen.get(group)
        if default in names:
            names = [f"{default} (default)", *(name for name in names if name != default)]
        lines.append(textwrap.fill(", ".join(names), 96, initial_indent=f"{group + ':':<12}",
                                   subsequent_indent=" " * 12))
    presets = ", ".join(options("experiment"))
    lines.append("\n" + textwrap.fill(presets, 96, initial_indent="Presets (configs/experiment/, "
                                       "add with +experiment=NAME): ", subsequent_indent=" " * 12))
    return "\n".join(lines)
