"""Every numeric setting of every schema declares its allowed range, and a value outside it is
refused with exit 2 before any data is loaded. The cases are generated from the schemas and the
YAML options, so a key added later is covered without editing this file."""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any, Iterator, List, Tuple

import pytest
from bad_inputs import error_lines
from conftest import run_cli
from omegaconf import MISSING

import nnrecipes.modes.train as train_mode
import nnrecipes.run.build as run_module
from nnrecipes.core.bounds import Allowed, declared
from nnrecipes.core.config import Config
from nnrecipes.core.registry import GROUPS, MANY_GROUPS, PLAIN_GROUPS, schemas


def _is_number(item: dataclasses.Field) -> bool:
    return bool(re.search(r"\b(int|float)\b", str(item.type)))


def _schemas() -> Iterator[Tuple[str, List[str], type]]:
    """(key prefix, overrides that pick the schema, schema): one option per schema, from the
    declarations, so a new component's keys are covered without touching this file."""
    seen = set()
    for group in (*GROUPS, *PLAIN_GROUPS):
        for name, schema in schemas(group).items():
            if schema not in seen:
                seen.add(schema)
                # Keys that must be given (a user's target, a file's path) get a value that
                # is never read: the range check comes first.
                required = [f"{group}.{item.name}=nowhere:thing" for item in
                            dataclasses.fields(schema) if item.default == MISSING
                            and item.name != "name"]
                # Several loggers may be picked at once: each has its own section.
                prefix = f"{group}.{name}." if group in MANY_GROUPS else f"{group}."
                yield prefix, [f"{group}={name}", *required], schema
    for item in dataclasses.fields(Config):
        if item.name not in (*GROUPS, *PLAIN_GROUPS) and isinstance(item.default_factory, type):
            yield f"{item.name}.", [], item.default_factory
    yield "", [], Config


def _outside(allowed: Allowed, whole: bool, number: bool) -> List[Any]:
    """Values just outside each bound of ``allowed`` (inf is tested once, in bad_inputs.py)."""
    if allowed.choices:  # a number of its type that is not a choice, or a word
        return [max(int(choice) for choice in allowed.choices) + 1] if number else ["not_a_choice"]
    step = 1 if whole else 0.5
    values = [bound for bound in (allowed.gt, allowed.lt) if bound is not None]
    values += [allowed.ge - step] if allowed.ge is not None else []
    values += [allowed.le + step] if allowed.le is not None else []
    return [int(value) if whole else value for value in values]


def _cases() -> Iterator[Tuple[List[str], str, str]]:
    tried = set()
    for prefix, picks, schema in _schemas():
        for item, allowed in declared(schema):
            # A key inherited unchanged (optimizer.lr of every optimizer) is tried once.
            if allowed is None or (prefix, item.name, allowed) in tried:
                continue
            tried.add((prefix, item.name, allowed))
            key, whole = f"{prefix}{item.name}", "float" not in str(item.type)
            listed = "List" in str(item.type)
            if allowed.length is not None:
                inside = [(allowed.ge or 0) + 0.5 * ((allowed.lt or 1) - (allowed.ge or 0))]
                yield picks, key, str(inside * (allowed.length + 1))
            for value in _outside(allowed, whole, _is_number(item)):
                yield picks, key, f"[{value}]" if listed else str(value)


CASES = list(_cases())


def test_every_numeric_setting_declares_its_range():
    undeclared = [f"{schema.__name__}.{item.name}" for _, _, schema in _schemas()
                  for item, allowed in declared(schema) if _is_number(item) and allowed is None]
    assert not undeclared, f"declare the allowed values with bounds.setting(...): {undeclared}"


def test_the_generated_cases_cover_every_group():
    keys = {key.split(".")[0] for _, key, _ in CASES}
    bounded = {prefix.split(".")[0] or "seed" for prefix, _, schema in _schemas()
               if any(allowed is not None for _, allowed in declared(schema))}
    assert {"dataset", "model", "optimizer", "scheduler", "device", "search", "trainer",
            "seed"} <= bounded == keys
    assert len(CASES) > 40


FOLDERS = itertools.count()


@pytest.mark.parametrize("picks,key,value", CASES, ids=[f"{k}={v}" for _, k, v in CASES])
def test_a_value_outside_its_range_is_refused_before_any_work(picks, key, value, tmp_path,
                                                              monkeypatch, capsys):
    def prepare_only(cfg, *args, **kwargs):
        run_module.prepare(cfg)  # every check that needs no data
        pytest.fail(f"{key}={value} was accepted")

    monkeypatch.setattr(train_mode, "train_or_cross_validate", prepare_only)
    code = run_cli(*picks, f"{key}={value}", f"hydra.run.dir={tmp_path / 'out'}")
    output = capsys.readouterr()
    said = "\n".join(error_lines(output.out + output.err))
    assert code == 2, output.out + output.err
    assert f"{key}=" in said and "is not allowed" in said, said
    assert len(said.splitlines()) == 1
