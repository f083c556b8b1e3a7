# SPDX-License-Identifier: ISC
"""log = journal: every line reaches a real systemd-journald with its fields
(MESSAGE, PRIORITY, SYSLOG_IDENTIFIER outpost/ROLE, SYSLOG_PID of the child,
OUTPOST_ROLE, and a recipient line's QUEUE_ID, TO, RELAY, DSN, STATUS...),
read back with journalctl -D -o json. The journald runs in a private mount
namespace of the test's (journal_ns.sh), so the host's journal is untouched.
Under systemd with stderr on the journal (JOURNAL_STREAM), log = syslog uses
the journal's protocol too."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import outpost_harness as H

JOURNALD = "/lib/systemd/systemd-journald"
NS_SCRIPT = Path(__file__).with_name("journal_ns.sh")
PFLOGSUMM = shutil.which("pflogsumm") or "/usr/sbin/pflogsumm"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(JOURNALD) and shutil.which("unshare") and shutil.which("journalctl")
         and shutil.which("systemd-cat")),
    reason="needs systemd-journald, journalctl, systemd-cat and unshare")


def _namespaces_work():
    """A private mount namespace with a tmpfs in it (CAP_SYS_ADMIN; a container may lack it)."""
    try:
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                            "mount", "-t", "tmpfs", "tmpfs", "/run"],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@pytest.fixture
def namespaces(root):
    if not _namespaces_work():
        pytest.skip("no private mount namespace here (unshare --mount, mount -t tmpfs)")


class NsOutpost:
    """The master run by journal_ns.sh beside its own journald."""

    def __init__(self, op, jdir, mode):
        self.op, self.jdir = op, jdir
        self.pidfile = jdir.parent / "journald.pid"
        self.out = open(op.workdir / "stderr.log", "ab")
        # unshare, journal_ns.sh and systemd-cat all exec: the pid is the master's.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", str(NS_SCRIPT),
             str(jdir), str(self.pidfile), mode, str(H.OUTPOST), "-F", "-f", str(op.conf_path)],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.out,
            start_new_session=True)
        op.proc = self.proc

    def journald_pid(self):
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        self.op.stop()
        pid = self.journald_pid()
        if pid is not None and H.pid_alive(pid):
            H.stop_pid(pid, 10)
        self.out.close()

    def records(self):
        r = subprocess.run(["journalctl", "-D", str(self.jdir), "-o", "json", "--no-pager"],
                           capture_output=True, text=True, timeout=30)
        return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]

    def outpost_records(self):
        return [r for r in self.records() if str(r.get("SYSLOG_IDENTIFIER", "")).startswith("outpost/")]


def start(outpost_factory, receiver, workdir, mode, log="journal"):
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "log": log, "log_level": "basic"}, start=False)
    jdir = workdir / f"journal-{mode}"
    jdir.mkdir()
    ns = NsOutpost(op, jdir, mode)
    try:
        H.wait_until(lambda: op.submit_socket.is_socket() and
                     H.smtp_banner_ok("127.0.0.1", op.smtp_port), 30, what="outpost ready")
    except H.HarnessError:
        ns.stop()
        raise H.HarnessError((op.workdir / "stderr.log").read_text(errors="replace")[-3000:])
    return op, ns


def send(op, to):
    r = H.swaks(op.smtp_port, to, sender="s@example.org", data=b"Subject: t\r\n\r\nbody\r\n")
    assert r.returncode == 0, r.stdout + r.stderr


def test_lines_reach_the_journal_with_their_fields(namespaces, outpost_factory, receiver, workdir):
    op, ns = start(outpost_factory, receiver, workdir, "native")
    try:
        send(op, "a@journal.test")
        receiver.wait_messages(1, timeout=30)
        H.wait_until(lambda: any(r.get("STATUS") == "sent" for r in ns.outpost_records()), 20,
                     interval=0.3, what="the recipient line in the journal")
        recs = ns.outpost_records()
        sent = [r for r in recs if r.get("STATUS") == "sent"]
        assert len(sent) == 1
        r = sent[0]
        qid = r["QUEUE_ID"]
        assert re.fullmatch(r"[0-9A-F]{24}", qid)
        assert r["MESSAGE"].startswith(f"{qid}: to=<a@journal.test>, relay=")
        assert r["TO"] == "a@journal.test"
        assert r["RELAY"] == f"127.0.0.1[127.0.0.1]:{receiver.port}"
        assert r["DSN"] == "2.0.0" and r["REPLY"].startswith("250")
        assert re.fullmatch(r"[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+", r["DELAYS"])
        assert r["ATTEMPTS"] == "1"
        assert r["PRIORITY"] == "6" and r["SYSLOG_FACILITY"] == "2"
        assert r["SYSLOG_IDENTIFIER"] == "outpost/scheduler" and r["OUTPOST_ROLE"] == "scheduler"
        assert r["_TRANSPORT"] == "journal"
        # Written by the master (the trusted _PID), in the name of the child.
        assert r["_PID"] == str(op.pid)
        sched = [op.child("scheduler").pid]
        assert r["SYSLOG_PID"] == r["OUTPOST_PID"] == str(sched[0])
        # Other roles: smtpd's line of the same mail, an agent with its instance.
        assert any(x.get("OUTPOST_ROLE") == "smtpd" and x.get("QUEUE_ID") == qid for x in recs)
        agent = [x for x in recs if x.get("OUTPOST_ROLE") == "agent"]
        assert agent and all("OUTPOST_INSTANCE" in x for x in agent)
        # The master's own lines.
        assert any(x["SYSLOG_IDENTIFIER"] == "outpost/master" and x["MESSAGE"].startswith("starting")
                   for x in recs)
        # A plain line has no recipient fields.
        assert not any("QUEUE_ID" in x for x in recs if x["OUTPOST_ROLE"] == "master")
        # journalctl's short output is Postfix's line form (with the trusted
        # _PID, the master's, in the brackets): pflogsumm reads it.
        short = subprocess.run(["journalctl", "-D", str(ns.jdir), "-o", "short", "--no-pager"],
                               capture_output=True, text=True, timeout=30).stdout
        assert re.search(rf"outpost/scheduler\[{op.pid}\]: {qid}: to=<a@journal\.test>", short)
        if os.path.exists(PFLOGSUMM):
            p = subprocess.run([PFLOGSUMM, "--syslog-name=outpost"], input=short,
                               capture_output=True, text=True, timeout=60)
            assert re.search(r"^\s*1\s+delivered", p.stdout, re.M), p.stdout[:1500]
        # Nothing went to stderr: the journal took every line.
        assert "to=<" not in (op.workdir / "stderr.log").read_text(errors="replace")
    finally:
        ns.stop()


def test_stderr_on_the_journal_means_the_journal(namespaces, outpost_factory, receiver, workdir):
    """log = syslog (the default) under a journal stream named by JOURNAL_STREAM."""
    op, ns = start(outpost_factory, receiver, workdir, "stream", log="syslog")
    try:
        send(op, "b@journal.test")
        receiver.wait_messages(1, timeout=30)
        H.wait_until(lambda: any(r.get("TO") == "b@journal.test" for r in ns.outpost_records()),
                     20, interval=0.3, what="the recipient line in the journal")
        r = [x for x in ns.outpost_records() if x.get("TO") == "b@journal.test"][0]
        assert r["_TRANSPORT"] == "journal" and r["STATUS"] == "sent"
    finally:
        ns.stop()


def test_another_stream_is_not_taken_for_the_journal(namespaces, outpost_factory, receiver, workdir):
    """JOURNAL_STREAM naming another descriptor: log = syslog stays syslog(3)
    (this machine has no /dev/log: the lines go nowhere), no journal fields."""
    op, ns = start(outpost_factory, receiver, workdir, "mismatch", log="syslog")
    try:
        send(op, "c@journal.test")
        receiver.wait_messages(1, timeout=30)
        op.stop()
        assert ns.records(), "the journal itself works"
        assert not [x for x in ns.records() if x.get("_TRANSPORT") == "journal"
                    and "OUTPOST_ROLE" in x]
    finally:
        ns.stop()
