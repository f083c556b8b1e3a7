# SPDX-License-Identifier: ISC
"""
The test peers themselves behave as the other integration tests assume:
the scriptable receiver stores mail byte-exact and answers as scripted,
swaks (with the harness's options) and smtp-source deliver to it, and
smtp-sink counts. No outpost process is involved.
"""

import outpost_harness as H


def test_receiver_stores_swaks_mail_byte_exact(receiver):
    data = (b"Subject: exact\r\nX-Odd:  two  spaces \r\n\r\n"
            b".leading dot\r\n..two dots\r\n.\r\nlast line without dot\r\n")
    r = H.swaks(receiver.port, "a@dest.test", data=data)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<**" not in r.stdout, r.stdout    # no error reply anywhere in the dialogue
    [m] = receiver.wait_messages(1, timeout=10)
    assert m.data == data
    assert m.rcpt_tos == ["a@dest.test"]
    assert m.mail_from == "sender@example.org"
    assert m.path.read_bytes() == data


def test_receiver_scripted_replies_and_counters(receiver):
    receiver.tempfail("soft@dest.test", times=2)
    receiver.reject("hard@dest.test")
    data = b"Subject: s\r\n\r\nbody\r\n"
    for _ in range(2):
        code, _ = H.smtp_send(receiver.host, receiver.port, "s@src.test", ["soft@dest.test"], data)
        assert code == 451
    code, _ = H.smtp_send(receiver.host, receiver.port, "s@src.test", ["soft@dest.test"], data)
    assert code == 250
    code, _ = H.smtp_send(receiver.host, receiver.port, "s@src.test", ["hard@dest.test"], data)
    assert code == 550
    assert receiver.attempts("soft@dest.test") == 3
    assert receiver.attempts("HARD@dest.test") == 1
    assert len(receiver.delivered_to("soft@dest.test")) == 1
    assert receiver.count() == 1


def test_smtp_source_into_smtp_sink(smtp_sink_factory):
    sink = smtp_sink_factory()
    r = H.smtp_source(sink.port, 20, sessions=4, length=512)
    assert r.returncode == 0, r.stdout + r.stderr
    H.wait_until(lambda: sink.count() >= 20, 10, what="20 mails at smtp-sink")


def test_config_text_format():
    text = H.config_text({"resend_attempts": 5, "listen": ["127.0.0.1:1", "[::1]:1"],
                          "relay_host": None},
                         {"agent": {"count": 2}}, {"example.com": "[127.0.0.1]:25"})
    assert "resend_attempts = 5\n" in text
    assert "listen = 127.0.0.1:1, [::1]:1\n" in text
    assert "relay_host" not in text
    assert "[agent]\ncount = 2\n" in text
    assert "[routes]\nexample.com = [127.0.0.1]:25\n" in text


def test_smtp_source_file_wire_format(receiver, workdir):
    f = workdir / "msg.eml"
    f.write_bytes(b"From: a@b.test\nSubject: src\n\n.dot line\nbody\n")
    r = H.smtp_source(receiver.port, 2, sessions=1, message_file=f)
    assert r.returncode == 0, r.stdout + r.stderr
    for m in receiver.wait_messages(2, timeout=10):
        assert m.data == H.smtp_source_wire(f.read_bytes())


def test_strip_trace():
    c = b"Received: from x\r\n\tby y; date\r\nSubject: s\r\n\r\nb"
    assert H.strip_trace(c) == b"Subject: s\r\n\r\nb"
    assert H.strip_trace(b"Received: a\nb: c\n") == b"b: c\n"
