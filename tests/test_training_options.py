"""Training options of every peer: gradient accumulation (trainer.accumulate), a moving
average of the weights (trainer.ema)."""

import csv
import json

import pytest
import torch

# model=mlp: batches of 8 and 32 (model=tabular's YAML takes 128, one batch of wine an epoch)
QUICK = ("dataset=wine", "model=mlp", "trainer.epochs=4", "trainer.plots=false",
         "trainer.progress=false", "trainer.baseline=off", "device.threads=1")


def _weights(run):
    return torch.load(run.dir / "checkpoints" / "last.pt", weights_only=True)["model"]


@pytest.mark.parametrize("schedule", ["scheduler=cosine", "scheduler=onecycle"])
def test_accumulated_batches_take_the_step_of_one_larger_batch(nnrun, schedule):
    """Batches of 8 accumulated 4 at a time = batches of 32 (no batch norm, no dropout): the
    same weights within float tolerance, the same schedule (counted in optimizer steps)."""
    small = nnrun(*QUICK, schedule, "dataset.batch_size=8", "trainer.accumulate=4")
    large = nnrun(*QUICK, schedule, "dataset.batch_size=32")
    one, other = _weights(small), _weights(large)
    largest = max((one[key].float() - other[key].float()).abs().max().item() for key in one)
    assert largest < 1e-5
    for row_small, row_large in zip(small.metrics_rows(), large.metrics_rows()):
        assert float(row_small["lr"]) == pytest.approx(float(row_large["lr"]), rel=1e-9)
        assert float(row_small["train_loss"]) == pytest.approx(float(row_large["train_loss"]),
                                                               rel=1e-5)
    # and accumulation changes something: batches of 8 stepped alone end elsewhere
    alone = _weights(nnrun(*QUICK, schedule, "dataset.batch_size=8"))
    assert max((alone[key] - one[key]).abs().max().item() for key in one) > 1e-3


def test_the_average_moves_as_timm_model_ema_v2_after_a_warm_up():
    from nnrecipes.run.averaging import WeightAverage

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    start = {key: value.clone() for key, value in model.state_dict().items()}
    average = WeightAverage(model, decay=0.9)
    expected = {key: value.clone().float() for key, value in start.items()}
    for step in range(3):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(1.0)
        model.train()(torch.randn(4, 3))  # batch norm's statistics and counter move
        average.update()
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                decay = min(0.9, (1 + step) / (10 + step))  # TensorFlow's num_updates
                expected[key] = decay * expected[key] + (1 - decay) * value
            else:
                expected[key] = value.clone()
    for key, value in average.module.state_dict().items():
        assert torch.allclose(value.float(), expected[key].float(), atol=1e-6), key
    assert not any(parameter.requires_grad for parameter in average.module.parameters())


def test_validation_test_and_checkpoints_use_the_average(nnrun):
    """A decay of 0.99999 is still warming up after these few steps: the average lags behind
    the trained weights (a window of the last tenth of the steps), so its validation loss falls,
    more slowly than theirs; the checkpoint's "model" is the average, which mode=eval then scores
    as the run's test did."""
    plain = nnrun(*QUICK)
    averaged = nnrun(*QUICK, "trainer.ema=0.99999")
    plain_loss = [float(row["val_loss"]) for row in plain.metrics_rows()]
    average_loss = [float(row["val_loss"]) for row in averaged.metrics_rows()]
    assert plain_loss[-1] < 0.8 * plain_loss[0]
    assert plain_loss[-1] < average_loss[-1] < average_loss[0]
    saved = torch.load(averaged.dir / "checkpoints" / "last.pt", weights_only=True)
    assert not all(torch.equal(saved["model"][key], saved["trained_model"][key])
                   for key in saved["model"])
    evaluated = json.loads((nnrun("mode=eval", f"checkpoint={averaged.dir}").dir /
                            "eval.json").read_text())
    assert evaluated["test"]["loss"] == pytest.approx(averaged.summary["test"]["loss"], rel=1e-6)


def test_a_short_run_with_a_slow_average_still_learns(nnrun):
    # The README's example: 200 optimizer steps against an average's horizon of 1,000. Without
    # the warm-up its test loss was 0.78 (the network barely trained), the plain run's 0.047.
    averaged = nnrun("model=mlp", "trainer.ema=0.999", "trainer.accumulate=4")
    assert averaged.summary["test"]["loss"] < 0.1
    assert averaged.summary["test"]["accuracy"] >= 0.93


