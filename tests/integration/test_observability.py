# SPDX-License-Identifier: ISC
"""
Observability (issue 14) and logging without forgery (issue 9): only the
master holds the log file and stamps each line with the sender's role and
pid; the Prometheus endpoint's counters equal what the receivers saw;
pflogsumm reads the file log; a trace shows one destination's SMTP dialogue
and no other's; status and JSON lines.
"""
import datetime
import json
import os
import re
import shutil
import smtplib
import subprocess
import time
import urllib.request


import outpost_harness as H
from outpost_harness import ctl

PFLOGSUMM = shutil.which("pflogsumm") or "/usr/sbin/pflogsumm"


def start_file_logged(op):
    """Start the master with the configured log (-F): -d would log to stderr."""
    proc = subprocess.Popen([str(H.OUTPOST), "-F", "-f", str(op.conf_path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    op.proc = proc
    H.wait_until(lambda: op.submit_socket.is_socket() and
                 H.smtp_banner_ok("127.0.0.1", op.smtp_port), 30, what="outpost ready")
    H.wait_until(lambda: len(op.children()) >= 6, 20, what="every child started")
    return proc


def role_of(pid):
    """The role of a child from its process title ("outpost: agent 0" or "agent 0")."""
    title = H.proc_cmdline(pid)
    title = " ".join(title) if isinstance(title, (list, tuple)) else str(title)
    for role in ("qmgr", "scheduler", "resolver", "smtpd", "agent", "signer", "sts"):
        if role in title:
            return role
    return None


def scrape(port):
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def send_many(port, mails):
    """mails: list of (sender, [rcpts]); one SMTP connection, bounded in time."""
    deadline = time.monotonic() + 300
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        for i, (sender, rcpts) in enumerate(mails):
            assert time.monotonic() < deadline, "injection took too long"
            msg = f"From: {sender}\r\nSubject: run {i}\r\n\r\nbody {i}\r\n"
            refused = s.sendmail(sender, rcpts, msg)
            assert not refused


def test_children_hold_no_log_file_and_lines_carry_their_role(root, workdir, receiver):
    logfile = workdir / "outpost.log"
    op = H.Outpost(workdir / "op", params={
        "delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{receiver.port}",
        "log": str(logfile), "log_level": "basic"})
    proc = start_file_logged(op)
    try:
        r = op.sendmail(["first@example.net"], b"Subject: one\n\nbody\n")
        assert r.returncode == 0, r.stderr
        H.wait_until(lambda: "to=<first@example.net>" in logfile.read_text(), 20,
                     what="delivery logged")
        target = os.path.realpath(logfile)
        # The master holds it (so the check below can see such a descriptor at all).
        master_fds = [os.path.realpath(f"/proc/{proc.pid}/fd/{fd}")
                      for fd in os.listdir(f"/proc/{proc.pid}/fd")]
        assert target in master_fds
        kids = op.children()
        roles = {}
        for k in kids:
            fds = os.listdir(f"/proc/{k.pid}/fd")
            held = [os.path.realpath(f"/proc/{k.pid}/fd/{fd}") for fd in fds]
            assert target not in held, f"child {k.pid} holds the log file"
            roles[k.pid] = role_of(k.pid)
        assert set(roles.values()) >= {"qmgr", "scheduler", "resolver", "smtpd", "agent"}
        text = logfile.read_text()
        # Every role wrote, and each line carries the role and pid the master
        # knows its sender by.
        roles[proc.pid] = "master"
        seen = set()
        for m in re.finditer(r"^\S+ \S+ outpost/(\w+)\[(\d+)\]: ", text, re.M):
            assert roles.get(int(m.group(2))) == m.group(1), m.group(0)
            seen.add(m.group(1))
        assert seen >= {"master", "qmgr", "scheduler", "resolver", "smtpd", "agent"}, seen
        # The recipient line, in Postfix's field order, from the scheduler.
        sched = [p for p, r in roles.items() if r == "scheduler"][0]
        assert re.search(rf"outpost/scheduler\[{sched}\]: [0-9A-F]+: to=<first@example\.net>, "
                         r"relay=[^,]+, delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, "
                         r"dsn=2\.0\.0, status=sent \(", text)
    finally:
        H.stop_pid(proc.pid, popen=proc)


def test_metrics_and_pflogsumm_agree_with_the_receiver(root, workdir, receiver):
    """1000 mails: most delivered, some bounced (550), some deferred (451)."""
    logfile = workdir / "outpost.log"
    mport = H.free_port()
    op = H.Outpost(workdir / "op", params={
        "delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{receiver.port}",
        "log": str(logfile), "log_level": "basic", "metrics_listen": str(mport),
        "resend_interval": "1h"})
    n_ok, n_bounce, n_defer = 960, 25, 15
    for i in range(n_bounce):
        receiver.reject(f"gone{i}@bounce.test")
    for i in range(n_defer):
        receiver.tempfail(f"slow{i}@slow.test", 1000)
    mails = ([("s@example.org", [f"u{i}@dest.test"]) for i in range(n_ok)] +
             [("s@example.org", [f"gone{i}@bounce.test"]) for i in range(n_bounce)] +
             [("s@example.org", [f"slow{i}@slow.test"]) for i in range(n_defer)])
    proc = start_file_logged(op)
    try:
        # Loopback only: a bare port binds 127.0.0.1.
        with open("/proc/net/tcp") as f:
            listen = [l.split() for l in f.readlines()[1:]]
        local = [l[1] for l in listen if l[3] == "0A" and int(l[1].split(":")[1], 16) == mport]
        assert local == ["0100007F:%04X" % mport], local
        s0 = scrape(mport)
        assert value(s0, "outpost_up") == 1
        assert value(s0, "outpost_mails_received_total", origin="smtp") == 0

        send_many(op.smtp_port, mails)
        # Every delivered mail and every DSN to s@example.org reach the receiver.
        receiver.wait_messages(n_ok + n_bounce, timeout=240)

        def settled():
            s = scrape(mport)
            return s if (value(s, "outpost_recipients_total", status="delivered", dsn_class="2")
                         >= n_ok + n_bounce and
                         value(s, "outpost_recipients_total", status="deferred", dsn_class="4")
                         >= n_defer) else None
        s = H.wait_until(settled, 30, 0.5, what="metrics caught up")
        time.sleep(1.5)     # one more push: nothing further may arrive
        s = scrape(mport)
        delivered_rx = receiver.count()
        bounced_rx = sum(receiver.attempts(f"gone{i}@bounce.test") for i in range(n_bounce))
        deferred_rx = sum(receiver.attempts(f"slow{i}@slow.test") for i in range(n_defer))
        assert value(s, "outpost_mails_received_total", origin="smtp") == len(mails)
        assert value(s, "outpost_recipients_total", status="delivered",
                     dsn_class="2") == delivered_rx == n_ok + n_bounce
        assert value(s, "outpost_recipients_total", status="bounced",
                     dsn_class="5") == bounced_rx == n_bounce
        assert value(s, "outpost_recipients_total", status="deferred",
                     dsn_class="4") == deferred_rx == n_defer
        assert value(s, "outpost_dsns_sent_total") == n_bounce
        assert value(s, "outpost_queue_mails", state="deferred") == n_defer
        assert value(s, "outpost_queue_recipients", state="deferred") == n_defer
        assert value(s, "outpost_queue_delay_seconds_count") == n_ok + n_bounce
        assert value(s, "outpost_smtp_transaction_seconds_count") >= len(mails)
        assert value(s, "outpost_connections_out_total", result="ok") >= 1
        assert value(s, "outpost_tls_sessions_total", protection="none") >= 1
        # Top destinations by volume, each with its own label.
        assert value(s, "outpost_destination_recipients_total",
                     domain="dest.test", status="delivered") == n_ok
        assert value(s, "outpost_destination_recipients_total",
                     domain="bounce.test", status="bounced") == n_bounce
        assert value(s, "outpost_destination_recipients_total",
                     domain="slow.test", status="deferred") == n_defer
        assert value(s, "outpost_sessions_in_use", process="smtpd") >= 0

        # pflogsumm on the same run's log reports the same counts.
        r = subprocess.run([PFLOGSUMM, "--syslog-name=outpost", str(logfile)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr

        def count(what):
            m = re.search(rf"^\s*(\d+)\s+{what}\b", r.stdout, re.M)
            assert m, f"pflogsumm printed no '{what}':\n{r.stdout[:2000]}"
            return int(m.group(1))
        assert count("received") == len(mails)
        assert count("delivered") == n_ok + n_bounce
        assert count("deferred") == n_defer
        assert count("bounced") == n_bounce
        top = r.stdout.split("Recipients by domain", 1)[1] if "Recipients by domain" in \
            r.stdout else r.stdout
        assert re.search(rf"^\s+{n_ok}\s+\S+\s+.*dest\.test\s*$", top, re.M), top[:1500]
    finally:
        H.stop_pid(proc.pid, popen=proc)


def test_trace_shows_one_destinations_dialogue_only(root, outpost_factory, receiver):
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "log_level": "basic"})
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "trace", "@traced.test",
                        "5"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "tracing @traced.test for 5 minutes" in r.stdout
    off = op.log_offset()
    for addr in ("a@traced.test", "b@plain.test"):
        res = op.sendmail([addr], b"Subject: t\n\nbody\n")
        assert res.returncode == 0, res.stderr
    receiver.wait_messages(2, timeout=30)
    op.wait_log(r"to=<b@plain\.test>.*status=sent", start=off, timeout=20)
    op.wait_log(r"to=<a@traced\.test>.*status=sent", start=off, timeout=20)
    log = op.log_text()[off:]
    ids = {}
    for addr in ("a@traced.test", "b@plain.test"):
        m = re.search(rf"([0-9A-F]{{24}}): to=<{re.escape(addr)}>", log)
        ids[addr] = m.group(1)
    # The traced mail: its SMTP commands and the server's replies.
    assert re.search(r"> MAIL FROM:<[^>]*>", log)
    traced_dialogue = [l for l in log.splitlines() if "> RCPT TO:<a@traced.test>" in l]
    assert traced_dialogue, log[-3000:]
    # The other: basic lines only - no dialogue, no connection details.
    assert "RCPT TO:<b@plain.test>" not in log
    basic_b = [l for l in log.splitlines() if ids["b@plain.test"] in l]
    assert basic_b and all("> " not in l for l in basic_b)
    # trace off: the next traced-domain mail is basic again.
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "trace", "off", "all"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    off = op.log_offset()
    res = op.sendmail(["c@traced.test"], b"Subject: t\n\nbody\n")
    assert res.returncode == 0
    op.wait_log(r"to=<c@traced\.test>.*status=sent", start=off, timeout=20)
    assert "RCPT TO:<c@traced.test>" not in op.log_text()[off:]


def test_trace_refuses_bad_selectors(root, outpost):
    for args in (["trace", "a b"], ["trace", "@"], ["trace", "@x.test", "0"],
                 ["trace", "@x.test", "99999"], ["trace", "x", "1", "2"]):
        r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(outpost.conf_path), *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, (args, r.stdout)
        assert "trace" in r.stderr or "minutes" in r.stderr


def test_status_shows_processes_queue_and_rate(root, outpost_factory, receiver):
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}"})
    res = op.sendmail(["x@dest.test"], b"Subject: s\n\nbody\n")
    assert res.returncode == 0
    receiver.wait_messages(1, timeout=30)

    def status():
        r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "status"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout
    out = H.wait_until(lambda: (lambda o: o if "1 delivered" in o else None)(status()), 10,
                       0.3, what="status counts the delivery")
    assert re.search(r"^uptime: \d+d \d\d:\d\d:\d\d", out, re.M)
    for k in op.children():
        role = role_of(k.pid)
        assert re.search(rf"^{role}( \d+)?: running \(pid {k.pid}\), restarts 0, rss \d+ kB, "
                         r"cpu [\d.]+ s$", out, re.M), out
    assert re.search(r"^queue: mails 0 active, 0 deferred, 0 held;", out, re.M)
    assert re.search(r"^delivery rate: [\d.]+ recipients/s", out, re.M)
    # A killed agent is counted as a restart.
    agent = [k for k in op.children() if role_of(k.pid) == "agent"][0]
    os.kill(agent.pid, 9)
    H.wait_until(lambda: "restarts 1" in status(), 20, 0.3, what="the restart counted")


def test_status_counts_a_deferral_within_a_second(root, outpost_factory, receiver):
    """The queue counts in `outpostctl status` are kept by the queue manager
    at every change, not counted by a walk of the queue now and then: the
    first deferral shows as "1 deferred" within a second of its log line
    (the next metrics push), and the delivery that follows takes it away."""
    receiver.tempfail("slow@dest.test", 1)
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "resend_interval": "5s"})

    def status():
        r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "status"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return re.search(r"^queue: .*$", r.stdout, re.M).group(0)
    assert status().startswith("queue: mails 0 active, 0 deferred, 0 held;")
    res = op.sendmail(["slow@dest.test"], b"Subject: s\n\nbody\n")
    assert res.returncode == 0
    line = op.wait_log(r"(?m)^(\S+) .*to=<slow@dest\.test>.*status=deferred", timeout=30)
    # The line's own time (local, to the millisecond), on the clock status is read against.
    logged = datetime.datetime.fromisoformat(line.group(1)).timestamp()
    want = ("queue: mails 0 active, 1 deferred, 0 held; "
            "recipients 0 active, 1 deferred, 0 held")
    seen = None
    for _ in range(100):
        got = status()
        if got == want:
            seen = time.time()
            break
        time.sleep(0.05)
        if time.time() > logged + 3:
            break
    assert seen is not None, f"status still says {got!r}"
    assert seen - logged <= 1.0, f"{seen - logged:.2f} s after the log line: {got!r}"
    # resend_interval: the second attempt is delivered and the counts are empty again.
    receiver.wait_messages(1, timeout=30)
    H.wait_until(lambda: status().startswith("queue: mails 0 active, 0 deferred, 0 held;"),
                 5, 0.1, what="status counts the delivery")


