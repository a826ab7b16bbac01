"""How much memory this process may still take: the machine's available memory, and no more than
what its memory cgroup leaves (a container's or a SLURM job's limit, cgroup v1 or v2), so that a
run is refused in words before the kernel kills it. No torch here: the data layer asks too."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 writes this (or another page-rounded huge number) where no limit is set.
NO_LIMIT = 1 << 60


def available_memory() -> Optional[int]:
    """Bytes this process may still allocate, or None where nothing can be read (not Linux)."""
    known = [value for value in (_machine_available(), _cgroup_available()) if value is not None]
    return min(known) if known else None


def _machine_available() -> Optional[int]:
    """MemAvailable of /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> Optional[int]:
    """The limit of this process's memory cgroup less what the cgroup uses (its page cache that
    the kernel can drop is not counted as used)."""
    for folder, limit_file, usage_file, cache_key in _cgroup_folders():
        limit, usage = _number(folder / limit_file), _number(folder / usage_file)
        if limit is None or usage is None or limit >= NO_LIMIT:
            continue
        return max(0, limit - max(0, usage - _stat(folder / "memory.stat", cache_key)))
    return None


def _cgroup_folders():
    """(folder, limit file, usage file, memory.stat key of droppable cache) for this process's
    cgroup, v2 then v1, as /proc/self/cgroup names it, then the mount's root."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":
            for folder in (CGROUP_ROOT / relative, CGROUP_ROOT):
                yield folder, "memory.max", "memory.current", "inactive_file"
        elif "memory" in controllers.split(","):
            for folder in (CGROUP_ROOT / "memory" / relative, CGROUP_ROOT / "memory"):
                yield (folder, "memory.limit_in_bytes", "memory.usage_in_bytes",
                       "total_inactive_file")


def _number(path: Path) -> Optional[int]:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return NO_LIMIT
    return int(text) if text.isdigit() else None


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0
