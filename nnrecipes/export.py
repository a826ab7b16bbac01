"""``nnrun-export RUN --format torchscript|onnx|safetensors``: a trained model for use elsewhere.

The exported model is the checkpoint's whole model, normalisation included: it takes raw inputs
(uint8 pixels shaped (N, C, H, W), or float32 feature rows with a table's string columns one-hot
encoded as ``model.json`` lists) and returns logits per class, or values in the target's units.
``model.json`` beside it says what goes in and what comes out.
"""

from __future__ import annotations

import argparse
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


def description(saved: Dict[str, Any], fmt: str) -> Dict[str, Any]:
    """What the exported model takes and returns (written as model.json)."""
    from nnrecipes.data import image_data
    from nnrecipes.data.encoding import TableEncoding

    spec = saved["model_spec"]
    shape = list(spec["input_shape"])
    encoding = saved.get("encoding")
    outputs = {"regression": "the predicted value, in the target's units",
               "binary": "one logit: sigmoid(logit) is the probability of class_names[1]",
               "multiclass": "one logit per class: softmax gives the probabilities"}
    return {
        "format": fmt, "checkpoint": saved["path"], "task": spec["task"],
        "input_shape": ["batch", *shape],
        "input_dtype": "uint8" if image_data(tuple(shape)) else "float32",
        "input_columns": TableEncoding.from_dict(encoding).names() if encoding else None,
        "output": outputs[spec["task"]], "class_names": saved.get("class_names"),
        "model": saved["config"]["model"],
    }


def _example(saved: Dict[str, Any]):
    import torch

    from nnrecipes.data import image_data

    shape = tuple(saved["model_spec"]["input_shape"])
    return torch.zeros(2, *shape, dtype=torch.uint8 if image_data(shape) else torch.float32)


def _write(model, saved: Dict[str, Any], fmt: str, path: Path) -> None:
    import torch

    if fmt == "torchscript":
        with warnings.catch_warnings():  # asked for by name: PyTorch's deprecation notice is noise
            warnings.simplefilter("ignore", FutureWarning)
            try:
                scripted = torch.jit.script(model)
            except Exception:  # a user's model that TorchScript cannot compile: record one pass
                scripted = torch.jit.trace(model, _example(saved))
        scripted.save(str(path))
    elif fmt == "onnx":
        batch = torch.export.Dim("batch", min=1)
        torch.onnx.export(model, (_example(saved),), str(path), input_names=["input"],
                          output_names=["output"], dynamic_shapes=({0: batch},), dynamo=True,
                          external_data=False, verbose=False)  # one file, as users expect
    else:
        from safetensors.torch import save_file

        weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
        save_file(weights, str(path), metadata={"nnrecipes": json.dumps(description(saved, fmt))})


def export_run(location: str, fmt: str, output: Optional[str] = None,
               checkpoint: str = "best.pt") -> Path:
    """Export the run's (or checkpoint file's) model; returns the written file."""
    from nnrecipes.checkpoint import load_checkpoint, write_json
    from nnrecipes.evaluate import model_from_checkpoint

    _require_extra(fmt)
    saved = load_checkpoint(location, name=checkpoint)
    folder = Path(output).expanduser() if output else Path(saved["path"]).parent.parent / "export"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FORMATS[fmt]
    _write(model_from_checkpoint(saved).eval(), saved, fmt, path)
    write_json(folder / "model.json", description(saved, fmt))
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nnrun-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder, or a checkpoint file")
    parser.add_argument("--format", required=True, choices=list(FORMATS))
    parser.add_argument("--output", help="folder to write into (default: RUN/export)")
    parser.add_argument("--checkpoint", default="best.pt", choices=["best.pt", "last.pt"])
    args = parser.parse_args(argv)
    from nnrecipes.checkpoint import CheckpointError
    from nnrecipes.explain import explain

    try:
        path = export_run(args.run, args.format, args.output, args.checkpoint)
    except (ExportError, CheckpointError) as error:
        print(f"nnrun-export: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"nnrun-export: error: {explain(error)}", file=sys.stderr)
        return 2
    print(f"wrote {path} (and model.json beside it)")
    return 0


def entry() -> None:
    raise SystemExit(main())

