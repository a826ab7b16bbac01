"""Facts about the software and machine behind a run, for summary.json."""

from __future__ import annotations

import platform
import shlex
from importlib import metadata
from typing import Any, Dict, Optional, Sequence

import torch

PACKAGES = ("nnrecipes", "torch", "torchvision", "hydra-core", "omegaconf", "scikit-learn",
            "numpy")


def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return device.type


def command_line(overrides: Sequence[str]) -> str:
    """The nnrun command that composes the same config."""
    return shlex.join(["nnrun", *overrides])


def environment_facts(device: torch.device, overrides: Sequence[str]) -> Dict[str, Any]:
    return {
        "device": str(device),
        "device_name": device_name(device),
        "versions": {"python": platform.python_version(),
                     **{package: _version(package) for package in PACKAGES}},
        "command": command_line(overrides),
    }
