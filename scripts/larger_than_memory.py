#!/usr/bin/env python3
"""A picture folder three times larger than the memory a run may use: does it train and predict,
how fast, with how much memory?

Writes ``--images`` JPEG pictures of ``--size`` pixels in 10 class folders (20,000 at 224 px:
3 GB decoded), then, each in a fresh process inside a memory cgroup (cgroup v1's memory
controller, as on these machines, or v2) limited to ``--limit-gb``:

1. nnrun's first run: the folder decoded into its cache file (it cannot go to memory), one
   epoch of a small CNN, the test split scored;
2. the same command again: the pictures read from that file in place (what a user's second run,
   a sweep's jobs, folds and ranks cost), training images per second from its epoch;
3. ``mode=predict`` on the folder with run 2's checkpoint;
4. torchvision's ``ImageFolder`` + ``DataLoader`` with 2 workers on the same pictures and the
   same network (decoding every epoch, as it does), training images per second;

and, without the limit, 5. the second run's command where the pixels fit in memory. Each step
starts with the page cache emptied (root), so that none reads what an earlier one left cached,
and is reported with its exit status, seconds, the largest resident set of its processes, and
the cgroup's peak (which counts the page cache the kernel reclaims at the limit).

    python scripts/larger_than_memory.py [--images 20000] [--size 224] [--limit-gb 1]
        [--work DIR]     (root: it makes and removes a cgroup)

Goals (issue 45): 1-3 finish; 2 at 0.9x of 5 or more, and 1.5x of 4 or more.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

# Of the 1 GiB, importing torch takes 0.28 GiB of anonymous memory (0.37 GiB with scikit-learn
# and pandas) before any data; a 224-pixel batch of 16 through MODEL, 0.3 GiB.
BATCH = 16
CLASSES = 10
# A small CNN: the pictures' reading and decoding, not its arithmetic, is what is compared.
MODEL = ("model=cnn", "model.channels=[8,16]", "model.fc_sizes=[32]")
COMMON = ("dataset=image_folder", "dataset.channels=3", f"dataset.batch_size={BATCH}",
          "dataset.val_size=64", "dataset.test_size=0.05", *MODEL, "optimizer=adam",
          "scheduler=none", "trainer.epochs=1", "trainer.plots=false", "trainer.baseline=off",
          "trainer.progress=false")
WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:])
print("peak-rss-kib", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(done.returncode)
"""


def _write_class(root: Path, label: int, count: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(label)
    folder = root / f"class_{label}"
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 1, size)
    for index in range(count):
        tint = np.array([(label * 37) % 256, (label * 91) % 256, (label * 53) % 256])
        base = np.outer(ramp, ramp)[:, :, None] * tint + rng.integers(0, 60, (size, size, 3))
        Image.fromarray(base.clip(0, 255).astype(np.uint8)).save(
            folder / f"{index:05d}.jpg", quality=90)