def test_json_log_lines(root, workdir, receiver):
    logfile = workdir / "outpost.log"
    op = H.Outpost(workdir / "op", params={
        "delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{receiver.port}",
        "log": str(logfile), "log_level": "basic", "log_format": "json"})
    proc = start_file_logged(op)
    try:
        r = op.sendmail(["j@example.net"], b"Subject: j\n\nbody\n")
        assert r.returncode == 0
        H.wait_until(lambda: "j@example.net" in logfile.read_text(), 20, what="logged")
        time.sleep(0.3)
        objs = [json.loads(l) for l in logfile.read_text().splitlines()]
        assert all({"time", "host", "process", "pid", "level", "message"} <= set(o) for o in objs)
        rc = [o for o in objs if o.get("to") == "j@example.net"]
        assert len(rc) == 1, objs[-5:]
        o = rc[0]
        assert o["process"] == "scheduler" and o["status"] == "sent" and o["dsn"] == "2.0.0"
        assert re.fullmatch(r"[0-9A-F]{24}", o["queue_id"])
        assert o["relay"].startswith("127.0.0.1[127.0.0.1]:") and "delays" in o
        pids = {k.pid for k in op.children()}
        assert o["pid"] in pids
    finally:
        H.stop_pid(proc.pid, popen=proc)


