"""What a sweep found: one row per job ranked by its validation metric, seeds grouped, failures
listed with the command that reruns each. Reads the job folders only; knows nothing of Hydra's
runtime, so a finished sweep can be summarised again at any time.
"""

from __future__ import annotations

import csv
import io
import math
import shlex
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nnrecipes.core.console import metric_text, wide_console
from nnrecipes.core.run_status import RunStatus
from nnrecipes.core.task import Task, headline_metric, minimised
from nnrecipes.records.checkpoint import write_atomically
from nnrecipes.records.summary import has_summary, read_summary, status_of


def job_dirs(sweep_dir: Path) -> List[Path]:
    found = [path for path in sweep_dir.iterdir()
             if (path / ".hydra").is_dir() or has_summary(path)]
    return sorted(found, key=lambda path: (not path.name.isdigit(), int(path.name)
                                           if path.name.isdigit() else 0, path.name))


def _read_yaml(path: Path) -> Any:
    # libyaml's loader where PyYAML has it: a sweep reads every job's config, and the pure
    # Python one takes about 30 ms a file.
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def job_overrides(job_dir: Path) -> List[str]:
    """What the job ran, less the switch that resumed its sweep."""
    path = job_dir / ".hydra" / "overrides.yaml"
    items = [str(item) for item in _read_yaml(path) or []] \
        if path.is_file() else []
    return [item for item in items if not item.startswith("sweep.resume=")]


def job_row(job_dir: Path) -> Dict[str, Any]:
    summary = read_summary(job_dir)
    test = summary.get("test", {})
    main_metric = main_test_metric(summary)
    return {
        "job": job_dir.name,
        "overrides": " ".join(job_overrides(job_dir)),
        "status": status_of(job_dir),
        "monitor": summary.get("monitor"),
        "val": summary.get("best_val"),
        "val_loss": summary.get("best_val_loss"),
        "test_metric": main_metric,
        "test": test.get(main_metric) if main_metric else None,
        "test_loss": test.get("loss"),
        "best_epoch": summary.get("best_epoch"),
        "seconds": summary.get("wall_seconds"),
        "error": summary.get("error", ""),
        # runs that train no model to rank (a learning-rate range test) say what they were
        "kind": summary.get("kind", ""),
        "suggested_lr": summary.get("suggested_lr"),
        "run_dir": str(job_dir),
    }


def main_test_metric(summary: Dict[str, Any]) -> Optional[str]:
    """The headline test metric of a run's task (tasks.METRICS), if the run was tested."""
    return (headline_metric(Task(summary["task"])) if "task" in summary and "test" in summary
            else None)


def _monitor_of(rows: List[Dict[str, Any]]) -> str:
    """The validation metric the jobs were ranked by (val_loss if none says)."""
    return next((row["monitor"] for row in rows if row["monitor"]), "val_loss")


