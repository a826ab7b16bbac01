"""One-line messages for what can go wrong before a run starts: overrides Hydra cannot read or
compose, values of the wrong type, folders that cannot be written.

Hydra's own messages are several lines long and end with a hint about environment variables;
these name the key, the bad value and what is allowed, in one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import errno
import re
from typing import Iterable, List, Optional

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import (ConfigAttributeError, ConfigKeyError, OmegaConfBaseException,
                              ValidationError)

from nnrecipes.core.config import ConfigError

WRITE_ELSEWHERE = "write the run elsewhere with hydra.run.dir=DIR (hydra.sweep.dir=DIR for -m)"
OS_ERROR_HINTS = {errno.ENOSPC: f"free some space, or {WRITE_ELSEWHERE}",
                  errno.EDQUOT: f"free some space, or {WRITE_ELSEWHERE}",
                  errno.EROFS: f"the file system is read-only: {WRITE_ELSEWHERE}",
                  errno.EACCES: f"no permission: {WRITE_ELSEWHERE}",
                  errno.EPERM: f"no permission: {WRITE_ELSEWHERE}",
                  errno.ENOTDIR: "a part of this path is a file, not a folder",
                  errno.EEXIST: "a file is in the way: a part of this path is a file, not a "
                                "folder",
                  errno.EISDIR: "that is a folder: name a file"}
PLUGIN_LAUNCHERS = ("joblib", "submitit_local", "submitit_slurm")  # nnrecipes[launchers]
TYPE_WORDS = {"Integer": "a whole number", "Float": "a number", "Boolean": "true or false",
              "String": "text"}


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]}? " if close else ""


def unknown_key(full_key: str, known: List[str], where: str) -> str:
    """The message for a key that the schema of ``where`` does not have."""
    name = full_key.rsplit(".", 1)[-1]
    return (f"{full_key} is not a setting of {where}; {_did_you_mean(name, known)}"
            f"its settings are: {', '.join(known)}")


def _missing_option(error: MissingConfigException) -> str:
    text = str(error)
    wanted = re.search(r"Could not find '([^']+)'", text)
    if not wanted or "/" not in wanted.group(1):
        return _first_line(text)
    group, option = wanted.group(1).rsplit("/", 1)
    listed = text.split("Available options", 1)[-1].split("Config search path", 1)[0]
    options = [line.strip() for line in listed.splitlines()[1:]
               if line.strip() and not line.strip().startswith("schema")]
    if not options:
        return f"{group}={option}: there is no {group}/{option}.yaml"
    return (f"{group}={option} is not a known {group}; {_did_you_mean(option, options)}"
            f"choose one of: {', '.join(options)}")


def schema_keys(object_type: Optional[type]) -> List[str]:
    """The field names of a dataclass config schema; [] for anything else."""
    if object_type is None or not dataclasses.is_dataclass(object_type):
        return []
    return [field.name for field in dataclasses.fields(object_type)]


def _bad_value(cause: OmegaConfBaseException) -> str:
    key, text = cause.full_key or "value", _first_line(str(cause).split("\n    full_key")[0])
    text = text.removeprefix("While dereferencing interpolation ")
    converted = re.search(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", text)
    if converted:
        value, wanted = converted.group(1), TYPE_WORDS.get(converted.group(2), converted.group(2))
        if converted.group(2) == "Integer" and _whole_float(value):
            # 1e9 and 64.0 are read as decimal numbers even though their value is whole.
            return (f"{key}={value} is not allowed: a whole number is written with digits only, "
                    f"e.g. {key}={int(float(value))}")
        return f"{key}={value} is not allowed: must be {wanted}"
    choice = re.search(r"Invalid value '(.*)', expected one of \[(.*)\]", text)
    if choice:
        return f"{key}={choice.group(1)} is not allowed: choose one of {choice.group(2)}"
    if "is not Optional" in text:
        return f"{key} cannot be null"
    if "is not a subclass of" in text:
        return f"{key} is a section, not a value: set its keys, e.g. {key}.<key>=<value>"
    if "is not a ListConfig" in text:
        return f"{key} must be a list, for example {key}=[64,32]"
    return f"{key}: {text}"


def _omegaconf_error(error: OmegaConfBaseException) -> str:
    if isinstance(error, (ConfigAttributeError, ConfigKeyError)) and error.full_key:
        known = schema_keys(error.object_type)
        parent = error.full_key.rsplit(".", 1)[0] if "." in error.full_key else "the config"
        if known:
            return unknown_key(error.full_key, known, parent)
    if isinstance(error, ValidationError):
        return _bad_value(error)
    missing = re.search(r"Missing mandatory value: ([\w.]+)", str(error))
    if missing:
        return f"{missing.group(1)} has no value: give it one ({missing.group(1)}=...)"
    where = f" (at {error.full_key})" if getattr(error, "full_key", None) else ""
    return f"{_first_line(error)}{where}"


def _os_error(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    hint = OS_ERROR_HINTS.get(error.errno, "")
    return f"{where}{error.strerror}{'; ' + hint if hint else ''}"


def _os_error_within(error: Optional[BaseException]) -> Optional[OSError]:
    """An OSError that ``error`` is, or wraps (a resolver that could not create a folder)."""
    while error is not None:
        if isinstance(error, OSError) and error.strerror and \
                not isinstance(error, MissingConfigException):
            return error
        error = error.__cause__ or error.__context__
    return None


def _whole_float(text: str) -> bool:
    try:
        return float(text).is_integer()
    except ValueError:
        return False


def _override_parse_error(error: OverrideParseException) -> str:
    override = getattr(error, "override", None) or ""
    if not override.isascii() and "=" in override:
        key, value = override.split("=", 1)
        return (f"cannot read the override {override!r}: Hydra reads unquoted values as ASCII "
                f"only; quote the value: {key}='{value}'")
    return (f"cannot read the override {override!r}: write key=value, e.g. optimizer.lr=0.01, and "
            "quote values that hold spaces, commas or brackets")


def explain(error: BaseException) -> str:
    """One line saying what is wrong with the command line or the config, and what to do."""
    if isinstance(error, ConfigError):  # ours, already one line
        return str(error)
    cause = error.__cause__
    underlying = _os_error_within(error)
    if underlying is not None:
        return _os_error(underlying)
    plugin = re.search(r"Could not (?:load|find) 'hydra/launcher/(\w+)'", str(error))
    if plugin and plugin.group(1) in PLUGIN_LAUNCHERS:
        return (f"hydra/launcher={plugin.group(1)} needs Hydra's launcher plugins: "
                f"pip install 'nnrecipes[launchers]'")
    if isinstance(error, MissingConfigException):
        return _missing_option(error)
    if isinstance(error, OverrideParseException):
        return _override_parse_error(error)
    if isinstance(cause, OmegaConfBaseException):
        return _omegaconf_error(cause)
    if isinstance(error, OmegaConfBaseException):
        return _omegaconf_error(error)
    if isinstance(error, HydraException):
        return _hydra_message(str(error))
    if type(error).__name__ == "FailedJobError":  # submitit's: sbatch refused the jobs
        return _refused_by_slurm(str(error))
    if "Expecting one subcommand from" in str(error):
        return ("--shell-completion needs what to do: nnrun --shell-completion install=bash "
                "(or zsh, fish); uninstall=bash removes it")
    return (f"the command line could not be composed into a config "
            f"({type(error).__name__}: {_first_line(error)})")


def _refused_by_slurm(text: str) -> str:
    said = [line.strip() for line in text.splitlines() if "error" in line.lower()]
    return (f"SLURM refused the sweep's jobs ({' '.join(said[:2]) or _first_line(text)}); "
            "the launcher's requests are hydra.launcher.* (see them with nnrun "
            "hydra/launcher=slurm --cfg hydra --package hydra.launcher)")


def describe(error: BaseException) -> str:
    """One line for an error a run ended with: worded for the command line's and the file
    system's, the user's own code named where it raised, or the error's own message."""
    from nnrecipes.core.targets import user_code_failure

    if isinstance(error, (OSError, OmegaConfBaseException)):
        return explain(error)
    return user_code_failure(error) or str(error)


def _hydra_message(text: str) -> str:
    ambiguous = re.search(r"Ambiguous value for argument '(.*)'", text)
    if ambiguous:
        return (f"{ambiguous.group(1)}: a comma-separated value is a sweep, which needs -m "
                f"(nnrun -m {ambiguous.group(1)}); a list is written key=[a,b]")
    no_match = re.search(r"Could not override '(.*)'\. No match in the defaults list", text)
    if no_match:
        key = no_match.group(1)
        return (f"{key!r} is not a config group of this run; groups are picked with "
                f"group=option (model=cnn), presets added with +experiment=NAME")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("See https")]
    return " ".join(lines)
