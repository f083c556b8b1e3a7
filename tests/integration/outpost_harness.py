# SPDX-License-Identifier: ISC
"""
outpost_harness - what outpost's integration tests share.

Starts and stops outpost (build/outpost -d -f CONF) in a temporary state
directory with dynamically chosen ports, writes its config, injects mail
with outpost-sendmail, swaks and Postfix's smtp-source, receives mail with a
scriptable aiosmtpd server or Postfix's smtp-sink, and inspects processes
(/proc) and the queue directory. Every process started here is stopped by
PID; every wait is bounded in time.

Environment:
  OUTPOST_BUILD     build directory (default: <repo>/build)
  OUTPOST_KEEP_TMP  keep temporary directories even when the test passed
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("OUTPOST_BUILD", REPO / "build"))
OUTPOST = BUILD / "outpost"
SENDMAIL = BUILD / "outpost-sendmail"
OUTPOSTCTL = BUILD / "outpostctl"

SMTP_SOURCE = next((p for p in ("/usr/sbin/smtp-source", "/usr/lib/postfix/sbin/smtp-source")
                    if os.path.exists(p)), "smtp-source")
SMTP_SINK = next((p for p in ("/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink")
                  if os.path.exists(p)), "smtp-sink")
SWAKS = shutil.which("swaks") or "/usr/bin/swaks"

MAIL_USER = "outpost"
QUEUE_USER = "outpostq"
# One uid per role (README, Security): parameter -> user.
ROLE_USERS = {"user": MAIL_USER, "queue_user": QUEUE_USER, "smtpd_user": "outpost-smtpd",
              "resolver_user": "outpost-dns", "scheduler_user": "outpost-sched",
              "signer_user": "outpost-dkim", "sts_user": "outpost-sts"}

# sysexits.h
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
EX_NOHOST = 68
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_OSERR = 71
EX_OSFILE = 72
EX_CANTCREAT = 73
EX_IOERR = 74
EX_TEMPFAIL = 75
EX_PROTOCOL = 76
EX_NOPERM = 77
EX_CONFIG = 78


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------- basics

def is_root():
    return os.geteuid() == 0


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a true value (returned) or timeout (HarnessError)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port(host="127.0.0.1", kind=socket.SOCK_STREAM):
    """A port that was free a moment ago (bind to port 0, read it, close)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(n, host="127.0.0.1"):
    """n distinct free ports (all held open while choosing, so no duplicates)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def make_tmpdir(prefix="outpost-test-"):
    """A temporary directory every user may traverse (0755), so that
    unprivileged children and outpost-sendmail run as another user reach
    files below it. The caller removes it (see remove_tmpdir)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d.chmod(0o755)
    return d


def remove_tmpdir(d):
    if os.environ.get("OUTPOST_KEEP_TMP"):
        return
    shutil.rmtree(d, ignore_errors=True)


def ensure_user(name, home="/nonexistent"):
    """Create a system user (and its group) if missing; root only. Returns (uid, gid)."""
    import pwd
    try:
        pw = pwd.getpwnam(name)
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        pass
    if not is_root():
        raise HarnessError(f"user {name} does not exist and we are not root")
    r = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", home, "--shell", "/usr/sbin/nologin", name],
                       capture_output=True, text=True, timeout=30)
    # Another test may have created it concurrently: exit 9 = name in use.
    if r.returncode not in (0, 9):
        raise HarnessError(f"useradd {name}: {r.stderr.strip()}")
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def user_ids(name):
    import pwd
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def ensure_test_users():
    """The users outpost's children run as, plus an ordinary submitting user."""
    for name in ROLE_USERS.values():
        ensure_user(name)
    ensure_user("outpost-tester")


# ---------------------------------------------------------------- config

def _fmt_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt_value(x) for x in v)
    return str(v)


def config_text(params=None, sections=None, routes=None):
    """outpost config text: 'name = value' lines, [section] blocks for
    per-process limits ({'agent': {'count': 2}}), and [routes]
    ({'example.com': '127.0.0.1:2526'}). Lists are joined with ', '.
    A value of None leaves the parameter out (its default applies)."""
    lines = ["# written by outpost_harness"]
    for k, v in (params or {}).items():
        if v is None:
            continue
        lines.append(f"{k} = {_fmt_value(v)}")
    for sec, kv in (sections or {}).items():
        lines.append("")
        lines.append(f"[{sec}]")
        for k, v in kv.items():
            if v is not None:
                lines.append(f"{k} = {_fmt_value(v)}")
    if routes:
        lines.append("")
        lines.append("[routes]")
        for k, v in routes.items():
            lines.append(f"{k} = {v}")
    return "\n".join(lines) + "\n"


def write_config(path, params=None, sections=None, routes=None):
    path = Path(path)
    path.write_text(config_text(params, sections, routes))
    path.chmod(0o644)
    return path


# ---------------------------------------------------------------- processes

def proc_status(pid):
    """Parsed /proc/PID/status as a dict of str -> str; None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            out = {}
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
            return out
    except (FileNotFoundError, ProcessLookupError):
        return None


def proc_state(pid):
    """One-letter state from /proc/PID/stat ('Z' zombie), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data.rpartition(")")[2].split()[0]


def pid_alive(pid):
    """Alive and not a zombie (PID 1 reaps orphans lazily here)."""
    st = proc_state(pid)
    return st is not None and st != "Z"


