"""How this process reaches the others of a multi-node torchrun job, checked and set before the
process group forms; no torch here.

torchrun tells each process where rank 0's node is (MASTER_ADDR: that node's host name, or its
``--local-addr``). gloo then listens on the address of this host's own name unless told an
interface (GLOO_SOCKET_IFNAME). Both go wrong where a host's name means a loopback address
(Debian's ``127.0.1.1 HOST`` line, a container's ``127.0.0.1 HOST``): other nodes cannot reach
it, and the job waits out its timeout. So, on a job of several nodes:

- a MASTER_ADDR that means a loopback address here is an error at once, naming it and the flag
  that fixes it;
- gloo listens on the interface that reaches MASTER_ADDR (on rank 0's node, the interface that
  holds it), unless GLOO_SOCKET_IFNAME was set. IPv4 on Linux; elsewhere gloo's own choice.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import struct
from typing import Optional

from nnrecipes.core.config import ConfigError

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def several_nodes() -> bool:
    """Whether this torchrun job spans more than one node."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world > int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))


def endpoint() -> str:
    return f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"


def _resolved(host: str) -> Optional[str]:
    try:
        return socket.gethostbyname(host)
    except OSError:
        return None


def prepare_to_reach_the_others() -> None:
    """On a multi-node job: refuse a rank-0 address that only this host can reach, and point
    gloo at the interface that reaches it."""
    host = os.environ.get("MASTER_ADDR")
    if not host or not several_nodes():
        return
    address = _resolved(host)
    if address is None:
        raise ConfigError(f"torchrun's rank-0 address {endpoint()}: {host!r} does not resolve "
                          "on this node; give torchrun --local-addr=ADDRESS on rank 0's node "
                          "(an address every node reaches)")
    if ipaddress.ip_address(address).is_loopback:
        raise ConfigError(f"torchrun's rank-0 address {endpoint()} means {address} (loopback) "
                          f"on this node ({socket.gethostname()}): other nodes cannot reach it; "
                          "start torchrun on every node with --local-addr=ADDRESS (that node's "
                          "address the others reach), as docs/scale-out.md shows")
    if "GLOO_SOCKET_IFNAME" not in os.environ:
        interface = _interface_towards(address)
        if interface:
            os.environ["GLOO_SOCKET_IFNAME"] = interface


def _interface_towards(address: str) -> Optional[str]:
    """The network interface whose address this host sends from to reach ``address``."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))  # UDP: picks the route, sends nothing
            source = probe.getsockname()[0]
    except OSError:
        return None
    return _interface_holding(source)


def _interface_holding(address: str) -> Optional[str]:
    try:
        import fcntl
    except ImportError:  # not Unix
        return None
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR,
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:  # no IPv4 address on it
                continue
        if socket.inet_ntoa(packed[20:24]) == address:
            return name
    return None


def connection_failure(error: BaseException) -> ConfigError:
    """The processes could not form their group: one line naming where they meet."""
    # gloo's "[enforce fail at FILE:LINE] CONDITION. MESSAGE": the message
    text = re.sub(r"\[enforce fail at [^\]]*\][^.]*\.\s*", "", str(error))
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    interface = os.environ.get("GLOO_SOCKET_IFNAME")
    via = f", gloo on interface {interface}" if interface else ""
    return ConfigError(f"rank {os.environ.get('RANK', '?')} of {os.environ.get('WORLD_SIZE', '?')}"
                       f" could not connect to the others (rank 0 at {endpoint()}{via}): "
                       f"{first[:300]}")
