# SPDX-License-Identifier: ISC
"""
outpostctl and the master's control socket (issue 5): the log level switched
at run time, reload with a changed relay host, a broken config refused on
reload (nothing changes), SIGHUP, who may use the socket, check-config.
"""
import grp
import os
import signal
import subprocess


import outpost_harness as H
from outpost_harness import ctl


def relay(rx):
    return f"[127.0.0.1]:{rx.port}"


def send(op, rcpt, subject):
    r = op.sendmail(["-f", "sender@example.org", rcpt],
                    f"Subject: {subject}\n\nbody of {subject}\n".encode())
    assert r.returncode == 0, r.stderr


def child_pids(op):
    return sorted((p.pid for p in op.children()))


def test_log_level_switches_at_run_time(root, outpost_factory, receiver):
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": relay(receiver),
                                 "log_level": "basic"})
    send(op, "one@example.net", "first")
    receiver.wait_messages(1)
    op.wait_log(r"to=<one@example.net>.*status=sent")
    assert "> MAIL FROM:" not in op.log_text()
    r = ctl(op, "log", "detailed")
    assert r.returncode == 0, r.stderr
    start = op.log_offset()
    send(op, "two@example.net", "second")
    receiver.wait_messages(2)
    op.wait_log(r"to=<two@example.net>.*status=sent", start=start)
    later = op.log_text()[start:]
    # Every command sent and every reply received, for the next delivery.
    assert "> MAIL FROM:<sender@example.org>" in later
    assert "> RCPT TO:<two@example.net>" in later
    assert "< 250" in later
    r = ctl(op, "status")
    assert "log_level: detailed" in r.stdout
    assert "control: uid 0 (root) ran: log detailed" in op.log_text()
    # And back.
    assert ctl(op, "log", "basic").returncode == 0
    start = op.log_offset()
    send(op, "three@example.net", "third")
    receiver.wait_messages(3)
    op.wait_log(r"to=<three@example.net>.*status=sent", start=start)
    assert "> MAIL FROM:" not in op.log_text()[start:]


def test_reload_moves_the_next_deliveries(root, outpost_factory, receiver_factory):
    a, b = receiver_factory(), receiver_factory()
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": relay(a)})
    send(op, "before@example.net", "before")
    a.wait_messages(1)
    op.params["relay_host"] = relay(b)
    op.write_config()
    r = ctl(op, "reload")
    assert r.returncode == 0, r.stderr
    op.wait_log(r"configuration reloaded")
    send(op, "after@example.net", "after")
    b.wait_messages(1)
    assert a.delivered_to("after@example.net") == []
    assert len(b.delivered_to("after@example.net")) == 1
    assert op.running()


def test_reload_with_broken_config_changes_nothing(root, outpost_factory, receiver):
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": relay(receiver)})
    before = child_pids(op)
    good = op.conf_path.read_text()
    op.conf_path.write_text(good + "resend_attempts = lots\nno_such_parameter = 1\n")
    r = ctl(op, "reload")
    assert r.returncode != 0
    assert "resend_attempts" in r.stderr and "no_such_parameter" in r.stderr
    op.wait_log(r"reload refused")
    log = op.log_text()
    assert "unknown parameter \"no_such_parameter\"" in log
    # Same processes, same behaviour: mail still goes to the old relay.
    assert child_pids(op) == before
    send(op, "still@example.net", "still")
    receiver.wait_messages(1)
    op.conf_path.write_text(good)


def test_sighup_reloads(root, outpost_factory, receiver_factory):
    a, b = receiver_factory(), receiver_factory()
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": relay(a)})
    op.params["relay_host"] = relay(b)
    op.write_config()
    start = op.log_offset()
    os.kill(op.pid, signal.SIGHUP)
    op.wait_log(r"configuration reloaded", start=start)
    send(op, "hup@example.net", "hup")
    b.wait_messages(1)
    assert a.count() == 0


def test_only_root_and_admin_group_may_control(root, outpost_factory, workdir):
    H.ensure_user("outpost-ctltest")
    try:
        grp.getgrnam("outpost-admins")
    except KeyError:
        subprocess.run(["groupadd", "--system", "outpost-admins"], check=True)
    subprocess.run(["usermod", "-a", "-G", "outpost-admins", "outpost-ctltest"], check=True)
    op = outpost_factory(params={"admin_group": "outpost-admins"})
    os.chmod(op.state_dir, 0o755)
    r = ctl(op, "status", user="nobody")
    assert r.returncode != 0
    assert "cannot reach" in r.stderr or "closed" in r.stderr
    pw_ok = subprocess.run(["id", "-nG", "outpost-ctltest"], capture_output=True, text=True)
    assert "outpost-admins" in pw_ok.stdout
    import pwd
    pw = pwd.getpwnam("outpost-ctltest")
    r = subprocess.run([str(H.OUTPOSTCTL), "-f", str(op.conf_path), "status"],
                       capture_output=True, text=True, timeout=30, user=pw.pw_uid,
                       group=pw.pw_gid, extra_groups=[grp.getgrnam("outpost-admins").gr_gid])
    assert r.returncode == 0, r.stderr
    assert "qmgr: running" in r.stdout
    assert f"uid {pw.pw_uid} (outpost-ctltest) ran: status" in op.log_text()


def test_check_config(workdir):
    good = workdir / "good.conf"
    good.write_text("delivery_mode = relay\nrelay_host = [127.0.0.1]:2525\n")
    r = subprocess.run([str(H.OUTPOSTCTL), "check-config", str(good)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "valid" in r.stdout
    bad = workdir / "bad.conf"
    bad.write_text("delivery_mode = relay\n\nresend_interval = soon\n[agent]\ncount = 0\n")
    r = subprocess.run([str(H.OUTPOSTCTL), "check-config", str(bad)], capture_output=True,
                       text=True)
    assert r.returncode == 1
    assert f"{bad}:3: resend_interval" in r.stderr
    assert f"{bad}:5:" in r.stderr
    assert "relay needs relay_host" in r.stderr
    r = subprocess.run([str(H.OUTPOST), "-n", "-f", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and f"{bad}:3:" in r.stderr
