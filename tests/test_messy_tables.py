"""Tables as they come: each default decision, learnt on the training split, said in the
summary, and carried to predict by the checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nnrecipes.data.encoding import fit_encoding
from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "trainer.baseline=off", "trainer.epochs=2")


def _messy(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": np.arange(5000, 5000 + rows),
        "name": [f"customer {i}" for i in range(rows)],
        "age": rng.normal(40, 10, rows).round(),
        "city": rng.choice([f"town{i:03d}" for i in range(150)], rows),
        "joined": pd.date_range("2021-03-01", periods=rows, freq="37h").astype(str),
        "income": rng.normal(50, 15, rows),
    })
    frame.loc[rng.random(rows) < 0.2, "age"] = np.nan
    frame["spend"] = frame["income"] * 2 + rng.normal(0, 1, rows)
    return frame


def _decisions(summary, action):
    return {entry["column"]: entry["why"] for entry in summary["columns"]
            if entry["action"] == action}


def test_a_messy_table_trains_with_only_path_and_target(nnrun, tmp_path):
    _messy().to_csv(tmp_path / "shop.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'shop.csv'}", "dataset.target=spend",
                *QUICK)
    summary = run.summary
    assert summary["status"] == "completed"
    left_out = _decisions(summary, "left out")
    assert set(left_out) == {"customer_id", "name"}
    assert "identifies rows" in left_out["name"]
    assert "age" in _decisions(summary, "filled")
    assert "(other)" in _decisions(summary, "bucketed")["city"]
    assert "year, month, day, weekday, hour, minute" in _decisions(summary, "date parts")["joined"]
    names = load_checkpoint(run.dir, "best.pt")["encoding"]
    assert names["features"] == ["age", "city", "joined", "income"]


def test_a_missing_value_gets_an_indicator_column_filled_from_training():
    train = pd.DataFrame({"size": [1.0, np.nan, 3.0, 5.0], "rooms": [1, 2, 3, 4]})
    encoding = fit_encoding(train, impute="median", max_categories=10, where="t")
    assert encoding.names() == ["size", "rooms", "size (missing)"]
    later = pd.DataFrame({"size": [np.nan, 2.0], "rooms": [np.nan, 1]})
    # size's median in training is 3; rooms had no gaps there (no indicator), but is filled.
    assert encoding.transform(later, "t").tolist() == [[3.0, 2.5, 1.0], [2.0, 1.0, 0.0]]


def test_impute_error_keeps_missing_values_an_error():
    from nnrecipes.data.errors import DataError

    train = pd.DataFrame({"size": [1.0, np.nan, 3.0]})
    encoding = fit_encoding(train, impute="error", max_categories=10, where="t")
    with pytest.raises(DataError, match=r"missing values in size \(1\)"):
        encoding.transform(train, "t")


def test_an_id_column_is_left_out_and_drop_ids_false_keeps_it():
    rows = 50
    train = pd.DataFrame({"row_id": np.arange(rows), "order": np.arange(7, 7 + rows) * 3,
                          "code": [f"c{i}" for i in range(rows)], "x": np.ones(rows)})
    dropped = fit_encoding(train, "median", 100, "t")
    # A dense run of distinct whole numbers, a number named like an id, text in every row:
    # order (distinct, but spread out and not named as an id) is kept.
    assert dropped.features == ["order", "x"]
    kept = fit_encoding(train, "median", 100, "t", drop_ids=False)
    assert kept.features == ["row_id", "order", "code", "x"]


def test_a_date_column_becomes_its_parts():
    train = pd.DataFrame({"when": ["2024-02-29", "2023-12-31", "2022-07-04"], "x": [1, 2, 3]})
    encoding = fit_encoding(train, "median", 100, "t")
    assert encoding.dates == {"when": ["year", "month", "day", "weekday"]}
    later = pd.DataFrame({"when": ["2025-01-06", "not a date"], "x": [0, 0]})
    encoded = encoding.transform(later, "t")
    # 2025-01-06 is a Monday (0); a text that is no date is filled with the training medians.
    assert encoded.tolist() == [[2025, 1, 6, 0, 0], [2023, 7, 29, 3, 0]]
    assert fit_encoding(train, "median", 100, "t", parse_dates=False).categories["when"]


def test_150_categories_keep_the_most_frequent_and_gather_the_rest():
    values = [f"k{i:03d}" for i in range(150) for _ in range(150 - i)]  # k000 most frequent
    train = pd.DataFrame({"kind": values})
    encoding = fit_encoding(train, "median", 100, "t")
    assert encoding.categories["kind"] == [f"k{i:03d}" for i in range(100)]
    assert encoding.others == ["kind"] and encoding.names()[-1] == "kind=(other)"
    encoded = encoding.transform(pd.DataFrame({"kind": ["k000", "k140", "never seen"]}), "t")
    assert encoded.shape == (3, 101)
    assert encoded[0, 0] == 1 and encoded[1, -1] == 1 and encoded[2, -1] == 1
    assert encoded.sum(axis=1).tolist() == [1, 1, 1]


def test_exclude_leaves_columns_out_by_name(nnrun, tmp_path):
    frame = _messy(120)
    frame.to_csv(tmp_path / "shop.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={tmp_path / 'shop.csv'}", "dataset.target=spend",
                "dataset.exclude=[income,city]", *QUICK)
    assert _decisions(run.summary, "left out")["income"] == "dataset.exclude"
    assert load_checkpoint(run.dir, "best.pt")["encoding"]["features"] == ["age", "joined"]
    # What the model does not read need not be in a prediction's input.
    frame.drop(columns=["income", "city", "spend"]).to_csv(tmp_path / "new.csv", index=False)
    nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'new.csv'}",
          f"output={tmp_path / 'predicted.csv'}")
    assert len(pd.read_csv(tmp_path / "predicted.csv")) == 120
