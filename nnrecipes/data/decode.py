"""One image file to uint8 pixels shaped (C, H, W), saying what was changed on the way.

Images come in many modes (bilevel, palette, grey, colour, CMYK, 16-bit, with transparency);
the model takes 8-bit grey or RGB of one size. Each conversion that changes what the pixels say
is returned as a note, so the caller can put one line per kind in the log; one that would
destroy the picture (16-bit pixels that all scale to one grey, 32-bit values beyond 16 bits,
floating-point pixels) is an error naming the file. Pillow's warnings (a decompression-bomb
sized image, a truncated file) become notes naming the file too, never raw warnings.
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")
EXIF_ORIENTATION = 0x0112  # the tag's number in the EXIF standard
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
COLOUR = ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA")
# What each note means, for the log: "N images <text>".
NOTES = {
    "16-bit": "held 16-bit pixels, scaled to 8 bits (value / 257)",
    "32-bit": "held 32-bit integer pixels within 0..255, read as 8-bit",
    "32-bit wide": "held 32-bit integer pixels within 0..65535, scaled to 8 bits (value / 257)",
    "grey": "in colour were converted to grey (dataset.channels=1; 3 keeps colour)",
    "to rgb": "in grey were repeated to 3 channels (dataset.channels=3)",
    "alpha": "had transparency, dropped (transparent pixels keep their colour values)",
    "cmyk": "in CMYK or another colour space were converted to RGB",
    "upright": "were turned upright as their EXIF orientation says (a phone stores them sideways)",
    "resized": "were resized",
    "stretched": "were not square and were stretched to a square",
    "cropped": "were not of the size's shape and were cropped to their centre",
    "padded": "were not of the size's shape and were padded with black to it",
}


class Resize(str, Enum):
    """dataset.resize: how a picture of another shape than the size becomes that size."""

    squash = "squash"  # both sides to the size: a portrait photo is stretched sideways
    crop = "crop"  # the shorter side to the size, then the centre (what torchvision's
    # ImageNet weights were trained and evaluated with)
    pad = "pad"  # the longer side to the size, the rest black (letterbox): nothing cut


def resize_rule(dataset: Dict[str, Any]) -> Resize:
    """The rule a run's data set config (a checkpoint's ``config["dataset"]``) brought its
    pictures to size by: squash where it names none (the built-in image sets, all one size)."""
    rule = dataset.get("resize") or Resize.squash
    return Resize(getattr(rule, "value", rule))


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # uint8 (C, H, W)
    notes: Tuple[str, ...]  # keys of NOTES, and Pillow's warnings as "warning: ..." text


def file_kind(path: Path) -> str:
    """Why ``path`` is no file to read pictures from ("" if it is a regular file)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        target = f" to {os.readlink(path)}" if os.path.islink(path) else ""
        return f"unreadable (a link{target} that leads nowhere)" if target else \
            f"unreadable ({error.strerror})"
    if stat.S_ISREG(mode):
        return ""
    kinds = {stat.S_ISFIFO: "a named pipe", stat.S_ISSOCK: "a socket",
             stat.S_ISCHR: "a device", stat.S_ISBLK: "a device", stat.S_ISDIR: "a folder"}
    kind = next((name for test, name in kinds.items() if test(mode)), "not a file")
    return f"not a regular file ({kind})"


def decode_one(path: Path, channels: int, size: Optional[Tuple[int, int]],
               resize: Resize = Resize.squash) -> Union[Decoded, str]:
    """The image at ``path`` as ``channels`` x H x W uint8 (brought to ``size``, (width,
    height), by the ``resize`` rule, if given), or a string saying why it cannot be read."""
    from PIL import Image

    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return f"not an image file ({path.suffix or 'no suffix'})"
    kind = file_kind(path)
    if kind:  # opening a named pipe or a device would wait for a writer that never comes
        return kind
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path) as image:
                image.load()
                decoded = _converted(*_upright(image), channels, size, Resize(resize))
    except Exception as error:  # Pillow raises many types for broken files
        return f"unreadable ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
    if isinstance(decoded, str):
        return decoded
    said = tuple(f"warning: {str(item.message).splitlines()[0][:160]}" for item in caught)
    return Decoded(decoded.pixels, decoded.notes + said)


