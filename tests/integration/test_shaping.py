# SPDX-License-Identifier: ISC
"""
Traffic shaping against real receivers: a server that refuses the
(K+1)-th concurrent session with 421 makes outpost lower its concurrency
for that destination (AIMD) and still deliver everything without a bounce;
a [destinations] rate limit holds within 5% at the receiver; limits of one
destination do not slow another.
"""

import re
import subprocess
import time

import pytest

import outpost_harness as H
from shaping_peer import LimitedPeer

MSG = b"Subject: shaping test\n\nbody line\n"


@pytest.fixture
def peer_factory():
    made = []

    def make(**kw):
        p = LimitedPeer(**kw).start()
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


def inject_many(op, n, domain="dest.test", sessions=5):
    r = op.smtp_source(n, sessions=sessions, length=512, to=f"rcpt@{domain}")
    assert r.returncode == 0, r.stdout + r.stderr


def destinations(op):
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "destinations"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def statuses(op):
    return re.findall(r"status=(\w+)", op.log_text())


def test_421_after_k_sessions_converges_and_delivers_all(outpost_factory, peer_factory):
    k = 3
    peer = peer_factory(max_sessions=k, data_delay=0.3)
    op = outpost_factory(params={
        "resend_interval": "1s", "resend_attempts": 30,
        "destination_concurrency": 20,
    }, routes={"dest.test": peer.hostport})
    n = 60
    inject_many(op, n)
    H.wait_until(lambda: len(peer.accepted) >= n, 120, 0.2, what=f"{n} mails at the peer")
    time.sleep(1)
    assert len(peer.accepted) == n, "a mail was delivered twice"
    assert peer.max_active <= k
    st = statuses(op)
    assert "bounced" not in st
    assert st.count("sent") == n
    # The cut is logged once per change, with the reason.
    assert re.search(r"shaping: .*: concurrency lowered to \d+ of 20 \(.*421", op.log_text())
    # AIMD keeps the refusals few: without it every round of 20 parallel
    # sessions would see 17 refused until the queue drained.
    print(f"\n{n} mails, {peer.refused} sessions refused, at most {peer.max_active} at once")
    assert peer.refused < n, f"{peer.refused} sessions refused"


def test_rate_limit_holds_within_5_percent(outpost_factory, peer_factory):
    # 20 per 5 s = 4/s; measured over 30 s at the receiver.
    peer = peer_factory(max_sessions=100)
    op = outpost_factory(params={"resend_interval": "1s"},
                         routes={"dest.test": peer.hostport},
                         sections={"destinations": {"127.0.0.1": "rate=20/5s concurrency=10"}})
    inject_many(op, 170, sessions=10)
    H.wait_until(lambda: len(peer.accepted) >= 1, 60, 0.1, what="a first mail")
    t0 = peer.accepted[0][0]
    window = 30.0
    H.wait_until(lambda: time.monotonic() > t0 + window + 1, window + 10, 0.5, what="the window")
    with peer.lock:
        in_window = [t for t, _ in peer.accepted if t < t0 + window]
    expected = 4 * window
    assert abs(len(in_window) - expected) <= 0.05 * expected, \
        f"{len(in_window)} mails in {window}s, expected {expected}"
    # The configured budget as outpostctl shows it.
    out = destinations(op)
    assert re.search(r"^127\.0\.0\.1 concurrency=10/10 active=\d+ waiting=\d+ rate=20/5s",
                     out, re.M), out
    assert "bounced" not in statuses(op)


def test_limits_of_one_destination_do_not_slow_another(outpost_factory, peer_factory):
    # Each route is a destination named by its host: 127.0.0.1 is held to
    # one mail per 2 s, 127.0.0.2 has no line and the defaults.
    slow = peer_factory(host="127.0.0.1", max_sessions=100)
    fast = peer_factory(host="127.0.0.2", max_sessions=100)
    op = outpost_factory(params={"resend_interval": "1s"},
                         routes={"slow.test": slow.hostport, "fast.test": fast.hostport},
                         sections={"destinations": {"127.0.0.1": "rate=1/2s"}})
    inject_many(op, 10, domain="slow.test", sessions=2)
    start = time.monotonic()
    inject_many(op, 40, domain="fast.test", sessions=5)
    H.wait_until(lambda: len(fast.accepted) >= 40, 30, 0.1, what="the fast destination's mails")
    took = time.monotonic() - start
    assert len(slow.accepted) <= 1 + took / 2 + 1, f"{len(slow.accepted)} slow mails in {took:.1f}s"
    H.wait_until(lambda: len(slow.accepted) >= 10, 60, 0.2, what="the slow destination's mails")
    assert "bounced" not in statuses(op)


