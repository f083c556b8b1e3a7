# SPDX-License-Identifier: ISC
"""
Per-process limits from the config (issue 2): each kind of child gets its
own RLIMIT_NOFILE, RLIMIT_AS and nice value before it starts work, and the
agent count follows [agent] count.
"""
import os
import re

import outpost_harness as H


def limits(pid):
    text = open(f"/proc/{pid}/limits").read()
    out = {}
    for name, key in (("Max open files", "nofile"), ("Max address space", "as")):
        m = re.search(rf"^{name}\s+(\S+)\s+(\S+)", text, re.M)
        out[key] = (m.group(1), m.group(2))
    return out


def nice(pid):
    # Field 19 of /proc/PID/stat, after the parenthesised command.
    stat = open(f"/proc/{pid}/stat").read()
    return int(stat[stat.rindex(")") + 2:].split()[16])


def test_limits_apply_per_process_kind(root, outpost_factory):
    # AddressSanitizer reserves terabytes of address space: no RLIMIT_AS there.
    asan = "ASAN_OPTIONS" in os.environ
    agent = {"count": 3, "open_files": 777, "nice": 7}
    if not asan:
        agent["memory"] = "3G"
    op = outpost_factory(sections={
        "agent": agent,
        "smtpd": {"open_files": 555, "nice": 3},
        "qmgr": {"open_files": 2048},
    })
    agents = op.children_by_title("agent")
    assert len(agents) == 3
    for a in agents:
        lim = limits(a.pid)
        assert lim["nofile"] == ("777", "777")
        if not asan:
            assert lim["as"] == (str(3 << 30), str(3 << 30))
        assert nice(a.pid) == 7
    smtpd = op.child("smtpd")
    assert limits(smtpd.pid)["nofile"] == ("555", "555")
    assert nice(smtpd.pid) == 3
    qmgr = op.child("qmgr")
    assert limits(qmgr.pid)["nofile"] == ("2048", "2048")
    assert nice(qmgr.pid) == 0
    # Kinds without settings get their role's default (README, Security):
    # the scheduler holds its links (one per agent and more) and a queue
    # file per job it can have at the agents (3 agents x 200 sessions).
    assert limits(op.child("scheduler").pid)["nofile"] == ("667", "667")
    # And the whole thing still works.
    r = op.sendmail(["someone@example.net"], b"Subject: limits\n\nbody\n")
    assert r.returncode == 0, r.stderr


def test_bad_limit_is_a_config_error(workdir):
    conf = workdir / "bad.conf"
    conf.write_text("[agent]\nnice = 40\nmemory = lots\n")
    import subprocess
    r = subprocess.run([str(H.OUTPOST), "-n", "-f", str(conf)], capture_output=True, text=True)
    assert r.returncode == 1
    assert f"{conf}:2:" in r.stderr and f"{conf}:3:" in r.stderr
