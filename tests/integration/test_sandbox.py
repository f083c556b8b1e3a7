# SPDX-License-Identifier: ISC
"""
The sandbox of every child (README, Security), on a running instance started
as root, its output going to a pipe as under systemd:

 - /proc/PID/status of each role shows NoNewPrivs 1 and Seccomp 2 (filter),
   and the role's own uid: five roles, five users;
 - /proc/PID/limits shows the default rlimits of its role (no core file, no
   new process where the role never forks, no file growth where it writes no
   file, open files sized from max_sessions), and open_files set in the
   config still wins;
 - a process running as smtpd's user cannot signal an agent, the resolver,
   the scheduler or the queue manager;
 - mail flows under the filters (SMTP and local submission, relay delivery)
   and no child is killed by its filter;
 - each child logs its profile and the Landlock state;
 - sandbox = no switches filter and Landlock off, and says so.
"""
import ctypes
import os
import subprocess
import threading

import pytest

import outpost_harness as H

ROLE_USER = {
    "qmgr": H.ROLE_USERS["queue_user"],
    "scheduler": H.ROLE_USERS["scheduler_user"],
    "resolver": H.ROLE_USERS["resolver_user"],
    "smtpd": H.ROLE_USERS["smtpd_user"],
    "agent": H.ROLE_USERS["user"],
    "signer": H.ROLE_USERS["signer_user"],
    "sts": H.ROLE_USERS["sts_user"],
}
SMTPD_SESSIONS = 120
AGENT_SESSIONS = 30


def role_of(title):
    name = title.removeprefix("outpost: ")
    return "agent" if name.startswith("agent") else name


def limits(pid):
    """/proc/PID/limits as {name: (soft, hard)}; 'unlimited' stays a string."""
    out = {}
    with open(f"/proc/{pid}/limits") as f:
        next(f)
        for line in f:
            name = line[:26].strip()
            soft, hard = line[26:].split()[:2]
            conv = (lambda v: v if v == "unlimited" else int(v))
            out[name] = (conv(soft), conv(hard))
    return out


def landlock_abi():
    """landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION), x86_64/arm64: 444."""
    libc = ctypes.CDLL(None, use_errno=True)
    v = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return v if v > 0 else 0


def start_piped(op):
    """Start the master as Outpost.start does, but with stdout and stderr on a
    pipe drained into the log file: no child writes to a regular file then."""
    r, w = os.pipe()
    op._logf = open(op.log_path, "ab")
    op.proc = subprocess.Popen([str(H.OUTPOST), "-d", "-f", str(op.conf_path)],
                               stdin=subprocess.DEVNULL, stdout=w, stderr=w, cwd=op.workdir,
                               start_new_session=True)
    os.close(w)

    def drain():
        with os.fdopen(r, "rb", buffering=0) as src:
            while True:
                chunk = src.read(65536)
                if not chunk:
                    return
                op._logf.write(chunk)
                op._logf.flush()
    threading.Thread(target=drain, daemon=True).start()
    op.wait_ready(30)
    return op


@pytest.fixture
def sandboxed(root, outpost_factory, receiver):
    op = outpost_factory(params={"delivery_mode": "relay",
                                 "relay_host": f"[127.0.0.1]:{receiver.port}"},
                         sections={"agent": {"count": 2, "max_sessions": AGENT_SESSIONS},
                                   "smtpd": {"max_sessions": SMTPD_SESSIONS},
                                   "scheduler": {"open_files": 300}},
                         start=False)
    start_piped(op)
    return op, receiver


def test_every_child_filtered_under_its_own_uid(sandboxed):
    op, receiver = sandboxed
    # Mail flows first: the filters must let every path of a delivery through.
    code, text = op.smtp_send("a@example.org", ["x@example.net"],
                              b"Subject: sandboxed smtp\r\n\r\nbody\r\n")
    assert code == 250, text
    r = op.sendmail(["y@example.net"], b"Subject: sandboxed local\n\nbody\n")
    assert r.returncode == 0, r.stderr
    receiver.wait_messages(2, 30)

    kids = op.children()
    roles = sorted(role_of(k.title) for k in kids)
    assert roles == ["agent", "agent", "qmgr", "resolver", "scheduler", "signer", "smtpd", "sts"], roles
    uids = {}
    for k in kids:
        role = role_of(k.title)
        st = k.status
        assert st["NoNewPrivs"].strip() == "1", f"{k.title}: NoNewPrivs {st['NoNewPrivs']}"
        assert st["Seccomp"].strip() == "2", f"{k.title}: Seccomp {st['Seccomp']}"
        uid, _gid = H.user_ids(ROLE_USER[role])
        assert k.uids == (uid,) * 4, f"{k.title}: uids {k.uids}, expected {ROLE_USER[role]}"
        uids.setdefault(role, set()).add(uid)
    # Seven roles, seven users: no role shares its uid with another.
    flat = [next(iter(u)) for u in uids.values()]
    assert len(set(flat)) == len(flat) == 7, uids
    log = op.log_text()
    assert "killed by signal" not in log, log[-3000:]