def proc_cmdline(pid):
    """The process title (argv[0], or what setproctitle() wrote there)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # A title set with setproctitle() is the first string; what follows is
    # the padding of the old argv area.
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


class ProcInfo:
    """A snapshot of one process: pid, ppid, title, uids/gids (real, effective,
    saved, fs), groups, root (/proc/PID/root link target), state."""

    def __init__(self, pid):
        self.pid = pid
        st = proc_status(pid)
        if st is None:
            raise ProcessLookupError(pid)
        self.status = st
        self.name = st.get("Name", "")
        self.ppid = int(st.get("PPid", "0"))
        self.uids = tuple(int(x) for x in st["Uid"].split())
        self.gids = tuple(int(x) for x in st["Gid"].split())
        self.groups = tuple(int(x) for x in st.get("Groups", "").split())
        self.state = st.get("State", "?")[:1]
        self.title = proc_cmdline(pid) or ""
        try:
            self.root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            self.root = None

    @property
    def uid(self):
        return self.uids[1]

    @property
    def gid(self):
        return self.gids[1]

    def root_entries(self):
        """What the process sees as '/' (listed through /proc/PID/root)."""
        return sorted(os.listdir(f"/proc/{self.pid}/root"))

    def open_fds(self):
        """Targets of every open descriptor of the process."""
        out = {}
        d = f"/proc/{self.pid}/fd"
        for fd in os.listdir(d):
            try:
                out[int(fd)] = os.readlink(f"{d}/{fd}")
            except OSError:
                pass
        return out

    def __repr__(self):
        return (f"ProcInfo(pid={self.pid}, title={self.title!r}, uids={self.uids}, "
                f"gids={self.gids}, root={self.root!r})")


def children_of(pid):
    """Direct children of pid as ProcInfo, sorted by pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            try:
                out.append(ProcInfo(int(d)))
            except ProcessLookupError:
                pass
    return sorted(out, key=lambda p: p.pid)


def session_members(sid):
    """PIDs of live processes in session sid (outpost is started with
    start_new_session, so its session id is the master's pid)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(d))
    return sorted(out)


def stop_pid(pid, timeout=10.0, sig=signal.SIGTERM, popen=None):
    """Send sig, wait up to timeout for the process to end, then SIGKILL.
    Returns True if it ended on sig, False if it had to be killed."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        if popen is not None:
            popen.wait(timeout=5)
        return True
    deadline = time.monotonic() + timeout
    graceful = True
    while True:
        if popen is not None:
            if popen.poll() is not None:
                break
        elif not pid_alive(pid):
            break
        if time.monotonic() >= deadline:
            graceful = False
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if popen is not None:
                popen.wait(timeout=10)
            else:
                wait_until(lambda: not pid_alive(pid), 10, what=f"pid {pid} to die")
            break
        time.sleep(0.05)
    return graceful


def can_open_as(uid, gid, path, write=False):
    """Can a process with this uid/gid (no supplementary groups) open path?
    Tried for real, in a child process."""
    flags = "os.O_RDWR" if write else "os.O_RDONLY"
    code = f"import os,sys\ntry:\n os.close(os.open(sys.argv[1], {flags}))\nexcept OSError as e:\n print(e); sys.exit(1)\n"
    r = subprocess.run([sys.executable, "-c", code, str(path)], user=uid, group=gid,
                       extra_groups=[], capture_output=True, text=True, timeout=30)
    return r.returncode == 0


def can_list_as(uid, gid, path):
    """Can a process with this uid/gid list the directory path?"""
    code = "import os,sys\ntry:\n os.listdir(sys.argv[1])\nexcept OSError:\n sys.exit(1)\n"
    r = subprocess.run([sys.executable, "-c", code, str(path)], user=uid, group=gid,
                       extra_groups=[], capture_output=True, timeout=30)
    return r.returncode == 0


# ---------------------------------------------------------------- SMTP client bits

def smtp_banner_ok(host, port, timeout=2.0):
    """Connect, read a 220 greeting, say QUIT. True when the listener answers."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect((host, port))
            data = b""
            while b"\n" not in data:
                chunk = s.recv(1024)
                if not chunk:
                    return False
                data += chunk
            ok = data.startswith(b"220")
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(1024)
            except OSError:
                pass
            return ok
    except OSError:
        return False


class SmtpConn:
    """A raw SMTP client for tests that need exact control of the bytes sent
    (garbage, pipelining, odd line endings). Lines are bytes."""

    def __init__(self, host, port, timeout=10.0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                line, self.buf = self.buf, b""
                return line
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def reply(self):
        """One (possibly multi-line) reply: (code:int, text:str). (0, '') at EOF."""
        lines = []
        while True:
            line = self.readline()
            if not line:
                return (0, "\n".join(lines))
            s = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(s)
            if len(s) < 4 or s[3] != "-":
                break
        try:
            code = int(lines[-1][:3])
        except ValueError:
            code = -1
        return (code, "\n".join(lines))

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply()

    def closed_by_peer(self, timeout=5.0):
        """True if the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def dot_stuff(data):
    """SMTP transparency (RFC 5321 4.5.2) for CRLF content: a leading dot is doubled."""
    out = []
    for line in data.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    return b"\r\n".join(out)


