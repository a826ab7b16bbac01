"""Pretrained weights for a torchvision network: by torchvision's name (``DEFAULT``,
``IMAGENET1K_V1``, ...) from torch's hub cache, or from a state-dict file.

Named weights are read from ``$TORCH_HOME/hub/checkpoints/`` under torchvision's own file name,
and downloaded there only with ``model.download=true`` (from ``NNRECIPES_WEIGHTS_URL`` instead of
download.pytorch.org when that names a mirror), the file's hash checked against the one its name
carries. Offline, the error names the file and the folder to put it in. A file whose layers do
not fit the network names the first one that does not.
"""

from __future__ import annotations

import difflib
import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import urlparse

from nnrecipes.core.config import ConfigError, first_line
from nnrecipes.core.torch_files import is_torchscript

# torch.hub's rule: the hex digits after the last '-' of a weights file's name start its sha256.
HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")
MIRROR_VARIABLE = "NNRECIPES_WEIGHTS_URL"
log = logging.getLogger("nnrecipes")
FILE_SUFFIXES = (".pt", ".pth", ".safetensors")


def is_file_reference(weights: str) -> bool:
    """``model.weights`` names a file (a path, or a state-dict suffix) rather than weights."""
    return "/" in weights or weights.endswith(FILE_SUFFIXES)


def named_weights(arch: str, name: str):
    """torchvision's weights ``name`` of ``arch`` (``DEFAULT`` included)."""
    from torchvision.models import get_model_weights

    try:
        choices = get_model_weights(arch)
    except (ValueError, KeyError):
        raise ConfigError(f"model.arch={arch} has no pretrained weights in torchvision; use "
                          f"model.weights=null, or a state-dict file") from None
    known = [*choices.__members__]
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"model.weights={name} is not a weights name of {arch}; {hint}its "
                          f"names are: {', '.join(known)} (or a path to a state-dict file)")
    return choices[name]