def test_a_resumed_run_continues_the_average_exactly(nnrun, tmp_path):
    # A constant rate: 2 epochs then 2 more take the steps of 4 (no schedule to stretch).
    whole = nnrun(*QUICK, "trainer.ema=0.9", "scheduler=none")
    stopped = nnrun(*QUICK, "trainer.ema=0.9", "scheduler=none", "trainer.epochs=2",
                    run_dir=tmp_path / "stopped")
    resumed = nnrun(f"resume={stopped.dir}", "trainer.epochs=4", run_dir=stopped.dir)
    one = torch.load(whole.dir / "checkpoints" / "last.pt", weights_only=True)
    two = torch.load(resumed.dir / "checkpoints" / "last.pt", weights_only=True)
    for part in ("model", "trained_model"):
        assert all(torch.equal(one[part][key], two[part][key]) for key in one[part]), part
    assert whole.summary["test"] == resumed.summary["test"]


def test_the_range_test_raises_the_rate_and_suggests_one_within_it(nnrun, capsys):
    run = nnrun("mode=lr_find", "lr_find.steps=60", "device.threads=1")
    printed = capsys.readouterr().out
    with open(run.dir / "lr_find.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    rates = [float(row["lr"]) for row in rows]
    assert rates[0] == pytest.approx(1e-7) and all(b > a for a, b in zip(rates, rates[1:]))
    assert run.summary["kind"] == "learning-rate range test"
    suggested = run.summary["suggested_lr"]
    assert rates[0] < suggested < rates[-1]
    assert f"suggested: optimizer.lr={suggested:.3g}" in printed
    assert (run.dir / "lr_find.png").stat().st_size > 0
    assert not (run.dir / "checkpoints").exists()  # a range test keeps no weights
    # the suggestion trains: the loss falls with it
    trained = nnrun(f"optimizer.lr={suggested}", "trainer.epochs=5", "trainer.plots=false",
                    "trainer.baseline=off")
    losses = [float(row["train_loss"]) for row in trained.metrics_rows()]
    assert losses[-1] < losses[0]


def test_no_suggestion_where_the_loss_never_falls():
    from nnrecipes.modes.lr_find import suggestion

    rates = [10.0 ** (exponent / 4) for exponent in range(-28, 4)]
    assert suggestion(rates, [1.0 + index * 0.01 for index in range(len(rates))]) is None
    falling = [2.0 - (index if 10 <= index < 20 else 0) * 0.05 for index in range(len(rates))]
    assert rates[10] <= suggestion(rates, falling) <= rates[20]
    # a loss that settles by a hair at the smallest rates and never falls after: no suggestion
    # (a regression table's test had suggested 6e-7 from such a curve)
    settling = [1.0 - 0.01 * min(index, 5) / 5 for index in range(len(rates))]
    assert suggestion(rates, settling) is None
    # a hair's settling, then the real fall: the rate is taken from the fall
    both = [value - (0.04 * (index - 20) if index >= 20 else 0) for index, value in
            enumerate(settling)]
    assert suggestion(rates, both) >= rates[20]


def test_fp16_trains_with_a_gradient_scaler_kept_for_resume(nnrun, tmp_path):
    whole = nnrun(*QUICK, "trainer.precision=fp16", "scheduler=none")
    losses = [float(row["train_loss"]) for row in whole.metrics_rows()]
    assert losses[-1] < losses[0]
    saved = torch.load(whole.dir / "checkpoints" / "last.pt", weights_only=True)
    assert saved["scaler"]["scale"] >= 1.0
    stopped = nnrun(*QUICK, "trainer.precision=fp16", "scheduler=none", "trainer.epochs=2",
                    run_dir=tmp_path / "stopped")
    resumed = nnrun(f"resume={stopped.dir}", "trainer.epochs=4", run_dir=stopped.dir)
    again = torch.load(resumed.dir / "checkpoints" / "last.pt", weights_only=True)
    assert all(torch.equal(saved["model"][key], again["model"][key]) for key in saved["model"])
    assert saved["scaler"] == again["scaler"]
