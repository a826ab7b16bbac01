"""The package's shape: layers as folders, each importing only those below it, no cycles; each
group's options found by one rule; the task named in one module; the loop fed settings, not the
config."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Dict, List, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nnrecipes"
# Bottom to top; a module may import its own layer and those before it.
LAYERS = ("core", "data", "components", "records", "run", "modes", "command_line", "top")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "top"


def _imports(path: Path) -> Dict[str, bool]:
    """The nnrecipes modules ``path`` imports, each with whether at module level."""
    tree, found = ast.parse(path.read_text()), {}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nnrecipes"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("nnrecipes")]
        top_level = node in tree.body
        for name in names:
            found[name] = found.get(name, False) or top_level
    return found


def _modules() -> Dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")
            if "configs" not in path.parts}


def _known(name: str, modules: Dict[str, Path]) -> str:
    """The module an import names (``a.b.name`` may be ``a.b`` importing ``name``)."""
    return name if name in modules else name.rsplit(".", 1)[0]


def test_every_module_sits_in_a_layer_and_imports_none_above_it():
    modules, upward = _modules(), []
    for module, path in modules.items():
        mine = LAYERS.index(_layer(module))
        for name in _imports(path):
            target = _known(name, modules)
            if target in modules and LAYERS.index(_layer(target)) > mine:
                upward.append(f"{module} imports {target}")
    assert not upward, upward
    assert {_layer(module) for module in modules} == set(LAYERS)


def _import_graph(modules: Dict[str, Path], top_only: bool) -> Dict[str, Set[str]]:
    return {module: ({_known(name, modules) for name, top in _imports(path).items()
                      if top or not top_only} & set(modules))
            for module, path in modules.items()}


@pytest.mark.parametrize("top_only", [True, False], ids=["module level", "functions too"])
def test_imports_have_no_cycles(top_only):
    """No cycle of imports, counting those made inside functions too: a cycle hidden in a
    function (data/encoding.py and data/table_columns.py had one) is a cycle all the same."""
    modules = _modules()
    graph = _import_graph(modules, top_only)
    done: Set[str] = set()

    def visit(module: str, trail: List[str]) -> None:
        if module in trail:
            pytest.fail(f"an import cycle: {' -> '.join(trail[trail.index(module):] + [module])}")
        if module in done:
            return
        for target in sorted(graph[module]):
            if target != module and not module.startswith(target + "."):
                visit(target, [*trail, module])
        done.add(module)

    for module in graph:
        visit(module, [])


def test_the_top_of_the_package_holds_the_commands_only():
    tops = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")
    assert tops == ["cli", "export", "report", "smoke"]


def test_every_group_is_discovered_from_its_package_by_one_rule():
    from nnrecipes.core import registry

    for group, package in registry.GROUP_PACKAGES.items():
        folder = PACKAGE.parent / Path(*package.split("."))
        assert (folder / "__init__.py").is_file(), group
        declared_by = {item.build.__module__ for item in registry.declared(group).values()
                       if hasattr(item.build, "__module__")}
        assert all(name.startswith(package) or name.startswith("torch") for name in declared_by)


def test_the_task_names_appear_in_one_module():
    found = [f"{path.relative_to(PACKAGE)}:{number}"
             for path in PACKAGE.rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), start=1)
             if re.search(r"""["'](regression|binary|multiclass)["']""", line)]
    assert found and all(place.startswith("core/task.py:") for place in found), found


def test_the_loop_takes_settings_not_the_config():
    from nnrecipes.run.engine import train_one_epoch

    assert len(inspect.signature(train_one_epoch).parameters) <= 6
    for name in ("loop.py", "finish.py", "engine.py"):
        text = (PACKAGE / "run" / name).read_text()
        assert not re.search(r"\bcfg\b", text), name
    built = (PACKAGE / "run" / "build.py").read_text()
    assert "cfg: DictConfig" not in built.split("class Run:")[1].split("def ")[0]
