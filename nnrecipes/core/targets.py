"""A user's own class or function, named as ``module:Name`` (``model.target``, ``dataset.target``),
imported and called with the keys the user gave; every failure is a one-line ConfigError."""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
import traceback
import typing
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Optional, Tuple

from omegaconf import MISSING

from nnrecipes.core.config import ConfigError

# Annotations a setting can be checked against before the call; others are left to the target.
CHECKABLE = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}
# The files of the modules users named, with the setting that named each: an exception whose
# traceback passes through one of them was raised by the user's own code.
_USER_FILES: Dict[str, str] = {}


def _remember(module: ModuleType, key: str, spec: str) -> None:
    file = getattr(module, "__file__", None)
    if file:
        _USER_FILES[str(Path(file).resolve())] = f"{key}={spec}"


def _user_frame(error: BaseException) -> Optional[Tuple[str, traceback.FrameSummary]]:
    """The deepest frame of ``error``'s traceback in a user's file, and who named that file."""
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        named = _USER_FILES.get(str(Path(frame.filename).resolve()))
        if named:
            found = (named, frame)
    return found


def _location(frame: traceback.FrameSummary) -> str:
    return f"{Path(frame.filename).name}, line {frame.lineno}, in {frame.name}"


def user_code_failure(error: BaseException) -> Optional[str]:
    """A one-line account of ``error`` if it was raised in a user's own code (a model's forward,
    a data function): what raised, where, and that it is theirs; None otherwise."""
    found = _user_frame(error)
    if found is None:
        return None
    named, frame = found
    reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    return (f"{named} raised {type(error).__name__}{': ' + reason if reason else ''} "
            f"({_location(frame)}); the error is in that code, not in nnrecipes")


def load_target(spec: str, key: str) -> Callable[..., Any]:
    """The callable that ``spec`` ("module:Name") names; modules are found on sys.path and in
    the folder nnrun was started in, as ``python -m`` would find them."""
    module_name, _, name = str(spec).partition(":")
    if spec == MISSING:
        raise ConfigError(f"{key} is not set: {key.split('.')[0]}=custom runs your own code; name "
                          f"it with {key}=module:Name, e.g. {key}=my_nets:TinyResNet")
    if not module_name or not name:
        raise ConfigError(f"{key}={spec} must name module:Name, e.g. {key}=my_nets:TinyResNet")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{key}={spec}: cannot import {module_name} ({error}); run nnrun in "
                          f"the folder that holds it, or add that folder to PYTHONPATH") from None
    except SystemExit as stop:  # a script's sys.exit() that runs on import
        raise ConfigError(f"{key}={spec}: importing {module_name} called sys.exit({stop.code}); "
                          f"put the code that runs as a script under "
                          f"if __name__ == '__main__':") from None
    except Exception as error:  # the user's module itself raised while being imported
        where = next((f" ({_location(frame)})" for frame in
                      reversed(traceback.extract_tb(error.__traceback__))
                      if Path(frame.filename).stem == module_name.rsplit(".", 1)[-1]), "")
        raise ConfigError(f"{key}={spec}: importing {module_name} failed: "
                          f"{type(error).__name__}: {error}{where}") from None
    _remember(module, key, spec)
    if not callable(getattr(module, name, None)):
        public = [item for item in vars(module) if not item.startswith("_")]
        close = difflib.get_close_matches(name, public, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{key}={spec}: {module_name} has no class or function {name}{hint}")
    return getattr(module, name)


def _check_arguments(target: Callable[..., Any], spec: str, key: str, positional: tuple,
                     settings: Dict[str, Any]) -> None:
    signature = inspect.signature(target)
    try:
        signature.bind(*positional, **settings)
    except TypeError as error:
        accepted = list(signature.parameters)[len(positional):]
        unknown = [name for name in settings if name not in signature.parameters]
        close = difflib.get_close_matches(unknown[0], accepted, n=1) if unknown else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{key}={spec} cannot take these settings: {error}{hint}; it takes "
                          f"{', '.join(accepted) or 'none'}") from None
    try:
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:  # annotations that do not resolve: nothing to check against
        hints = {}
    for name, value in settings.items():
        allowed = CHECKABLE.get(hints.get(name))
        if allowed and (not isinstance(value, allowed) or (bool not in allowed
                                                           and isinstance(value, bool))):
            raise ConfigError(f"{key.rsplit('.', 1)[0]}.args.{name}={value!r} is not allowed: "
                              f"{spec} declares it as {hints[name].__name__}")


def call_target(spec: str, key: str, *positional: Any, **settings: Any) -> Any:
    """Import ``spec`` and call it with ``positional`` and the user's ``settings``."""
    target = load_target(spec, key)
    _check_arguments(target, spec, key, positional, settings)
    try:
        return target(*positional, **settings)
    except ConfigError:
        raise
    except SystemExit as stop:
        raise ConfigError(f"{key}={spec} called sys.exit({stop.code}) while building") from None
    except Exception as error:
        found = _user_frame(error)
        where = f" ({_location(found[1])})" if found else ""
        raise ConfigError(f"{key}={spec} did not build: {type(error).__name__}: "
                          f"{error}{where}") from None
