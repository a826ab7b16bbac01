"""What values a setting may take, declared beside the setting in its schema.

``setting(64, ge=1)`` is a dataclass field whose metadata says "a whole number, at least 1".
:func:`range_problem` walks a composed config and names the first value outside what its schema
declares, so a new key is checked the moment it is declared, and the tests can enumerate every
declared range (``tests/test_bounds.py`` fails for a numeric setting declared without one).
No torch here: this runs while the config is composed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Tuple

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf


@dataclass(frozen=True)
class Allowed:
    """The values one setting accepts: bounds for numbers (each entry, for lists), or choices."""

    ge: Optional[float] = None  # at least
    gt: Optional[float] = None  # greater than
    le: Optional[float] = None  # at most
    lt: Optional[float] = None  # less than
    choices: Tuple[str, ...] = ()
    # Other words for a choice, as (word, choice) pairs: YAML and the command line read
    # true/false (and YAML on/off) as booleans, which a text setting receives as 'True'.
    aliases: Tuple[Tuple[str, str], ...] = ()
    length: Optional[int] = None  # lists: exactly this many entries
    entries: Tuple[int, Optional[int]] = (0, None)  # lists: at least, and at most, this many
    kind: str = ""  # what the number is, for the message: "a probability"

    def canonical(self, value: Any) -> Any:
        """The choice ``value`` stands for (itself, unless it is an alias)."""
        return dict(self.aliases).get(str(value).lower(), value)

    def in_words(self) -> str:
        if self.choices:
            others = {choice: [word for word, meant in self.aliases if meant == choice]
                      for choice in self.choices}
            return "choose one of " + ", ".join(
                choice + (f" (or {', '.join(others[choice])})" if others[choice] else "")
                for choice in self.choices)
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        if low is not None and high is not None:
            return (f"must be {self.kind + ' ' if self.kind else ''}in "
                    f"{'[' if self.ge is not None else '('}{_number(low)}, "
                    f"{_number(high)}{']' if self.le is not None else ')'}")
        if low is not None:
            return f"must be {'at least' if self.ge is not None else 'greater than'} {_number(low)}"
        if high is not None:
            return f"must be {'at most' if self.le is not None else 'less than'} {_number(high)}"
        return "any value"

    def admits(self, value: Any) -> bool:
        if self.choices:
            return str(self.canonical(value)) in self.choices
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def setting(default: Any = MISSING, *, factory=None, **allowed: Any):
    """A schema field with its allowed values; ``factory`` builds a list default."""
    metadata = {"allowed": Allowed(**allowed)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def declared(schema: type) -> Iterator[Tuple[dataclasses.Field, Optional[Allowed]]]:
    """Each field of a dataclass schema with what it allows (None where nothing is declared)."""
    for item in dataclasses.fields(schema):
        yield item, item.metadata.get("allowed")


def _problem(allowed: Allowed, value: Any, nullable: bool) -> Optional[str]:
    if isinstance(value, ListConfig):
        entries = list(value)
        if allowed.length is not None and len(entries) != allowed.length:
            return f"must hold exactly {allowed.length} entries"
        fewest, most = allowed.entries
        if len(entries) < fewest or (most is not None and len(entries) > most):
            return (f"must hold {fewest} to {most} entries" if most is not None else
                    f"must hold at least {fewest} entr{'y' if fewest == 1 else 'ies'}")
        bad = [entry for entry in entries if not allowed.admits(entry)]
        return f"every entry {allowed.in_words()}" if bad else None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    return None if allowed.admits(value) else allowed.in_words() + (", or null" if nullable else "")


def apply_aliases(node: DictConfig) -> None:
    """Replace each alias in ``node`` (walked as range_problem walks it) by its choice, so that
    the code reading a setting sees one spelling (trainer.baseline=false is 'off')."""
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        for key in node.keys():
            if isinstance(node[key], DictConfig):
                apply_aliases(node[key])
        return
    for item, allowed in declared(schema):
        if item.name not in node:
            continue
        value = node[item.name]
        if isinstance(value, DictConfig):
            apply_aliases(value)
        elif allowed is not None and allowed.aliases and value is not None:
            node[item.name] = allowed.canonical(value)


def range_problem(node: DictConfig, prefix: str = "") -> Optional[str]:
    """The first setting in ``node`` (walked in schema order) outside its declared range."""
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        # A section of sections (logger.<name>), each with its own schema.
        found = (range_problem(node[key], f"{prefix}{key}.") for key in node.keys()
                 if isinstance(node[key], DictConfig))
        return next((problem for problem in found if problem), None)
    for item, allowed in declared(schema):
        if item.name not in node:
            continue
        value = node[item.name]
        if isinstance(value, DictConfig):
            found = range_problem(value, f"{prefix}{item.name}.")
        elif allowed is None or value is None:
            found = None
        else:
            problem = _problem(allowed, value, "Optional" in str(item.type))
            shown = list(value) if isinstance(value, ListConfig) else value
            found = f"{prefix}{item.name}={shown!r} is not allowed: {problem}" if problem else None
        if found:
            return found
    return None
