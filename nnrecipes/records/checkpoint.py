"""Checkpoints and run files, written atomically so a crash never leaves half a file."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Sequence, Union

from nnrecipes.core.torch_files import is_torchscript

PathLike = Union[str, Path]


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or does not fit the run."""


def write_atomically(path: PathLike, payload: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename over ``path``.

    If anything fails (a full disk, a read-only folder) the previous ``path`` is left as it was,
    and the OSError names ``path``.
    """
    path = Path(path)
    try:
        _replace(path, payload)
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error


def _replace(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes it private; run files are for sharing
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: PathLike, data: Dict[str, Any]) -> None:
    write_atomically(path, json_bytes(data))


def json_bytes(data: Dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, default=str) + "\n").encode()


def serialised(state: Dict[str, Any]) -> bytes:
    """A checkpoint's bytes, as torch.save writes them."""
    import torch  # here: the command line reads this module before torch is needed

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def save_checkpoint(paths: Sequence[PathLike], state: Dict[str, Any]) -> None:
    """``state`` into each of ``paths``, serialised once."""
    payload = serialised(state)
    for path in paths:
        write_atomically(path, payload)


def checkpoint_path(location: PathLike, name: str = "last.pt") -> Path:
    """A checkpoint file given itself, its run directory or its checkpoints/ folder."""
    location = Path(location).expanduser()
    for candidate in (location, location / name, location / "checkpoints" / name):
        if candidate.is_file():
            return candidate.resolve()
    if (location / "fold_1").is_dir():
        raise CheckpointError(f"{location} is a cross-validation (trainer.folds): each fold's "
                              f"model is in a folder of its own; name one, e.g. "
                              f"{location / 'fold_1'}")
    raise CheckpointError(f"no checkpoint at {location}: expected a .pt file, or a run directory "
                          f"holding checkpoints/{name}")


def load_checkpoint(location: PathLike, name: str = "last.pt") -> Dict[str, Any]:
    import torch

    path = checkpoint_path(location, name)
    if is_torchscript(path):
        raise CheckpointError(f"{path} is a TorchScript export, not a checkpoint: give the run "
                              f"folder it was exported from (or its checkpoints/best.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = str(error).strip().splitlines()[0].split(". ")[0] if str(error).strip() else ""
        raise CheckpointError(f"checkpoint {path} is unreadable: truncated, corrupt or not a "
                              f"checkpoint ({type(error).__name__}: {reason})") from error
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an nnrecipes checkpoint")
    state["path"] = str(path)
    return state


def check_fits(saved: Dict[str, Any], input_shape: Sequence[int], num_outputs: int) -> None:
    """The data at hand has the inputs and classes the checkpoint's model was built for."""
    spec = saved["model_spec"]
    trained = (tuple(spec["input_shape"]), spec["num_outputs"])
    if trained == (tuple(input_shape), num_outputs):
        return
    shown = lambda shape, outputs: f"inputs {'x'.join(map(str, shape))}, {outputs} outputs"  # noqa
    raise CheckpointError(f"{saved['path']} was trained on data of {shown(*trained)}; the data "
                          f"found now has {shown(tuple(input_shape), num_outputs)} (is "
                          f"dataset.data_dir another data set?)")