@pytest.fixture
def blackhole(root):
    """An nftables table of this test's own that drops SYNs to chosen
    loopback addresses and ports (a blackholed MX: connects time out instead
    of being refused); removed at the end."""
    import os
    import subprocess
    table = f"outpost_shaping_{os.getpid()}"
    subprocess.run(["nft", "add", "table", "inet", table], check=True)
    subprocess.run(["nft", "add", "chain", "inet", table, "out",
                    "{ type filter hook output priority 0 ; }"], check=True)

    def drop(addr, port):
        fam = "ip6" if ":" in addr else "ip"
        subprocess.run(["nft", "add", "rule", "inet", table, "out", fam, "daddr", addr,
                        "tcp", "dport", str(port), "drop"], check=True)
    yield drop
    subprocess.run(["nft", "delete", "table", "inet", table], check=False)


def test_unreachable_host_is_cached_and_costs_others_nothing(outpost_factory, peer_factory,
                                                              blackhole):
    healthy = peer_factory(max_sessions=100)
    dead_port = H.free_port("127.0.0.3")
    blackhole("127.0.0.3", dead_port)
    op = outpost_factory(params={"resend_interval": "1h", "connect_timeout": "3s",
                                 "unreachable_cache_time": "60s"},
                         routes={"dead.test": f"[127.0.0.3]:{dead_port}",
                                 "ok.test": healthy.hostport})
    # A first wave to the dead host waits one connect timeout each.
    inject_many(op, 3, domain="dead.test", sessions=3)
    op.wait_log(r"shaping: \[127\.0\.0\.3\]:\d+ is not responding", timeout=30)
    # What comes next for it is deferred at once, without a connection
    # attempt, while the healthy destination is served as usual.
    start = time.monotonic()
    inject_many(op, 10, domain="dead.test", sessions=2)
    inject_many(op, 20, domain="ok.test", sessions=4)
    H.wait_until(lambda: len(healthy.accepted) >= 20, 30, 0.1, what="the healthy mails")
    op.wait_log(r"not responding \(cached, not tried\)", timeout=10)
    took = time.monotonic() - start

    def deferred_cached():
        return len(re.findall(r"to=<rcpt@dead\.test>.*status=deferred \(every address of "
                              r"127\.0\.0\.3 is not responding \(cached, not tried\)\)",
                              op.log_text()))
    H.wait_until(lambda: deferred_cached() >= 10, 30, 0.2, what="10 cached deferrals")
    timeouts = len(re.findall(r"connect to .*127\.0\.0\.3.*Connection timed out.*\n",
                              "\n".join(ln for ln in op.log_text().splitlines()
                                        if "agent" in ln and "connecting" not in ln) + "\n"))
    assert took < 10, f"healthy mails took {took:.1f}s"
    assert "bounced" not in statuses(op)
    # Only the first wave tried to connect.
    attempts = len(re.findall(r"connecting to 127\.0\.0\.3", op.log_text()))
    assert attempts <= 3, f"{attempts} connection attempts to the dead host"
    out = destinations(op)
    assert re.search(rf"^unreachable \[127\.0\.0\.3\]:{dead_port} for \d+s more", out, re.M), out
    assert timeouts >= 1


