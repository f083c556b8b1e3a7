# SPDX-License-Identifier: ISC
"""
A policy server for outpost's MTA-STS tests (test_mta_sts.py), run as its own
process: HTTPS (python3's http.server with ssl) on ADDR:443 with a
certificate made in the test, answering /.well-known/mta-sts.txt with the
policy of the Host asked for, as text/plain, and logging each request.

    python3 sts_server.py ADDR CERT KEY POLICY_DIR LOG
POLICY_DIR holds one file per host name (mta-sts.<domain>).
The tests start and stop it through PolicyServer.
"""

import http.server
import os
import ssl
import subprocess
import sys
from pathlib import Path


class PolicyServer:
    """This script as a process of the test's, stopped by PID."""

    def __init__(self, addr, cert, key, policy_dir, log):
        self.args = [str(addr), str(cert), str(key), str(policy_dir), str(log)]
        self.log = Path(log)
        self.proc = None

    def start(self):
        import outpost_harness as H
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__)), *self.args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        H.wait_until(lambda: self.log.exists() and "ready" in self.log.read_text(),
                     15, 0.1, what="the policy server")
        return self

    def stop(self):
        import outpost_harness as H
        if self.proc is not None:
            H.stop_pid(self.proc.pid, 10, popen=self.proc)
            self.proc = None

    def fetches(self):
        return self.log.read_text().count("GET ") if self.log.exists() else 0


def main():
    addr, cert, key, policy_dir, log = sys.argv[1:6]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            path = os.path.join(policy_dir, os.path.basename(host))
            with open(log, "a") as f:
                f.write(f"GET {host} {self.path}\n")
            if self.path != "/.well-known/mta-sts.txt" or not os.path.isfile(path):
                self.send_error(404)
                return
            body = open(path, "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer((addr, 443), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(log, "a") as f:
        f.write("ready\n")
    srv.serve_forever()


if __name__ == "__main__":
    main()
