"""torchrun across two hosts: two network namespaces joined by a veth pair, each with a host name
of its own (unshare --uts) and its own /etc/hosts (a bind mount), running the 2-node command of
docs/scale-out.md. It trains the same model as one process; where a host's name means a
loopback address (Debian's 127.0.1.1 line) nnrun says so at once, and with --local-addr, as the
docs say, it trains, gloo pointed at the right interface by nnrun."""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import torch
from test_distributed import OVERRIDES, weights

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scale-out.md"
ADDRESSES = {"nodea": "10.231.7.1", "nodeb": "10.231.7.2"}


def _cannot() -> str:
    if os.geteuid() != 0:
        return "network namespaces need root"
    missing = [tool for tool in ("ip", "unshare", "mount")
               if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")]
    return f"{', '.join(missing)} not installed (iproute2, util-linux)" if missing else ""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def namespaces() -> Iterator[Dict[str, str]]:
    """Host name -> its network namespace, the two joined by a veth pair."""
    why = _cannot()
    if why:
        pytest.skip(why)
    spaces = {host: f"nnr{os.getpid()}{host[-1]}" for host in ADDRESSES}
    try:
        for space in spaces.values():
            _ip("netns", "add", space)
        ends = {host: f"veth{os.getpid() % 10000}{host[-1]}" for host in ADDRESSES}
        _ip("link", "add", ends["nodea"], "type", "veth", "peer", "name", ends["nodeb"])
        for host, space in spaces.items():
            _ip("link", "set", ends[host], "netns", space)
            _ip("-n", space, "addr", "add", f"{ADDRESSES[host]}/24", "dev", ends[host])
            _ip("-n", space, "link", "set", ends[host], "up")
            _ip("-n", space, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as error:
        for space in spaces.values():
            subprocess.run(["ip", "netns", "del", space], capture_output=True)
        pytest.skip(f"network namespaces could not be made: {error.stderr.strip()}")
    yield spaces
    for space in spaces.values():  # their veth ends go with them
        subprocess.run(["ip", "netns", "del", space], capture_output=True)


def documented_command() -> List[str]:
    """docs/scale-out.md's 2-node torchrun command, its words as written."""
    text = DOCS.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("torchrun --nnodes=2"))
    return shlex.split(line.split("#")[0])


def _node_command(host: str, hosts_file: Path, *extra_flags: str) -> List[str]:
    """The documented command for ``host``: 1 process per node, a quick recipe, HOST=nodea."""
    words = []
    for word in documented_command():
        if word.startswith("--nproc_per_node="):
            word = "--nproc_per_node=1"
        word = word.replace("HOST:", "nodea:")
        if word == "torchrun":
            words += [sys.executable, "-m", "torch.distributed.run", *extra_flags]
        elif not word.startswith("+experiment="):
            words.append(word)
    become_host = f"mount --bind {hosts_file} /etc/hosts && hostname {host} && exec \"$@\""
    return ["ip", "netns", "exec", "SPACE", "unshare", "--uts", "--mount", "sh", "-c",
            become_host, "sh", *words, *OVERRIDES]


def _run_two_hosts(namespaces, tmp_path, hosts: Dict[str, str], flags: Dict[str, List[str]]):
    """Both nodes at once; their (return code, output), and rank 0's run folder."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    run_dir = tmp_path / "run"
    nodes = {}
    for host in ADDRESSES:
        hosts_file = tmp_path / f"hosts.{host}"
        hosts_file.write_text(hosts[host])
        command = _node_command(host, hosts_file, *flags.get(host, []))
        command[3] = namespaces[host]
        nodes[host] = subprocess.Popen([*command, f"hydra.run.dir={run_dir}"], text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    results = {host: node.communicate(timeout=240) for host, node in nodes.items()}
    return {host: (nodes[host].returncode, output) for host, (output, _) in results.items()}, \
        run_dir


def _as_on_a_cluster() -> Dict[str, str]:
    names = "".join(f"{address} {host}\n" for host, address in ADDRESSES.items())
    return {host: "127.0.0.1 localhost\n" + names for host in ADDRESSES}


def _loopback_own_name() -> Dict[str, str]:
    """Debian's /etc/hosts: a host's own name means 127.0.1.1; the other's comes from DNS."""
    return {host: f"127.0.0.1 localhost\n127.0.1.1 {host}\n"
                  f"{ADDRESSES[other]} {other}\n"
            for host, other in (("nodea", "nodeb"), ("nodeb", "nodea"))}


def _scratch_folders() -> set:
    return set(glob.glob("/tmp/nnrun-rank*"))


def _assert_same_model_as_one_process(nnrun, results, run_dir) -> None:
    for host, (code, output) in results.items():
        assert code == 0, f"{host}:\n{output}"
    assert "x 2 processes" in results["nodea"][1] + results["nodeb"][1]
    single = nnrun(*OVERRIDES)
    one, two = weights(single.dir), weights(run_dir)
    largest = max((one[key].float() - two[key].float()).abs().max().item() for key in one)
    print(f"largest parameter difference, 2 nodes vs 1 process: {largest:.3g}")
    assert largest <= 1e-5


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_the_documented_command_trains_across_two_hosts(namespaces, tmp_path, nnrun):
    before = _scratch_folders()
    results, run_dir = _run_two_hosts(namespaces, tmp_path, _as_on_a_cluster(), {})
    _assert_same_model_as_one_process(nnrun, results, run_dir)
    assert _scratch_folders() == before  # rank 1's scratch folder went with it


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_a_host_name_that_means_loopback_is_named_then_local_addr_trains(namespaces, tmp_path,
                                                                          nnrun):
    results, _ = _run_two_hosts(namespaces, tmp_path / "as_written", _loopback_own_name(), {})
    code, output = results["nodea"]
    assert code != 0
    assert "rank-0 address nodea:" in output and "127.0.1.1 (loopback)" in output, output
    assert "--local-addr" in output and "Traceback" not in output.split("Root Cause")[-1]

    flags = {host: [f"--local-addr={address}"] for host, address in ADDRESSES.items()}
    results, run_dir = _run_two_hosts(namespaces, tmp_path / "local_addr", _loopback_own_name(),
                                      flags)
    _assert_same_model_as_one_process(nnrun, results, run_dir)
