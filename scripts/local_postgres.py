"""A PostgreSQL server in a folder, for the tests and the scaling benchmark: ``python
scripts/local_postgres.py start DIR`` prints the URL of a database ``studies`` on it;
``python scripts/local_postgres.py stop DIR`` stops it.

A Unix socket in DIR only (no network), trust authentication, user ``nnrun``. As root, the
server runs as the ``postgres`` user (PostgreSQL refuses root), so DIR must be one that user can
reach (not root's private /tmp of a sandbox: a fresh folder from tempfile.mkdtemp is fine).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

PORT = 5439


def server_bin() -> Optional[Path]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or \
        [path for path in [shutil.which("initdb")] if path]
    return Path(found[-1]).parent if found else None


def missing() -> str:
    """Why a server cannot start here, or "" when it can."""
    if server_bin() is None:
        return "PostgreSQL's server is not installed (apt-get install postgresql; .ci/run does it)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return ""


def _as_postgres(*command: str) -> None:
    """A PostgreSQL program, as the postgres user when this is root."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, text=True)


def start(folder: Path) -> str:
    """Start the server; the URL of its ``studies`` database."""
    why = missing()
    if why:
        raise RuntimeError(why)
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    bin_dir, data = server_bin(), folder / "data"
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "nnrun")
    _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"),
                 "-o", f"-k {folder} -c listen_addresses='' -p {PORT}", "start")
    _as_postgres(str(bin_dir / "createdb"), "-h", str(folder), "-p", str(PORT), "-U", "nnrun",
                 "studies")
    return f"postgresql://nnrun@/studies?host={folder}&port={PORT}"


def stop(folder: Path) -> None:
    if (folder / "data" / "postmaster.pid").exists():
        _as_postgres(str(server_bin() / "pg_ctl"), "-D", str(folder / "data"), "-m",
                     "immediate", "stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    try:
        if args.action == "stop":
            return stop(args.folder)
        print(start(args.folder))
    except (RuntimeError, subprocess.CalledProcessError) as error:
        sys.exit(f"local_postgres: {getattr(error, 'stderr', None) or error}")


if __name__ == "__main__":
    main()
