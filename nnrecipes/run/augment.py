"""On-device augmentation of training batches of images (``dataset.augment``).

Each batch is cut from the uint8 tensor the data layer keeps on the device, so augmentation is a
few tensor operations on the whole batch, with a fresh draw per image: no DataLoader workers and
no per-image Python. Validation and test data are never augmented.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from nnrecipes.core.config import ConfigError

Augment = Callable[[torch.Tensor], torch.Tensor]
KINDS = ("crop", "flip", "resized_crop")
# resized_crop's aspect ratios (width over height), torchvision's RandomResizedCrop's.
RATIOS = (3 / 4, 4 / 3)


def random_crop(images: torch.Tensor, padding: int) -> torch.Tensor:
    """Each image shifted by up to ``padding`` pixels each way, the uncovered edge zero: a
    random crop of the zero-padded image, of the original size."""
    count, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (count, 1), device=images.device)
    left = torch.randint(0, 2 * padding + 1, (count, 1), device=images.device)
    rows = (top + torch.arange(height, device=images.device))[:, :, None]  # N, H, 1
    cols = (left + torch.arange(width, device=images.device))[:, None, :]  # N, 1, W
    batch = torch.arange(count, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # N, C, H, W


def random_flip(images: torch.Tensor) -> torch.Tensor:
    """Half the images, drawn afresh each batch, mirrored left to right."""
    mirrored = torch.rand(len(images), device=images.device) < 0.5
    return torch.where(mirrored[:, None, None, None], images.flip(-1), images)


def random_resized_crop(images: torch.Tensor, min_scale: float) -> torch.Tensor:
    """Each image's random part, of ``min_scale`` to all of its area and an aspect ratio in
    RATIOS (torchvision's RandomResizedCrop), stretched back to the whole image (bilinear):
    one affine resampling of the batch, each image with its own box."""
    count, device = len(images), images.device
    area = torch.empty(count, device=device).uniform_(min_scale, 1)
    # the ratio drawn, narrowed to those whose box fits inside the image at this area
    # (torchvision's draws again instead; a whole-image box is then a ratio of 1)
    log_ratio = torch.empty(count, device=device).uniform_(*map(math.log, RATIOS))
    ratio = torch.minimum(torch.maximum(log_ratio, area.log()), -area.log()).exp()
    # the box's width and height as fractions of the image's
    width, height = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    # its centre, in affine_grid's coordinates (-1 to 1), anywhere the box stays inside
    x = (torch.rand(count, device=device) * 2 - 1) * (1 - width)
    y = (torch.rand(count, device=device) * 2 - 1) * (1 - height)
    zero = torch.zeros(count, device=device)
    theta = torch.stack([torch.stack([width, zero, x], 1), torch.stack([zero, height, y], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border",
                          align_corners=False)
    return moved.round().clamp(0, 255).to(images.dtype) if not images.is_floating_point() \
        else moved


def build_augment(kinds: Sequence[str], padding: int, min_scale: float = 0.35
                  ) -> Optional[Augment]:
    """The augmentation ``dataset.augment`` names (None when it names none)."""
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ConfigError(f"dataset.augment={list(kinds)}: {', '.join(map(repr, unknown))} is "
                          f"not an augmentation; known: {', '.join(KINDS)}")
    if not kinds:
        return None

    def augment(images: torch.Tensor) -> torch.Tensor:
        if "resized_crop" in kinds:
            images = random_resized_crop(images, min_scale)
        if "crop" in kinds:
            images = random_crop(images, padding)
        if "flip" in kinds:
            images = random_flip(images)
        return images

    return augment


def augment_for(dataset_cfg, image_data: Optional[bool]) -> Optional[Augment]:
    """``dataset.augment`` for image data (None: not known before the data is loaded); an error
    on tabular data, which has no pixels. Checked before loading, and again after."""
    if dataset_cfg.augment and image_data is False:
        raise ConfigError(f"dataset.augment={list(dataset_cfg.augment)} works on image data; "
                          f"dataset={dataset_cfg.name} is tabular. Leave dataset.augment empty.")
    return build_augment(list(dataset_cfg.augment), dataset_cfg.augment_padding,
                         dataset_cfg.augment_scale)
