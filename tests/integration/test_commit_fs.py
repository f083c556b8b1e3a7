# SPDX-License-Identifier: ISC
"""
The commit round and the queue's file system (daemons/qmgr/qmgr_commit.c):
on a journaled file system a round is answered when its own syncfs()
returns; on one without a journal (or one not known) only after the next
flush. The queue manager finds out before its chroot and says so at start.

- the decision logged for the test's own queue matches what the test finds
  itself (statfs type, /sys/dev/block, /proc/fs/jbd2);
- on ext4 images made by the test (loop devices, root only), with and
  without a journal, the log names the right way and mails submitted in
  concurrent sessions are all acknowledged, queued durably and delivered.
"""
import os
import re
import shutil
import subprocess
import threading

import pytest

import outpost_harness as H

EXT4_MAGIC = 0xEF53
JOURNALED = {0x58465342, 0x9123683E}   # xfs, btrfs

COMMIT_LINE = re.compile(r"qmgr: commit: queue on (.*?): a round is answered (when its syncfs\(\) "
                         r"returns \(journaled\)|after the next flush \(no journal known\))")


def fs_facts(path):
    """(statfs type, device name, has an ext4 journal) found without outpost."""
    out = subprocess.run(["stat", "-f", "-c", "%t", str(path)], capture_output=True,
                         text=True, check=True).stdout.strip()
    fstype = int(out, 16)
    st = os.stat(path)
    try:
        link = os.readlink(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    except OSError:         # no block device (tmpfs, overlayfs, btrfs subvolumes)
        return fstype, "?", False
    dev = os.path.basename(link)
    return fstype, dev, os.path.exists(f"/proc/fs/jbd2/{dev}-8")


def test_logged_decision_matches_the_file_system(outpost_factory):
    op = outpost_factory()
    m = op.wait_log(COMMIT_LINE.pattern, timeout=10)
    fstype, dev, journal = fs_facts(op.queue_dir)
    durable = fstype in JOURNALED or (fstype == EXT4_MAGIC and journal)
    assert m.group(2).startswith("when") == durable, (m.group(0), hex(fstype), dev, journal)
    assert m.group(1).endswith(f" on {dev}"), m.group(0)


def _mount_ext4(image, mnt, journal):
    opts = [] if journal else ["-O", "^has_journal"]
    subprocess.run(["truncate", "-s", "96M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", *opts, str(image)], check=True,
                   capture_output=True)
    r = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"no loop mount here: {r.stderr.strip()}")


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "no-journal"])
def test_commit_rounds_on_ext4(outpost_factory, receiver, workdir, journal):
    if not H.is_root() or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs root and mkfs.ext4 (e2fsprogs) for a loop-mounted file system")
    op = outpost_factory(start=False, name="onloop", params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{receiver.port}",
        "queue_min_free": "8M",             # the image is small
    })
    image = workdir / "queue.img"
    _mount_ext4(image, op.state_dir, journal)
    try:
        os.chmod(op.state_dir, 0o755)
        op.start()
        m = op.wait_log(COMMIT_LINE.pattern, timeout=10)
        dev = fs_facts(op.state_dir)[1]
        assert m.group(1) == ("ext2/3/4 with a journal on " if journal else
                              "ext2/3/4 without a journal on ") + dev, m.group(0)
        assert m.group(2).startswith("when") == journal, m.group(0)

        # concurrent sessions: rounds of several mails, each answered 250
        n_threads, per_thread = 8, 10
        errors = []

        def send(t):
            for i in range(per_thread):
                try:
                    r = op.smtp_send("s@example.org", [f"r{t}-{i}@example.net"],
                                     b"Subject: round %d-%d\r\n\r\nbody\r\n" % (t, i))
                    if r[0] != 250:
                        errors.append(r)
                except Exception as e:      # noqa: BLE001 (reported below)
                    errors.append(repr(e))

        threads = [threading.Thread(target=send, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not any(th.is_alive() for th in threads)
        assert errors == []
        got = receiver.wait_messages(n_threads * per_thread, timeout=60)
        assert sorted(r for msg in got for r in msg.rcpt_tos) == \
            sorted(f"r{t}-{i}@example.net" for t in range(n_threads) for i in range(per_thread))
        H.wait_until(lambda: op.queue_files("queue") == [], 20, 0.1, what="queue empty")
        op.stop()
        m = re.findall(r"commit: (\d+) jobs in (\d+) rounds", op.log_text())
        jobs, rounds = map(int, m[-1])
        # a commit and a removal per mail, in fewer rounds than jobs
        assert jobs >= 2 * n_threads * per_thread and rounds < jobs, m[-1]
    finally:
        op.stop()
        subprocess.run(["umount", str(op.state_dir)], check=False)
