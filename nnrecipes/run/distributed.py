"""Data-parallel training under ``torchrun``: one process per device, gradients averaged by DDP.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them a run is a single process and
nothing here does any work. The backend follows the device: nccl on CUDA, gloo on CPU.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist

from nnrecipes.records.recorder import Recorder
from nnrecipes.run import rendezvous
from nnrecipes.run.engine import SINGLE_PROCESS, Ranks
from nnrecipes.run.torchrun import launched, torchrun_rank


def adopt_slurm_tasks() -> None:
    """A SLURM job that submitit started with several tasks (one per GPU) joins them as ranks.

    submitit runs the job function once per task; this exports the variables torchrun would set.
    """
    several = int(os.environ.get("SLURM_NTASKS", "1")) > 1
    if launched() or os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or not several:
        return
    from submitit.helpers import TorchDistributedEnvironment

    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def rank() -> int:
    return torchrun_rank() or 0


def recorder(run_dir: Path, accepted: bool = True) -> Recorder:
    """The recorder of ``run_dir`` for this process: it writes on rank 0 alone (and alone)."""
    return Recorder(run_dir, writes=rank() == 0, accepted=accepted)


def device_for_this_process(device: torch.device) -> torch.device:
    """Under torchrun each process takes the GPU of its LOCAL_RANK."""
    if device.type != "cuda" or not launched():
        return device
    local = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.cuda.set_device(local)
    return local


def _sum_across_processes(tensor: torch.Tensor) -> None:
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[Ranks]:
    """The ranks of this run: joined to the others under torchrun, a single process otherwise.
    Inside another process_group (one kept for several runs) it is that group: a group made
    again at once after another was destroyed met stale addresses in torchrun's store, and the
    second fold of a cross-validation hung."""
    if not launched():
        yield SINGLE_PROCESS
        return
    if dist.is_initialized():  # one group for several runs (the folds of a cross-validation)
        yield Ranks(dist.get_rank(), dist.get_world_size(), _sum_across_processes)
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    rendezvous.prepare_to_reach_the_others()
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10),
                                device_id=device if device.type == "cuda" else None)
    except RuntimeError as error:  # gloo's and the store's connection failures
        raise rendezvous.connection_failure(error) from error
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size(), _sum_across_processes)
    finally:
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module that takes training steps: DDP over ``model`` under torchrun (one rank too)."""
    if not launched():
        return model
    from torch.nn.parallel import DistributedDataParallel

    # Buffers (batch-norm statistics) stay per process; parameters are kept equal by DDP. The
    # buffers are alike at the start (one seed), so syncing them there changes nothing; torch
    # 2.14 renamed the switch and warns at the old name.
    keep = "forward_sync_buffers" if "forward_sync_buffers" in \
        inspect.signature(DistributedDataParallel.__init__).parameters else "broadcast_buffers"
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                   **{keep: False})
