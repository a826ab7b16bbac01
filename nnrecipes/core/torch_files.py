"""What kind of file torch would be asked to load: no torch here, so nothing is loaded to tell."""

from __future__ import annotations

import zipfile
from pathlib import Path


def is_torchscript(path: Path) -> bool:
    """A TorchScript archive (``nnrun-export --format torchscript``, ``torch.jit.save``):
    torch.load hands such a file to torch.jit.load with a warning of its own, and it holds a
    program, not a checkpoint or a state dict. Told by the ``code/`` folder inside its zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.startswith("code/")
                       for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
