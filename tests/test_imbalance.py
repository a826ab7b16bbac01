"""Imbalanced classes: class weights in the training loss, balanced accuracy and average
precision among the metrics, and a binary decision threshold that predict and export keep."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from nnrecipes.core.imbalance import class_weights, tuned_threshold
from nnrecipes.core.task import Task, make_loss, task_metrics
from nnrecipes.records.checkpoint import load_checkpoint

QUICK = ("trainer.plots=false", "trainer.baseline=off", "trainer.epochs=3")


def _rare_positives(path, share: float = 0.05, seed: int = 0):
    """Breast cancer with malignant (the positive class here) kept in ``share`` of the rows."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = 1 - frame["target"]  # 1: malignant
    negatives, positives = frame[frame.target == 0], frame[frame.target == 1]
    count = round(share * len(negatives) / (1 - share))
    rows = pd.concat([negatives, positives.sample(count, random_state=seed)])
    rows.sample(frac=1, random_state=seed).to_csv(path, index=False)
    return path


def test_balanced_weights_and_the_weighted_losses():
    labels = np.array([0] * 90 + [1] * 10)
    weights = class_weights("balanced", Task.binary, labels, ["no", "yes"])
    assert weights == pytest.approx([100 / (2 * 90), 100 / (2 * 10)])
    outputs, targets = torch.randn(8, 1), torch.tensor([0, 1, 0, 0, 1, 0, 0, 0])
    binary = make_loss(Task.binary, {}, weights=weights)(outputs, targets)
    expected = F.binary_cross_entropy_with_logits(outputs.squeeze(-1), targets.float(),
                                                  pos_weight=torch.tensor(weights[1] / weights[0]))
    assert binary.item() == pytest.approx(expected.item())
    logits, classes = torch.randn(8, 3), torch.tensor([0, 1, 2, 2, 1, 0, 0, 0])
    given = class_weights([1, 2, 3], Task.multiclass, classes.numpy(), ["a", "b", "c"])
    multiclass = make_loss(Task.multiclass, {}, weights=given)(logits, classes)
    assert multiclass.item() == pytest.approx(
        F.cross_entropy(logits, classes, weight=torch.tensor([1.0, 2.0, 3.0])).item())


def test_balanced_accuracy_and_average_precision_are_metrics_and_monitors():
    assert {"balanced_accuracy", "average_precision"} <= set(task_metrics(Task.binary))
    assert "balanced_accuracy" in task_metrics(Task.multiclass)


def test_the_tuned_threshold_maximises_balanced_accuracy():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    targets = torch.from_numpy((rng.random(400) < 0.1).astype(np.int64))
    logits = torch.from_numpy(rng.normal(targets.numpy() * 1.5 - 2.5, 1.0)).float()[:, None]
    chosen = tuned_threshold(logits, targets)
    probability = logits.squeeze(-1).sigmoid().numpy()

    def score(threshold):
        return balanced_accuracy_score(targets.numpy(), probability >= threshold)

    assert score(chosen) == max(score(t) for t in np.linspace(0.001, 0.999, 999))
    assert score(chosen) > score(0.5)


def test_the_threshold_travels_to_predict_eval_and_export(nnrun, tmp_path):
    from nnrecipes import export

    path = _rare_positives(tmp_path / "rare.csv")
    run = nnrun("dataset=csv", f"dataset.path={path}", "dataset.target=target",
                "trainer.threshold=tuned", "trainer.class_weight=balanced",
                "trainer.monitor=balanced_accuracy", *QUICK)
    threshold = run.summary["threshold"]
    assert 0 < threshold < 1 and threshold != 0.5
    assert load_checkpoint(run.dir, "best.pt")["threshold"] == threshold
    pd.read_csv(path).drop(columns="target").to_csv(tmp_path / "new.csv", index=False)
    nnrun("mode=predict", f"checkpoint={run.dir}", f"input={tmp_path / 'new.csv'}",
          f"output={tmp_path / 'predicted.csv'}")
    predicted = pd.read_csv(tmp_path / "predicted.csv")
    positive = (predicted["probability_1"] >= threshold).map({True: 1, False: 0})
    assert (predicted["predicted"] == positive).all()
    assert ((predicted["probability_1"] >= 0.5) != positive).any()  # the threshold mattered
    assert export.main([str(run.dir), "--format", "torchscript", "--output",
                        str(tmp_path / "exported")]) == 0
    described = json.loads((tmp_path / "exported" / "model.json").read_text())
    assert described["threshold"] == threshold


def test_class_weights_and_the_tuned_threshold_raise_balanced_accuracy(nnrun, tmp_path):
    """5% positives, the same 5 folds: weighted and tuned beats plain on balanced accuracy."""
    path = _rare_positives(tmp_path / "rare.csv")
    common = ("dataset=csv", f"dataset.path={path}", "dataset.target=target", "trainer.folds=5",
              "trainer.plots=false", "trainer.baseline=off", "trainer.epochs=10")
    plain = nnrun(*common)
    weighted = nnrun(*common, "trainer.class_weight=balanced", "trainer.threshold=tuned")
    folds = lambda run: run.summary["cv"]["network"]["balanced_accuracy"]["mean"]  # noqa: E731
    test = lambda run: run.summary["test"]["balanced_accuracy"]  # noqa: E731
    print(f"cv {folds(plain):.4f} -> {folds(weighted):.4f}, test {test(plain):.4f} -> "
          f"{test(weighted):.4f}")
    assert folds(weighted) > folds(plain) and test(weighted) > test(plain)