def _stamp(line):
    """Seconds of the day of a log line's ISO timestamp."""
    m = re.match(r"\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d\.\d+)", line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def test_happy_eyeballs_blackholed_ipv6_costs_only_the_delay(outpost_factory, peer_factory,
                                                             blackhole, workdir):
    from test_dns import Nsd, ZONE, loopback_net
    net = loopback_net()
    port = H.free_port(f"{net}.5")
    ns = Nsd(workdir, f"{net}.53", f"""$ORIGIN {ZONE}.
$TTL 30
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {net}.53
both     A {net}.5
both     AAAA ::1
""").start()
    try:
        peer = peer_factory(host=f"{net}.5", port=port)
        blackhole("::1", port)
        op = outpost_factory(params={
            "dns_servers": f"{ns.addr}@{ns.port}", "connect_timeout": "20s",
            "resend_interval": "1h", "happy_eyeballs_delay": 250,
        }, routes={"he.test": f"[both.{ZONE}]:{port}"})
        start = time.monotonic()
        r = op.sendmail(["-f", "s@src.test", "u@he.test"], MSG)
        assert r.returncode == 0, r.stderr
        H.wait_until(lambda: len(peer.accepted) >= 1, 15, 0.05, what="the mail over IPv4")
        took = time.monotonic() - start
        op.wait_log(rf"to=<u@he\.test>, relay=both\.{ZONE}\[{net}\.5\]:{port}.*status=sent")
        lines = op.log_text().splitlines()
        first = [ln for ln in lines if f"connecting to both.{ZONE}[::1]:{port}" in ln]
        second = [ln for ln in lines if "happy eyeballs: second family" in ln]
        assert first and second, "no race in the log"
        gap = _stamp(second[0]) - _stamp(first[0])
        # IPv6 first (RFC 8305), IPv4 after the delay, long before connect_timeout.
        assert 0.2 <= gap < 2.0, f"second family after {gap:.3f}s"
        assert took < 10, f"delivered after {took:.1f}s"
    finally:
        ns.stop()


@pytest.mark.parametrize("setting,least,most", [
    ("mails_per_connection=2", 6, 7),    # 12 mails, 2 per connection
    ("reuse=no", 12, 12),                # a connection per mail
    ("reuse=yes", 1, 2),                 # one connection reused for all
])
def test_connection_settings_per_destination(outpost_factory, peer_factory, setting, least,
                                             most):
    peer = peer_factory(max_sessions=100)
    op = outpost_factory(params={"resend_interval": "1h", "connection_idle": "30s"},
                         routes={"dest.test": peer.hostport},
                         sections={"destinations": {"127.0.0.1": f"concurrency=1 {setting}"}})
    for i in range(12):
        r = op.sendmail(["-f", "s@src.test", f"u{i}@dest.test"], MSG)
        assert r.returncode == 0, r.stderr
    H.wait_until(lambda: len(peer.accepted) >= 12, 60, 0.1, what="12 mails")
    assert least <= peer.sessions <= most, f"{peer.sessions} connections for 12 mails"


def test_mx_pattern_makes_one_budget_for_domains_at_one_provider(outpost_factory, peer_factory,
                                                                 workdir):
    from test_dns import Nsd, ZONE, loopback_net
    if not H.is_root():
        pytest.skip("needs root (nsd, port 25)")
    net = loopback_net()
    ns = Nsd(workdir, f"{net}.53", f"""$ORIGIN {ZONE}.
$TTL 30
@        SOA ns hostmaster 1 3600 600 86400 2
@        NS ns
ns       A {net}.53
a        MX 10 mx1.prov
b        MX 10 mx2.prov
mx1.prov A {net}.7
mx2.prov A {net}.7
""").start()
    try:
        peer = peer_factory(host=f"{net}.7", port=25, data_delay=0.2)
        op = outpost_factory(params={
            "delivery_mode": "independent", "dns_servers": f"{ns.addr}@{ns.port}",
            "resend_interval": "1h",
        }, sections={"destinations": {f"mx:*.prov.{ZONE}": "concurrency=1"}})
        for dom in ("a", "b"):
            r = op.smtp_source(8, sessions=4, length=256, to=f"rcpt@{dom}.{ZONE}")
            assert r.returncode == 0, r.stdout + r.stderr
        H.wait_until(lambda: len(peer.accepted) >= 16, 60, 0.1, what="16 mails")
        # Two domains, two MX names, one budget of one connection.
        assert peer.max_txn == 1, f"{peer.max_txn} transactions at once"
        op.wait_log(rf"destination a\.{ZONE} now counts against mx:\*\.prov\.{ZONE}")
        op.wait_log(rf"destination b\.{ZONE} now counts against mx:\*\.prov\.{ZONE}")
        assert re.search(rf"^mx:\*\.prov\.{ZONE} concurrency=1/1", destinations(op), re.M)
        assert "bounced" not in statuses(op)
    finally:
        ns.stop()


class Redis:
    """A private redis-server on a free loopback port, stopped by PID."""

    def __init__(self, workdir, port=None):
        self.port = port or H.free_port()
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir(exist_ok=True)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        H.wait_until(lambda: H.smtp_banner_ok("127.0.0.1", self.port) or self._ping(), 10, 0.1,
                     what="redis-server")
        return self

    def _ping(self):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.proc is not None:
            H.stop_pid(self.proc.pid, 10, popen=self.proc)
            self.proc = None


def test_two_nodes_share_a_rate_through_redis_and_fall_back(outpost_factory, peer_factory,
                                                            workdir):
    import shutil
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    redis = Redis(workdir).start()
    try:
        peer = peer_factory(max_sessions=100)
        conf = dict(params={"resend_interval": "1s", "resend_attempts": 30,
                            "shared_limits": f"redis://127.0.0.1:{redis.port}",
                            "node_count": 2},
                    routes={"dest.test": peer.hostport},
                    sections={"destinations": {"127.0.0.1": "rate=20/5s concurrency=10"}})
        nodes = [outpost_factory(name=n, **conf) for n in ("node-a", "node-b")]
        for op in nodes:
            op.wait_log(r"shared limits: sharing rates through redis", timeout=10)
        n = 100
        for op in nodes:
            inject_many(op, n, sessions=5)

        def in_window(t0, secs):
            with peer.lock:
                return len([t for t, _ in peer.accepted if t0 <= t < t0 + secs])

        # Shared: 4/s for both nodes together (each alone would send 4/s).
        H.wait_until(lambda: len(peer.accepted) >= 1, 30, 0.1, what="a first mail")
        t0 = peer.accepted[0][0]
        time.sleep(max(0.0, t0 + 15 - time.monotonic()))
        shared = in_window(t0, 15)
        assert 54 <= shared <= 70, f"{shared} mails in 15 s with a shared 4/s"

        # Redis gone: each node falls back to 20/5s / 2 = 2/s, and says so.
        redis.stop()
        offsets = [op.log_offset() for op in nodes]
        for op, off in zip(nodes, offsets):
            op.wait_log(r"redis at .* unreachable .*divided by node_count 2", timeout=10)
        t1 = time.monotonic()
        time.sleep(10)
        fallback = in_window(t1, 10)
        assert 30 <= fallback <= 50, f"{fallback} mails in 10 s on the fallback"

        # Back: sharing resumes.
        redis = Redis(workdir, port=redis.port).start()
        for op in nodes:
            op.wait_log(r"redis at .* is back, sharing resumes", timeout=15)
        H.wait_until(lambda: len(peer.accepted) >= 2 * n, 90, 0.2, what="every mail")
        time.sleep(1)
        assert len(peer.accepted) == 2 * n, "a mail was lost or delivered twice"
        for op in nodes:
            assert "bounced" not in statuses(op)
    finally:
        redis.stop()


def test_two_nodes_share_a_concurrency_through_redis(outpost_factory, peer_factory, workdir):
    import shutil
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    redis = Redis(workdir).start()
    try:
        peer = peer_factory(max_sessions=100, data_delay=0.3)
        conf = dict(params={"resend_interval": "1s", "resend_attempts": 30,
                            "shared_limits": f"redis://127.0.0.1:{redis.port}",
                            "node_count": 2},
                    routes={"dest.test": peer.hostport},
                    sections={"destinations": {"127.0.0.1": "concurrency=2"}})
        nodes = [outpost_factory(name=n, **conf) for n in ("node-a", "node-b")]
        for op in nodes:
            op.wait_log(r"shared limits: sharing rates through redis", timeout=10)
        for op in nodes:
            inject_many(op, 15, sessions=5)
        H.wait_until(lambda: len(peer.accepted) >= 30, 60, 0.1, what="30 mails")
        # Each node alone may run 2: together they hold 2 leases at most.
        assert peer.max_txn == 2, f"{peer.max_txn} transactions at once"
        for op in nodes:
            assert "bounced" not in statuses(op)
    finally:
        redis.stop()