def _upright(image) -> Tuple[object, list]:
    """The picture as it is meant to be seen: a camera writes its pixels as the sensor read them
    and says in the EXIF orientation tag (1-8) how to turn or mirror them; this comes before
    anything else, so the size, crop and every later rule apply to the upright picture."""
    from PIL import ImageOps

    if image.getexif().get(EXIF_ORIENTATION, 1) in (None, 1):
        return image, []
    return ImageOps.exif_transpose(image), ["upright"]


def _converted(image, notes: list, channels: int, size: Optional[Tuple[int, int]],
               resize: Resize) -> Union[Decoded, str]:
    if image.mode in (*SIXTEEN_BIT, "I", "F"):
        image = _eight_bit(image, notes)
        if isinstance(image, str):
            return image
    grey_palette = _grey_palette(image)
    if "A" in image.mode or "transparency" in image.info:
        notes.append("alpha")
        if image.mode == "P":
            image = image.convert("RGBA")  # the palette's transparency, without Pillow's warning
    if channels == 1 and image.mode in COLOUR and not grey_palette:
        notes.append("grey")
    elif channels == 3 and image.mode in ("1", "L", "LA", "La"):
        notes.append("to rgb")
    elif channels == 3 and image.mode not in ("RGB", "RGBA", "RGBX", "P", "PA"):
        notes.append("cmyk")
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and image.size != size:
        image = _resized(image, size, resize, notes)
    pixels = np.asarray(image, dtype=np.uint8)
    return Decoded(pixels[None] if channels == 1 else pixels.transpose(2, 0, 1), tuple(notes))


def _resized(image, size: Tuple[int, int], resize: Resize, notes: list):
    from PIL import Image

    notes.append("resized")
    width, height = image.size
    if resize is Resize.squash:
        if width != height and size[0] == size[1]:
            notes.append("stretched")
        return image.resize(size, Image.Resampling.BILINEAR)
    # crop: the scale at which the picture covers the size; pad: at which it fits inside it
    scale = (max if resize is Resize.crop else min)(size[0] / width, size[1] / height)
    inner = (max(1, round(width * scale)), max(1, round(height * scale)))
    if inner != image.size:
        image = image.resize(inner, Image.Resampling.BILINEAR)
    if inner == size:
        return image
    left, top = (inner[0] - size[0]) // 2, (inner[1] - size[1]) // 2
    if resize is Resize.crop:
        notes.append("cropped")
        return image.crop((left, top, left + size[0], top + size[1]))
    notes.append("padded")
    canvas = Image.new(image.mode, size)  # black
    canvas.paste(image, (-left, -top))
    return canvas


def _grey_palette(image) -> bool:
    """A palette image whose colours are all greys (a PNG saved as P from grey data)."""
    if image.mode != "P":
        return False
    colours = np.asarray(image.getpalette() or [], dtype=np.int64).reshape(-1, 3)
    return bool(len(colours)) and bool((colours == colours[:, :1]).all())


def _eight_bit(image, notes: list):
    """16- and 32-bit pixels as 8-bit grey: scaled, where that keeps the picture."""
    from PIL import Image

    if image.mode == "F":
        return ("32-bit floating-point pixels: nnrun reads 8- and 16-bit images; save it as an "
                "8- or 16-bit image")
    values = np.asarray(image, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if image.mode == "I" and (low < 0 or high > 65535):
        return (f"32-bit pixels from {low} to {high}, beyond what 8 or 16 bits hold: save it "
                f"as an 8- or 16-bit image")
    if image.mode == "I" and high <= 255:
        notes.append("32-bit")
        return Image.fromarray(values.astype(np.uint8), "L")
    scaled = np.rint(values / 257).astype(np.uint8)
    if len(np.unique(scaled)) == 1 and low != high:
        return (f"16-bit pixels from {low} to {high} of 65535, which all become grey level "
                f"{scaled.flat[0]} in 8 bits: rescale it to use the 16-bit range, or save it "
                f"as an 8-bit image")
    notes.append("16-bit" if image.mode in SIXTEEN_BIT else "32-bit wide")
    return Image.fromarray(scaled, "L")
