# SPDX-License-Identifier: ISC
"""
What admins grep for is on the basic log level (log_level = basic):

 - the queue manager's "queue active" line carries message-id=<...> (as
   Postfix's cleanup logs it) for every mail, and uid= of the submitter for
   local submissions (outpost-sendmail run as an ordinary user);
 - one size: the queue manager's size= of the mail as queued; smtpd's
   "queued as" line has no second, different size.
"""

import os
import pwd

import pytest



def holding(refused_port):
    return {"delivery_mode": "relay", "relay_host": f"[127.0.0.1]:{refused_port}",
            "resend_interval": "1h", "connect_timeout": "2s", "log_level": "basic"}


@pytest.mark.skipif(os.geteuid() != 0, reason="runs outpost-sendmail as another user")
def test_local_submission_logs_message_id_and_uid(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    nobody = pwd.getpwnam("nobody")
    data = b"Subject: trace me\nMessage-ID: <script.42@www.example.org>\n\nspam?\n"
    r = op.sendmail(["-i", "-f", "www@example.org", "v@dest.test"], data, user="nobody")
    assert r.returncode == 0, r.stderr
    m = op.wait_log(r"([0-9A-F]{24}): from=<www@example\.org>, size=(\d+), nrcpt=1, "
                    r"message-id=<script\.42@www\.example\.org>, uid=(\d+) \(queue active\)",
                    timeout=20)
    assert int(m.group(3)) == nobody.pw_uid
    [q] = op.queued_mails().values()
    assert q.id == m.group(1)
    assert int(m.group(2)) == len(q.content)


def test_smtp_submission_one_size(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    data = b"Subject: s\r\nMessage-ID: <smtp.1@src.test>\r\n\r\nbody\r\n"
    code, text = op.smtp_send("a@src.test", ["b@dest.test"], data)
    assert code == 250, text
    m = op.wait_log(r"([0-9A-F]{24}): from=<a@src\.test>, size=(\d+), nrcpt=1, "
                    r"message-id=<smtp\.1@src\.test> \(queue active\)",
                    timeout=20)
    [q] = op.queued_mails().values()
    # the queued mail is what was sent plus outpost's Received: field
    assert int(m.group(2)) == len(q.content) > len(data)
    # smtpd's line and the qmgr's reach the master in frames of their own, in either order.
    line = op.wait_log(r"[^\n]*queued as " + m.group(1) + r"[^\n]*", timeout=10).group(0)
    assert "size=" not in line, line


def test_mail_without_message_id(outpost_factory, refused_port):
    op = outpost_factory(params=holding(refused_port))
    code, text = op.smtp_send("a@src.test", ["b@dest.test"], b"Subject: none\r\n\r\nbody\r\n")
    assert code == 250, text
    op.wait_log(r"from=<a@src\.test>, size=\d+, nrcpt=1, message-id=<> \(queue active\)",
                timeout=20)
