# SPDX-License-Identifier: ISC
"""
First run: an instance started the way `make run` starts it (etc/outpost.conf
through tools/run-config, its own state directory) is reached by
outpost-sendmail, mailq and outpostctl through OUTPOST_CONFIG alone, -f/-C
still win over it, and `make demo`'s script delivers its three mails with no
network but loopback.
"""
import os
import socket
import subprocess

import pytest

import outpost_harness as h

RUN_CONFIG = h.REPO / "tools" / "run-config"
DEMO = h.REPO / "tools" / "demo"


class MadeRun:
    """outpost -d -f <dir>/var/outpost.conf, the file make run writes."""

    def __init__(self, work):
        self.work = work
        self.state = work / "var"
        self.state.mkdir()
        self.conf = self.state / "outpost.conf"
        self.port = h.free_port()
        overrides = [f"listen=127.0.0.1:{self.port}",
                     # Loopback only: a DNS server that refuses at once.
                     f"dns_servers=127.0.0.1@{h.free_port(kind=socket.SOCK_DGRAM)}",
                     "log=stderr", "log_level=detailed"]
        if not h.is_root():
            overrides += [f"user={os.environ.get('USER', 'nobody')}"]
        else:
            h.ensure_test_users()
        text = subprocess.run([str(RUN_CONFIG), str(h.REPO / "etc" / "outpost.conf"),
                               str(self.state), *overrides], check=True,
                              capture_output=True, text=True).stdout
        self.conf.write_text(text)
        self.log = open(work / "outpost.log", "wb")
        self.proc = subprocess.Popen([str(h.OUTPOST), "-d", "-f", str(self.conf)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        sock = self.state / "queue" / "public" / "submit.sock"

        def ready():
            if self.proc.poll() is not None:
                raise h.HarnessError("outpost exited: " +
                                     (work / "outpost.log").read_text(errors="replace"))
            return sock.is_socket() and h.smtp_banner_ok("127.0.0.1", self.port)
        h.wait_until(ready, 30, 0.1, what="the make-run instance")

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if k != "OUTPOST_CONFIG"}
        e["OUTPOST_CONFIG"] = str(self.conf)
        e.update(extra)
        return e

    def stop(self):
        kids = [c.pid for c in h.children_of(self.proc.pid)]
        h.stop_pid(self.proc.pid, 20, popen=self.proc)
        for k in kids:
            if h.pid_alive(k):
                os.kill(k, 9)
        self.log.close()


@pytest.fixture
def made_run():
    work = h.make_tmpdir()
    r = MadeRun(work)
    try:
        yield r
    finally:
        r.stop()
        h.remove_tmpdir(work)


def run(cmd, env, data=b"", argv0=None):
    return subprocess.run([argv0 or str(cmd[0]), *cmd[1:]], executable=str(cmd[0]),
                          input=data, capture_output=True, env=env, timeout=60)


def test_run_config_names_the_state_directory_and_is_valid(made_run):
    text = made_run.conf.read_text()
    assert f"state_directory = {made_run.state}\n" in text
    assert sum(1 for ln in text.splitlines() if ln.startswith("state_directory")) == 1
    r = subprocess.run([str(h.OUTPOST), "-n"], env=made_run.env(), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"state_directory = {made_run.state}" in r.stdout


@pytest.mark.skipif(not h.is_root(), reason="outpostctl needs root or admin_group")
def test_every_tool_reaches_the_instance_through_outpost_config(made_run):
    env = made_run.env()
    r = run([h.SENDMAIL, "-f", "me@example.org", "you@example.net"], env,
            b"Subject: first run\n\nhello\n")
    assert r.returncode == 0, r.stderr
    qid = None

    def queued():
        nonlocal qid
        q = run([h.SENDMAIL], env, argv0="mailq")
        assert q.returncode == 0, q.stderr
        for line in q.stdout.decode().splitlines():
            if "me@example.org" in line:
                qid = line.split()[0]
        return qid
    h.wait_until(queued, 30, 0.2, what="the mail in mailq")

    r = run([h.OUTPOSTCTL, "queue"], env)
    assert r.returncode == 0, r.stderr
    assert qid.encode() in r.stdout and b"<you@example.net>" in r.stdout
    r = run([h.OUTPOSTCTL, "status"], env)
    assert r.returncode == 0, r.stderr
    version = (h.REPO / "VERSION").read_text().strip()
    assert f"version: {version}".encode() in r.stdout
    assert b"qmgr: running" in r.stdout
    r = run([h.OUTPOSTCTL, "flush"], env)
    assert r.returncode == 0, r.stderr
    assert b"re-sent" in r.stdout


@pytest.mark.skipif(not h.is_root(), reason="outpostctl needs root or admin_group")
def test_command_line_wins_over_outpost_config(made_run, tmp_path):
    # OUTPOST_CONFIG names a file of another (absent) instance: -f and -C win.
    other = tmp_path / "other.conf"
    other.write_text(f"state_directory = {tmp_path}/nothing-here\n")
    env = made_run.env(OUTPOST_CONFIG=str(other))
    r = run([h.OUTPOSTCTL, "status"], env)
    assert r.returncode != 0 and b"nothing-here" in r.stderr
    r = run([h.OUTPOSTCTL, "-f", str(made_run.conf), "status"], env)
    assert r.returncode == 0, r.stderr
    r = run([h.OUTPOSTCTL, "-o", f"state_directory={made_run.state}", "status"], env)
    assert r.returncode == 0, r.stderr
    r = run([h.SENDMAIL, "-C", str(made_run.conf), "-bp"], env)
    assert r.returncode == 0, r.stderr
    r = run([h.SENDMAIL, "-bp"], env)
    assert r.returncode != 0 and b"nothing-here" in r.stderr


def test_demo_delivers_three_mails_offline():
    env = dict(os.environ, OUTPOST_BUILD=str(h.BUILD))
    env.pop("OUTPOST_CONFIG", None)
    r = subprocess.run([str(DEMO)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("delivered: 3")
    assert r.stdout.count("status=sent") == 3
    assert "status=deferred" in r.stdout
