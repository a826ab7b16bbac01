#!/usr/bin/env python3
"""Run every bad input of tests/bad_inputs.py with the installed ``nnrun``; write docs/errors.md.

Usage: python scripts/error_table.py [--out docs/errors.md] [--full-dir DIR] [--read-only-dir DIR]

--full-dir and --read-only-dir name a folder on a full, or a read-only, file system (for example
a small tmpfs: ``mount -t tmpfs -o size=256k tmpfs DIR``, ``mount -t tmpfs -o ro tmpfs DIR``);
without them those two rows are left out.

A whole run takes about 40 minutes on 2 cores. ``--update`` runs only the cases the table lacks,
and those named with ``--case WHAT`` (repeatable), keeping every other row as it is.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bad_inputs import (CASES, QUICK, USER_CODE, BadInput, error_lines,  # noqa: E402
                        prepare_fixtures)


def nnrun(*args: str, cwd: Path, user_code: Optional[Path] = None) -> Tuple[int, str]:
    """``nnrun ARGS`` in ``cwd``; ``user_code`` is a folder of users' own modules to find."""
    command = shutil.which("nnrun") or str(Path(sys.executable).parent / "nnrun")
    environment = dict(os.environ, COLUMNS="400")  # a message is one line, however long
    # the cases' decoded images go with their scratch folder, not into the user's cache
    environment.setdefault("NNRECIPES_CACHE_DIR", str(cwd / "image-cache"))
    if user_code is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(user_code), environment.get("PYTHONPATH")]))
    done = subprocess.run([command, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=environment)
    return done.returncode, done.stdout + done.stderr


def message(output: str) -> str:
    """The error line(s) of nnrun's output, as a user sees them."""
    lines = error_lines(output.strip()) or output.strip().splitlines()[-1:]
    return " ".join(line.strip() for line in lines)


def extra_cases(full_dir: Optional[str], read_only_dir: Optional[str]) -> List[BadInput]:
    cases = []
    if full_dir:
        cases.append(BadInput("full disk", ("dataset=digits", "model=cnn",
                                            f"hydra.run.dir={full_dir}/run"), 2, "No space"))
    if read_only_dir:
        cases.append(BadInput("read-only output folder", (f"hydra.run.dir={read_only_dir}/run",),
                              2, "Read-only file system"))
    return cases


def row(case: BadInput, command: List[str], code: int, said: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    shown = " ".join(arg for arg in command if arg not in QUICK)
    return f"| {case.what} | `nnrun {cell(shown)}` | {code} | {cell(said)} |"


def table(rows: List[str]) -> str:
    return "\n".join(["| bad input | command | exit | message |", "|---|---|---|---|", *rows])


def kept_rows(path: Path, rerun: Sequence[str]) -> Dict[str, str]:
    """The table's rows by their bad input, but those to run again."""
    rows = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        what = line.split(" | ")[0].removeprefix("| ")
        if line.startswith("| ") and " | " in line and what not in rerun:
            rows[what] = line
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/errors.md")
    parser.add_argument("--full-dir")
    parser.add_argument("--read-only-dir")
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--case", action="append", default=[])
    args = parser.parse_args(argv)
    kept = kept_rows(Path(args.out), args.case) if args.update else {}
    rows, wrong = [], 0
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "root"
        root.mkdir()
        prepare_fixtures(root, lambda *extra: nnrun(*extra, "trainer.progress=false", cwd=root))
        if args.full_dir:  # what the full-disk case left last time would make it another case
            shutil.rmtree(Path(args.full_dir) / "run", ignore_errors=True)
        for case in [*CASES, *extra_cases(args.full_dir, args.read_only_dir)]:
            if case.what in kept:
                rows.append(kept[case.what])
                continue
            command = case.command(Path("{root}"))
            code, output = nnrun(*case.command(root), cwd=Path(scratch),
                                 user_code=root / USER_CODE)
            said = message(output.replace(str(root), "{root}"))
            ok = (code == case.exit_code and case.says_in(output, root)
                  and "Traceback" not in output)
            wrong += not ok
            print(f"{'ok ' if ok else 'BAD'} {code} {case.what}: {said}")
            rows.append(row(case, command, code, said))
    ran = {case.what for case in CASES}
    rows += [line for what, line in kept.items() if what not in ran and line not in rows]
    header = (f"# What nnrun says to bad input\n\nGenerated by `python scripts/error_table.py` on "
              f"{datetime.date.today()} ({platform.node() or 'this machine'}, Python "
              f"{platform.python_version()}): each row ran the installed `nnrun` with the "
              f"command shown (plus `{' '.join(QUICK)}`). `{{root}}` is a scratch folder holding "
              f"broken data and checkpoints. Exit code 2: something to fix in the command, the "
              f"data or the folders; 1: a bug in nnrecipes (the message says so); 128+N: stopped "
              f"by signal N. `nnrun --debug ...` shows the Python traceback of any of them.\n\n")
    mounts = [f"`{folder}`" for folder in (args.full_dir, args.read_only_dir) if folder]
    if mounts:
        header += (f"The full-disk and read-only rows wrote into {' and '.join(mounts)}, real "
                   f"file systems of those kinds (see the script's docstring).\n\n")
    if not mounts and "full disk" in kept:  # the rows kept say where they wrote
        header += next(line for line in Path(args.out).read_text().splitlines()
                       if line.startswith("The full-disk")) + "\n\n"
    Path(args.out).write_text(header + table(rows) + "\n")
    print(f"{len(rows)} cases ({len(rows) - len(kept)} run), {wrong} not as expected; table in "
          f"{args.out}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
