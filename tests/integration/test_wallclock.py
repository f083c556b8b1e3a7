# SPDX-License-Identifier: ISC
"""
Retries against a wall-clock jump: the wall clock of every outpost process is
shifted by an LD_PRELOAD shim (fakewall.c) while a mail waits for its
re-send. A jump back by an hour must not freeze the retry for an hour, and a
jump forward by a day must not make it come early: re-sends keep their
interval as measured by the monotonic clock. A bounce postponed for want of
space after a jump forward by a day is not frozen for that day either, and
the master's count of a child's deaths in the last minute is not emptied by
such a jump.
"""
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

import outpost_harness as H
import test_queue_space
from test_mesh import crash_storm
from test_queue_space import MB, RESERVE, fill_to

tmpfs_outpost = test_queue_space.tmpfs_outpost      # the fixture, used here too

HERE = Path(__file__).resolve().parent
MSG = b"Subject: wall clock\n\nbody\n"


@pytest.fixture
def fakewall(workdir):
    if "ASAN_OPTIONS" in os.environ:
        pytest.skip("the sanitizer runtime must come first: no LD_PRELOAD shim")
    so = workdir / "fakewall.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(so), str(HERE / "fakewall.c"),
                    "-ldl"], check=True)
    so.chmod(0o755)
    off = workdir / "wall-offset"
    off.write_bytes(struct.pack("<q", 0))
    off.chmod(0o644)

    def jump(seconds):
        with open(off, "r+b") as f:
            f.write(struct.pack("<q", seconds))
    return so, off, jump


def test_wall_clock_jumps_neither_freeze_nor_fire_retries(outpost_factory, receiver,
                                                          fakewall, monkeypatch):
    so, off, jump = fakewall
    receiver.tempfail("soft@dest.test", times=3)
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": receiver.hostport,
                                 "resend_interval": "6", "resend_attempts": 10},
                         start=False)
    with monkeypatch.context() as m:
        m.setenv("LD_PRELOAD", str(so))
        m.setenv("FAKEWALL_FILE", str(off))
        op.start()
    r = op.sendmail(["-f", "sender@src.test", "soft@dest.test"], MSG)
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: receiver.attempts("soft@dest.test") == 1, 20, what="first attempt")
    t1 = time.monotonic()

    # An hour back: the re-send still comes about 6 s after the first attempt.
    jump(-3600)
    H.wait_until(lambda: receiver.attempts("soft@dest.test") == 2, 30, interval=0.2,
                 what="the re-send after a backward jump")
    t2 = time.monotonic()
    assert 4 <= t2 - t1 < 20, t2 - t1

    # A day forward: the next re-send does not come at once.
    jump(86400)
    time.sleep(3)
    assert receiver.attempts("soft@dest.test") == 2
    H.wait_until(lambda: receiver.attempts("soft@dest.test") == 3, 30, interval=0.2,
                 what="the re-send after a forward jump")
    t3 = time.monotonic()
    assert 4 <= t3 - t2 < 20, t3 - t2
    jump(0)


def test_postponed_bounce_not_frozen_by_a_forward_jump(tmpfs_outpost, receiver, fakewall,
                                                       monkeypatch):
    so, off, jump = fakewall
    hard = {"phase": 1}
    receiver.script_rcpt("hard@dest.test", lambda n: "451 4.3.0 later" if hard["phase"] == 1
                         else "550 5.1.1 No such user here")
    with monkeypatch.context() as m:
        m.setenv("LD_PRELOAD", str(so))
        m.setenv("FAKEWALL_FILE", str(off))
        op = tmpfs_outpost({"delivery_mode": "relay",
                            "relay_host": f"[127.0.0.1]:{receiver.port}",
                            "resend_interval": "2", "resend_attempts": 50})
    r = op.sendmail(["-f", "sender@src.test", "hard@dest.test"], MSG)
    assert r.returncode == 0, r.stderr
    op.wait_log(r"to=<hard@dest.test>.*status=deferred", timeout=20)

    # The disk fills and the wall clock jumps a day forward; the next attempt
    # fails for good and its bounce cannot be written.
    fill_to(op, RESERVE - MB)
    op.wait_log(r"queue file system low on space", timeout=10)
    jump(86400)
    hard["phase"] = 2
    start = op.log_offset()
    op.wait_log(r"bounce postponed \(queue low on space\): 1 recipients deferred", timeout=20)

    # Space is back: the bounce follows within a few resend intervals, not a day.
    os.unlink(op.state_dir / "filler")
    op.wait_log(r"queue file system has space again", timeout=10, start=start)
    t0 = time.monotonic()
    H.wait_until(lambda: receiver.delivered_to("sender@src.test"), 15, interval=0.2,
                 what="the bounce once space is back")
    assert time.monotonic() - t0 < 15
    H.wait_until(lambda: op.queued_mails() == {}, 20, what="an empty queue")
    assert len(receiver.delivered_to("sender@src.test")) == 1
    jump(0)


def test_crash_count_keeps_its_minute_across_a_jump(root, outpost_factory, fakewall,
                                                    monkeypatch):
    so, off, jump = fakewall
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": "[127.0.0.1]:9"},
                         start=False)
    with monkeypatch.context() as m:
        m.setenv("LD_PRELOAD", str(so))
        m.setenv("FAKEWALL_FILE", str(off))
        op.start()
    # Seven deaths within seconds, the wall clock a day later after the third:
    # still seven in the last minute, a storm (more than 5) to report.
    crash_storm(op, lambda i: jump(86400) if i == 3 else None)
    jump(0)
