# SPDX-License-Identifier: ISC
"""The metrics endpoint's bound on open connections (metrics_max_connections):
idle connections over the bound are closed at once, a scrape works again once
they are gone, and the master stays healthy throughout."""

import os
import socket
import time
import urllib.request

import outpost_harness as H


def scrape_ok(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.status == 200 and b"outpost_up 1" in r.read()
    except OSError:
        return False


def closed_by_server(s, timeout=3.0):
    """True if the server closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_idle_connections_over_the_bound_are_closed(root, outpost_factory):
    mport = H.free_port()
    limit = 4
    op = outpost_factory({"metrics_listen": str(mport), "metrics_max_connections": str(limit)})
    H.wait_until(lambda: scrape_ok(mport), 20, what="metrics endpoint")
    time.sleep(1.5)     # the scrape's connection swept
    fds_before = len(os.listdir(f"/proc/{op.pid}/fd"))
    held = []
    try:
        # The bound's worth of idle connections: each is accepted and kept.
        for _ in range(limit):
            held.append(socket.create_connection(("127.0.0.1", mport), timeout=5))
        time.sleep(0.5)
        # Those over it are closed by the master at once, without a request.
        extra = [socket.create_connection(("127.0.0.1", mport), timeout=5) for _ in range(3)]
        for s in extra:
            assert closed_by_server(s), "a connection over the bound stayed open"
            s.close()
        # So is a scrape while the bound is taken.
        assert not scrape_ok(mport)
        # The held ones are still open (idle, within evhttp's 10 s timeout).
        assert not closed_by_server(held[0], timeout=0.5)
        for s in held:
            s.close()
        held = []
        # Once they are gone (swept within a second or two) a scrape works.
        H.wait_until(lambda: scrape_ok(mport), 10, interval=0.3, what="scrape after the close")
        # A hundred scrapes in a row: slots are freed as each connection ends.
        for _ in range(100):
            assert scrape_ok(mport)
        # Connections that end without a request, under and over the bound:
        # every socket is closed again (the master's references are dropped).
        for _ in range(50):
            burst = [socket.create_connection(("127.0.0.1", mport), timeout=5)
                     for _ in range(limit + 2)]
            for s in burst:
                s.close()
        H.wait_until(lambda: len(os.listdir(f"/proc/{op.pid}/fd")) <= fds_before, 10,
                     interval=0.3, what="the master's descriptors back to where they were")
        assert scrape_ok(mport)
        assert H.pid_alive(op.pid) and H.proc_state(op.pid) != "Z"
        op.wait_log(r"metrics: \d+ connections refused: more than metrics_max_connections=4",
                    timeout=10)
        # The SMTP side of the master is unaffected.
        assert H.smtp_banner_ok("127.0.0.1", op.smtp_port)
    finally:
        for s in held:
            s.close()


def test_idle_connections_are_closed_after_the_timeout(root, outpost_factory):
    mport = H.free_port()
    op = outpost_factory({"metrics_listen": str(mport), "metrics_max_connections": "2"})
    H.wait_until(lambda: scrape_ok(mport), 20, what="metrics endpoint")
    a = socket.create_connection(("127.0.0.1", mport), timeout=5)
    b = socket.create_connection(("127.0.0.1", mport), timeout=5)
    try:
        # Nothing sent: evhttp's timeout (10 s) ends them, and the slots come back.
        assert closed_by_server(a, timeout=20)
        assert closed_by_server(b, timeout=5)
        H.wait_until(lambda: scrape_ok(mport), 10, interval=0.3, what="scrape after the timeout")
        assert H.pid_alive(op.pid)
    finally:
        a.close()
        b.close()