def test_default_rlimits_per_role(sandboxed):
    op, _receiver = sandboxed
    for k in op.children():
        role = role_of(k.title)
        lim = limits(k.pid)
        assert lim["Max core file size"] == (0, 0), f"{k.title}: {lim['Max core file size']}"
        nproc = lim["Max processes"]
        if role == "resolver":
            # libunbound starts its thread with the first query.
            assert nproc != (0, 0), f"{k.title}: {nproc}"
        else:
            assert nproc == (0, 0), f"{k.title}: {nproc}"
        fsize = lim["Max file size"]
        if role in ("qmgr", "sts"):
            # the queue, and the sts process's policy cache
            assert fsize != (0, 0), f"{k.title}: {fsize}"
        else:
            assert fsize == (0, 0), f"{k.title}: {fsize}"
        nofile = lim["Max open files"]
        if role == "smtpd":
            assert nofile == (2 * SMTPD_SESSIONS + 64,) * 2, f"{k.title}: {nofile}"
        elif role == "agent":
            # sessions, their messages, Happy Eyeballs' second sockets and
            # idle sessions closed to make room, until their QUIT is answered
            assert nofile == (4 * AGENT_SESSIONS + 64,) * 2, f"{k.title}: {nofile}"
        elif role == "scheduler":
            assert nofile == (300, 300), f"{k.title}: config open_files must win, {nofile}"
        else:
            assert nofile[0] != "unlimited" and nofile[0] <= 1 << 16, f"{k.title}: {nofile}"


def test_smtpd_user_cannot_signal_other_roles(sandboxed):
    op, _receiver = sandboxed
    kids = op.children()
    targets = [k for k in kids if role_of(k.title) != "smtpd"]
    assert len(targets) == 7
    uid, gid = H.user_ids(ROLE_USER["smtpd"])
    # What a compromised smtpd could still try from a fresh process of its uid
    # (its own process has no kill() at all: the unit test shows that).
    script = ("import os, sys\n"
              "bad = []\n"
              "for pid in map(int, sys.argv[1:]):\n"
              "    try:\n"
              "        os.kill(pid, 0)\n"
              "        bad.append(pid)\n"
              "    except PermissionError:\n"
              "        pass\n"
              "print(bad)\n"
              "sys.exit(1 if bad else 0)\n")
    r = subprocess.run(["/usr/bin/python3", "-c", script, *(str(k.pid) for k in targets)],
                       user=uid, group=gid, extra_groups=[], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, f"signalled: {r.stdout} {r.stderr}"
    for k in targets:
        assert H.ProcInfo(k.pid).state not in ("T", "Z"), k.title


def test_profile_and_landlock_logged(sandboxed):
    op, _receiver = sandboxed
    # Each child's lines reach the master in frames of their own: a child can
    # be ready before its sandbox line is written, so each one is waited for.
    for role in ("qmgr", "scheduler", "resolver", "smtpd", "agent 0", "agent 1", "signer", "sts"):
        line = op.wait_log(rf" {role}: sandbox: seccomp [^\n]*", timeout=10).group(0)
        assert "Landlock ABI" in line, line
    log = op.log_text()
    # The log tells the kernel's Landlock state as the kernel itself does.
    abi = landlock_abi()
    if abi > 0:
        assert f"Landlock ABI {abi} " in log
    else:
        assert "the kernel has no Landlock" in log


def test_sandbox_no_switches_filters_off(root, outpost_factory, receiver):
    op = outpost_factory(params={"delivery_mode": "relay",
                                 "relay_host": f"[127.0.0.1]:{receiver.port}",
                                 "sandbox": "no"})
    r = op.sendmail(["z@example.net"], b"Subject: unsandboxed\n\nbody\n")
    assert r.returncode == 0, r.stderr
    receiver.wait_messages(1, 30)
    for k in op.children():
        assert k.status["Seccomp"].strip() == "0", k.title
        assert k.status["NoNewPrivs"].strip() == "0", k.title
        # rlimits stay: they are not part of the debugging switch.
        assert limits(k.pid)["Max core file size"] == (0, 0), k.title
    assert "sandbox = no" in op.log_text()
