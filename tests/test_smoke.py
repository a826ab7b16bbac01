"""The CI smoke script users call: every recipe, generated data, non-zero exit on failure."""

from nnrecipes.core.registry import declared, options
from nnrecipes.smoke import main, recipes


def _built_in(group):
    return {name for name in options(group) if not declared(group)[name].trait("user_code")}


def test_recipes_cover_every_dataset_and_model():
    chosen = recipes()
    assert {dataset for dataset, _ in chosen} == _built_in("dataset")
    assert {model for _, model in chosen} == _built_in("model")
    assert ("iris", "cnn") not in chosen and ("fashion_mnist", "cnn") in chosen
    assert "custom" not in {name for pair in chosen for name in pair}  # needs the user's code


def _count(*datasets):
    return sum(dataset in datasets for dataset, _ in recipes())


def test_smoke_passes_on_generated_data(capsys):
    chosen = ("iris", "mnist", "california", "csv", "image_folder")
    assert main(["--only", *chosen]) == 0
    assert f"{_count(*chosen)} passed, 0 failed" in capsys.readouterr().out


def test_smoke_fails_when_a_recipe_fails(tmp_path, capsys):
    assert main(["--only", "mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"0 passed, {_count('mnist')} failed" in out and "MNIST train split not found" in out
