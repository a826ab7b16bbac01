"""Every config composes; typos, wrong types and bad values fail with the key in the message."""

import os
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from nnrecipes.cli import main
from nnrecipes.core.config import ConfigError, config_dir
from nnrecipes.core.registry import GROUPS as GROUPS_DECLARED
from nnrecipes.core.registry import declared, options
from nnrecipes.core.validation import validate

GROUPS = ("dataset", "model", "optimizer", "scheduler", "device")


def group_options():
    for group in GROUPS:
        for path in sorted((config_dir() / group).glob("*.yaml")):
            yield group, path.stem


@pytest.mark.parametrize("group,option", list(group_options()))
def test_every_group_option_composes(composed, group, option):
    cfg = composed(f"{group}={option}", *([f"{group}.target=any:thing"] if option == "custom"
                                           else []))
    assert cfg[group].name == option
    validate(cfg)


def test_every_option_is_declared_once_and_has_its_yaml():
    for group in GROUPS_DECLARED:
        assert set(options(group)) == set(declared(group)), group


def test_help_lists_exactly_the_options(capsys):
    main(["--help"])
    shown = capsys.readouterr().out.split("== Config groups")[1].split("==\n")[1]
    shown = shown.split("Presets")[0]
    listed = {}
    for line in shown.strip().splitlines():
        group, _, names = line.rpartition(":") if not line.startswith(" ") else ("", "", line)
        if group:
            current = listed.setdefault(group.strip("= "), [])
        current += [name.split(" (")[0] for name in names.strip(" ,").split(", ") if name]
    for group in (*GROUPS_DECLARED, "device"):
        assert set(listed[group]) == set(options(group)), group
    assert "schema" not in shown


def test_completion_offers_only_real_options(capsys, monkeypatch):
    monkeypatch.setenv("COMP_LINE", "nnrun model=")
    main(["--shell-completion", "query=bash"])
    assert capsys.readouterr().out.split() == [f"model={name}" for name in options("model")]


def test_default_is_an_offline_dataset(composed):
    cfg = composed()
    assert cfg.dataset.name in {"iris", "wine", "breast_cancer", "digits", "diabetes"}


def test_misspelled_key_fails_naming_it(composed):
    with pytest.raises(ConfigCompositionException) as error:
        composed("optimizer.lrr=0.1")
    assert "lrr" in str(error.value) + str(error.value.__cause__)


def test_key_of_another_optimizer_is_rejected(composed):
    with pytest.raises(ConfigCompositionException) as error:
        composed("optimizer=adam", "optimizer.momentum=0.9")
    assert "momentum" in str(error.value) + str(error.value.__cause__)


def test_wrong_type_fails_naming_the_key(composed):
    with pytest.raises(ConfigCompositionException) as error:
        composed("trainer.epochs=ten")
    cause = error.value.__cause__
    assert isinstance(cause, ValidationError)
    assert "epochs" in str(error.value) + str(cause)


def test_unknown_activation_is_rejected_at_composition(composed):
    with pytest.raises(ConfigCompositionException):
        composed("model.activation=swishy")


def test_epochs_follow_the_dataset_unless_overridden(composed):
    assert composed("dataset=fashion_mnist").trainer.epochs == 5
    assert composed("dataset=iris").trainer.epochs == 100
    assert composed("dataset=fashion_mnist", "trainer.epochs=2").trainer.epochs == 2


@pytest.mark.parametrize("override,key", [
    ("optimizer.lr=0", "optimizer.lr"),
    ("optimizer.lr=-0.1", "optimizer.lr"),
    ("dataset.batch_size=0", "dataset.batch_size"),
    ("trainer.epochs=0", "trainer.epochs"),
    ("model.dropout=1.0", "model.dropout"),
    ("dataset.val_size=0", "dataset.val_size"),
    ("dataset.val_size=2.5", "dataset.val_size"),
    ("trainer.patience=0", "trainer.patience"),
    ("device.threads=0", "device.threads"),
])
def test_out_of_range_values_name_the_key(composed, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(composed(override))


def test_eval_mode_needs_a_checkpoint(composed):
    with pytest.raises(ConfigError, match="checkpoint"):
        validate(composed("mode=eval"))


def test_configs_ship_inside_the_package():
    assert (config_dir() / "config.yaml").is_file()
    assert Path(config_dir()).name == "configs"


def test_run_folder_names_what_ran(composed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # resolving the folder claims it
    trained = composed("dataset=wine", "model=perceptron", with_hydra=True)
    assert trained.hydra.run.dir.endswith("_wine_perceptron")
    assert trained.hydra.run.dir.startswith("outputs/")
    assert composed("mode=eval", with_hydra=True).hydra.run.dir.endswith("_eval")
    searched = composed("mode=search", "dataset=wine", with_hydra=True)
    assert searched.hydra.run.dir.endswith("_search_wine")
    assert (tmp_path / searched.hydra.run.dir).is_dir()


def test_completing_option_names_loads_no_declarations():
    """Hydra lists group=options from the YAML files; loading the declarations (and torch) for
    every TAB press would cost seconds."""
    import subprocess
    import sys

    script = ("import sys; from nnrecipes import cli; cli.main(['--shell-completion', "
              "'query=bash']); print('torch' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env={**os.environ, "COMP_LINE": "nnrun model="}, check=True).stdout
    assert shown.split() == [*(f"model={name}" for name in options("model")), "False"]