def queue_ids(op, *sel):
    r = ctl(op, "queue", "--json", *sel)
    assert r.returncode == 0, r.stderr
    return {m["id"]: m for m in (json.loads(ln) for ln in r.stdout.splitlines() if ln)}


def test_queue_shape_and_bulk_operations(root, outpost_factory, receiver):
    """Deferred mail for two domains: the qshape-like table counts them by
    domain and age; hold/release/delete/flush work on @domain, all and ids
    read from standard input."""
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "resend_interval": "1h", "log_level": "basic"})
    rcpts = ([[f"a{i}@slow.test"] for i in range(6)] + [[f"b{i}@other.test"] for i in range(3)] +
             [["x@slow.test", "y@other.test"]])
    for rl in rcpts:
        for a in rl:
            receiver.tempfail(a, 1000)
    for rl in rcpts:
        r = op.sendmail(rl, b"Subject: q\n\nbody\n")
        assert r.returncode == 0, r.stderr
    H.wait_until(lambda: sum(receiver.attempts(a) for rl in rcpts for a in rl) >= 11, 30,
                 what="every recipient tried once")
    H.wait_until(lambda: len(queue_ids(op)) == 10, 10, what="ten mails queued")

    r = ctl(op, "queue", "--summary")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["T", "5", "10", "20", "40", "80", "160", "320", "640", "1280",
                                "1280+"]
    rows = {ln.split()[0]: [int(x) for x in ln.split()[1:]] for ln in lines[1:-1]}
    assert rows["TOTAL"][:2] == [10, 10]
    assert rows["slow.test"][:2] == [7, 7] and rows["other.test"][:2] == [4, 4]
    assert lines[1].split()[0] == "TOTAL" and lines[2].split()[0] == "slow.test"
    r = ctl(op, "queue", "--summary", "--json")
    js = {o["domain"]: o for o in map(json.loads, r.stdout.splitlines())}
    assert js["other.test"]["total"] == 4 and js["other.test"]["buckets"]["5"] == 4
    assert js["TOTAL"]["buckets"]["1280+"] == 0

    other = queue_ids(op, "@other.test")
    assert len(other) == 4
    assert all(any(rc["address"].endswith("@other.test") for rc in m["recipients"])
               for m in other.values())

    r = ctl(op, "hold", "@other.test")
    assert r.returncode == 0 and "4 mails on hold" in r.stdout, (r.stdout, r.stderr)
    q = queue_ids(op)
    assert {i for i, m in q.items() if m["held"]} == set(other)
    r = ctl(op, "release", "all")
    assert r.returncode == 0 and "4 mails released" in r.stdout, (r.stdout, r.stderr)
    assert not any(m["held"] for m in queue_ids(op).values())

    # delete @domain takes only mails that wait for nothing else.
    r = ctl(op, "delete", "@other.test")
    assert r.returncode == 0 and "3 mails deleted" in r.stdout, (r.stdout, r.stderr)
    q = queue_ids(op)
    assert len(q) == 7
    assert any(len(m["recipients"]) == 2 for m in q.values())

    # ids on standard input, as postsuper takes them
    two = sorted(q)[:2]
    r = ctl(op, "hold", "-", stdin="\n".join(two) + "\n")
    assert r.returncode == 0, r.stderr
    q = queue_ids(op)
    assert {i for i, m in q.items() if m["held"]} == set(two)
    r = ctl(op, "release", "-", stdin=two[0] + "\nNOSUCHID\n")
    assert r.returncode == 1 and "no such mail: NOSUCHID" in r.stderr
    assert not queue_ids(op)[two[0]]["held"]

    before = sum(receiver.attempts(a) for rl in rcpts for a in rl)
    r = ctl(op, "flush", "all")
    assert r.returncode == 0 and "re-sent now" in r.stdout, r.stderr
    H.wait_until(lambda: sum(receiver.attempts(a) for rl in rcpts for a in rl) > before, 20,
                 what="flush all re-sent the deferred mail")
    for bad in (["hold", "@"], ["delete", "@"], ["queue", "--summary", "@x.test"]):
        r = ctl(op, *bad)
        assert r.returncode == 1 and "usage" in r.stderr, (bad, r.stderr)