def rank(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Completed jobs best first by their validation metric; the rest after, in job order."""
    done = [row for row in rows if row["status"] == RunStatus.completed and _number(row["val"])]
    rest = [row for row in rows if row not in done]
    if done:
        sign = 1 if minimised(_monitor_of(done)) else -1
        # Level on the metric (small validation sets saturate accuracy): lower loss ranks first.
        done.sort(key=lambda row: (sign * row["val"], row["val_loss"] or 0.0))
    return done + rest


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def _setting(overrides: str) -> str:
    return " ".join(item for item in overrides.split() if not item.startswith("seed="))


def seed_groups(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Mean and standard deviation over jobs that differ only in ``seed``."""
    if not any(item.startswith("seed=") for row in rows for item in row["overrides"].split()):
        return []
    groups: Dict[str, List[Dict[str, Any]]] = {}
    varying = _varying(rows)
    for row in rows:
        if row["status"] == RunStatus.completed:
            groups.setdefault(_setting(varying[row["job"]]), []).append(row)
    result = []
    for setting, members in groups.items():
        vals = [row["val"] for row in members]
        tests = [row["test"] for row in members if _number(row["test"])]
        result.append({"setting": setting or "(shared only)", "runs": len(members),
                       "val_mean": statistics.fmean(vals), "val_std": _std(vals),
                       "test_mean": statistics.fmean(tests) if tests else None,
                       "test_std": _std(tests) if tests else None})
    return rank_groups(result, rows)


def _std(values: List[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def rank_groups(groups: List[Dict[str, Any]], rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    lower_is_better = minimised(_monitor_of(rows))
    return sorted(groups, key=lambda group: group["val_mean"], reverse=not lower_is_better)


def _csv_text(rows: List[Dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def rerun_script(failed: List[Dict[str, Any]]) -> str:
    lines = ["#!/bin/sh", "# Each line reruns one job of this sweep that did not complete."]
    for row in failed:
        reason = row["error"].splitlines()[0] if row["error"] else row["status"]
        lines.append(f"# job {row['job']}: {reason}")
        lines.append(shlex.join(["nnrun", *shlex.split(row["overrides"])]))
    return "\n".join(lines) + "\n"


def summarize_sweep(sweep_dir: Path,
                    console: Optional[Console] = None) -> List[Dict[str, Any]]:
    """Write sweep_summary.csv (and seed groups, rerun commands); print the ranked table.

    Returns every job's row, best first.
    """
    sweep_dir = Path(sweep_dir)
    rows = rank([job_row(job) for job in job_dirs(sweep_dir)])
    if not rows:
        return []
    write_atomically(sweep_dir / "sweep_summary.csv", _csv_text(rows))
    groups = seed_groups(rows)
    if groups:
        write_atomically(sweep_dir / "sweep_groups.csv", _csv_text(groups))
    failed = unfinished(rows)
    rerun = sweep_dir / "rerun_failed.sh"
    if failed:
        write_atomically(rerun, rerun_script(failed).encode())
    elif rerun.exists():
        rerun.unlink()
    console = console or wide_console(160)
    print_summary(sweep_dir, rows, groups, failed, console, jobs_asked(sweep_dir))
    write_sweep_plots(sweep_dir, rows)
    return rows


def _lr_batch_points(rows: List[Dict[str, Any]]) -> List[Dict[str, float]]:
    """Learning rate, batch size and validation score of each completed job, from its config."""
    points = []
    for row in rows:
        config = Path(row["run_dir"]) / ".hydra" / "config.yaml"
        if row["status"] == RunStatus.completed and _number(row["val"]) and config.is_file():
            composed = _read_yaml(config)
            points.append({"lr": float(composed["optimizer"]["lr"]),
                           "batch_size": int(composed["dataset"]["batch_size"]),
                           "value": row["val"]})
    return points


def write_sweep_plots(sweep_dir: Path, rows: List[Dict[str, Any]]) -> List[Path]:
    """sweep_lr.png and sweep_heatmap.png when the sweep varied the learning rate."""
    points = _lr_batch_points(rows)
    if len({point["lr"] for point in points}) < 2:
        return []
    from nnrecipes.records import plots

    return plots.sweep_lr_batch(points, _monitor_of(rows), Path(sweep_dir))


def jobs_asked(sweep_dir: Path) -> Optional[int]:
    """How many jobs the sweep's command line asks for (the product of its swept values'
    counts), from its multirun.yaml; None where that cannot be told (a search)."""
    record = Path(sweep_dir) / "multirun.yaml"
    if not record.is_file():
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        task = _read_yaml(record)["hydra"]["overrides"]["task"]
        parsed = OverridesParser.create().parse_overrides([str(item) for item in task])
        return math.prod(len(list(item.sweep_string_iterator())) for item in parsed
                         if item.is_sweep_override())
    except Exception:  # noqa: BLE001 - a record from another Hydra, or edited by hand
        return None


def unfinished(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [row for row in rows if not RunStatus(row["status"]).finished]


def _fmt(value: Any) -> str:
    return metric_text(value) if _number(value) else "-"


def _varying(rows: List[Dict[str, Any]]) -> Dict[str, str]:
    """Each job's overrides less those that every job shares, and the shared ones."""
    lists = {row["job"]: row["overrides"].split() for row in rows}
    shared = set.intersection(*(set(items) for items in lists.values())) if len(rows) > 1 else set()
    varying = {job: " ".join(item for item in items if item not in shared) or "(shared only)"
               for job, items in lists.items()}
    return {**varying, "": " ".join(item for item in next(iter(lists.values())) if item in shared)}


def tied(rows: List[Dict[str, Any]]) -> int:
    """How many ranked jobs share the winner's value of the monitored metric (1: none tie);
    rank() orders them by validation loss."""
    ranked = [row for row in rows if row["status"] == RunStatus.completed and _number(row["val"])]
    return sum(row["val"] == ranked[0]["val"] for row in ranked) if ranked else 0


def _range_tests(rows: List[Dict[str, Any]], varying: Dict[str, str], console: Console) -> None:
    """A sweep of learning-rate range tests: each job's suggestion; there is nothing to rank."""
    table = Table(title="learning-rate range tests (mode=lr_find): nothing to rank; each job's "
                        "suggestion", header_style="bold")
    for column in ("job", "overrides", "status", "suggested optimizer.lr"):
        table.add_column(column, justify="right" if column == "job" else "left")
    for row in rows:
        suggested = row["suggested_lr"]
        table.add_row(row["job"], varying[row["job"]], row["status"],
                      f"{suggested:.3g}" if _number(suggested) else "none")
    console.print(table)


def print_summary(sweep_dir: Path, rows: List[Dict[str, Any]], groups: List[Dict[str, Any]],
                  failed: List[Dict[str, Any]], console: Console,
                  asked: Optional[int] = None) -> None:
    monitor = _monitor_of(rows)
    test_metric = next((row["test_metric"] for row in rows if row["test_metric"]), None)
    varying = _varying(rows)
    # Overrides and errors are the user's text: [a,b] in them is not Rich markup.
    varying = {job: escape(text) for job, text in varying.items()}
    if all(row["val"] is None for row in rows) and any(row["kind"] for row in rows):
        _range_tests(rows, varying, console)
        _print_unfinished(sweep_dir, rows, failed, console, asked)
        return
    ties = tied(rows)
    by_loss = ties > 1 and not minimised(monitor)
    title = f"sweep {sweep_dir}, ranked by {monitor}" + \
        (", then val_loss" if by_loss else "") + \
        (f"\nall jobs: {varying['']}" if varying[""] else "")
    table = Table(title=title, header_style="bold")
    for column in ("#", "job", "overrides", "status", monitor, *(["val_loss"] * by_loss),
                   f"test {test_metric}" if test_metric else "test",
                   "best epoch", "seconds"):
        table.add_column(column, justify="left" if column in ("overrides", "status") else "right",
                         overflow="fold")
    for place, row in enumerate(rows, start=1):
        winner = place == 1 and row["status"] == RunStatus.completed and _number(row["val"])
        table.add_row("★" if winner else str(place), row["job"], varying[row["job"]], row["status"],
                      _fmt(row["val"]), *([_fmt(row["val_loss"])] * by_loss), _fmt(row["test"]),
                      str(row["best_epoch"] or "-"), _fmt(row["seconds"]),
                      style="bold green" if winner else None)
    console.print(table)
    if groups:
        grouped = Table(title="over seeds (mean ± std)", header_style="bold")
        for column in ("setting", "runs", monitor,
                       f"test {test_metric}" if test_metric else "test"):
            grouped.add_column(column, justify="left" if column == "setting" else "right")
        for group in groups:
            test = "-" if group["test_mean"] is None else \
                f"{metric_text(group['test_mean'])} ± {metric_text(group['test_std'])}"
            val = f"{metric_text(group['val_mean'])} ± {metric_text(group['val_std'])}"
            grouped.add_row(escape(group["setting"]), str(group["runs"]), val, test)
        console.print(grouped)
    if rows[0]["status"] == RunStatus.completed and _number(rows[0]["val"]):
        console.print(f"best: job {rows[0]['job']}  {escape(rows[0]['overrides'])}  "
                      f"({monitor} {_fmt(rows[0]['val'])}"
                      + (f", val_loss {_fmt(rows[0]['val_loss'])})" if by_loss else ")"))
        if by_loss:
            console.print(f"{ties} jobs tie on {monitor} {_fmt(rows[0]['val'])}: among them the "
                          f"lowest validation loss ranks first (a larger validation split tells "
                          f"them apart better)")
    _print_unfinished(sweep_dir, rows, failed, console, asked)


def _print_unfinished(sweep_dir: Path, rows: List[Dict[str, Any]], failed: List[Dict[str, Any]],
                      console: Console, asked: Optional[int]) -> None:
    if asked is not None and asked > len(rows):
        console.print(f"[bold red]{asked - len(rows)} of the {asked} jobs asked for did not "
                      f"start[/]; the same command with sweep.resume=true runs them (and goes "
                      f"on with the interrupted ones)")
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(rows)} jobs did not complete[/]; "
                      f"rerun commands in {sweep_dir / 'rerun_failed.sh'}")
        for row in failed:
            console.print(f"  job {row['job']} ({escape(row['overrides'])}): "
                          f"{escape(row['error'] or row['status'])}")
