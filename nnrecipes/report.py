"""``nnrun-report PATH...``: compare runs and sweeps.

Prints a table of the runs (the config values that differ between them, metrics, time), writes
their validation curves on shared axes, and with --markdown or --html a report with the pictures
(the HTML embeds them, so it is one self-contained file).
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nnrecipes.core.config import first_line
from nnrecipes.core.console import metric_text, wide_console
from nnrecipes.core.task import Task, headline_metric
from nnrecipes.records.summary import SUMMARY, has_summary, read_summary
from nnrecipes.records.sweep import job_dirs, main_test_metric

RUN_FIGURES = ("curves.png", "confusion_matrix.png", "predictions.png", "regression.png")


class ReportError(Exception):
    """A run folder or an output folder nnrun-report cannot use; the message names the file."""


def find_runs(paths: Sequence[Path]) -> List[Path]:
    """Run folders named directly, or the jobs of named sweep and search folders."""
    runs: List[Path] = []
    for path in map(Path, paths):
        folds = [fold.parent for fold in path.glob("fold_*/summary.json")]
        if has_summary(path) and folds:  # a cross-validation: its folds
            runs.extend(sorted(folds, key=lambda fold: int(fold.name[5:])))
        elif has_summary(path):
            runs.append(path)
        elif path.is_dir():
            runs.extend(job for job in job_dirs(path) if has_summary(job))
        else:
            raise ReportError(f"{path} is neither a run nor a sweep folder")
    return runs


def _flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: Dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def load_run(run_dir: Path) -> Dict[str, Any]:
    config_path, metrics_path = run_dir / ".hydra" / "config.yaml", run_dir / "metrics.csv"
    try:
        config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
        summary = read_summary(run_dir)
    except (ValueError, yaml.YAMLError) as error:  # JSONDecodeError is a ValueError
        broken = config_path if isinstance(error, yaml.YAMLError) else run_dir / SUMMARY
        raise ReportError(f"{broken} is corrupt ({first_line(error)}); "
                          f"leave that run out or rerun it") from None
    config = config if isinstance(config, dict) else {}
    return {"dir": run_dir, "config": _resolved(config, _flatten(config)),
            "summary": summary if isinstance(summary, dict) else {},
            "history": _history(metrics_path)}


def _resolved(config: Dict[str, Any], flat: Dict[str, Any]) -> Dict[str, Any]:
    """The values a run used where its config says ${dataset.epochs}: each interpolation
    resolved within the run's own config (one that cannot be, such as an environment variable
    unset here, is shown as written)."""
    from omegaconf import OmegaConf

    tree = OmegaConf.create(config)
    for key, value in flat.items():
        if isinstance(value, str) and "${" in value:
            try:
                flat[key] = OmegaConf.select(tree, key)
            except Exception:  # noqa: BLE001 - any resolver failure: keep the text
                pass
    return flat


def _history(metrics_path: Path) -> List[Dict[str, float]]:
    if not metrics_path.is_file():
        return []
    try:
        with open(metrics_path, newline="") as handle:
            return [{key: float(value) for key, value in row.items()}
                    for row in csv.DictReader(handle)]
    except (ValueError, TypeError, csv.Error) as error:  # a cell that is not a number, or none
        raise ReportError(f"{metrics_path} is corrupt ({first_line(error)}); leave that run "
                          f"out or rerun it") from None


def differences(runs: List[Dict[str, Any]]) -> List[str]:
    """Config keys whose values are not the same in every run."""
    keys = sorted({key for run in runs for key in run["config"]})
    return [key for key in keys if len({repr(run["config"].get(key)) for run in runs}) > 1
            and not key.endswith("data_dir")]


def _names(runs: List[Dict[str, Any]]) -> List[str]:
    return [f"{run['dir'].parent.name}/{run['dir'].name}" for run in runs]


def _labels(runs: List[Dict[str, Any]]) -> List[str]:
    """How the curves name each run: the settings it differs in (``lr=0.01 batch_size=64``),
    or its folder where they differ in nothing else."""
    keys = differences(runs)
    labels = [" ".join(f"{key.rsplit('.', 1)[-1]}={run['config'].get(key)}" for key in keys)
              for run in runs]
    unique = len(set(labels)) == len(labels) and all(labels)
    return labels if unique else _names(runs)


def _headline(runs: List[Dict[str, Any]]) -> Optional[str]:
    """The test metric every run is judged by, if they share one (runs of one task)."""
    metrics = {main_test_metric(run["summary"]) for run in runs} - {None}
    return metrics.pop() if len(metrics) == 1 else None


def rows_of(runs: List[Dict[str, Any]], keys: List[str]) -> List[Dict[str, str]]:
    """One row per run; runs of different tasks name each run's own test metric beside it."""
    shared, rows = _headline(runs), []
    for name, run in zip(_names(runs), runs):
        summary, test = run["summary"], run["summary"].get("test", {})
        metric = main_test_metric(summary)
        value = metric_text(test[metric]) if metric in test else "-"
        scores = ({f"test {shared}": value} if shared else
                  {"test metric": metric or "-", "test": value})
        monitored = summary.get("best_val")
        rows.append({"run": name, **{key: str(run["config"].get(key, "-")) for key in keys},
                     "status": summary.get("status", "-"),
                     # what a sweep ranked the runs by: the monitored metric's best epoch
                     "best val": f"{summary.get('monitor', '')} {metric_text(monitored)}"
                     if isinstance(monitored, (int, float)) else "-", **scores,
                     "test loss": metric_text(test["loss"]) if "loss" in test else "-",
                     "best epoch": str(summary.get("best_epoch", "-")),
                     "train s": str(summary.get("train_seconds", "-"))})
    return rows


