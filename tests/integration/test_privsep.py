# SPDX-License-Identifier: ISC
"""
Privilege separation (issue 2, must show), with outpost started as root:

 - ps and /proc show each child under its own user: the queue manager as
   outpostq, the agents as outpost, smtpd, the resolver and the scheduler
   each under a user of their own (README, Security); real, effective, saved and
   filesystem ids all dropped, no capability left, no supplementary group;
 - the chrooted children see an empty root (/proc/PID/root), the queue
   manager sees the queue directory as its root;
 - no process but the queue manager can open a file under the queue
   directory: tried for real with each child's uid and gid, and checked on
   the tree's owners and modes and on every child's open descriptors;
 - started by an ordinary user, every process runs as that user and the
   log says so.
"""

import os
import stat
import subprocess

import pytest

import outpost_harness as H

CHILD_NAMES = ("qmgr", "scheduler", "resolver", "smtpd", "agent 0", "agent 1", "signer", "sts")
# The user each child runs as (parameters of outpost_harness.ROLE_USERS).
CHILD_USER = {"qmgr": H.QUEUE_USER, "scheduler": H.ROLE_USERS["scheduler_user"],
              "resolver": H.ROLE_USERS["resolver_user"], "smtpd": H.ROLE_USERS["smtpd_user"],
              "agent 0": H.MAIL_USER, "agent 1": H.MAIL_USER, "signer": H.ROLE_USERS["signer_user"],
              "sts": H.ROLE_USERS["sts_user"]}


@pytest.fixture
def root_outpost(root, outpost_factory):
    op = outpost_factory(params={"delivery_mode": "relay", "relay_host": "[127.0.0.1]:9",
                                 "resend_interval": "1h"},
                         sections={"agent": {"count": 2}})
    # One queued mail, so that there is a queue file to try to open.
    r = op.sendmail(["-v", "someone@example.net"], b"Subject: privsep\n\nbody\n")
    assert r.returncode == 0, r.stderr
    H.wait_until(lambda: op.queue_files("queue"), 10, what="a queued mail")
    return op


def titled(children, name):
    return [c for c in children if c.title == f"outpost: {name}"]


def test_each_child_under_its_own_user(root_outpost):
    op = root_outpost
    ids = {name: H.user_ids(user) for name, user in CHILD_USER.items()}
    assert all(uid != 0 for uid, _gid in ids.values())
    # One uid per role: the agents share one, every other role has its own.
    assert len({uid for uid, _gid in ids.values()}) == 7, ids

    master = H.ProcInfo(op.pid)
    assert master.uid == 0
    assert master.title == "outpost: master"

    kids = op.children()
    for name in CHILD_NAMES:
        assert len(titled(kids, name)) == 1, f"no single child '{name}': {kids}"
    assert len(kids) == len(CHILD_NAMES), f"unexpected children: {kids}"

    for c in kids:
        want_uid, want_gid = ids[c.title.removeprefix("outpost: ")]
        assert c.uids == (want_uid,) * 4, f"{c.title}: uids {c.uids}"
        assert c.gids == (want_gid,) * 4, f"{c.title}: gids {c.gids}"
        assert set(c.groups) <= {want_gid}, f"{c.title}: supplementary groups {c.groups}"
        for cap in ("CapEff", "CapPrm"):
            assert int(c.status[cap], 16) == 0, f"{c.title}: {cap} {c.status[cap]}"

    # The same seen through ps.
    ps = subprocess.run(["ps", "-o", "user:32=,args=", "--ppid", str(op.pid)],
                        capture_output=True, text=True, timeout=30)
    users = {}
    for line in ps.stdout.splitlines():
        user, _, args = line.strip().partition(" ")
        users[" ".join(args.split()[:3]).rstrip(" .")] = user
    for name in CHILD_NAMES:
        assert users.get(f"outpost: {name}") == CHILD_USER[name], ps.stdout


