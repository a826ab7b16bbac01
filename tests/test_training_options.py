"""Training options of every peer: gradient accumulation (trainer.accumulate)."""

import pytest
import torch

QUICK = ("dataset=wine", "trainer.epochs=4", "trainer.plots=false", "trainer.progress=false",
         "trainer.baseline=off", "device.threads=1")


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
