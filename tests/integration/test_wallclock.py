# SPDX-License-Identifier: ISC
"""
Retries against a wall-clock jump: the wall clock of every outpost process is
shifted by an LD_PRELOAD shim (fakewall.c) while a mail waits for its
re-send. A jump back by an hour must not freeze the retry for an hour, and a
jump forward by a day must not make it come early: re-sends keep their
interval as measured by the monotonic clock.
"""
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

import outpost_harness as H

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
