"""model=tabular, the default network for tables, and regression targets learnt in log space."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nnrecipes.command_line.argv import with_table_model
from nnrecipes.components.models import model_from_checkpoint
from nnrecipes.components.models.tabular import TableInputs, tabular_network
from nnrecipes.core.error_concentration import concentrated_error
from nnrecipes.core.target_transform import TargetTransform
from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "trainer.baseline=off")
PACKAGE = Path(__file__).resolve().parents[1]


def table_stats(x: torch.Tensor, numeric):
    return {"input_median": x.median(0).values, "input_iqr_scale": torch.ones(x.shape[1]),
            "input_numeric": torch.tensor(numeric)}


def skewed_table(folder: Path, rows: int = 600, seed: int = 0) -> Path:
    """Prices: positive, skewed (log-normal), their logarithm a smooth function of the
    columns, as house prices and counts are."""
    generator = np.random.default_rng(seed)
    size = generator.uniform(30, 250, rows)
    rooms = generator.integers(1, 7, rows)
    city = generator.choice(["east", "west", "north"], rows)
    log_price = 10 + 0.012 * size + 0.1 * rooms + (city == "west") * 0.5 + \
        generator.normal(0, 0.25, rows)
    path = folder / "prices.csv"
    pd.DataFrame({"size": size.round(1), "rooms": rooms, "city": city,
                  "price": np.exp(log_price).round()}).to_csv(path, index=False)
    return path


def test_each_head_of_the_ensemble_differs_and_their_mean_is_the_output():
    torch.manual_seed(0)
    x = torch.randn(12, 5) * 4 + 1
    network = tabular_network((5,), 3, [32, 32], table_stats(x, [True, True, True, False, False]),
                              dropout=0.0, ensemble=4)
    with torch.no_grad():
        members = network.train()(x)
        averaged = network.eval()(x)
    assert members.shape == (12, 4, 3)
    for first in range(4):
        for second in range(first + 1, 4):
            assert not torch.allclose(members[:, first], members[:, second], atol=1e-4)
    assert torch.allclose(averaged, members.mean(dim=1), atol=1e-6)


def test_columns_are_scaled_robustly_clipped_smoothly_and_only_numeric_ones_embedded():
    x = torch.tensor([[0.0, 1.0, 5.0], [1.0, 0.0, 7.0], [2.0, 1.0, 1e6]])
    stats = {"input_median": torch.tensor([1.0, 1.0, 7.0]),
             "input_iqr_scale": torch.tensor([1.0, 1.0, 2.0]),
             "input_numeric": torch.tensor([True, False, True])}
    inputs = TableInputs(stats, clip=3.0, frequencies=4, size=5, scale=0.1)
    with torch.no_grad():
        features = inputs(x)
    assert features.shape == (3, inputs.width) and inputs.width == 1 + 2 * (5 + 1)
    plain, numbers = features[:, :1], features[:, 1:3]
    assert torch.allclose(plain.flatten(), torch.tensor([0.0, -1 / (1 + 1 / 9) ** 0.5, 0.0]))
    assert numbers[1].tolist() == [0.0, 0.0]  # the medians
    assert 2.99 < float(numbers[2, 1]) <= 3.0  # a value a million away: at the bound, finite


def test_the_data_gives_each_column_its_median_spread_and_whether_it_is_numeric():
    from nnrecipes.data import _robust_stats

    x = np.array([[0, 1, 3.0], [0, 2, 3.0], [1, 3, 3.0], [0, 4, 3.0], [0, 100, 3.0]])
    stats = _robust_stats(x, np.array([0.4, 38.0, 1.0]))
    assert stats["input_numeric"].tolist() == [False, True, False]
    assert stats["input_median"].tolist() == [0.0, 3.0, 3.0]
    # the 0/1 column's quartiles coincide: its standard deviation instead; none at all: 1
    assert stats["input_iqr_scale"].tolist() == pytest.approx([0.4, 2 / 1.349, 1.0])


def test_a_table_gets_the_tabular_model_unless_the_command_names_one():
    assert with_table_model(["dataset=iris"]) == ["model=tabular", "dataset=iris"]
    assert with_table_model(["dataset=csv", "dataset.path=x.csv"])[0] == "model=tabular"
    assert with_table_model([]) == ["model=tabular"]  # iris, config.yaml's data set
    # among the overrides, after Hydra's flags; none for --info, which runs nothing
    assert with_table_model(["-m", "--cfg", "job", "seed=1,2"]) == \
        ["-m", "--cfg", "job", "model=tabular", "seed=1,2"]
    assert with_table_model(["--info"]) == ["--info"]
    for kept in (["dataset=fashion_mnist"], ["dataset=iris", "model=mlp"],
                 ["+experiment=california_plr"], ["-m", "dataset=iris,fashion_mnist"],
                 ["dataset=custom"], ["mode=eval", "checkpoint=runs/a"], ["resume=runs/a"]):
        assert with_table_model(kept) == kept
    assert with_table_model(["-m", "dataset=iris,wine"])[1] == "model=tabular"


def test_the_tabular_model_is_declared_like_every_other_model():
    """Its name is code in its declaration only, and chosen in no YAML but its own: the
    default for tables is a trait of the declaration, which the command line finds."""
    in_code = [path.relative_to(PACKAGE).as_posix()
               for path in (PACKAGE / "nnrecipes").rglob("*.py")
               if re.search(r"""["']tabular["']""", path.read_text())]
    assert in_code == ["nnrecipes/components/models/tabular.py"]
    chosen = [path.name for path in (PACKAGE / "configs").rglob("*.yaml")
              if re.search(r"^[^#]*:\s*tabular\b", path.read_text(), re.MULTILINE)]
    assert chosen == []
    assert (PACKAGE / "configs" / "model" / "tabular.yaml").is_file()


def test_a_table_trains_with_the_tabular_model_and_its_checkpoint_scores_the_members_mean(
        nnrun):
    run = nnrun("dataset=breast_cancer", "trainer.epochs=3", "model.ensemble=3",
                "model.dropout=0.0", *QUICK)
    assert run.summary["model"] == "tabular"
    assert "model=tabular: the default for tables" in (run.dir / "nnrun.log").read_text()
    config = json.loads(json.dumps(run.summary))
    assert config["status"] == "completed"
    saved = load_checkpoint(run.dir, "best.pt")
    model = model_from_checkpoint(saved)
    x = torch.tensor(np.random.default_rng(0).normal(10, 5, (20, 30)), dtype=torch.float32)
    with torch.no_grad():
        members = model.train()(x)
        scored = model.eval()(x)
    assert members.shape == (20, 3, 1)
    assert torch.allclose(scored, members.mean(dim=1), atol=1e-5)
    evaluated = nnrun("mode=eval", f"checkpoint={run.dir}")
    again = json.loads((evaluated.dir / "eval.json").read_text())["test"]["accuracy"]
    assert again == pytest.approx(run.summary["test"]["accuracy"], abs=1e-6)


def test_a_skewed_price_is_learnt_in_log_space_and_predicted_in_its_own_units(nnrun, tmp_path):
    import onnxruntime

    from nnrecipes.export import main as export

    path = skewed_table(tmp_path)
    run = nnrun("dataset=csv", f"dataset.path={path}", "dataset.target=price",
                "trainer.epochs=15", *QUICK)
    log_text = (run.dir / "nnrun.log").read_text()
    assert "learnt in log space, log1p(target)" in log_text
    saved = load_checkpoint(run.dir, "best.pt")
    assert saved["stats"]["target_transform"] == "log1p"
    table = pd.read_csv(path)
    table.drop(columns="price").to_csv(tmp_path / "input.csv", index=False)
    predicted = nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'input.csv'}")
    predictions = pd.read_csv(predicted.dir / "predictions.csv")["predicted"].to_numpy()
    prices = table["price"].to_numpy()
    # in the price's units: the median within a factor of 1.5, and R² as the run reports it
    assert 1 / 1.5 < np.median(predictions) / np.median(prices) < 1.5
    r2 = 1 - ((predictions - prices) ** 2).sum() / ((prices - prices.mean()) ** 2).sum()
    assert r2 > 0.5
    model = model_from_checkpoint(saved).eval()
    x = torch.tensor([[120.0, 1.0, 0.0, 0.0, 3.0], [40.0, 0.0, 0.0, 1.0, 1.0]])
    assert export([str(run.dir), "--format", "onnx", "--output", str(tmp_path / "out")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "model.onnx"))
    exported = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        own = model(x)
    assert float(own.min()) > 1e4  # prices, not logarithms
    assert np.allclose(exported, own.numpy(), rtol=1e-4)


