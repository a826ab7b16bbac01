"""Facts about the software and machine behind a run: summary.json's record (versions, host,
code commit, CUDA) and environment.txt (every installed package)."""

from __future__ import annotations

import functools
import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
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


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stdout.strip()


def code_version(folder: Optional[Path] = None) -> Dict[str, Any]:
    """The commit of the git repository that holds ``folder`` (the working directory), and
    whether tracked files differ from it; nulls and the reason when there is none."""
    folder = Path(folder or os.getcwd())
    try:
        root = _git(folder, "rev-parse", "--show-toplevel")
        commit = _git(folder, "rev-parse", "HEAD")
        dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))
    except FileNotFoundError:
        return {"repository": None, "commit": None, "dirty": None,
                "note": "git is not installed"}
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return {"repository": None, "commit": None, "dirty": None,
                "note": f"{folder} is not in a git repository with a commit"}
    return {"repository": root, "commit": commit, "dirty": dirty}


def _cuda_facts(device: torch.device) -> Dict[str, Any]:
    if device.type != "cuda":
        return {}
    return {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "gpu": torch.cuda.get_device_name(device)}


def environment_facts(device: torch.device, overrides: Sequence[str]) -> Dict[str, Any]:
    return {
        "device": str(device),
        "device_name": device_name(device),
        **_cuda_facts(device),
        "host": socket.gethostname(),
        "git": code_version(),
        "versions": {"python": platform.python_version(),
                     **{package: _version(package) for package in PACKAGES}},
        "command": command_line(overrides),
    }


@functools.lru_cache(maxsize=1)
def environment_text() -> str:
    """environment.txt: the interpreter and every installed package, ``name==version``, as
    ``pip freeze`` would list them (without calling pip, which may not be installed). Read once
    per process (about 0.2 s for 150 packages): a sweep's jobs share their interpreter."""
    packages = sorted({(dist.metadata["Name"] or "?", dist.version)
                       for dist in metadata.distributions()}, key=lambda item: item[0].lower())
    lines = [f"# python {platform.python_version()} ({sys.executable}) on {platform.platform()}",
             *(f"{name}=={version}" for name, version in packages)]
    return "\n".join(lines) + "\n"
