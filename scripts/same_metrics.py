"""Identical runs give identical metrics: four runs' summaries, to compare across a refactor.

    python scripts/same_metrics.py --out before.json      # on the old code
    python scripts/same_metrics.py --out after.json --compare before.json

The four runs (seed 0, offline data sets): a plain run (the README's first command), a 5-fold
cross-validation, a fine-tuning run with freezing (from the plain run's checkpoint) and an EMA +
accumulate run. Each one's test and validation metrics, best epoch and epochs are kept; with
``--compare`` every figure must be equal to the last digit, and the script exits 1 if not.
Runs one after another, each as ``nnrun`` in a subprocess, in a scratch folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

RUNS = {
    "plain": [],
    "five_folds": ["dataset=wine", "trainer.folds=5", "trainer.epochs=8"],
    "fine_tuning_frozen": ["model.init={plain}", "model.freeze=backbone",
                           "trainer.unfreeze_epoch=3", "optimizer.backbone_lr_scale=0.1",
                           "trainer.epochs=8"],
    "ema_accumulate": ["dataset=breast_cancer", "trainer.ema=0.99", "trainer.accumulate=3",
                       "trainer.epochs=10"],
}
KEPT = ("test", "val", "best_epoch", "epochs_run", "best_val", "cv", "threshold")


def run_all(scratch: Path) -> Dict[str, Any]:
    figures = {}
    for name, overrides in RUNS.items():
        folder = scratch / name
        typed = [item.format(plain=scratch / "plain") for item in overrides]
        command = ["nnrun", *typed, f"hydra.run.dir={folder}", "trainer.progress=false"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{name}: exit {done.returncode}\n{done.stderr[-2000:]}")
        summary = json.loads((folder / "summary.json").read_text())
        figures[name] = {key: summary[key] for key in KEPT if key in summary}
        print(f"{name}: test {summary['test']}")
    return figures


def differences(before: Dict[str, Any], after: Dict[str, Any], where: str = "") -> List[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        return [line for key in sorted(set(before) | set(after))
                for line in differences(before.get(key), after.get(key), f"{where}.{key}")]
    return [] if before == after else [f"{where}: {before} -> {after}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        figures = run_all(Path(scratch))
    args.out.write_text(json.dumps(figures, indent=1, sort_keys=True))
    if args.compare:
        changed = differences(json.loads(args.compare.read_text()), figures)
        print("\n".join(changed) or f"identical: every figure of {len(figures)} runs")
        sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()