def test_a_target_without_skew_is_learnt_as_it_is_and_the_key_forces_log1p(nnrun, tmp_path):
    generator = np.random.default_rng(1)
    x = generator.normal(size=(300, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": 50 + x @ [3.0, 2.0, 1.0]}
                 ).to_csv(tmp_path / "plain.csv", index=False)
    common = ("dataset=csv", f"dataset.path={tmp_path / 'plain.csv'}", "dataset.target=y",
              "trainer.epochs=2", *QUICK)
    plain = nnrun(*common)
    assert "target_transform" not in load_checkpoint(plain.dir, "best.pt")["stats"]
    forced = nnrun(*common, "dataset.target_transform=log1p")
    assert load_checkpoint(forced.dir, "best.pt")["stats"]["target_transform"] == "log1p"


def test_the_log_space_loss_compares_logarithms_and_the_inverse_undoes_it():
    from nnrecipes.core.task import make_loss

    targets = torch.tensor([10.0, 1000.0])
    stats = {"target_std": torch.tensor(2.0), "target_transform": "log1p"}
    loss = make_loss("regression", stats)
    # 10% too high on both: the same error in log space, whatever the price
    assert float(loss(targets * 1.1, targets)) == pytest.approx(
        float(((torch.log1p(targets * 1.1) - torch.log1p(targets)) / 2).square().mean()))
    learnt = TargetTransform.log1p.forward(targets)
    assert torch.allclose(TargetTransform.log1p.inverse(learnt), targets)
    assert float(TargetTransform.log1p.inverse(torch.tensor(-50.0))) > -1  # never below -1


def test_a_few_rows_holding_most_of_the_squared_error_are_reported():
    targets = np.arange(100, dtype=float)
    close = targets + 0.1
    assert concentrated_error(close, targets) is None
    skewed = close.copy()
    skewed[[3, 50, 90]] += 40.0
    found = concentrated_error(skewed, targets)
    assert found["rows"] == 3 and found["of"] == 100 and found["share"] > 0.99
    assert concentrated_error(skewed[:10], targets[:10]) is None  # too few rows to say


def test_regression_outputs_stay_in_the_training_targets_range_when_evaluated():
    from omegaconf import OmegaConf

    from nnrecipes.components.models import build_model
    from nnrecipes.components.models.tabular import TabularConfig

    x = torch.linspace(-1, 1, 50).unsqueeze(1)
    stats = {**table_stats(x, [True]), "target_mean": torch.tensor(0.0),
             "target_std": torch.tensor(1.0), "target_low": torch.tensor(-2.0),
             "target_high": torch.tensor(3.0)}
    keys = OmegaConf.structured(TabularConfig(name="tabular", ensemble=1))
    model = build_model(keys, (1,), 1, stats)
    last = model[-2][-1]
    rows = torch.tensor([[-1e4], [0.0], [1e4]])

    def outputs(weight: float, bias: float, training: bool) -> torch.Tensor:
        with torch.no_grad():
            last.weight.fill_(weight)
            last.bias.fill_(bias)
            return model.train(training)(rows).flatten()

    # a steep last layer puts every row beyond the range: the loss sees it, predictions do not
    assert float(outputs(1.0, 5.0, training=True).min()) > 3
    assert outputs(1.0, 5.0, training=False).tolist() == [3.0] * 3
    assert float(outputs(-1.0, -5.0, training=True).max()) < -2
    assert outputs(-1.0, -5.0, training=False).tolist() == [-2.0] * 3
    assert outputs(0.0, 0.5, training=False).tolist() == [0.5] * 3  # inside: untouched
