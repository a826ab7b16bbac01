"""Pick the torch device a run asked for, or say clearly why it is not there."""

from __future__ import annotations

import ctypes
import functools
import os
from typing import Optional, Tuple

import torch

from nnrecipes.core.config import ConfigError
from nnrecipes.core.cpus import cores
from nnrecipes.core.memory import available_memory


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


AVAILABLE = {"cuda": torch.cuda.is_available, "mps": _mps_available, "cpu": lambda: True}
# The threads a run without device.threads gets in this process: torch's own count (at most the
# CPUs a SLURM job was allotted), noted before nnrecipes first changes it, or a parallel
# launcher's share (share_cores). Restored for each run,
# so a run that set device.threads does not leave its count to the next run in the process.
_default_threads: Optional[int] = None


def _use_threads(threads: Optional[int]) -> None:
    global _default_threads
    if _default_threads is None:
        _default_threads = min(torch.get_num_threads(), cores())
    wanted = _default_threads if threads is None else threads
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


# glibc's malloc hands a freed block above its mmap threshold (128 KiB, rising to at most
# 32 MiB) back to the system at once and trims the heap's free top, so on CPU each batch's
# activations page-fault in afresh: 2.7-4.1 million minor faults in a 3-epoch Fashion-MNIST run,
# whose first epoch took up to 60% longer (docs/benchmarks-archive.md). Blocks under MMAP_THRESHOLD
# come from the heap instead, and up to KEEP_FREE of free heap is kept for the next batch.
# Every thread shares one arena (ARENAS): each arena keeps its own freed memory, so the threads
# that read pictures ahead and torch's workers would each hold another copy of a batch's peak
# (a run under a 1 GiB memory limit grew by 0.2-0.7 GiB while testing, and was killed).
MMAP_THRESHOLD, KEEP_FREE, ARENAS = 256 << 20, 1 << 30, 1
# mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Have glibc keep freed CPU memory for reuse (once per process); False where libc is not
    glibc (macOS, Windows, musl's mallopt does nothing) and nothing was changed."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if os.name == "posix" else None
    return bool(mallopt and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, KEEP_FREE) and mallopt(_M_ARENA_MAX, ARENAS))


def resolve_device(name: str, threads: Optional[int] = None) -> torch.device:
    """``auto`` takes cuda, then mps, then cpu; a named device that is absent is an error.
    ``threads`` (device.threads) sets torch's CPU threads; None, this process's default.
    The CPU also gets an allocator that keeps freed memory (keep_freed_memory)."""
    device = _device_named(name)
    _use_threads(threads)
    if device.type == "cpu":
        keep_freed_memory()
    return device


def _device_named(name: str) -> torch.device:
    if name == "auto":
        return torch.device(next(kind for kind, present in AVAILABLE.items() if present()))
    if name not in AVAILABLE:
        raise ConfigError(f"device={name!r} is unknown; known: auto, {', '.join(AVAILABLE)}")
    if not AVAILABLE[name]():
        found = [kind for kind, present in AVAILABLE.items() if present()]
        raise ConfigError(f"device={name} was asked for, but this machine has no {name} device "
                          f"that torch can use (available: {', '.join(found)}). "
                          "Use device=auto or device=cpu.")
    return torch.device(name)


# Forward floating-point operations of one training batch that keep one more thread busy: below
# it a thread's share of each operation is too small to pay for waking it. Measured on 2 cores
# (docs/benchmarks-archive.md, "A busy machine"): an MLP of 1.2 MFLOP a batch (iris's) gains nothing
# from a second thread, one of 18 MFLOP 13%, 70 MFLOP 27%; and a second thread that must wait
# for a busy core slowed iris's run 23x, against 1.6x for one thread.
FLOPS_PER_THREAD = 25e6


def forward_flops(model: torch.nn.Module, sample: torch.Tensor) -> Optional[float]:
    """Floating-point operations of a forward pass on ``sample``; None where torch's counter
    cannot follow the model (a user's own operations)."""
    from torch.utils.flop_counter import FlopCounterMode

    training = model.training
    model.eval()
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(sample)
        return float(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - counting is advice; the checks that matter run after
        return None
    finally:
        model.train(training)


def threads_for_work(flops_per_batch: Optional[float], device: torch.device) -> Tuple[int, int]:
    """The CPU threads a training batch of ``flops_per_batch`` forward operations can use (one
    per FLOPS_PER_THREAD, at most this process's default), set for this run, and that default;
    the default alone off the CPU or where the work is unknown. For runs that leave
    device.threads unset: a small network on every core spins threads that wait for each other,
    and for any other process on the machine."""
    _use_threads(None)
    if device.type != "cpu" or flops_per_batch is None:
        return _default_threads, _default_threads
    wanted = max(1, min(_default_threads, int(flops_per_batch // FLOPS_PER_THREAD)))
    if wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)
    return wanted, _default_threads


def memory_for(device: torch.device) -> Optional[int]:
    """Bytes a run on ``device`` may still allocate: the GPU's free memory, or the CPU's (its
    cgroup's limit included); None where unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return available_memory() if device.type == "cpu" else None


def share_cores(jobs_side_by_side: int) -> int:
    """Give this job cores ÷ jobs intra-op threads (at least 1) and return the count.

    Two PyTorch processes that each run a thread per core on the same cores slow each other
    5-10x (OpenMP threads spin-wait for each other), so jobs that a parallel launcher runs side
    by side split the cores instead. Called at the start of each job, before its first tensor
    work.
    """
    global _default_threads
    _default_threads = max(1, cores() // max(1, jobs_side_by_side))
    _use_threads(None)
    return _default_threads


def use_deterministic_algorithms(on: bool) -> None:
    """``trainer.deterministic``: PyTorch's deterministic kernels, or its fastest ones.

    Made to follow the setting either way, since runs in one process (tests, searches) must not
    inherit the last run's choice. On CUDA, deterministic cuBLAS needs a fixed workspace, set
    before the first cuBLAS call (a run's CUDA work starts after this); cuDNN's autotuner, which
    may pick different kernels from run to run, is off with it.
    """
    if on == torch.are_deterministic_algorithms_enabled():
        return  # setting it imports torch._inductor, 1.9 s: paid only when it changes
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.deterministic = on
    if on:
        torch.backends.cudnn.benchmark = False
