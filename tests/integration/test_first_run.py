# SPDX-License-Identifier: ISC
"""
First run: an instance started the way `make run` starts it (etc/outpost.conf
through tools/run-config, its own state directory) is reached by
outpost-sendmail, mailq and outpostctl through OUTPOST_CONFIG alone, -f/-C
still win over it; `make run` itself prints the line to paste once, and the
tools reach its instance with it; `make demo`'s script delivers its three
mails with no network but loopback.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

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


def make_env():
    """The environment of a user's shell: no make of the suite around it
    (its MAKEFLAGS would hand its variables, e.g. CC and BUILD, to ours)."""
    drop = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "OUTPOST_CONFIG"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def build_in_tree():
    """BUILD= for make naming the build this suite runs with, or None when
    that is outside the tree (make's recipes run ./$(BUILD)/...)."""
    try:
        return str(h.BUILD.resolve().relative_to(h.REPO.resolve()))
    except ValueError:
        return None


def make_build_dir():
    """BUILD= for make: the build this suite runs with, which must be in the
    tree and up to date, so that make run neither builds another directory
    nor rebuilds this one with other flags (build-asan is made with clang
    and sanitizers)."""
    rel = build_in_tree()
    if rel is None:
        pytest.skip(f"OUTPOST_BUILD {h.BUILD} is outside the tree; make run builds in it")
    r = subprocess.run(["make", "-n", "all", f"BUILD={rel}", "CC=NO-REBUILD"], cwd=h.REPO,
                       env=make_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    stale = [ln for ln in r.stdout.splitlines() if ln.startswith(("NO-REBUILD", "ar "))]
    if stale:
        pytest.skip(f"{rel} is older than its sources (make run would rebuild it): {stale[0][:80]}")
    return rel


class MakeRun:
    """`make -s run` in a session of its own, as typed in a terminal; -o deps
    skips the package check (a test installs nothing)."""

    def __init__(self, work, build, overrides):
        self.state = work / "var"
        self.out_path = work / "make-run.out"
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(
            ["make", "-s", "-o", "deps", "run", f"BUILD={build}", f"RUN_DIR={self.state}",
             "RUN_OVERRIDES=" + " ".join(overrides)],
            cwd=h.REPO, env=make_env(), stdout=self.out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)

    def text(self):
        return self.out_path.read_text(errors="replace")

    def master_pid(self):
        try:
            return int((self.state / "outpost.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        """The master first (make then ends with it), then make, then
        whatever is left of the session, each by its PID."""
        pid = self.master_pid()
        if pid is not None and h.pid_alive(pid) and pid in h.session_members(self.proc.pid):
            h.stop_pid(pid, 20)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            h.stop_pid(self.proc.pid, 10, popen=self.proc)
        for k in h.session_members(self.proc.pid):
            os.kill(k, signal.SIGKILL)
        h.wait_until(lambda: not h.session_members(self.proc.pid), 10,
                     what="make run's processes to end")
        self.out.close()


def test_make_run_prints_the_line_that_reaches_its_instance():
    build = make_build_dir()
    work = h.make_tmpdir()
    port = h.free_port()
    # Loopback only: a DNS server that refuses at once.
    overrides = [f"listen=127.0.0.1:{port}",
                 f"dns_servers=127.0.0.1@{h.free_port(kind=socket.SOCK_DGRAM)}",
                 "log_level=detailed"]
    if not h.is_root():
        overrides += [f"user={os.environ.get('USER', 'nobody')}"]
    mr = MakeRun(work, build, overrides)
    try:
        def ready():
            if mr.proc.poll() is not None:
                raise h.HarnessError(f"make run exited {mr.proc.returncode}:\n{mr.text()}")
            return ((mr.state / "queue" / "public" / "submit.sock").is_socket() and
                    h.smtp_banner_ok("127.0.0.1", port))
        h.wait_until(ready, 120, 0.2, what="make run's instance")
        text = mr.text()

        # The line to paste, once, naming the file this instance runs with.
        exports = [ln.strip() for ln in text.splitlines() if "export OUTPOST_CONFIG=" in ln]
        assert len(exports) == 1, text
        m = re.fullmatch(r"export OUTPOST_CONFIG=(\S+) PATH=(\S+):\$PATH", exports[0])
        assert m, exports[0]
        conf = Path(m[1])
        assert conf == mr.state / "outpost.conf" and conf.is_file()
        assert Path(m[2]).resolve() == h.BUILD.resolve()
        conf_text = conf.read_text()
        assert f"state_directory = {mr.state}\n" in conf_text
        assert f"listen = 127.0.0.1:{port}\n" in conf_text
        # make's own child, in the foreground, with that file.
        pid = mr.master_pid()
        assert pid is not None and h.ProcInfo(pid).ppid == mr.proc.pid
        assert f"config {conf}" in text

        # What the user pastes in another shell, then the sample command
        # make run prints, then the First steps of the README.
        tries = [ln.split("then try:", 1)[1].strip() for ln in text.splitlines()
                 if ln.startswith("then try:")]
        assert len(tries) == 1, text
        shell_env = make_env()
        shell_env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"

        def sh(script):
            r = subprocess.run(["sh", "-ec", exports[0] + "\n" + script], env=shell_env,
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, f"{script}: exit {r.returncode}\n{r.stdout}{r.stderr}"
            return r.stdout

        sh("printf 'Subject: first run\\n\\nhello\\n' | "
           "outpost-sendmail -f me@example.org you@example.net")
        h.wait_until(lambda: "me@example.org" in sh("mailq"), 30, 0.2,
                     what="the mail in mailq")
        # The deferral, in the form the README shows for make run's terminal.
        line = h.wait_until(
            lambda: re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} outpost\[\d+\]: "
                              r"scheduler: [0-9A-F]+: to=<you@example\.net>, relay=none, .*"
                              r"dsn=4\.4\.3, status=deferred .*$", mr.text(), re.M),
            30, 0.2, what="the deferral log line")
        assert "attempts=1" in line[0]
        if not h.is_root():
            return  # outpostctl needs root or admin_group
        out = sh(tries[0])
        assert "<you@example.net>" in out and "<me@example.org>" in out, out
        out = sh("outpostctl status")
        assert "qmgr: running" in out and f"master: running (pid {pid})" in out, out
        out = sh("outpostctl flush")
        assert re.search(r"^2 mails re-sent now$", out, re.M), out
        h.wait_until(lambda: "attempts=2" in mr.text(), 30, 0.2, what="the flushed attempt")
    finally:
        mr.stop()
        h.remove_tmpdir(work)


def test_demo_delivers_three_mails_offline():
    # make demo is tools/demo with this build (the recipe, not run twice).
    rel = build_in_tree()
    if rel is not None:
        r = subprocess.run(["make", "-n", "demo", f"BUILD={rel}"], cwd=h.REPO, env=make_env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[-1] == \
            f"OUTPOST_BUILD={h.REPO.resolve()}/{rel} tools/demo", r.stdout
    env = dict(make_env(), OUTPOST_BUILD=str(h.BUILD))
    cmd = [str(DEMO)]
    offline = h.is_root() and shutil.which("unshare") and shutil.which("ip")
    if offline:
        # A network namespace of its own with loopback alone: nothing off the
        # host can be reached, as on a machine without a network.
        cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0"', str(DEMO)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("delivered: 3")
    assert r.stdout.count("status=sent") == 3
    assert "status=deferred" in r.stdout