def smtp_send(host, port, sender, rcpts, data, helo="client.test", timeout=30.0):
    """Send one mail with a raw client (data is CRLF content, dot-stuffed here).
    Returns the final (code, text) of DATA, or the first failing reply."""
    with SmtpConn(host, port, timeout) as c:
        code, text = c.reply()
        if code != 220:
            return code, text
        code, text = c.cmd(f"EHLO {helo}")
        if code != 250:
            return code, text
        code, text = c.cmd(f"MAIL FROM:<{sender}>")
        if code != 250:
            return code, text
        ok = 0
        last = (0, "")
        for r in rcpts:
            last = c.cmd(f"RCPT TO:<{r}>")
            if last[0] == 250:
                ok += 1
        if not ok:
            return last
        code, text = c.cmd("DATA")
        if code != 354:
            return code, text
        body = dot_stuff(data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        c.send(body + b".\r\n")
        res = c.reply()
        try:
            c.cmd("QUIT")
        except OSError:
            pass
        return res


# ---------------------------------------------------------------- injection tools

def ctl(op, *args, stdin=None, user=None, timeout=60):
    """outpostctl against op's instance (its config file), optionally as user."""
    kw = {}
    if user is not None:
        import pwd
        pw = pwd.getpwnam(user)
        kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    return subprocess.run([str(OUTPOSTCTL), "-f", str(op.conf_path), *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, **kw)


def raw_smtp(op, source=None, timeout=10.0):
    """An SmtpConn to op's listener that has not read the banner, optionally
    from another loopback source address."""
    c = SmtpConn.__new__(SmtpConn)
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.sock.settimeout(timeout)
    if source is not None:
        c.sock.bind((source, 0))
    c.sock.connect((op.smtp_host, op.smtp_port))
    c.buf = b""
    return c


def swaks(port, to, sender="sender@example.org", data=None, host="127.0.0.1",
          extra=(), timeout=60):
    """Run swaks against host:port. data (bytes, CRLF) is sent byte-exact:
    --no-data-fixup, dot-stuffed here. Returns CompletedProcess (text)."""
    args = [SWAKS, "--server", f"{host}:{port}", "--from", sender, "--helo", "swaks.test",
            "--suppress-data", "--hide-informational"]
    for t in ([to] if isinstance(to, str) else to):
        args += ["--to", t]
    inp = None
    if data is not None:
        body = dot_stuff(data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        # Under --no-data-fixup swaks sends the data as given plus one CRLF,
        # so the terminating dot is passed without its line ending.
        args += ["--no-data-fixup", "--data", "-"]
        inp = body + b"."
    args += list(extra)
    r = subprocess.run(args, input=inp, capture_output=True, timeout=timeout)
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def smtp_source(port, count, sessions=1, length=1024, sender="source@example.org",
                to="sink@example.net", rcpts=1, host="127.0.0.1", extra=(), timeout=300,
                message_file=None):
    """Postfix's smtp-source: count mails over sessions parallel sessions.
    With message_file, each mail is that file's content exactly (smtp-source
    -F: its lines get CRLF and dot-stuffing on the wire; nothing is added)."""
    args = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count),
            "-f", sender, "-t", to, "-M", "source.test"]
    if message_file is not None:
        args += ["-F", str(message_file)]
    else:
        args += ["-l", str(length)]
    if rcpts > 1:
        args += ["-r", str(rcpts)]
    args += list(extra) + [f"{host}:{port}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- outpost

FREEZER = Path("/sys/fs/cgroup/freezer")


class Frozen:
    """A process held in a cgroup (v1) freezer of its own: it runs no
    instruction until thawed, and waitpid() does not report it as stopped.
    Tests that need one skip where the freezer hierarchy is missing."""

    def __init__(self, pid):
        import pytest
        if not (FREEZER / "cgroup.procs").exists():
            pytest.skip("no cgroup v1 freezer to hold a process with")
        self.pid = pid
        self.dir = FREEZER / f"outpost-test-{os.getpid()}-{pid}"
        self.dir.mkdir()
        (self.dir / "cgroup.procs").write_text(str(pid))
        (self.dir / "freezer.state").write_text("FROZEN")
        wait_until(lambda: (self.dir / "freezer.state").read_text().strip() == "FROZEN",
                   10, what=f"pid {pid} frozen")

    def thaw(self):
        """Let it run again (a SIGKILL sent while frozen takes effect now)."""
        if self.dir is None:
            return
        (self.dir / "freezer.state").write_text("THAWED")
        try:
            (FREEZER / "cgroup.procs").write_text(str(self.pid))
        except OSError:
            pass    # it died on thawing
        def gone():
            try:
                self.dir.rmdir()
                return True
            except OSError:
                return False
        wait_until(gone, 10, what="the freezer cgroup removed")
        self.dir = None

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        self.thaw()


class Outpost:
    """One outpost instance in its own directory.

        op = Outpost(workdir, params={'relay_host': '[127.0.0.1]:2526'})
        op.start()           # waits for submit.sock and the SMTP banner
        op.sendmail(['rcpt@example.net'], b'Subject: x\\n\\nhi\\n')
        op.stop()

    params override the defaults below; sections/routes as in config_text().
    """

    def __init__(self, workdir, params=None, sections=None, routes=None, as_root=None,
                 smtp_host="127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.workdir / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.state_dir.chmod(0o755)
        self.conf_path = self.workdir / "outpost.conf"
        self.log_path = self.workdir / "outpost.log"
        self.smtp_host = smtp_host
        self.smtp_port = free_port(smtp_host)
        self.as_root = is_root() if as_root is None else as_root
        p = {
            "state_directory": str(self.state_dir),
            "listen": (f"[{smtp_host}]:{self.smtp_port}" if ":" in smtp_host
                       else f"{smtp_host}:{self.smtp_port}"),
            "helo_name": "outpost.test",
            "log_level": "detailed",
            # The test receivers offer no STARTTLS; the relay host's default
            # (verify) would defer everything. TLS tests set their own.
            "relay_tls_policy": "may",
        }
        if self.as_root:
            ensure_test_users()
            p.update(ROLE_USERS)
        p.update(params or {})
        self.params = p
        self.sections = sections or {}
        self.routes = routes or {}
        self.proc = None
        self._logf = None
        self.write_config()

    # paths
    @property
    def queue_dir(self):
        return self.state_dir / "queue"

    @property
    def submit_socket(self):
        return self.queue_dir / "public" / "submit.sock"

    @property
    def empty_dir(self):
        return self.state_dir / "empty"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def write_config(self):
        write_config(self.conf_path, self.params, self.sections, self.routes)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def wait_log(self, pattern, timeout=10.0, start=0):
        """Wait until the log (from byte offset start) matches regex pattern; returns the match."""
        rx = re.compile(pattern)

        def look():
            return rx.search(self.log_text()[start:])
        try:
            return wait_until(look, timeout, 0.1, what=f"log /{pattern}/")
        except HarnessError:
            raise HarnessError(f"log never matched /{pattern}/; tail:\n{self.log_tail()}")

    def log_offset(self):
        return len(self.log_text())

    # life
    def start(self, timeout=20.0, wait_ready=True, extra_args=(), user=None):
        """Start the master in the foreground (-d: log to stderr, captured in
        log_path). user (name): start it as that user instead of the caller;
        the state directory is handed to that user first."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("already running")
        kw = {}
        if user is not None:
            uid, gid = user_ids(user)
            for dirpath, _dirs, files in os.walk(self.state_dir):
                os.chown(dirpath, uid, gid)
                for f in files:
                    os.chown(os.path.join(dirpath, f), uid, gid)
            kw = {"user": uid, "group": gid, "extra_groups": []}
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(OUTPOST), "-d", "-f", str(self.conf_path), *extra_args],
                                     stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True, **kw)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20.0):
        """Ready: the submit socket exists and the SMTP listener greets."""
        def ready():
            if self.proc.poll() is not None:
                raise HarnessError(f"outpost exited with {self.proc.returncode} during start; "
                                   f"log:\n{self.log_tail()}")
            if not (self.submit_socket.is_socket() and
                    smtp_banner_ok(self.smtp_host, self.smtp_port)):
                return False
            # Every child past its start-up (a slow one, e.g. an agent loading
            # its CA store under a sanitizer, may still run as root, unchrooted).
            agents = int(self.sections.get("agent", {}).get("count", 2))
            kids = self.children()
            if len(kids) < 4 + agents:
                return False
            return not self.as_root or all(k.uid != 0 for k in kids)
        try:
            wait_until(ready, timeout, 0.1, what="outpost to be ready")
        except HarnessError as e:
            if "exited" in str(e):
                raise
            raise HarnessError(f"outpost not ready after {timeout}s (submit socket "
                               f"{'present' if self.submit_socket.exists() else 'missing'}); "
                               f"log:\n{self.log_tail()}") from None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15.0):
        """SIGTERM to the master, bounded wait, then SIGKILL to it and to any
        child left behind. Returns the master's exit status (or None)."""
        if self.proc is None:
            return None
        kids = []
        try:
            kids = [c.pid for c in children_of(self.proc.pid)]
        except OSError:
            pass
        if self.proc.poll() is None:
            stop_pid(self.proc.pid, timeout, popen=self.proc)
        # Children left behind (the master was killed, or did not wait for
        # them): every process of the session the master was started in.
        for k in set(kids) | set(session_members(self.proc.pid)):
            if pid_alive(k):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for k in set(kids) | set(session_members(self.proc.pid)):
            try:
                wait_until(lambda: not pid_alive(k), 10, what=f"pid {k} to die")
            except HarnessError:
                pass
        rc = self.proc.returncode
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def kill(self, sig=signal.SIGKILL):
        """Signal the master (SIGKILL by default: a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def freeze_child(self, title_part):
        """Hold the child whose title contains title_part without its master
        noticing (SIGSTOP is noticed: the master replaces a stopped child);
        returns a Frozen to thaw or kill it."""
        return Frozen(self.child(title_part).pid)

    def kill_child(self, title_part, sig=signal.SIGKILL):
        """Signal the child whose title contains title_part; returns its pid."""
        c = self.child(title_part)
        os.kill(c.pid, sig)
        return c.pid

    def session(self):
        """Every live process of the master's session (it and its children,
        also children orphaned by a killed master)."""
        return session_members(self.proc.pid) if self.proc else []

    # processes
    def children(self):
        return children_of(self.proc.pid) if self.running() else []

    def child(self, title_part, timeout=10.0):
        """The child whose title contains title_part (e.g. 'qmgr'); waits for it."""
        def find():
            for c in self.children():
                if title_part in c.title:
                    return c
            return None
        return wait_until(find, timeout, 0.1, what=f"child '{title_part}'")

    def children_by_title(self, title_part):
        return [c for c in self.children() if title_part in c.title]

    # injection
    def sendmail(self, args, data=b"", user=None, timeout=60, env=None, argv0=None,
                 use_config_flag=True):
        """Run outpost-sendmail (as user, a name or uid, if given) with args and
        data on stdin. Returns CompletedProcess with bytes stdout/stderr."""
        e = dict(os.environ)
        e.pop("OUTPOST_CONFIG", None)
        if env:
            e.update(env)
        cmd = [argv0 or str(SENDMAIL)]
        if use_config_flag:
            cmd += ["-C", str(self.conf_path)]
        cmd += list(args)
        kw = {}
        if user is not None:
            import pwd
            pw = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(user)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            e["HOME"] = "/"
            e["USER"] = e["LOGNAME"] = pw.pw_name
        return subprocess.run(cmd, input=data, capture_output=True, timeout=timeout, env=e,
                              executable=str(SENDMAIL), **kw)

    def mailq(self, user=None, timeout=30):
        """outpost-sendmail -bp; stdout as text."""
        r = self.sendmail(["-bp"], b"", user=user, timeout=timeout)
        return r

    def smtp_send(self, sender, rcpts, data, **kw):
        return smtp_send(self.smtp_host, self.smtp_port, sender, rcpts, data, **kw)

    def swaks(self, to, sender="sender@example.org", data=None, **kw):
        return swaks(self.smtp_port, to, sender, data, host=self.smtp_host, **kw)

    def smtp_source(self, count, **kw):
        return smtp_source(self.smtp_port, count, host=self.smtp_host, **kw)

    # queue
    def queue_files(self, under=""):
        """Every regular file below the queue directory (relative paths, sorted),
        read as root; sockets and directories are left out."""
        base = self.queue_dir / under if under else self.queue_dir
        out = []
        if not base.exists():
            return out
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                p = Path(dirpath) / f
                try:
                    if p.is_file() and not p.is_symlink():
                        out.append(str(p.relative_to(self.queue_dir)))
                except OSError:
                    pass
        return sorted(out)

    def queued_mails(self):
        """Every mail in queue/, decoded and verified independently of the C
        code: {id: QueuedMail}. A corrupt file raises QueueFileError."""
        return queued_mails_in(self.queue_dir)

    def corrupt_files(self):
        return self.queue_files("corrupt")

    def queue_tree(self):
        """Every entry below the queue directory with its owner, group and mode:
        [(relpath, uid, gid, mode, kind)] with kind in 'd', 'f', 's', 'l', '?'."""
        out = []
        for dirpath, dirs, files in os.walk(self.queue_dir):
            for name in dirs + files:
                p = Path(dirpath) / name
                try:
                    st = p.lstat()
                except OSError:
                    continue
                import stat as _st
                kind = ("d" if _st.S_ISDIR(st.st_mode) else "f" if _st.S_ISREG(st.st_mode)
                        else "s" if _st.S_ISSOCK(st.st_mode) else "l" if _st.S_ISLNK(st.st_mode)
                        else "?")
                out.append((str(p.relative_to(self.queue_dir)), st.st_uid, st.st_gid,
                            st.st_mode & 0o7777, kind))
        return sorted(out)


# ---------------------------------------------------------------- receivers

class ReceivedMail:
    def __init__(self, mail_from, rcpt_tos, data, peer, helo, path, mail_options):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data            # bytes exactly as received, dot-unstuffed, CRLF
        self.peer = peer
        self.helo = helo
        self.path = path
        self.mail_options = list(mail_options)

    def __repr__(self):
        return f"ReceivedMail(from={self.mail_from!r}, to={self.rcpt_tos!r}, {len(self.data)} bytes)"


class SmtpReceiver:
    """A scriptable SMTP server (aiosmtpd, in a thread of the test process).

    Each accepted mail is stored byte-exact under store_dir (one file per
    mail) and kept in .messages. Replies are scripted per recipient address
    (compared case-insensitively):

        rx.tempfail('a@x.test', times=2)   # 451 the first 2 RCPTs, then 250
        rx.reject('b@x.test')              # 550 always
        rx.script_rcpt('c@x.test', lambda n: '452 4.2.2 full' if n < 3 else None)
        rx.data_reply = lambda n: '451 4.3.0 later' if n == 1 else None

    A script function gets the attempt number (1-based) and returns a reply
    line or None for the default 250. rx.rcpt_attempts counts RCPTs per
    address, rx.connections counts EHLO/HELO, rx.data_attempts counts DATA.
    """

    def __init__(self, store_dir, host="127.0.0.1", port=None, hostname="sink.test",
                 data_size_limit=None, enable_smtputf8=True):
        from aiosmtpd.controller import Controller  # noqa: F401 (fail early when missing)
        self.store_dir = Path(store_dir)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.hostname = hostname
        self.data_size_limit = data_size_limit
        self.enable_smtputf8 = enable_smtputf8
        self.lock = threading.Lock()
        self.messages = []
        self.rcpt_attempts = {}
        self.mail_attempts = 0
        self.data_attempts = 0
        self.connections = 0
        self.helos = []
        self.rcpt_scripts = {}
        self.mail_reply = None
        self.data_reply = None
        self.controller = None
        self._seq = 0

    # scripting
    def script_rcpt(self, addr, fn):
        with self.lock:
            self.rcpt_scripts[addr.lower()] = fn

    def tempfail(self, addr, times, reply="451 4.3.0 Try again later"):
        self.script_rcpt(addr, lambda n: reply if n <= times else None)

    def reject(self, addr, reply="550 5.1.1 No such user here"):
        self.script_rcpt(addr, lambda n: reply)

    def attempts(self, addr):
        with self.lock:
            return self.rcpt_attempts.get(addr.lower(), 0)

    def delivered_to(self, addr):
        """Mails accepted for addr."""
        a = addr.lower()
        with self.lock:
            return [m for m in self.messages if a in (r.lower() for r in m.rcpt_tos)]

    def count(self):
        with self.lock:
            return len(self.messages)

    def wait_messages(self, n, timeout=30.0):
        wait_until(lambda: self.count() >= n, timeout, 0.05, what=f"{n} mails at the receiver")
        with self.lock:
            return list(self.messages)

    # aiosmtpd handler hooks
    def _handler(self):
        rx = self

        class Handler:
            async def handle_EHLO(self, server, session, envelope, hostname, responses):
                with rx.lock:
                    rx.connections += 1
                    rx.helos.append(hostname)
                session.host_name = hostname
                return responses

            async def handle_HELO(self, server, session, envelope, hostname):
                with rx.lock:
                    rx.connections += 1
                    rx.helos.append(hostname)
                session.host_name = hostname
                return f"250 {server.hostname}"

            async def handle_MAIL(self, server, session, envelope, address, mail_options):
                with rx.lock:
                    rx.mail_attempts += 1
                    n = rx.mail_attempts
                    fn = rx.mail_reply
                r = fn(n) if fn else None
                if r:
                    return r
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return "250 2.1.0 OK"

            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                key = address.lower()
                with rx.lock:
                    n = rx.rcpt_attempts.get(key, 0) + 1
                    rx.rcpt_attempts[key] = n
                    fn = rx.rcpt_scripts.get(key)
                r = fn(n) if fn else None
                if r:
                    return r
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 OK"

            async def handle_DATA(self, server, session, envelope):
                with rx.lock:
                    rx.data_attempts += 1
                    n = rx.data_attempts
                    fn = rx.data_reply
                r = fn(n) if fn else None
                if r:
                    return r
                data = envelope.original_content
                with rx.lock:
                    rx._seq += 1
                    path = rx.store_dir / f"mail-{rx._seq:06d}.eml"
                    path.write_bytes(data)
                    rx.messages.append(ReceivedMail(envelope.mail_from, envelope.rcpt_tos, data,
                                                    session.peer, session.host_name, path,
                                                    envelope.mail_options))
                return "250 2.0.0 OK queued"
        return Handler()

    def start(self):
        from aiosmtpd.controller import Controller
        self.controller = Controller(self._handler(), hostname=self.host, port=self.port,
                                     server_hostname=self.hostname,
                                     data_size_limit=self.data_size_limit,
                                     enable_SMTPUTF8=self.enable_smtputf8,
                                     decode_data=False, ready_timeout=10.0)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            try:
                self.controller.stop()
            except Exception:
                pass
            self.controller = None

    @property
    def hostport(self):
        return f"[{self.host}]:{self.port}"


class SmtpSink:
    """Postfix's smtp-sink in a subprocess: counts mails (-c) and optionally
    dumps each one to a file under dump_dir (-d)."""

    def __init__(self, workdir, host="127.0.0.1", port=None, dump=False, extra=(),
                 backlog=256):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.dump_dir = self.workdir / "sink-dump" if dump else None
        self.extra = list(extra)
        self.backlog = backlog
        self.out_path = self.workdir / "smtp-sink.out"
        self.proc = None

    def start(self, timeout=10.0):
        args = [SMTP_SINK, "-c", "-h", "sink.test"]
        if is_root():
            args += ["-u", "nobody"]
        if self.dump_dir is not None:
            self.dump_dir.mkdir(exist_ok=True)
            self.dump_dir.chmod(0o777)
            args += ["-d", str(self.dump_dir) + "/%Y%m%d%H/%M."]
        listen = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        args += self.extra + [listen, str(self.backlog)]
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise HarnessError(f"smtp-sink exited: {self.out_path.read_text(errors='replace')}")
            return smtp_banner_ok(self.host, self.port)
        wait_until(up, timeout, 0.05, what="smtp-sink")
        return self

    def count(self):
        """Mails completed so far (the last number smtp-sink -c printed)."""
        try:
            text = self.out_path.read_bytes().decode("ascii", "replace")
        except FileNotFoundError:
            return 0
        nums = re.findall(r"(\d+)", text.replace("\r", "\n").strip().split("\n")[-1] if text.strip() else "")
        return int(nums[0]) if nums else 0

    def dumped(self):
        if self.dump_dir is None:
            return []
        return sorted(p for p in self.dump_dir.rglob("*") if p.is_file())

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, 5, popen=self.proc)
            self.proc = None
            self._out.close()

    @property
    def hostport(self):
        return f"[{self.host}]:{self.port}"


# ---------------------------------------------------------------- content helpers

def split_first_field(content):
    """(first header field with its folding and line ending, rest) of content."""
    i = 0
    while True:
        nl = content.find(b"\n", i)
        if nl == -1:
            return content, b""
        i = nl + 1
        if i >= len(content) or content[i:i + 1] not in (b" ", b"\t"):
            return content[:i], content[i:]


def strip_trace(content):
    """Content as the submitter sent it: outpost puts exactly one Received:
    field on top of every mail (smtpd for SMTP, the qmgr for local mail).
    Raises HarnessError when that field is missing."""
    first, rest = split_first_field(content)
    if not first.lower().startswith(b"received:"):
        raise HarnessError(f"no Received: field on top: {content[:120]!r}")
    return rest


def smtp_source_wire(file_bytes):
    """What smtp-source -F FILE delivers: the file's lines with CRLF endings,
    then one more CRLF (observed with Postfix 3.7; tests/integration/
    test_harness.py checks it)."""
    lines = file_bytes.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


# ---------------------------------------------------------------- queue files

QF_MAGIC = b"OUTPOSTQ"
QF_VERSION = 2            # written: content hash XXH3-128
QF_VERSION_BLAKE2 = 1     # still read: content hash BLAKE2b-256
QF_STATE_SIZE = 1536
RCPT_STATES = {0: "pending", 1: "deferred", 2: "delivered", 3: "failed"}


class QueueFileError(Exception):
    pass


class QueuedMail:
    """A queue file decoded independently of the C code (shared/queue_file.h):
    id, arrival, uid, flags, origin, sender, rcpts, content (bytes), states
    ({index: dict}, the latest good state record of each recipient), torn
    (a bad tail after the last good state record was ignored), dkim (the stored
    DKIM-Signature fields, b"" looked at and unsigned, None without a record)."""

    def __repr__(self):
        return (f"QueuedMail(id={self.id}, sender={self.sender!r}, rcpts={self.rcpts!r}, "
                f"{len(self.content)} bytes, uid={self.uid})")

    def rcpt_state(self, i):
        s = self.states.get(i)
        return RCPT_STATES[s["state"]] if s else "pending"


def parse_queue_file(buf):
    """Decode and verify one queue file image; QueueFileError when corrupt."""
    import hashlib
    import struct

    def need(off, n):
        if off + n > len(buf):
            raise QueueFileError(f"truncated at {off}")

    need(0, 16)
    if buf[:8] != QF_MAGIC:
        raise QueueFileError("bad magic")
    ver, zero = struct.unpack_from("<II", buf, 8)
    if ver not in (QF_VERSION, QF_VERSION_BLAKE2):
        raise QueueFileError(f"version {ver}")
    off = 16

    def rec(off, want):
        need(off, 9)
        t, n = struct.unpack_from("<BQ", buf, off)
        if t != want:
            raise QueueFileError(f"record type {t} at {off}, expected {want}")
        return off + 9, n

    def get_str(off, end):
        if off + 4 > end:
            raise QueueFileError("string past record")
        (n,) = struct.unpack_from("<I", buf, off)
        if off + 4 + n > end:
            raise QueueFileError("string past record")
        return off + 4 + n, bytes(buf[off + 4:off + 4 + n]).decode("utf-8", "surrogateescape")

    m = QueuedMail()
    p, n = rec(off, 1)
    end = p + n
    need(p, n)
    m.arrival, m.uid, m.flags, nrcpt = struct.unpack_from("<QIII", buf, p)
    p += 20
    p, m.id = get_str(p, end)
    p, m.origin = get_str(p, end)
    p, m.sender = get_str(p, end)
    if p != end:
        raise QueueFileError("trailing bytes in envelope")
    off = end
    m.rcpts = []
    for _ in range(nrcpt):
        p, n = rec(off, 2)
        end = p + n
        need(p, n)
        p, r = get_str(p, end)
        if p != end:
            raise QueueFileError("trailing bytes in recipient")
        m.rcpts.append(r)
        off = end
    p, clen = rec(off, 3)
    need(p, clen)
    m.content_off = p
    m.content = bytes(buf[p:p + clen])
    off = p + clen
    p, n = rec(off, 4)
    if n != 32:
        raise QueueFileError("trailer length")
    need(p, 32)
    if ver == QF_VERSION_BLAKE2:
        chash = hashlib.blake2b(m.content, digest_size=32).digest()
    else:
        import xxhash
        chash = xxhash.xxh3_128(m.content).digest()
    fhash = hashlib.blake2b(bytes(buf[:m.content_off]) + chash, digest_size=32).digest()
    if fhash != bytes(buf[p:p + 32]):
        raise QueueFileError("trailer hash mismatch")
    m.hash = fhash
    off = p + 32
    m.states = {}
    m.torn = False
    m.dkim = None
    while off < len(buf):
        r = bytes(buf[off:off + QF_STATE_SIZE])
        if r[:4] == b"QDK1" and len(r) == QF_STATE_SIZE:
            # the DKIM record: whole slots, the fields, the same keyed sum at the end
            slots, n = struct.unpack_from("<II", r, 4)
            rec = bytes(buf[off:off + slots * QF_STATE_SIZE])
            if (0 < slots <= 4 and len(rec) == slots * QF_STATE_SIZE and
                    hashlib.blake2b(rec[:-16], digest_size=16, key=fhash).digest() == rec[-16:]):
                m.dkim = rec[12:12 + n]
                off += len(rec)
                continue
        good = (len(r) == QF_STATE_SIZE and r[:4] == b"QST1" and
                hashlib.blake2b(r[:-16], digest_size=16, key=fhash).digest() == r[-16:])
        if not good:
            # Only a bad run reaching the end is a torn tail (queue_file.h).
            m.torn = True
            rest = len(buf) - off
            k = off + QF_STATE_SIZE
            while k + QF_STATE_SIZE <= len(buf):
                r2 = bytes(buf[k:k + QF_STATE_SIZE])
                if r2[:4] == b"QST1" and hashlib.blake2b(r2[:-16], digest_size=16,
                                                         key=fhash).digest() == r2[-16:]:
                    raise QueueFileError("bad state record followed by a good one")
                k += QF_STATE_SIZE
            del rest
            break
        idx, state, dl, code, attempts, nxt, when, rl, pl = struct.unpack_from(
            "<IBBHIQQHH", r, 4)
        body = r[36:]
        st = {"state": state, "code": code, "attempts": attempts, "next": nxt, "when": when,
              "dsn": body[:dl].decode("ascii", "replace"),
              "relay": body[dl:dl + rl].decode("utf-8", "replace"),
              "reply": body[dl + rl:dl + rl + pl].decode("utf-8", "replace")}
        if idx >= nrcpt:
            raise QueueFileError(f"state record for recipient {idx} of {nrcpt}")
        m.states[idx] = st
        off += QF_STATE_SIZE
    return m


def queued_mails_in(queue_dir):
    """{id: QueuedMail} of every file in <queue>/queue/; corrupt ones raise."""
    d = Path(queue_dir) / "queue"
    out = {}
    if not d.is_dir():
        return out
    for name in sorted(os.listdir(d)):
        p = d / name
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            continue        # delivered and removed meanwhile
        try:
            m = parse_queue_file(data)
        except QueueFileError as e:
            raise QueueFileError(f"{p}: {e}") from None
        if m.id != name:
            raise QueueFileError(f"{p}: id {m.id} in file named {name}")
        out[name] = m
    return out



# ---------------------------------------------------------------- raw frames (shared/frame.h)

def _msg_types():
    """{name: number} of enum msg_type, read from shared/msg.h so the tests
    follow the header rather than a copy of it."""
    text = (REPO / "shared" / "msg.h").read_text()
    body = text[text.index("enum msg_type"):]
    body = body[:body.index("};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out, n = {}, -1
    for m in re.finditer(r"\b(MSG_[A-Z0-9_]+)\s*(?:=\s*(\d+))?\s*,", body):
        n = int(m.group(2)) if m.group(2) else n + 1
        out[m.group(1)] = n
    return out


MSG = _msg_types()
FRAME_HDR_LEN = 12
FRAME_MAX = 128 * 1024
FRAME_F_FD = 1


def frame(mtype, payload=b"", reqid=1, flags=0, length=None):
    """One frame: u32 len, u16 type, u16 flags, u32 reqid (host order), payload.
    mtype is a number or a MSG_ name; length overrides the length field."""
    import struct
    if isinstance(mtype, str):
        mtype = MSG[mtype]
    n = FRAME_HDR_LEN + len(payload) if length is None else length
    return struct.pack("=IHHI", n, mtype, flags, reqid) + payload


def p_u8(v):
    import struct
    return struct.pack("=B", v)


def p_u16(v):
    import struct
    return struct.pack("=H", v)


def p_u32(v):
    import struct
    return struct.pack("=I", v)


def p_u64(v):
    import struct
    return struct.pack("=Q", v)


def p_str(s):
    """A length-prefixed string or byte run (frame.h)."""
    if isinstance(s, str):
        s = s.encode()
    return p_u32(len(s)) + s


class Decoded:
    def __init__(self, raw):
        import struct
        self.raw = raw
        self.len, self.type, self.flags, self.reqid = struct.unpack_from("=IHHI", raw, 0)
        self.payload = raw[FRAME_HDR_LEN:]
        self.name = next((k for k, v in MSG.items() if v == self.type), str(self.type))
        self.off = 0

    def u16(self):
        import struct
        v = struct.unpack_from("=H", self.payload, self.off)[0]
        self.off += 2
        return v

    def u32(self):
        import struct
        v = struct.unpack_from("=I", self.payload, self.off)[0]
        self.off += 4
        return v

    def str(self):
        n = self.u32()
        v = self.payload[self.off:self.off + n]
        self.off += n
        return v.decode("utf-8", "replace")

    def __repr__(self):
        return f"Frame({self.name}, reqid={self.reqid}, {len(self.payload)} bytes)"


class SubmitClient:
    """A raw client of the public submit socket, for exact control of frames."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))

    def send(self, data, fds=None):
        if fds:
            import array
            return self.sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                               array.array("i", fds))])
        return self.sock.send(data)

    def recv(self, timeout=10.0):
        """The next frame (Decoded), None at EOF (the qmgr closed the link),
        or 'timeout'."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(FRAME_MAX)
        except (socket.timeout, TimeoutError):
            return "timeout"
        except ConnectionResetError:
            return None
        if not data:
            return None
        return Decoded(data)

    def submit(self, sender, rcpts, data, reqid=1, flags=0, origin="test"):
        """A whole transaction; returns the answer (Decoded/None/'timeout')."""
        self.send(frame("MSG_SUBMIT_BEGIN", p_u32(flags) + p_str(sender) + p_str(origin), reqid))
        for r in rcpts:
            self.send(frame("MSG_SUBMIT_RCPT", p_str(r), reqid))
        for i in range(0, len(data), 60000):
            self.send(frame("MSG_SUBMIT_DATA", p_str(data[i:i + 60000]), reqid))
        self.send(frame("MSG_SUBMIT_COMMIT", b"", reqid))
        return self.recv()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
