"""A 9-job lr x batch-size sweep logged to TensorBoard and MLflow, then each tool's own server
started on 127.0.0.1 and asked once what it holds.

    python scripts/trackers.py [--keep DIR] [--epochs 3]

Prints what came back from TensorBoard's scalars and HParams endpoints and from the MLflow
server's REST API (the one its UI reads). Needs nnrecipes[tensorboard,mlflow].
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional

BIN = Path(sys.executable).parent
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, body: Optional[dict] = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        text = answer.read().decode()
    return json.loads(text) if text.lstrip()[:1] in "[{" else text


@contextmanager
def server(command: List[str], probe: str, log: Path) -> Iterator[str]:
    """Start a server, wait until ``probe`` answers (up to 3 minutes), stop it afterwards."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                fetch(probe)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{command[0]} did not start; see {log}")
                time.sleep(0.5)
        yield probe
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_sweep(folder: Path, epochs: int) -> Path:
    sweep = folder / "sweep"
    command = [str(BIN / "nnrun"), "-m", "dataset=iris", f"trainer.epochs={epochs}",
               "trainer.progress=false", "optimizer.lr=0.1,0.01,0.001",
               "dataset.batch_size=16,32,64", "logger=[tensorboard,mlflow]",
               f"logger.mlflow.tracking_uri=sqlite:///{folder / 'mlflow.db'}",
               f"hydra.sweep.dir={sweep}"]
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, stdout=subprocess.DEVNULL)
    print(f"sweep: 9 jobs in {time.perf_counter() - started:.1f} s -> {sweep}")
    return sweep


def ask_tensorboard(sweep: Path, folder: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    port = base.rsplit(":", 1)[1]
    command = [str(BIN / "tensorboard"), "--logdir", str(sweep), "--host", "127.0.0.1",
               "--port", port]
    with server(command, f"{base}/data/runs", folder / "tensorboard.log"):
        time.sleep(3)  # TensorBoard loads event files in the background after it answers
        tags = fetch(f"{base}/data/plugin/scalars/tags")
        print(f"tensorboard {base}: GET /data/plugin/scalars/tags -> {len(tags)} runs "
              f"({', '.join(sorted(tags))}), tags of run 0: {', '.join(sorted(tags['0']))}")
        query = urllib.parse.urlencode({"run": "0", "tag": "val_accuracy"})
        points = fetch(f"{base}/data/plugin/scalars/scalars?{query}")
        print(f"  GET /data/plugin/scalars/scalars?{query} -> [wall_time, step, value]: "
              f"{[[round(p[0]), p[1], round(p[2], 4)] for p in points]}")
        experiment = fetch(f"{base}/data/plugin/hparams/experiment", {})
        names = [info["name"] for info in experiment.get("hparamInfos", [])]
        metrics = [info["name"]["tag"] for info in experiment.get("metricInfos", [])]
        print(f"  POST /data/plugin/hparams/experiment -> {len(names)} hparams "
              f"(optimizer.lr: {'optimizer.lr' in names}, dataset.batch_size: "
              f"{'dataset.batch_size' in names}), metrics {metrics}")
        groups = fetch(f"{base}/data/plugin/hparams/session_groups", {
            "startIndex": 0, "sliceSize": 100, "allowedStatuses": STATUSES,
            "colParams": [{"hparam": "optimizer.lr"}, {"hparam": "dataset.batch_size"},
                          {"metric": {"tag": "best_val_accuracy"}}]})
        print(f"  POST /data/plugin/hparams/session_groups -> {groups.get('totalSize')} "
              f"session groups:")
        for group in groups.get("sessionGroups", []):
            values = group["hparams"]
            best = [m["value"] for m in group.get("metricValues", [])
                    if m["name"]["tag"] == "best_val_accuracy"]
            print(f"    {group['name']:>3}: lr {values.get('optimizer.lr')}, batch "
                  f"{values.get('dataset.batch_size')}, best_val_accuracy {best}")


def ask_mlflow(folder: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    port = base.rsplit(":", 1)[1]
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri",
               f"sqlite:///{folder / 'mlflow.db'}", "--host", "127.0.0.1", "--port", port,
               "--workers", "1"]
    with server(command, f"{base}/health", folder / "mlflow.log"):
        page = fetch(f"{base}/")
        print(f"mlflow server {base}: GET / -> the UI page ({len(page)} characters, "
              f"title {'MLflow' in page})")
        experiments = fetch(f"{base}/api/2.0/mlflow/experiments/search",
                            {"max_results": 10})["experiments"]
        chosen = next(item for item in experiments if item["name"] == "nnrecipes")
        runs = fetch(f"{base}/api/2.0/mlflow/runs/search",
                     {"experiment_ids": [chosen["experiment_id"]], "max_results": 100})["runs"]
        tags = [{tag["key"]: tag["value"] for tag in run["data"].get("tags", [])} for run in runs]
        parents = [run for run, tag in zip(runs, tags) if "mlflow.parentRunId" not in tag]
        print(f"  POST /api/2.0/mlflow/runs/search -> {len(runs)} runs: {len(parents)} parent "
              f"({parents[0]['info']['run_name']}, {parents[0]['info']['status']}), "
              f"{len(runs) - len(parents)} children")
        child = next(run for run, tag in zip(runs, tags) if "mlflow.parentRunId" in tag)
        params = {p["key"]: p["value"] for p in child["data"]["params"]}
        history = fetch(f"{base}/api/2.0/mlflow/metrics/get-history?" + urllib.parse.urlencode(
            {"run_id": child["info"]["run_id"], "metric_key": "val_accuracy"}))["metrics"]
        artifacts = fetch(f"{base}/api/2.0/mlflow/artifacts/list?" + urllib.parse.urlencode(
            {"run_id": child["info"]["run_id"]}))["files"]
        print(f"  child {child['info']['run_name']}: {len(params)} params (optimizer.lr "
              f"{params['optimizer.lr']}, dataset.batch_size {params['dataset.batch_size']}), "
              f"val_accuracy steps {[m['step'] for m in history]}, artifacts "
              f"{sorted(item['path'] for item in artifacts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nnrun-trackers-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        sweep = run_sweep(folder.resolve(), args.epochs)
        ask_tensorboard(sweep, folder)
        ask_mlflow(folder.resolve())
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
