# SPDX-License-Identifier: ISC
"""
Logging to a file (issue 5): every process writes to the file named by
`log`, and SIGUSR1 makes all of them, chrooted children included, continue
in a new file after logrotate moved the old one away.
"""
import os
import signal
import subprocess
import time

import outpost_harness as H


def test_log_file_reopened_on_sigusr1(root, workdir, receiver):
    op = H.Outpost(workdir / "op", params={
        "delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{receiver.port}",
        "log": str(workdir / "outpost.log"), "log_level": "basic"})
    logfile = workdir / "outpost.log"
    proc = subprocess.Popen([str(H.OUTPOST), "-F", "-f", str(op.conf_path)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    op.proc = proc
    try:
        H.wait_until(lambda: op.submit_socket.is_socket() and
                     H.smtp_banner_ok("127.0.0.1", op.smtp_port), 20, what="outpost ready")
        r = op.sendmail(["first@example.net"], b"Subject: one\n\nbody\n")
        assert r.returncode == 0, r.stderr
        H.wait_until(lambda: "to=<first@example.net>" in logfile.read_text(), 20,
                     what="first delivery logged")
        rotated = workdir / "outpost.log.1"
        os.rename(logfile, rotated)
        os.kill(proc.pid, signal.SIGUSR1)
        H.wait_until(lambda: logfile.exists(), 10, what="a new log file")
        time.sleep(0.3)   # the children take their new descriptor from the master
        r = op.sendmail(["second@example.net"], b"Subject: two\n\nbody\n")
        assert r.returncode == 0, r.stderr
        H.wait_until(lambda: "to=<second@example.net>" in logfile.read_text(), 20,
                     what="second delivery logged in the new file")
        new, old = logfile.read_text(), rotated.read_text()
        # The chrooted scheduler's and the queue manager's lines (written by
        # the master for them) go to the new file too.
        assert "outpost/scheduler[" in new and "outpost/qmgr[" in new
        assert "to=<second@example.net>" not in old
        assert "to=<first@example.net>" in old
        assert "reopening the log file" in new or "reopening the log file" in old
    finally:
        H.stop_pid(proc.pid, popen=proc)
