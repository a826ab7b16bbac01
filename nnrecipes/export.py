"""``nnrun-export RUN --format torchscript|onnx|safetensors``: a trained model for use elsewhere.

The exported model is the checkpoint's whole model, normalisation included: it takes raw inputs
(uint8 pixels shaped (N, C, H, W), or float32 feature rows with a table's string columns one-hot
encoded as ``model.json`` lists) and returns logits per class, or values in the target's units.
``model.json`` beside it says what goes in and what comes out, and which file holds each format
exported from the same checkpoint. Every file is written atomically: a full disk or a kill in the
middle of an export leaves the previous export as it was, loadable.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

FORMATS = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx",
           "safetensors": "model.safetensors"}
# The optional extra each format needs, and the module that shows it is installed.
EXTRAS = {"onnx": ("onnx", "onnxscript"), "safetensors": ("safetensors",)}


class ExportError(RuntimeError):
    """An export that cannot be made; the message says why and what to do."""


def _require_extra(fmt: str) -> None:
    import importlib.util

    missing = [module for module in EXTRAS.get(fmt, ()) if importlib.util.find_spec(module) is None]
    if missing:
        raise ExportError(f"--format {fmt} needs the {fmt} extra ({', '.join(missing)} missing): "
                          f"pip install 'nnrecipes[{fmt}]'")


def description(saved: Dict[str, Any], files: Dict[str, str]) -> Dict[str, Any]:
    """What the exported model takes and returns (written as model.json); ``files`` names the
    file of each format exported from this checkpoint into the folder."""
    from nnrecipes.core.task import Task
    from nnrecipes.data import image_data
    from nnrecipes.data.decode import resize_rule
    from nnrecipes.data.encoding import TableEncoding

    spec = saved["model_spec"]
    shape = list(spec["input_shape"])
    encoding = saved.get("encoding")
    return {
        "files": dict(sorted(files.items())), "checkpoint": saved["path"], "task": spec["task"],
        "input_shape": ["batch", *shape],
        "input_dtype": "uint8" if image_data(tuple(shape)) else "float32",
        "input_columns": TableEncoding.from_dict(encoding).names() if encoding else None,
        "output": Task(spec["task"]).output_meaning, "class_names": saved.get("class_names"),
        # Binary: class_names[1] where sigmoid(logit) >= threshold (trainer.threshold).
        "threshold": saved.get("threshold") or 0.5 if Task(spec["task"]).thresholded else None,
        "model": saved["config"]["model"],
        # Pictures of another shape are brought to input_shape by this rule (data/decode.py).
        "resize": resize_rule(saved["config"]["dataset"]).value if image_data(tuple(shape))
        else None,
    }


def _example(saved: Dict[str, Any]):
    import torch

    from nnrecipes.data import image_data

    shape = tuple(saved["model_spec"]["input_shape"])
    return torch.zeros(2, *shape, dtype=torch.uint8 if image_data(shape) else torch.float32)


def _serialised(model, saved: Dict[str, Any], fmt: str) -> bytes:
    """The exported model as the bytes of its file: made in memory, so that what lands on
    disk is written atomically (a full disk or a kill mid-export leaves the last good file)."""
    import io

    import torch

    if fmt == "torchscript":
        with warnings.catch_warnings():  # asked for by name: PyTorch's deprecation notice is noise
            warnings.simplefilter("ignore", FutureWarning)
            try:
                scripted = torch.jit.script(model)
            except Exception:  # a user's model that TorchScript cannot compile: record one pass
                scripted = torch.jit.trace(model, _example(saved))
            buffer = io.BytesIO()
            torch.jit.save(scripted, buffer)
        return buffer.getvalue()
    if fmt == "onnx":
        batch = torch.export.Dim("batch", min=1)
        program = torch.onnx.export(model, (_example(saved),), input_names=["input"],
                                    output_names=["output"], dynamic_shapes=({0: batch},),
                                    dynamo=True, external_data=False, verbose=False)
        return program.model_proto.SerializeToString()  # one file, weights inside
    from safetensors.torch import save

    weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    return save(weights, metadata={"nnrecipes": json.dumps(description(saved, {fmt: ""}))})


def _files_beside(folder: Path, saved: Dict[str, Any]) -> Dict[str, str]:
    """The formats already exported from the same checkpoint into ``folder``, still there."""
    try:
        earlier = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError):
        return {}
    if earlier.get("checkpoint") != saved["path"] or not isinstance(earlier.get("files"), dict):
        return {}
    return {fmt: name for fmt, name in earlier["files"].items() if (folder / str(name)).is_file()}


def export_run(location: str, fmt: str, output: Optional[str] = None,
               checkpoint: str = "best.pt") -> Path:
    """Export the run's (or checkpoint file's) model; returns the written file."""
    from nnrecipes.components.models import model_from_checkpoint
    from nnrecipes.records.checkpoint import load_checkpoint, write_atomically, write_json

    _require_extra(fmt)
    saved = load_checkpoint(location, name=checkpoint)
    folder = Path(output).expanduser() if output else Path(saved["path"]).parent.parent / "export"
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"--output {folder} is a file; name a folder to export into")
    model = model_from_checkpoint(saved).eval()
    try:
        payload = _serialised(model, saved, fmt)
    except Exception as error:  # the exporter's own failure: an operation it cannot express
        raise ExportFailed(fmt, saved, error) from error
    path = folder / FORMATS[fmt]
    write_atomically(path, payload)
    write_json(folder / "model.json", description(saved, {**_files_beside(folder, saved),
                                                          fmt: path.name}))
    return path


class ExportFailed(RuntimeError):
    """The format's exporter could not express the model."""

    def __init__(self, fmt: str, saved: Dict[str, Any], error: Exception):
        from nnrecipes.core.config import first_line

        first = first_line(error, 300)
        custom = bool(saved["config"]["model"].get("target"))
        self.exit_code = 2 if custom else 1
        hint = ("your model uses something this format cannot express; try another --format"
                if custom else "this is a bug in nnrecipes")
        super().__init__(f"--format {fmt} could not export this model ({type(error).__name__}: "
                         f"{first}); {hint}")