def cache_file(weights) -> Path:
    """Where torch's hub keeps ``weights``: $TORCH_HOME/hub/checkpoints/<torchvision's name>."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def _url(weights) -> str:
    mirror = os.environ.get(MIRROR_VARIABLE)
    name = Path(urlparse(weights.url).path).name
    return f"{mirror.rstrip('/')}/{name}" if mirror else weights.url


def expected_hash(file_name: str) -> Optional[str]:
    found = HASH_IN_NAME.search(file_name)
    return found.group(1) if found else None


def cached_state(weights, download: bool) -> Dict[str, Any]:
    """The state dict of named ``weights``: from the hub cache, downloaded only if asked."""
    path = cache_file(weights)
    if not path.is_file():
        if not download:
            raise ConfigError(
                f"model.weights={weights.name}: {path.name} is not in {path.parent} (torch's hub "
                f"cache, $TORCH_HOME/hub/checkpoints). Pass model.download=true where the "
                f"network is reachable, or fetch {weights.url} on a machine that reaches it and "
                f"copy the file to {path} (or name a mirror in {MIRROR_VARIABLE}; "
                f"docs/fine-tuning.md)")
        _download(weights, path)
    return load_state_file(str(path), "model.weights")


def _download(weights, path: Path) -> None:
    import torch

    url = _url(weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=expected_hash(path.name),
                                       progress=False)
    except Exception as error:  # no network, a refused mirror, a hash that does not match
        reason = first_line(error, 200)
        raise ConfigError(f"model.weights={weights.name} could not be downloaded from {url} "
                          f"into {path} ({type(error).__name__}: {reason}); fetch it on a "
                          f"machine that reaches it and copy it to {path}, or name a mirror in "
                          f"{MIRROR_VARIABLE} (docs/fine-tuning.md)") from None


def load_state_file(location: str, key: str) -> Dict[str, Any]:
    """A state dict from a .pt/.pth file (the dict itself, or under 'state_dict' or 'model')
    or a .safetensors file."""
    path = Path(location).expanduser()
    if not path.is_file():
        raise ConfigError(f"{key}={location}: no such file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        import torch

        if is_torchscript(path):
            raise ConfigError(f"{key}={location} is a TorchScript program, not a state dict: "
                              f"give the file its weights were saved to with "
                              f"torch.save(network.state_dict(), PATH)")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise ConfigError(f"{key}={location} needs the safetensors extra: "
                          f"pip install 'nnrecipes[safetensors]'") from None
    except pickle.UnpicklingError:  # torch's own text is about its weights_only default
        raise ConfigError(f"{key}={location} is not a state dict saved with torch.save, or it "
                          f"holds Python objects besides tensors, which nnrun does not load") \
            from None
    except Exception as error:
        reason = first_line(error, 200)
        raise ConfigError(f"{key}={location} is not a readable state dict "
                          f"({type(error).__name__}: {reason})") from None
    if isinstance(state, dict) and {"model_spec", "config", "model"} <= set(state):
        raise ConfigError(f"{key}={location} is a checkpoint of an nnrun run, not a network's "
                          f"weights; start from it with model.init={location} (and "
                          f"{key}=null)")
    for inner in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(inner), dict):
            state = state[inner]
    if not isinstance(state, dict):
        raise ConfigError(f"{key}={location} holds a {type(state).__name__}, not a state dict")
    return _without_ddp_prefix(_tensors_only(state, key, location), key, location)


def _tensors_only(state: Dict[str, Any], key: str, location: str) -> Dict[str, Any]:
    import torch

    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ConfigError(f"{key}={location}: its entry {name} is a {type(value).__name__}, "
                              f"not a tensor; a state dict maps layer names to tensors "
                              f"(save network.state_dict())")
    return state


DDP_PREFIX = "module."


def _without_ddp_prefix(state: Dict[str, Any], key: str, location: str) -> Dict[str, Any]:
    """Weights saved from a DistributedDataParallel (or DataParallel) wrapper name every layer
    under ``module.``: taken without it, and said so."""
    if not state or not all(name.startswith(DDP_PREFIX) for name in state):
        return state
    log.info(f"{key}={location}: every layer is named under '{DDP_PREFIX}' (saved from a "
             f"DistributedDataParallel wrapper); taken without that prefix")
    return {name[len(DDP_PREFIX):]: value for name, value in state.items()}


def check_values(saved, own, name: str, where: str) -> None:
    """A saved tensor that the network's tensor ``own`` can take: floating point where the
    network's is (integers would be truncated weights, or another kind of file), and finite."""
    import torch

    if own.is_floating_point() and not saved.is_floating_point():
        raise ConfigError(f"{where}: its {name} holds {str(saved.dtype).replace('torch.', '')} "
                          f"values where the network has floating-point weights; this file is "
                          f"not a trained network's weights (quantised weights are not taken)")
    if saved.is_floating_point() and not bool(torch.isfinite(saved).all()):
        bad = int((~torch.isfinite(saved)).sum())
        raise ConfigError(f"{where}: its {name} holds {bad} NaN or infinite value"
                          f"{'s' * (bad > 1)} of {saved.numel()}; the run that saved it had "
                          f"diverged, so start from weights saved before that")


def load_fitting(network, state: Dict[str, Any], skip: str, where: str) -> None:
    """Load ``state`` into ``network``, every tensor but those under ``skip`` (the head, which
    the data's classes replace); the first layer that is missing or of another shape is named."""
    own = network.state_dict()
    for key, tensor in own.items():
        if key.startswith(skip + "."):
            continue
        if key not in state:
            raise ConfigError(f"{where} does not fit model.arch: it lacks {key} (is it the "
                              f"weights of another network?)")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ConfigError(f"{where} does not fit model.arch: its {key} is "
                              f"{tuple(state[key].shape)}, the network's "
                              f"{tuple(tensor.shape)} (the weights of another network?)")
        check_values(state[key], tensor, key, where)
    network.load_state_dict({key: value for key, value in state.items()
                             if key in own and not key.startswith(skip + ".")}, strict=False)