def test_chroots(root_outpost):
    op = root_outpost
    queue = os.path.realpath(op.queue_dir)
    empty = os.path.realpath(op.empty_dir)
    for c in op.children():
        if c.title == "outpost: qmgr":
            assert c.root == queue, f"qmgr root {c.root}"
            assert "queue" in c.root_entries()
        else:
            assert c.root == empty, f"{c.title}: root {c.root}"
            assert c.root_entries() == [], f"{c.title} sees {c.root_entries()}"
    # The empty root cannot be filled by the children's user.
    st = os.stat(empty)
    assert st.st_uid == 0 and not (st.st_mode & 0o022)


def test_only_qmgr_can_open_queue_files(root_outpost):
    op = root_outpost
    quid, qgid = H.user_ids(H.QUEUE_USER)
    queue = op.queue_dir
    files = [queue / f for f in op.queue_files()]
    assert files, "no queue file to try"
    private_dirs = [queue / d for d in ("queue", "incoming", "corrupt")]

    # Sanity: the queue user itself can (else the test below proves nothing).
    assert H.can_open_as(quid, qgid, files[0])

    for c in op.children():
        if c.title == "outpost: qmgr":
            continue
        for f in files:
            assert not H.can_open_as(c.uid, c.gid, f), f"{c.title} (uid {c.uid}) can open {f}"
            assert not H.can_open_as(c.uid, c.gid, f, write=True)
        for d in private_dirs:
            assert not H.can_list_as(c.uid, c.gid, d), f"{c.title} can list {d}"
        # Nor does any of them hold a descriptor of something in the queue.
        for fd, target in c.open_fds().items():
            assert not target.startswith(os.path.realpath(queue)), \
                f"{c.title} holds fd {fd} -> {target}"

    # Any other local user can reach the submit socket, nothing else.
    tuid, tgid = H.ensure_user("outpost-tester")
    for f in files:
        assert not H.can_open_as(tuid, tgid, f)
    for d in private_dirs:
        assert not H.can_list_as(tuid, tgid, d)


def test_queue_tree_owner_and_modes(root_outpost):
    op = root_outpost
    quid, qgid = H.user_ids(H.QUEUE_USER)
    st = os.stat(op.queue_dir)
    assert (st.st_uid, st.st_gid) == (quid, qgid)
    assert not (st.st_mode & 0o066), f"queue dir mode {oct(st.st_mode)}"
    for rel, uid, gid, mode, kind in op.queue_tree():
        assert uid == quid, f"{rel} owned by uid {uid}"
        if rel == "public/submit.sock":
            assert kind == "s"
            continue
        if rel == "public":
            assert kind == "d" and not (mode & 0o066), f"public mode {oct(mode)}"
            continue
        # Everything else: only the owner may read, write or search it.
        assert not (mode & 0o077), f"{rel}: mode {oct(mode)}"
        assert kind in ("d", "f"), f"{rel}: unexpected kind {kind}"


def test_started_as_ordinary_user(outpost_factory, root):
    tuid, tgid = H.ensure_user("outpost-tester")
    op = outpost_factory(params={"user": None, "queue_user": None, "delivery_mode": "relay",
                                 "relay_host": "[127.0.0.1]:9", "resend_interval": "1h"},
                         start=False, as_root=False)
    op.start(user="outpost-tester")
    assert "not started as root" in op.log_text()
    master = H.ProcInfo(op.pid)
    assert master.uids == (tuid,) * 4
    kids = op.children()
    assert kids
    for c in kids:
        assert c.uids == (tuid,) * 4, f"{c.title}: {c.uids}"
    # And it works: a local submission is queued.
    r = op.sendmail(["-v", "someone@example.net"], b"Subject: unprivileged\n\nbody\n",
                    user="outpost-tester")
    assert r.returncode == 0, r.stderr
    [m] = op.queued_mails().values()
    assert m.uid == tuid
    for rel, uid, _gid, _mode, _kind in op.queue_tree():
        assert uid == tuid, f"{rel} owned by {uid}"
    st = os.stat(op.queue_dir)
    assert st.st_uid == tuid and stat.S_ISDIR(st.st_mode)