def _os_error(error: OSError) -> str:
    hints = {errno.ENOSPC: "free some space, or export elsewhere with --output DIR",
             errno.EROFS: "the file system is read-only: export elsewhere with --output DIR",
             errno.EACCES: "no permission: export elsewhere with --output DIR",
             errno.ENOTDIR: "a part of this path is a file, not a folder",
             errno.EEXIST: "a file is in the way: name a folder with --output DIR"}
    where = f"{error.filename}: " if error.filename else ""
    hint = hints.get(error.errno)
    return f"{where}{error.strerror or error}{'; ' + hint if hint else ''}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nnrun-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder, or a checkpoint file")
    parser.add_argument("--format", required=True, choices=list(FORMATS))
    parser.add_argument("--output", help="folder to write into (default: RUN/export)")
    parser.add_argument("--checkpoint", default="best.pt", choices=["best.pt", "last.pt"])
    args = parser.parse_args(argv)
    from nnrecipes.core.config import ConfigError
    from nnrecipes.core.targets import user_code_failure
    from nnrecipes.records.checkpoint import CheckpointError

    code, message = 2, None
    try:
        path = export_run(args.run, args.format, args.output, args.checkpoint)
    except (ExportError, CheckpointError, ConfigError) as error:
        message = str(error)
    except ExportFailed as error:
        code, message = error.exit_code, str(error)
    except OSError as error:
        message = _os_error(error)
    except Exception as error:  # a user's model that raises when rebuilt
        message = user_code_failure(error)
        if message is None:
            raise
    if message is not None:
        print(f"nnrun-export: error: {message}", file=sys.stderr)
        return code
    print(f"wrote {path} (and model.json beside it)")
    return 0
def entry() -> None:
    raise SystemExit(main())

