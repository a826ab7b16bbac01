#!/usr/bin/env python3
"""Own data in, predictions and exports out, on real data: the figures issue 13 asks for.

1. California housing written as a CSV: dataset=csv against dataset=california, same seed and
   settings (split sizes, test R²). Breast cancer as a CSV with string labels.
2. Fashion-MNIST as PNG files in class folders (the first N training images, and the test
   split as dataset.test_path): decode time per 1,000 images; dataset=image_folder against
   dataset=fashion_mnist dataset.limit=N, same settings.
3. mode=predict on 100 held-out rows and on the folder of test images, against mode=eval.
4. Each export format loaded in a fresh process without nnrecipes, against the checkpoint's
   outputs on the test split.

    python scripts/own_data.py --data-dir ../shared/data [--images 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

PLAIN = Path(__file__).with_name("plain_loader.py")


def nnrun(*args: str) -> Path:
    """Run nnrun in a fresh process (as a user would); returns the run folder."""
    run_dir = Path([arg for arg in args if arg.startswith("hydra.run.dir=")][0].split("=", 1)[1])
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "nnrecipes.cli", *args, "trainer.progress=false"],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"nnrun {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    print(f"  nnrun {' '.join(a for a in args if not a.startswith('hydra'))}: "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return run_dir


def summary(run_dir: Path) -> Dict:
    return json.loads((run_dir / "summary.json").read_text())


def tables(data_dir: Path, work: Path) -> None:
    from sklearn.datasets import fetch_california_housing, load_breast_cancer

    bunch = fetch_california_housing(data_home=str(data_dir / "sklearn"), as_frame=True,
                                     download_if_missing=False)
    bunch.frame.to_csv(work / "cal.csv", index=False)
    same = ("model=mlp", "seed=0", "trainer.plots=false")
    built_in = summary(nnrun("dataset=california", f"dataset.data_dir={data_dir}", *same,
                             f"hydra.run.dir={work / 'california'}"))
    table = summary(nnrun("dataset=csv", f"dataset.path={work / 'cal.csv'}",
                          "dataset.target=MedHouseVal", *same, f"hydra.run.dir={work / 'cal_csv'}"))
    print(f"california: samples {built_in['samples']}, test R² {built_in['test']['r2']:.4f}, "
          f"{built_in['train_seconds']:.1f} s")
    print(f"cal.csv:    samples {table['samples']}, test R² {table['test']['r2']:.4f}, "
          f"{table['train_seconds']:.1f} s; |ΔR²| {abs(table['test']['r2'] - built_in['test']['r2']):.4f}")
    cancer = load_breast_cancer(as_frame=True)
    frame = cancer.frame.drop(columns="target")
    frame["diagnosis"] = [cancer.target_names[label] for label in cancer.target]
    frame.iloc[:-100].to_csv(work / "cancer.csv", index=False)
    frame.iloc[-100:].to_csv(work / "cancer_held_out.csv", index=False)
    run = nnrun("dataset=csv", f"dataset.path={work / 'cancer.csv'}", "dataset.target=diagnosis",
                "dataset.batch_size=16", "trainer.epochs=50", "trainer.plots=false",
                f"hydra.run.dir={work / 'cancer'}")
    result = summary(run)
    print(f"cancer.csv: task {result['task']}, samples {result['samples']}, test accuracy "
          f"{result['test']['accuracy']:.4f}, roc_auc {result['test']['roc_auc']:.4f}")
    predict_rows(run, work)


def predict_rows(run: Path, work: Path) -> None:
    import pandas as pd

    held_out = work / "cancer_held_out.csv"
    evaluated = nnrun("mode=eval", f"checkpoint={run}", f"hydra.run.dir={work / 'cancer_eval'}")
    predicted = nnrun("mode=predict", f"checkpoint={run}", f"input={held_out}",
                      f"hydra.run.dir={work / 'cancer_predict'}")
    rows = pd.read_csv(predicted / "predictions.csv")
    probabilities = rows[[c for c in rows if c.startswith("probability_")]].sum(axis=1)
    agree = float((rows["predicted"] == rows["diagnosis"]).mean())
    test = json.loads((evaluated / "eval.json").read_text())["test"]["accuracy"]
    print(f"predict on 100 held-out rows: accuracy {agree:.4f} (mode=eval on its own test "
          f"split: {test:.4f}); probabilities sum to 1 within {abs(probabilities - 1).max():.1e}")
    _, logits = checkpoint_outputs(run, rows)
    expected = 1 / (1 + np.exp(-logits[:, 0].astype(np.float64)))
    print(f"  probability_malignant against sigmoid of the checkpoint's own outputs: max |Δ| "
          f"{np.abs(rows['probability_malignant'].to_numpy() - expected).max():.1e}")


def checkpoint_outputs(run: Path, frame):
    import torch

    from nnrecipes.components.models import model_from_checkpoint
    from nnrecipes.data.encoding import TableEncoding
    from nnrecipes.records.checkpoint import load_checkpoint

    saved = load_checkpoint(run, "best.pt")
    x = TableEncoding.from_dict(saved["encoding"]).transform(frame, "rows")
    with torch.no_grad():
        return x, model_from_checkpoint(saved).eval()(torch.from_numpy(x)).numpy()


def write_pngs(images: np.ndarray, labels: np.ndarray, names: List[str], folder: Path) -> None:
    from PIL import Image

    for index, (pixels, label) in enumerate(zip(images, labels)):
        target = folder / names[label].replace("/", "-") / f"{index:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(target)


def images(data_dir: Path, work: Path, count: int) -> None:
    from nnrecipes.components.datasets.idx import FASHION_CLASSES, idx_folders, load_idx_split

    folders = idx_folders(str(data_dir), "FashionMNIST")
    (train_x, train_y), (test_x, test_y) = (load_idx_split(folders, split, "Fashion-MNIST")
                                            for split in ("train", "test"))
    started = time.perf_counter()
    write_pngs(train_x[:count, 0], train_y[:count], FASHION_CLASSES, work / "fashion" / "train")
    write_pngs(test_x[:, 0], test_y, FASHION_CLASSES, work / "fashion" / "test")
    print(f"wrote {count} + {len(test_y)} PNG files in {time.perf_counter() - started:.1f} s")
    same = ("model=cnn", "seed=0", "trainer.plots=false", "dataset.epochs=5")
    idx = summary(nnrun("dataset=fashion_mnist", f"dataset.data_dir={data_dir}",
                        f"dataset.limit={count}", *same, f"hydra.run.dir={work / 'fmnist'}"))
    run = nnrun("dataset=image_folder", f"dataset.path={work / 'fashion' / 'train'}",
                f"dataset.test_path={work / 'fashion' / 'test'}", *same,
                f"hydra.run.dir={work / 'folder'}")
    folder = summary(run)
    log = (run / "nnrun.log").read_text().splitlines()
    print("\n".join(f"  {line.split('] ', 1)[1]}" for line in log if "decoded" in line))
    for name, result in (("fashion_mnist limit", idx), ("image_folder", folder)):
        print(f"{name}: samples {result['samples']}, test accuracy "
              f"{result['test']['accuracy']:.4f}, {result['train_seconds']:.1f} s training")
    evaluated = nnrun("mode=eval", f"checkpoint={run}", f"hydra.run.dir={work / 'folder_eval'}")
    predicted = nnrun("mode=predict", f"checkpoint={run}", f"input={work / 'fashion' / 'test'}",
                      f"hydra.run.dir={work / 'folder_predict'}")
    import pandas as pd

    rows = pd.read_csv(predicted / "predictions.csv")
    truth = [Path(path).parent.name for path in rows["path"]]  # the class folder's name
    names = [name.replace("/", "-") for name in FASHION_CLASSES]
    accuracy = float(np.mean(rows["predicted"].to_numpy() == np.array(truth)))
    sums = rows[[f"probability_{name}" for name in names]].sum(axis=1)
    test = json.loads((evaluated / "eval.json").read_text())["test"]["accuracy"]
    print(f"predict on the {len(rows)} test images: accuracy {accuracy:.4f} (mode=eval: "
          f"{test:.4f}); probabilities sum to 1 within {abs(sums - 1).max():.1e}; "
          f"{len(set(names))} class folders")
    exports(run, work, "images", test_x)


def exports(run: Path, work: Path, label: str, inputs: np.ndarray) -> None:
    """Each format in a fresh process without nnrecipes, against the checkpoint's outputs."""
    import torch

    from nnrecipes.components.models import model_from_checkpoint
    from nnrecipes.export import FORMATS, export_run
    from nnrecipes.records.checkpoint import load_checkpoint

    saved = load_checkpoint(run, "best.pt")
    with torch.no_grad():
        expected = model_from_checkpoint(saved).eval()(torch.from_numpy(inputs)).numpy()
    np.save(work / f"{label}_x.npy", inputs)
    for fmt in FORMATS:
        if fmt == "safetensors" and inputs.dtype == np.uint8:
            continue  # the plain class below is the MLP's; the CNN is checked by the others
        path = export_run(str(run), fmt, str(work / f"{label}_export"))
        out = work / f"{label}_{fmt}.npy"
        subprocess.run([sys.executable, str(PLAIN), fmt, str(path), str(work / f"{label}_x.npy"),
                        str(out)], check=True, cwd=work)
        print(f"  {label} {fmt}: {len(inputs)} test inputs, max |Δ| against the checkpoint "
              f"{np.abs(np.load(out) - expected).max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nnrecipes-own-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        tables(args.data_dir.resolve(), work)
        cal = work / "cal_csv"
        import pandas as pd

        from nnrecipes.data.encoding import TableEncoding
        from nnrecipes.records.checkpoint import load_checkpoint

        encoding = TableEncoding.from_dict(load_checkpoint(cal, "best.pt")["encoding"])
        exports(cal, work, "california", encoding.transform(pd.read_csv(work / "cal.csv"), "cal"))
        images(args.data_dir.resolve(), work, args.images)


if __name__ == "__main__":
    main()