def print_table(rows: List[Dict[str, str]], console: Console) -> None:
    table = Table(title=f"{len(rows)} runs", header_style="bold")
    for column in rows[0]:
        table.add_column(column, overflow="fold")  # a narrow terminal wraps, never cuts
    for row in rows:
        table.add_row(*(escape(value) for value in row.values()))  # config text, not markup
    console.print(table)


def _markdown_table(rows: List[Dict[str, str]]) -> str:
    header = "| " + " | ".join(rows[0]) + " |\n|" + " --- |" * len(rows[0]) + "\n"
    return header + "".join("| " + " | ".join(row.values()) + " |\n" for row in rows)


def write_markdown(rows, figures: List[Path], out: Path) -> Path:
    parts = ["# nnrecipes report\n", _markdown_table(rows)]
    parts += [f"\n![{figure.stem}]({figure.name})\n" for figure in figures]
    target = out / "report.md"
    target.write_text("\n".join(parts))
    return target


def write_html(rows, figures: List[Path], out: Path) -> Path:
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values())
                    + "</tr>" for row in rows)
    head = "".join(f"<th>{html.escape(column)}</th>" for column in rows[0])
    images = "".join(
        f"<h3>{html.escape(figure.stem)}</h3><img alt='{html.escape(figure.stem)}' "
        f"src='data:image/png;base64,{base64.b64encode(figure.read_bytes()).decode()}'>"
        for figure in figures)
    target = out / "report.html"
    target.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>nnrecipes report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}</style></head><body>"
        f"<h1>nnrecipes report</h1><table><tr>{head}</tr>{cells}</table>{images}</body></html>")
    return target


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nnrun-report", description=__doc__.split("\n\n")[1])
    parser.add_argument("paths", nargs="+", type=Path, help="run, sweep or search folders")
    parser.add_argument("--out", type=Path, default=Path("report"), help="where files go")
    parser.add_argument("--markdown", action="store_true", help="write report.md")
    parser.add_argument("--html", action="store_true", help="write a self-contained report.html")
    args = parser.parse_args(argv)
    try:
        return _report(args)
    except ReportError as error:
        message = str(error)
    except OSError as error:  # the output folder: unwritable, full, or under a file
        message = f"{error.filename or args.out}: {error.strerror or error}"
    print(f"nnrun-report: error: {message}", file=sys.stderr)
    return 2  # as nnrun: something to fix in the command, the files or the folders


def _report(args: argparse.Namespace) -> int:
    runs = [load_run(path) for path in find_runs(args.paths)]
    if not runs:
        raise ReportError("no finished runs found (no summary.json in the folders given)")
    rows = rows_of(runs, differences(runs))
    print_table(rows, wide_console(200))
    args.out.mkdir(parents=True, exist_ok=True)
    figures = _figures(runs, args.out)
    written = [*figures]
    if args.markdown:
        written.append(write_markdown(rows, figures, args.out))
    if args.html:
        written.append(write_html(rows, figures, args.out))
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def _figures(runs: List[Dict[str, Any]], out: Path) -> List[Path]:
    """The comparison curves, and each run's own figures copied beside them."""
    from nnrecipes.records import plots

    tasks = {Task(run["summary"]["task"]) for run in runs if "task" in run["summary"]}
    metric = headline_metric(tasks.pop()) if len(tasks) == 1 else None  # else the loss alone
    histories = {label: run["history"] for label, run in zip(_labels(runs), runs)
                 if run["history"]}
    figures = [plots.compare_curves(histories, metric, out / "compare_curves.png")]
    for name, run in zip(_names(runs), runs):
        for figure in RUN_FIGURES:
            if (run["dir"] / figure).is_file():
                target = out / f"{name.replace('/', '_')}_{figure}"
                shutil.copyfile(run["dir"] / figure, target)
                figures.append(target)
    return figures