def test_trace_by_queue_id_and_address(root, outpost_factory, receiver):
    """A deferred mail traced by its queue id, another by its recipient's
    address: their re-sends show the dialogue, a third mail's does not."""
    op = outpost_factory({"delivery_mode": "relay",
                          "relay_host": f"[127.0.0.1]:{receiver.port}",
                          "log_level": "basic", "resend_interval": "1h"})
    for a in ("q@ids.test", "r@addr.test", "s@none.test"):
        receiver.tempfail(a, 1)
        assert op.sendmail([a], b"Subject: t\n\nbody\n").returncode == 0
    H.wait_until(lambda: len(queue_ids(op)) == 3 and all(
        m["recipients"][0]["state"] == "deferred" for m in queue_ids(op).values()), 30,
        what="three deferred mails")
    qid = [i for i, m in queue_ids(op).items()
           if m["recipients"][0]["address"] == "q@ids.test"][0]
    assert ctl(op, "trace", qid, "2").returncode == 0
    assert ctl(op, "trace", "R@addr.test").returncode == 0
    r = ctl(op, "trace")
    assert qid in r.stdout and "R@addr.test" in r.stdout
    off = op.log_offset()
    assert ctl(op, "flush", "all").returncode == 0
    receiver.wait_messages(3, timeout=30)
    op.wait_log(r"to=<s@none\.test>.*status=sent", start=off, timeout=20)
    log = op.log_text()[off:]
    assert "> RCPT TO:<q@ids.test>" in log
    assert "> RCPT TO:<r@addr.test>" in log
    assert "RCPT TO:<s@none.test>" not in log
