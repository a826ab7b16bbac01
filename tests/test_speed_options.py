"""Behaviour of the speed options: presets, label smoothing, precision, fused optimizers,
the CPU allocator, the garbage collector's thresholds and its collection at exit."""

import atexit
import contextlib
import gc
import resource
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from nnrecipes.components.optimizers import build_optimizer, optimizer_keywords
from nnrecipes.core.registry import component, declared
from nnrecipes.core.task import make_loss
from nnrecipes.run.build import autocast_dtype


def test_fashion_fast_preset_composes(composed):
    cfg = composed("+experiment=fashion_fast")
    assert cfg.dataset.name == "fashion_mnist" and cfg.model.name == "cnn"
    assert list(cfg.model.channels) == [16, 32, 64]
    assert cfg.optimizer.name == "adamw" and cfg.scheduler.name == "onecycle"
    assert list(cfg.model.fc_sizes) == [1024] and cfg.model.dropout == 0.0
    assert cfg.trainer.label_smoothing == 0.1 and cfg.trainer.epochs == 2


def test_preset_values_can_still_be_overridden(composed):
    cfg = composed("+experiment=fashion_fast", "trainer.epochs=2", "dataset.batch_size=256")
    assert cfg.trainer.epochs == 2 and cfg.dataset.batch_size == 256


def test_label_smoothing_applies_to_the_training_loss_only(nnrun):
    outputs, targets = torch.tensor([[4.0, 0.0, 0.0]]), torch.tensor([0])
    smoothed = make_loss("multiclass", {}, label_smoothing=0.2)(outputs, targets)
    assert smoothed > F.cross_entropy(outputs, targets)
    plain, smooth = (nnrun("model=mlp", "trainer.epochs=3", f"trainer.label_smoothing={value}")
                     for value in (0.0, 0.3))
    assert smooth.metrics_rows()[0]["train_loss"] != plain.metrics_rows()[0]["train_loss"]
    assert smooth.summary["test"]["loss"] < 1.0  # plain cross-entropy of a trained model


def test_precision_defaults_to_float32_off_cuda():
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("fp32", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16


def test_bf16_autocast_trains_on_cpu(nnrun):
    run = nnrun("dataset=digits", "model=cnn", "trainer.epochs=2", "trainer.precision=bf16")
    assert run.summary["test"]["accuracy"] > 0.5


def _descend(optimizer, weights, targets, steps=5):
    for _ in range(steps):
        optimizer.zero_grad()
        ((weights - targets) ** 2).sum().backward()
        optimizer.step()
    return weights.detach()


@pytest.mark.parametrize("name", sorted(declared("optimizer")))
def test_optimizers_are_fused_where_torch_has_a_kernel_and_follow_the_unfused_path(name,
                                                                                  composed):
    fused_on = component("optimizer", name).trait("fused_on", ())
    settings = composed(f"optimizer={name}").optimizer  # as nnrun composes it
    torch.manual_seed(0)
    start, targets = torch.randn(40, 30), torch.randn(40, 30)
    weights, plain_weights = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    optimizer = build_optimizer(settings, [weights], torch.device("cpu"))
    assert bool(optimizer.defaults.get("fused")) == ("cpu" in fused_on)
    # the same optimizer and settings with torch's default (per-tensor) implementation
    plain = type(optimizer)([plain_weights], **optimizer_keywords(settings))
    torch.testing.assert_close(_descend(optimizer, weights, targets),
                               _descend(plain, plain_weights, targets), rtol=1e-5, atol=1e-6)
    complex_weights = [torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))]
    assert not build_optimizer(settings, complex_weights).defaults.get("fused")
    if torch.cuda.is_available():
        on_cuda = build_optimizer(settings,
                                  [torch.nn.Parameter(start.cuda())], torch.device("cuda"))
        assert bool(on_cuda.defaults.get("fused")) == ("cuda" in fused_on)


@pytest.mark.slow
def test_compiled_model_trains_and_saves_plain_weights(nnrun):
    run = nnrun("trainer.epochs=1", "trainer.compile=true")
    state = torch.load(run.dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert not any(key.startswith("_orig_mod") for key in state)


FRESH_BLOCK_FAULTS = """
import resource, torch
from nnrecipes.run.devices import resolve_device
if {tuned}:
    resolve_device("cpu")
def faults_of_a_fresh_block():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(16 << 20)  # 64 MiB, freed at once, as a large batch's activations are
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
# The heap settles within the first blocks (torch's thread pool starts and allocates beside
# them, sometimes for the first 5); then count the faults of the last 4 of 12.
print(sum([faults_of_a_fresh_block() for _ in range(12)][-4:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_cpu_run_reuses_freed_memory_instead_of_faulting_it_in_again():
    def faults(tuned: bool) -> int:
        done = subprocess.run([sys.executable, "-c", FRESH_BLOCK_FAULTS.format(tuned=tuned)],
                              capture_output=True, text=True, check=True)
        return int(done.stdout)

    pages = (64 << 20) // resource.getpagesize()
    assert faults(tuned=False) > 4 * pages // 2  # glibc maps a block this size afresh each time
    assert faults(tuned=True) < pages // 20


# At exit: the collector's handler (registered twice: once counts) must run before the
# reporter registered ahead of it, still finalise an unreachable cycle, and leave the rest frozen.
EXIT_COLLECTION = """
import atexit, gc
atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0, "freezes", len(freezes)))
freezes, real_freeze = [], gc.freeze
gc.freeze = lambda: (freezes.append(1), real_freeze())[1]
from nnrecipes.command_line import collector

gc.disable()  # from before the cycle exists: only the exit's collection may find it

class InACycle:
    def __del__(self):
        print("finalised")

cycle = InACycle()
cycle.itself = cycle
del cycle
collector.tune_collector()
collector.tune_collector()
"""


def test_exit_collects_once_then_freezes_what_is_left():
    done = subprocess.run([sys.executable, "-c", EXIT_COLLECTION], capture_output=True,
                          text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["finalised", "frozen True freezes 1"]


def test_the_youngest_generation_is_collected_less_often_unless_set_higher(monkeypatch):
    from nnrecipes.command_line import collector

    monkeypatch.setattr(atexit, "register", lambda handler: None)  # no handler left behind
    for before, after in [(700, collector.YOUNG_THRESHOLD), (10 ** 6, 10 ** 6), (0, 0)]:
        monkeypatch.setattr(collector, "_tuned", False)
        with thresholds(before, 11, 12):
            collector.tune_collector()
            assert gc.get_threshold() == (after, 11, 12)


def test_a_run_tunes_the_collector(nnrun, monkeypatch):
    from nnrecipes.command_line import collector

    monkeypatch.setattr(collector, "_tuned", False)
    handlers, register = [], atexit.register
    monkeypatch.setattr(atexit, "register", lambda handler, *args, **kwargs: handlers.append(
        handler) or register(handler, *args, **kwargs))  # the imports' own still registered
    with thresholds(700, 10, 10):
        nnrun("dataset=iris", "trainer.epochs=1")
        assert gc.get_threshold()[0] == collector.YOUNG_THRESHOLD
    assert collector._collect_once_then_freeze in handlers


@contextlib.contextmanager
def thresholds(*values):
    saved = gc.get_threshold()
    gc.set_threshold(*values)
    try:
        yield
    finally:
        gc.set_threshold(*saved)
