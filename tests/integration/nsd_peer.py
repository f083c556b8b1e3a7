# SPDX-License-Identifier: ISC
"""
nsd_peer.py - a real authoritative DNS server (Debian's nsd) for the tests:
one or more zones served on an address of 127/8 or inside a network
namespace the test made, started in the foreground and stopped by PID.
"""

import socket
import struct
import subprocess
from pathlib import Path

import outpost_harness as H

NSD = "/usr/sbin/nsd"


class NsdServer:
    """nsd -d on addr:port serving zones ({name: zone file text}); with netns,
    run inside that namespace (ip netns exec)."""

    def __init__(self, workdir, addr, zones, port=None, netns=None, subdir="nsd"):
        self.dir = Path(workdir) / subdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.addr = addr
        self.netns = netns
        self.port = port or H.free_port(addr, socket.SOCK_DGRAM)
        self.zones = list(zones)
        conf = f"""server:
    ip-address: {addr}@{self.port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{self.dir}"
    pidfile: "{self.dir}/nsd.pid"
    database: ""
    xfrdfile: "{self.dir}/xfrd.state"
    zonelistfile: "{self.dir}/zone.list"
    logfile: "{self.dir}/nsd.log"
    server-count: 1
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
"""
        for i, (name, text) in enumerate(zones.items()):
            zfile = self.dir / ("zone" if i == 0 else f"zone{i}")
            zfile.write_text(text)
            conf += f"zone:\n    name: {name}.\n    zonefile: \"{zfile}\"\n"
        (self.dir / "nsd.conf").write_text(conf)
        self.proc = None

    def start(self):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(prefix + [NSD, "-d", "-c", str(self.dir / "nsd.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        H.wait_until(self._answers, 15, 0.1, what="nsd to answer")
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            log = self.dir / "nsd.log"
            raise H.HarnessError("nsd exited: " + (log.read_text() if log.exists() else ""))
        if self.netns:
            # The namespace is out of this process's reach: nsd writes its
            # pid file once its sockets are bound.
            return (self.dir / "nsd.pid").exists()
        q = struct.pack(">HHHHHH", 0x1234, 0, 1, 0, 0, 0)
        for label in self.zones[0].split("."):
            q += bytes([len(label)]) + label.encode()
        q += b"\0" + struct.pack(">HH", 6, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        try:
            s.sendto(q, (self.addr, self.port))
            return s.recv(512)[:2] == b"\x12\x34"
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            H.stop_pid(self.proc.pid, 10, popen=self.proc)
        self.proc = None
