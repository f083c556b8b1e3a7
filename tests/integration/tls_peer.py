# SPDX-License-Identifier: ISC
"""
Peers for outpost's TLS tests (test_tls_*.py): a certificate authority made
with the openssl command, and a private Postfix instance (its own config
directory, master run directly with chroot off, stopped by PID) whose smtpd
listens on several loopback addresses and ports:

  tls      ADDR1:25    STARTTLS offered, AUTH (Cyrus SASL, sasldb) after TLS only
  plain    ADDR2:25    no STARTTLS
  badtls   ADDR3:25    STARTTLS offered, but only TLS 1.0/1.1: every handshake fails
  submit   ADDR1:PORT  STARTTLS + AUTH, for relay mode
  smtps    ADDR1:PORT  implicit TLS (smtpd_tls_wrappermode) + AUTH

Accepted mail is passed on by Postfix to a scriptable receiver (aiosmtpd),
so a test sees Postfix's Received field, which names the TLS protocol and
cipher and the authenticated sender.
"""

import os
import shutil
import subprocess
from pathlib import Path

import outpost_harness as H

POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
POSTFIX_CMD = "/usr/sbin/postfix"
SASLPASSWD = "/usr/sbin/saslpasswd2"


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise H.HarnessError(f"openssl {' '.join(args)}: {r.stderr}")


class CA:
    """A self-signed CA in dir; issue() makes a server certificate."""

    def __init__(self, dir, name="Outpost Test CA"):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.pem"
        self.key = self.dir / "ca.key"
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                "-out", str(self.cert), "-days", "3", "-subj", f"/CN={name}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self.cert.chmod(0o644)

    def issue(self, name, sans):
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        crt = self.dir / f"{name}.pem"
        ext = self.dir / f"{name}.ext"
        ext.write_text(f"subjectAltName={','.join(sans)}\nbasicConstraints=CA:FALSE\n"
                       "extendedKeyUsage=serverAuth\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                "-subj", f"/CN={name}", cwd=self.dir)
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                "-CAcreateserial", "-out", str(crt), "-days", "3", "-extfile", str(ext),
                cwd=self.dir)
        key.chmod(0o644)
        crt.chmod(0o644)
        return crt, key


MASTER_CF = """\
# written by tests/integration/tls_peer.py: chroot off
{a1}:25 inet n - n - - smtpd
{a2}:25 inet n - n - - smtpd -o smtpd_tls_security_level=none -o smtpd_sasl_auth_enable=no
{a3}:25 inet n - n - - smtpd -o smtpd_tls_protocols=!SSLv2,!SSLv3,!TLSv1.2,!TLSv1.3
  -o smtpd_tls_ciphers=low -o tls_low_cipherlist=DEFAULT:@SECLEVEL=0
{a1}:{submit} inet n - n - - smtpd
{a1}:{smtps} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixTLS:
    """A private Postfix receiving on three loopback addresses (see above)."""

    def __init__(self, dir, addrs, cert, key, forward_port, sasl_user, sasl_password,
                 relay_domains):
        """sasl_user None: no SASL (saslpasswd2 from sasl2-bin missing)."""
        self.dir = Path(dir)
        self.addrs = addrs
        self.cert, self.key = cert, key
        self.forward_port = forward_port
        self.sasl_user, self.sasl_password = sasl_user, sasl_password
        self.relay_domains = relay_domains
        self.submit_port = H.free_port(addrs[0])
        self.smtps_port = H.free_port(addrs[0])
        self.log = self.dir / "maillog"
        self.proc = None

    def _sasldb(self, sasl):
        user, _, realm = self.sasl_user.partition("@")
        db = sasl / "sasldb2"
        r = subprocess.run([SASLPASSWD, "-c", "-p", "-f", str(db), "-u", realm, user],
                           input=self.sasl_password + "\n", capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise H.HarnessError(f"saslpasswd2: {r.stderr}")
        shutil.chown(db, "postfix", "postfix")
        db.chmod(0o600)
        (sasl / "smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
            f"sasldb_path: {db}\n")

    def start(self, timeout=20.0):
        # Debian's Postfix reads $config_directory/sasl/smtpd.conf
        etc, queue, data = (self.dir / n for n in ("etc", "queue", "data"))
        sasl = etc / "sasl"
        for d in (etc, queue, data, sasl):
            d.mkdir(parents=True)
        self.dir.chmod(0o755)
        sasl.chmod(0o755)
        shutil.chown(data, "postfix", "postfix")
        if self.sasl_user is not None:
            self._sasldb(sasl)
        params = {
            "compatibility_level": "3.6",
            "queue_directory": str(queue),
            "data_directory": str(data),
            "daemon_directory": os.path.dirname(POSTFIX_MASTER),
            "command_directory": "/usr/sbin",
            "meta_directory": "/etc/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "peer.tls.test",
            "mydomain": "tls.test",
            "mydestination": "",
            # explicit service addresses in master.cf; Postfix wants interfaces it can see here
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "192.0.2.1/32",
            "relay_domains": ", ".join(self.relay_domains),
            "relayhost": f"[127.0.0.1]:{self.forward_port}",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "maillog_file_prefixes": str(self.dir),
            "maillog_file": str(self.log),
            "smtpd_banner": "$myhostname ESMTP",
            "smtpd_peername_lookup": "no",
            "smtp_host_lookup": "native",
            "biff": "no",
            "smtpd_tls_cert_file": str(self.cert),
            "smtpd_tls_key_file": str(self.key),
            "smtpd_tls_security_level": "may",
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
            "smtpd_tls_auth_only": "yes",
            "smtpd_sasl_auth_enable": "yes" if self.sasl_user is not None else "no",
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            "cyrus_sasl_config_path": str(sasl),
            "smtpd_sasl_authenticated_header": "yes",
            "smtpd_relay_restrictions":
                "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
            "smtp_tls_security_level": "none",
        }
        (etc / "main.cf").write_text("# written by tests/integration/tls_peer.py\n" +
                                     "".join(f"{k} = {v}\n" for k, v in params.items()))
        (etc / "master.cf").write_text(MASTER_CF.format(
            a1=self.addrs[0], a2=self.addrs[1], a3=self.addrs[2],
            submit=self.submit_port, smtps=self.smtps_port))
        r = subprocess.run([POSTFIX_CMD, "-c", str(etc), "set-permissions"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise H.HarnessError(f"postfix set-permissions: {r.stdout}{r.stderr}")
        self._out = open(self.dir / "master.stderr", "wb")
        self.proc = subprocess.Popen([POSTFIX_MASTER, "-c", str(etc), "-d"],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise H.HarnessError(f"postfix master exited ({self.proc.returncode}):\n"
                                     + self.log_tail())
            return all(H.smtp_banner_ok(a, 25) for a in self.addrs) and \
                H.smtp_banner_ok(self.addrs[0], self.submit_port)
        try:
            H.wait_until(up, timeout, 0.1, what="Postfix's smtpd")
        except H.HarnessError as e:
            raise H.HarnessError(f"{e}\n{self.log_tail()}") from None
        return self

    def log_text(self):
        text = ""
        for p in (self.dir / "master.stderr", self.log):
            try:
                text += p.read_text(errors="replace")
            except OSError:
                pass
        return text

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def stop(self):
        if self.proc is None:
            return
        # the master stops its children; stragglers of its session go by PID
        kids = [p for p in H.session_members(self.proc.pid) if p != self.proc.pid]
        H.stop_pid(self.proc.pid, 10, popen=self.proc)
        for pid in kids:
            if H.pid_alive(pid):
                H.stop_pid(pid, 5)
        self._out.close()
        self.proc = None