def write_pictures(root: Path, count: int, size: int) -> None:
    if root.is_dir():
        return
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_write_class, [root] * CLASSES, range(CLASSES),
                      [count // CLASSES] * CLASSES, [size] * CLASSES))


class MemoryCgroup:
    """A memory cgroup of its own, limited to ``limit`` bytes; a command is run in it. One per
    command: what an earlier one left charged (the page cache of the files it read and wrote)
    is not the next one's."""

    def __init__(self, limit: int):
        v1 = Path("/sys/fs/cgroup/memory")
        self.v1 = v1.is_dir()
        self.folder = (v1 if self.v1 else Path("/sys/fs/cgroup")) / f"nnrecipes-bench-{os.getpid()}"
        self.folder.mkdir()
        (self.folder / ("memory.limit_in_bytes" if self.v1 else "memory.max")).write_text(
            str(limit))

    def peak(self) -> Optional[int]:
        name = "memory.max_usage_in_bytes" if self.v1 else "memory.peak"
        path = self.folder / name
        return int(path.read_text()) if path.is_file() else None

    def enter(self) -> None:  # in the child, before it runs the command
        (self.folder / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        self.folder.rmdir()


def drop_page_cache() -> bool:
    """Empty the kernel's page cache (root only), so that no step reads pages an earlier one
    left cached: those stay charged to the earlier step's cgroup (or its parent, once removed),
    and this step's limit would not count them."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3")
        return True
    except (OSError, subprocess.CalledProcessError):
        return False


def run(command: List[str], limit: Optional[int], env: Dict[str, str]) -> Dict:
    """``command`` in a fresh process (in a cgroup of ``limit`` bytes) with nothing in the page
    cache: exit status, seconds, peak memory."""
    if not drop_page_cache():
        print("could not empty the page cache (not root?): a step may read what an earlier "
              "one left cached", flush=True)
    cgroup = MemoryCgroup(limit) if limit else None
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True,
                              text=True, env=env,
                              preexec_fn=cgroup.enter if cgroup is not None else None)
        seconds = time.perf_counter() - started
        peak = cgroup.peak() if cgroup is not None else None
    finally:
        if cgroup is not None:
            cgroup.remove()
    rss = next((int(line.split()[1]) * 1024 for line in done.stderr.splitlines()
                if line.startswith("peak-rss-kib")), None)
    return {"code": done.returncode, "seconds": seconds, "peak_rss": rss,
            "cgroup_peak": peak,
            "tail": (done.stdout + done.stderr)[-2000:]}


def nnrun_rate(run_dir: Path) -> Optional[float]:
    """Training images per second of the run's epoch (its validation is 64 images)."""
    try:
        with open(run_dir / "metrics.csv", newline="") as handle:
            epoch = list(csv.DictReader(handle))[0]
        train = json.loads((run_dir / "summary.json").read_text())["samples"]["train"]
    except (OSError, IndexError, KeyError):
        return None
    return train // BATCH * BATCH / float(epoch["seconds"])


PLAIN = """
import sys, time, json, torch, torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from nnrecipes.components.models import model_from_checkpoint
from nnrecipes.records.checkpoint import load_checkpoint
folder, checkpoint = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
model = model_from_checkpoint(load_checkpoint(checkpoint, name="best.pt"))  # the same network
data = datasets.ImageFolder(folder, transform=transforms.PILToTensor())  # uint8, as nnrun's
loader = DataLoader(data, batch_size=16, shuffle=True, drop_last=True, num_workers=2)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
model.train()
started, seen = time.perf_counter(), 0
for x, y in loader:
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    seen += len(x)
print(json.dumps({"rate": seen / (time.perf_counter() - started)}))
"""


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--limit-gb", type=float, default=1.0)
    parser.add_argument("--work", type=Path, help="a folder to keep the pictures and runs in")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        return measure(work, args)


def measure(work: Path, args) -> int:
    folder = work / "pictures"
    started = time.perf_counter()
    write_pictures(folder, args.images, args.size)
    decoded = args.images * 3 * args.size ** 2
    print(f"{args.images:,} pictures of {args.size} px ({decoded / 2**30:.2f} GiB decoded) in "
          f"{folder}, written in {time.perf_counter() - started:.0f} s", flush=True)
    env = {**os.environ, "NNRECIPES_CACHE_DIR": str(work / "cache")}
    train = [sys.executable, "-m", "nnrecipes.cli", *COMMON, f"dataset.path={folder}",
             f"dataset.image_size={args.size}"]
    limit = int(args.limit_gb * 2**30)
    results = {"first run (decodes into the file)": run(
        [*train, f"hydra.run.dir={work / 'first'}"], limit, env)}
    results["second run (reads the file)"] = run(
        [*train, f"hydra.run.dir={work / 'second'}"], limit, env)
    results["predict the folder"] = run(
        [sys.executable, "-m", "nnrecipes.cli", "mode=predict", f"checkpoint={work / 'second'}",
         f"input={folder}", f"output={work / 'predictions.csv'}"], limit, env)
    results["ImageFolder + DataLoader, 2 workers"] = run(
        [sys.executable, "-c", PLAIN, str(folder), str(work / "second")], limit, env)
    results["second run's command, no limit (in memory)"] = run(
        [*train, f"hydra.run.dir={work / 'in_memory'}"], None, env)
    return report(results, work, args)


def report(results: Dict[str, Dict], work: Path, args) -> int:
    plain = results["ImageFolder + DataLoader, 2 workers"]
    rates = {"first run (decodes into the file)": nnrun_rate(work / "first"),
             "second run (reads the file)": nnrun_rate(work / "second"),
             "second run's command, no limit (in memory)": nnrun_rate(work / "in_memory"),
             "ImageFolder + DataLoader, 2 workers": next(
                 (json.loads(line)["rate"] for line in plain["tail"].splitlines()
                  if line.startswith('{"rate"')), None)}
    print(f"\nlimit: {args.limit_gb:g} GiB (memory cgroup)\n")
    print("| step | exit | seconds | training images/s | peak RSS | cgroup peak |")
    print("| --- | --- | --- | --- | --- | --- |")
    gib = lambda value: "-" if value is None else f"{value / 2**30:.2f} GiB"  # noqa: E731
    for name, result in results.items():
        rate = rates.get(name)
        print(f"| {name} | {result['code']} | {result['seconds']:.0f} | "
              f"{'-' if rate is None else f'{rate:.0f}'} | {gib(result['peak_rss'])} | "
              f"{gib(result['cgroup_peak'])} |")
    for name, result in results.items():
        if result["code"]:
            print(f"\n{name} failed:\n{result['tail']}")
    on_file = rates["second run (reads the file)"]
    memory = rates["second run's command, no limit (in memory)"]
    loader = rates["ImageFolder + DataLoader, 2 workers"]
    ok = all(result["code"] == 0 for result in results.values())
    if on_file and memory and loader:
        print(f"\nfrom the file / in memory: {on_file / memory:.2f}x (goal 0.9x); "
              f"from the file / DataLoader: {on_file / loader:.2f}x (goal 1.5x)")
        ok = ok and on_file >= 0.9 * memory and on_file >= 1.5 * loader
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
