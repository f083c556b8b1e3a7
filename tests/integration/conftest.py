# SPDX-License-Identifier: ISC
"""
pytest fixtures for outpost's integration tests (helpers: outpost_harness.py).

  workdir          a fresh 0755 directory under /tmp, removed after a passing
                   test, kept (path printed) after a failing one
  outpost_factory  outpost_factory(params=..., sections=..., routes=..., start=True)
                   -> a started Outpost; every instance is stopped by PID at teardown,
                   and the test fails if its log shows a child killed by SIGSYS (its
                   seccomp filter) or a sanitizer report
  outpost          one started Outpost with the default config
  receiver         a started scriptable SmtpReceiver (aiosmtpd) on a free port
  receiver_factory more receivers (e.g. one per destination)
  smtp_sink_factory Postfix smtp-sink instances
  root             skips the test unless it runs as root
"""

import os
import re
import signal
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import outpost_harness as H  # noqa: E402

SIGSYS_DEATH = re.compile(rf"^.*killed by signal {int(signal.SIGSYS)} \(.*$", re.M)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Remember each phase's outcome on the item so fixtures know whether
    # the test failed (and keep its directory for a post-mortem).
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    for when in ("setup", "call"):
        rep = getattr(request.node, "rep_" + when, None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.fixture
def root():
    if not H.is_root():
        pytest.skip("needs root")


@pytest.fixture
def refused_port():
    """A TCP port on 127.0.0.1 that is bound but never listens: every
    connection to it is refused at once, so deliveries fail and mails stay
    in the queue."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def outpost_binaries():
    """Fail clearly when the binaries under test are missing."""
    missing = [str(p) for p in (H.OUTPOST, H.SENDMAIL) if not p.exists()]
    if missing:
        pytest.fail(f"not built: {', '.join(missing)} (OUTPOST_BUILD={H.BUILD}; run make)")


@pytest.fixture
def workdir(request):
    d = H.make_tmpdir()
    yield d
    if _failed(request):
        print(f"\nkept {d} for inspection (test failed)")
    else:
        H.remove_tmpdir(d)


@pytest.fixture
def outpost_factory(workdir, outpost_binaries, request):
    made = []

    def make(params=None, sections=None, routes=None, start=True, name=None, **kw):
        sub = workdir / (name or f"outpost{len(made)}")
        op = H.Outpost(sub, params=params, sections=sections, routes=routes, **kw)
        made.append(op)
        if start:
            op.start()
        return op

    yield make
    sanitizer_reports = []
    sigsys = []
    for op in made:
        try:
            op.stop()
        finally:
            if _failed(request):
                print(f"\n--- {op.log_path} (tail) ---\n{op.log_tail(60)}")
        # Under `make asan` a sanitizer report in any daemon fails the test
        # that provoked it, even if the restarted process hid the crash.
        text = op.log_text()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            if marker in text:
                sanitizer_reports.append(f"{op.log_path}: {marker}")
        # A child killed by its seccomp filter (a call missing from its role's
        # allow-list, shared/sandbox.c) fails the test that made it happen,
        # even though the master restarted the child and the test went on.
        # The master's words (master_supervise.c, describe_status):
        # "killed by signal 31 (Bad system call)".
        sigsys += [f"{op.log_path}: {m.group(0)}" for m in SIGSYS_DEATH.finditer(text)]
    if sanitizer_reports:
        pytest.fail("sanitizer reports in outpost's log: " + "; ".join(sanitizer_reports))
    if sigsys:
        pytest.fail("children killed by their seccomp filter: " + "; ".join(sigsys))


@pytest.fixture
def outpost(outpost_factory):
    return outpost_factory()


@pytest.fixture
def receiver_factory(workdir):
    made = []

    def make(**kw):
        rx = H.SmtpReceiver(workdir / f"received{len(made)}", **kw)
        made.append(rx)
        return rx.start()

    yield make
    for rx in made:
        rx.stop()


@pytest.fixture
def receiver(receiver_factory):
    return receiver_factory()


@pytest.fixture
def smtp_sink_factory(workdir):
    made = []

    def make(**kw):
        s = H.SmtpSink(workdir / f"sink{len(made)}", **kw)
        made.append(s)
        return s.start()

    yield make
    for s in made:
        s.stop()
