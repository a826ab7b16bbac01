"""A single-node SLURM cluster in a folder, from Debian's packages (slurm-wlm, munge), for the
tests and the scaling benchmark: ``python scripts/local_slurm.py start DIR`` prints the
SLURM_CONF to export; ``python scripts/local_slurm.py stop DIR`` stops it.

The node is this machine (``NodeName=localhost``, every core), one partition ``debug``, no
accounting (``accounting_storage/none``: submitit's ``sacct`` calls fail, which nnrun quiets),
process tracking without cgroups (``proctrack/linuxproc``, ``task/none``), so it runs in a
container as root. The cluster's state, logs and spool stay in DIR; nothing is written to
/etc. Needs root (slurmd runs jobs as their users) and munge's key (/etc/munge/munge.key,
made by the munge package); munged is started if it is not running, and stopped with the rest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

NEEDS = ("slurmctld", "slurmd", "sbatch", "munged")
MUNGE_PID = Path("/run/munge/munged.pid")


def missing() -> str:
    """Why a cluster cannot start here, or "" when it can."""
    if os.geteuid() != 0:
        return "a SLURM node needs root (slurmd starts jobs as their users)"
    absent = [name for name in NEEDS if not shutil.which(name, path=_path())]
    if absent:
        return (f"{', '.join(absent)} not installed (apt-get install slurm-wlm munge; "
                ".ci/run does it)")
    if not Path("/etc/munge/munge.key").exists():
        return "/etc/munge/munge.key is missing (the munge package makes it)"
    return ""


def _path() -> str:
    return os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def environment(conf: Path) -> dict:
    """This process's environment with the cluster's SLURM_CONF, and the daemons' folders on
    PATH: what SLURM's commands (sbatch, squeue, scontrol) and nnrun's jobs need."""
    return {**os.environ, "SLURM_CONF": str(conf), "PATH": _path()}


def _config(folder: Path, cpus: int, memory_mb: int) -> str:
    return f"""\
ClusterName=nnrecipes
SlurmctldHost=localhost
AuthType=auth/munge
# A requeued job starts again once its credentials expire: 120 s by default, 10 s here.
AuthInfo=cred_expire=10
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=1
MaxArraySize=1001
MaxJobCount=10000
MinJobAge=300
KillWait=5
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def _start_munge(folder: Path) -> None:
    """munged, unless it runs already; one started here has its pid in ``folder``, so stop()
    stops it too (a system's own munged is left alone)."""
    if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
    for _ in range(50):  # the daemon writes its pid file as it detaches
        if MUNGE_PID.is_file() and MUNGE_PID.read_text().strip():
            (folder / "munged.pid").write_text(MUNGE_PID.read_text())
            return
        time.sleep(0.1)


def start(folder: Path) -> Path:
    """Start the cluster; its config file, for SLURM_CONF."""
    why = missing()
    if why:
        raise RuntimeError(why)
    stop(folder)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 - 1024
    conf = folder / "slurm.conf"
    conf.write_text(_config(folder.resolve(), os.cpu_count() or 1, memory_mb))
    _start_munge(folder)
    env = environment(conf)
    subprocess.run(["slurmctld", "-c", "-f", str(conf)], check=True, env=env)  # -c: fresh state
    subprocess.run(["slurmd", "-f", str(conf)], check=True, env=env)
    _wait_for_idle_node(env)
    return conf


def _wait_for_idle_node(env: dict, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    state = ""
    while time.monotonic() < deadline:
        done = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                              env=env)
        state = done.stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError(f"the SLURM node did not become idle in {seconds:.0f} s (state "
                       f"{state!r}); see the logs in {Path(env['SLURM_CONF']).parent}")


def stop(folder: Path) -> None:
    """Stop the daemons started in ``folder`` (their jobs end with slurmd), munged last."""
    for name in ("slurmd", "slurmctld", "munged"):
        pid_file = folder / f"{name}.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue
        for _ in range(100):  # it goes within a second or two
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.action == "stop":
        return stop(args.folder)
    try:
        print(f"export SLURM_CONF={start(args.folder)}")
    except (RuntimeError, subprocess.CalledProcessError) as error:
        sys.exit(f"local_slurm: {error}")


if __name__ == "__main__":
    main()
