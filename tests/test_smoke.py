"""The CI smoke script users call: every recipe, generated data, non-zero exit on failure."""

from nnrecipes.config import config_dir
from nnrecipes.smoke import main, recipes


def test_recipes_cover_every_dataset_and_model():
    chosen = recipes()
    datasets = {path.stem for path in (config_dir() / "dataset").glob("*.yaml")}
    models = {path.stem for path in (config_dir() / "model").glob("*.yaml")}
    assert {dataset for dataset, _ in chosen} == datasets
    assert {model for _, model in chosen} == models
    assert ("iris", "cnn") not in chosen and ("fashion_mnist", "cnn") in chosen


def test_smoke_passes_on_generated_data(capsys):
    assert main(["--only", "iris", "mnist", "california"]) == 0
    assert "7 passed, 0 failed" in capsys.readouterr().out


def test_smoke_fails_when_a_recipe_fails(tmp_path, capsys):
    assert main(["--only", "mnist", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "0 passed, 3 failed" in out and "MNIST train split not found" in out
