# SPDX-License-Identifier: ISC
"""
Ready for a distribution: one version (the VERSION file) printed by every
program's -V/--version and matching the Debian changelog; -h/--help print the
usage and succeed; outpost.conf(5) documents every parameter `outpost -R`
prints; every man page passes `mandoc -T lint`; the units carry the
Makefile's prefixes; `make dist` makes a tarball of exactly the tracked files;
every tracked source file carries the ISC SPDX line; the master logs its
version when it starts.
"""
import re
import shutil
import subprocess

import pytest

import outpost_harness as h

VERSION = (h.REPO / "VERSION").read_text().strip()
PROGRAMS = [h.OUTPOST, h.OUTPOSTCTL, h.SENDMAIL]
MAN_PAGE = h.BUILD / "man" / "outpost.conf.5"
MAN_SOURCES = [h.REPO / "man" / "outpost.8", h.REPO / "man" / "outpostctl.8",
               h.REPO / "tools" / "sendmail" / "outpost-sendmail.8"]


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=60, **kw)


def test_version_file_is_one_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    first = (h.REPO / "debian" / "changelog").read_text().splitlines()[0]
    assert first.startswith(f"outpost ({VERSION})"), "debian/changelog must match VERSION"
    assert f"\n{VERSION} " in "\n" + (h.REPO / "NEWS").read_text(), "NEWS names the version"


@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda p: p.name)
@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flags(prog, flag):
    r = run(prog, flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{prog.name} (outpost) {VERSION}\n"


@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda p: p.name)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_flags_print_usage_and_succeed(prog, flag):
    r = run(prog, flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: ")
    assert "OUTPOST_CONFIG" in r.stdout


@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda p: p.name)
def test_a_wrong_option_still_fails(prog):
    r = run(prog, "-Z")
    assert r.returncode != 0
    assert "usage" in r.stderr


def test_sendmail_V_with_an_argument_is_not_the_version():
    # sendmail's -V takes an envelope id: with other arguments it is no query.
    r = run(h.SENDMAIL, "-V", "envid", "-bp", env={"OUTPOST_CONFIG": "/nonexistent/outpost.conf"})
    assert "(outpost)" not in r.stdout


def reference_names():
    r = run(h.OUTPOST, "-R")
    assert r.returncode == 0
    names = re.findall(r"^([a-z0-9_]+) \(", r.stdout, re.M)
    assert len(names) > 20
    return names


def test_outpost_conf_5_documents_every_parameter():
    page = MAN_PAGE.read_text()
    documented = set(re.findall(r"^\.It Ic ([a-z0-9_]+)$", page, re.M))
    missing = [n for n in reference_names() if n not in documented]
    assert not missing, f"not in outpost.conf(5): {missing}"


def test_outpost_conf_5_is_current():
    # The page in the build is what the generator makes of today's -R. Its
    # date is left out of the comparison: a package build takes it from
    # debian/changelog (SOURCE_DATE_EPOCH), a plain build from VERSION's
    # time, and the two differ whenever they fall on different days.
    r = subprocess.run(f"'{h.OUTPOST}' -R | '{h.REPO}/tools/mkconfman' {VERSION}", shell=True,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    page = MAN_PAGE.read_text()
    date = re.compile(r"^\.Dd [A-Z][a-z]+ \d{1,2}, \d{4}$", re.M)
    assert len(date.findall(page)) == 1 and len(date.findall(r.stdout)) == 1
    assert date.sub(".Dd", r.stdout) == date.sub(".Dd", page)


@pytest.mark.skipif(shutil.which("mandoc") is None, reason="mandoc is not installed")
@pytest.mark.parametrize("page", MAN_SOURCES + [MAN_PAGE], ids=lambda p: p.name)
def test_man_page_is_mandoc_lint_clean(page):
    r = run("mandoc", "-T", "lint", "-W", "warning", page)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@pytest.mark.parametrize("unit", ["outpost.service", "outpost@.service"])
def test_units_use_the_makefile_prefixes(unit):
    text = (h.BUILD / "etc" / unit).read_text()
    assert not re.search(r"@[A-Z]+@", text), "an unexpanded @PLACEHOLDER@ is left"
    m = re.search(r"^ExecStart=(\S+) -F -f (\S+)$", text, re.M)
    assert m and m.group(1).endswith("/sbin/outpost")
    assert "Documentation=man:outpost(8)" in text
    assert "CapabilityBoundingSet=" in text


NOT_A_CHECKOUT = not (h.REPO / ".git").exists() or shutil.which("git") is None

# Tracked files that cannot carry a comment (data, plain-text documents, files
# whose format Debian fixes) and so carry no SPDX line; LICENSE says it for them.
NO_COMMENT = re.compile(r"""(?x) ^(
      .*\.json
    | (.*/)?README[^/]* | INSTALL | LICENSE | NEWS | VERSION
    | debian/changelog | debian/copyright | debian/source/format
    | tests/fuzz/(seeds|corpus[^/]*)/.*
    )$""")


@pytest.mark.skipif(NOT_A_CHECKOUT, reason="not a git checkout")
def test_every_source_file_has_spdx():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=h.REPO, capture_output=True,
                             check=True).stdout.decode().split("\0")
    tracked = [f for f in tracked if f]
    assert len(tracked) > 100 and "Makefile" in tracked
    missing = []
    checked = 0
    for name in tracked:
        if NO_COMMENT.match(name):
            continue
        with open(h.REPO / name, "rb") as f:
            head = b"".join(f.readline() for _ in range(3))
        checked += 1
        if b"SPDX-License-Identifier: ISC" not in head:
            missing.append(name)
    assert checked > 100
    assert not missing, f"no 'SPDX-License-Identifier: ISC' in the first 3 lines of: {missing}"


@pytest.mark.skipif(NOT_A_CHECKOUT, reason="not a git checkout")
def test_make_dist_holds_the_tracked_files(tmp_path):
    tracked = set(subprocess.run(["git", "ls-files"], cwd=h.REPO, capture_output=True,
                                 text=True, check=True).stdout.split())
    tarball = tmp_path / "o.tar.gz"
    subprocess.run(["git", "archive", "--format=tar.gz", f"--prefix=outpost-{VERSION}/",
                    "-o", str(tarball), "HEAD"], cwd=h.REPO, check=True)
    listed = subprocess.run(["tar", "-tzf", str(tarball)], capture_output=True, text=True,
                            check=True).stdout.split()
    names = {n.split("/", 1)[1] for n in listed if not n.endswith("/")}
    for must in ["VERSION", "LICENSE", "NEWS", "Makefile", "debian/control", "debian/rules",
                 "etc/outpost.service.in", "tools/mkconfman", "man/outpost.8"]:
        assert must in names and must in tracked
    assert not any(n.startswith(("build/", "build-")) for n in names)
    # The Makefile's dist target is this same git archive command.
    assert "git archive --format=tar.gz --prefix=outpost-$(VERSION)/" in \
        (h.REPO / "Makefile").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_exposure_at_most_4():
    r = run("systemd-analyze", "security", "--offline=yes", "--threshold=40",
            h.BUILD / "etc" / "outpost.service")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    m = re.search(r"Overall exposure level for outpost.service: (\d+\.\d+)", r.stdout)
    assert m and float(m.group(1)) <= 4.0


def test_master_logs_its_version_at_start(outpost):
    # The first line an administrator reads after a restart or an upgrade
    # says which outpost is running.
    outpost.wait_log(r"starting: outpost " + re.escape(VERSION) + r", ")
