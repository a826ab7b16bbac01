"""The image folder's decode and its cache, timed (docs/benchmarks.md):

    python scripts/image_cache.py --data ../shared/data --images 20000 --size 32
    python scripts/image_cache.py --data ../shared/data --images 5000 --size 32 --side 256

Writes the first N Fashion-MNIST training images as PNG files, one folder per class, then loads
the folder as ``dataset=image_folder dataset.image_size=SIZE`` does: decoded in one process,
decoded in every core this process may use (the first run of a folder), and read back from the
cache (every later run). Each is timed with nothing else running; the three must agree pixel
for pixel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def write_pngs(data: Path, folder: Path, count: int, side: int) -> None:
    from PIL import Image

    from nnrecipes.components.datasets.idx import read_idx

    raw = data / "FashionMNIST" / "raw"
    images = read_idx(raw / "train-images-idx3-ubyte.gz")[:count]
    labels = read_idx(raw / "train-labels-idx1-ubyte.gz")[:count]
    for index, (pixels, label) in enumerate(zip(images, labels)):
        path = folder / f"class_{label}" / f"{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(pixels)
        (image if side == 28 else image.resize((side, side), Image.Resampling.BICUBIC)).save(path)


def timed(function, repeats: int):
    """The result and the median seconds of ``repeats`` calls."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return result, statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="each timing's median of this many")
    parser.add_argument("--side", type=int, default=28,
                        help="the PNG files' size (28: Fashion-MNIST's own; larger: upscaled)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["NNRECIPES_CACHE_DIR"] = str(Path(scratch) / "cache")
        from nnrecipes.components.datasets.image_folder import class_files, load_image_folder
        from nnrecipes.core import cpus
        from nnrecipes.data import image_files

        write_pngs(args.data, Path(scratch) / "pngs", args.images, args.side)
        cores = cpus.cores()

        def load(cache: bool):
            settings = SimpleNamespace(path=str(Path(scratch) / "pngs"), test_path=None,
                                       image_size=args.size, channels=1, skip_bad=False,
                                       cache=cache)
            return load_image_folder(settings).x

        _, files = class_files(Path(scratch) / "pngs", "dataset.path")
        paths, size = [path for path, _ in files], (args.size, args.size)

        def decode():
            return image_files.decode_images(paths, 1, size, False, "benchmark")[0]

        def first_run():
            shutil.rmtree(os.environ["NNRECIPES_CACHE_DIR"], ignore_errors=True)
            return load(True)

        image_files.cores = lambda: 1
        one, one_seconds = timed(decode, args.repeats)
        image_files.cores = cpus.cores
        parallel, parallel_seconds = timed(decode, args.repeats)
        first, first_seconds = timed(first_run, args.repeats)
        again, again_seconds = timed(lambda: load(True), args.repeats)
        assert all(np.array_equal(one, other) for other in (parallel, first, again))
    print(f"{args.images} PNG images of {args.side}x{args.side} in 10 class folders, "
          f"at {args.size}x{args.size}, on {cores} cores:")
    print(f"  decode, 1 process:                 {one_seconds:6.2f} s")
    print(f"  decode, {cores} processes:               {parallel_seconds:6.2f} s  "
          f"({one_seconds / parallel_seconds:.2f}x)")
    print(f"  first run's load (decode, cache):  {first_seconds:6.2f} s")
    print(f"  later run's load (from the cache): {again_seconds:6.2f} s  "
          f"({parallel_seconds / again_seconds:.1f}x faster than the first run's decode, "
          f"{one_seconds / again_seconds:.1f}x than one process's)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
