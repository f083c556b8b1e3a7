# SPDX-License-Identifier: ISC
"""
Commit rounds (issue 19): concurrent submissions share one sync of the queue.
  - 400 mails over 20 parallel smtp-source sessions, relay refusing so that
    they stay queued: every mail is queued intact and exactly once, and the
    queue manager made them durable in rounds of 1.5 jobs or more (with
    queue_sync = syncfs a round is one syncfs(), one device flush);
  - the same with queue_sync = files (an fdatasync per file; rounds of more
    than one job);
  - in both, nothing is left in incoming/ or corrupt/, and a restart finds
    every mail again.
"""

import re

import pytest


N = 400
ROUNDS = re.compile(r"qmgr: commit: (\d+) jobs in (\d+) rounds")


@pytest.mark.parametrize("queue_sync", ["syncfs", "files"])
def test_concurrent_submissions_share_commit_rounds(outpost_factory, refused_port, queue_sync):
    op = outpost_factory(params={
        "delivery_mode": "relay",
        "relay_host": f"[127.0.0.1]:{refused_port}",
        "resend_interval": "1h",
        "connect_timeout": "2s",
        "queue_sync": queue_sync,
    })
    r = op.smtp_source(N, sessions=20, length=4096, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    queued = op.queued_mails()
    assert len(queued) == N, f"{len(queued)} mails queued, expected {N}"
    assert not op.corrupt_files()
    op.stop()

    m = ROUNDS.findall(op.log_text())
    assert m, "the queue manager did not report its commit rounds"
    jobs, rounds = map(int, m[-1])
    assert jobs >= N, f"{jobs} commit jobs for {N} mails"
    # 20 sessions at once: a round carries several of them. With syncfs
    # rounds are paced (one per 2 ms at most) and each mail waits for two
    # flushes, so they pile up; file by file a round takes what came while
    # the one before ran (fewer under a slow, sanitized build).
    if queue_sync == "syncfs":
        assert 0 < rounds and rounds * 3 <= jobs * 2, f"{jobs} jobs in {rounds} rounds"
    else:
        assert 0 < rounds < jobs, f"{jobs} jobs in {rounds} rounds: no grouping"

    # What was acknowledged is what a restart finds.
    op.start()
    op.wait_log(rf"qmgr: recovery: {N} mails queued, 0 corrupt moved aside", timeout=60)
    assert len(op.queued_mails()) == N
    assert not any((op.queue_dir / "incoming").iterdir())
