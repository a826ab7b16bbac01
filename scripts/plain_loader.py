#!/usr/bin/env python3
"""Run an exported nnrecipes model without nnrecipes: what a user's own program would do.

    python scripts/plain_loader.py torchscript|onnx|safetensors MODEL INPUTS.npy OUTPUTS.npy

TorchScript loads with torch.jit.load, ONNX with onnxruntime; safetensors holds weights only,
so a plain class of the MLP (ReLU, no batch norm) is written out below and loads them.
"""

import sys

sys.modules["nnrecipes"] = None  # importing nnrecipes fails here: nothing may need it

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


class Standardize(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    def forward(self, x):
        return (x - self.mean) / self.std


class Rescale(Standardize):
    def forward(self, y):
        return y * self.std + self.mean


def plain_mlp(weights):
    """Input statistics, Flatten + Linear/ReLU layers, and the target's scale if it has one."""
    indices = sorted(int(key.split(".")[1]) for key in weights if key.endswith(".weight"))
    layers = [nn.Flatten()]
    for index in indices:
        while len(layers) < index:
            layers.append(nn.ReLU())
        out_features, in_features = weights[f"1.{index}.weight"].shape
        layers.append(nn.Linear(in_features, out_features))
    parts = [Standardize(weights["0.mean"].shape), nn.Sequential(*layers)]
    if "2.mean" in weights:  # regression: standardised outputs back to the target's units
        parts.append(Rescale(weights["2.mean"].shape))
    model = nn.Sequential(*parts)
    model.load_state_dict(weights)
    return model.eval()


def main(fmt: str, path: str, inputs: str, outputs: str) -> None:
    x = np.load(inputs)
    if fmt == "torchscript":
        y = torch.jit.load(path)(torch.from_numpy(x)).detach().numpy()
    elif fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path)
        y = session.run(None, {session.get_inputs()[0].name: x})[0]
    else:
        from safetensors.torch import load_file

        with torch.no_grad():
            y = plain_mlp(load_file(path))(torch.from_numpy(x)).numpy()
    np.save(outputs, y)


if __name__ == "__main__":
    main(*sys.argv[1:])
