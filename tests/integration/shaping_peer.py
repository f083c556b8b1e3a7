# SPDX-License-Identifier: ISC
"""
A receiving SMTP server that limits its concurrent sessions the way large
mailbox providers do: the (K+1)-th simultaneous connection gets
"421 4.7.0 Too many concurrent connections" and is closed. Written on
asyncio directly (not aiosmtpd) so the greeting itself can be refused and
every session's start and end is counted exactly.

    peer = LimitedPeer(max_sessions=3, data_delay=0.3).start()
    ... peer.accepted (list of (time.monotonic(), rcpts)), peer.refused,
    peer.max_active, peer.stop()
"""

import asyncio
import threading
import time

import outpost_harness as H


class LimitedPeer:
    def __init__(self, host="127.0.0.1", port=None, max_sessions=3, data_delay=0.0,
                 refuse_reply="421 4.7.0 Too many concurrent connections, try again later"):
        self.host = host
        self.port = port or H.free_port(host)
        self.max_sessions = max_sessions
        self.data_delay = data_delay
        self.refuse_reply = refuse_reply
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.refused = 0
        self.sessions = 0           # sessions served (greeted with 220)
        self.in_txn = 0             # sessions between MAIL and the end of DATA
        self.max_txn = 0
        self.accepted = []          # (monotonic time, [rcpts])
        self.loop = None
        self.thread = None
        self.server = None

    # --- the SMTP dialogue, enough for outpost's agent
    async def _session(self, reader, writer):
        with self.lock:
            over = self.active >= self.max_sessions
            if over:
                self.refused += 1
            else:
                self.active += 1
                self.sessions += 1
                self.max_active = max(self.max_active, self.active)
        try:
            if over:
                writer.write((self.refuse_reply + "\r\n").encode())
                await writer.drain()
                return
            await self._dialogue(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            if not over:
                with self.lock:
                    self.active -= 1
            try:
                writer.close()
            except Exception:
                pass

    async def _dialogue(self, reader, writer):
        def send(line):
            writer.write((line + "\r\n").encode())

        send("220 limited.test ESMTP")
        await writer.drain()
        rcpts = []
        txn = [False]

        def txn_set(on):
            with self.lock:
                if on and not txn[0]:
                    self.in_txn += 1
                    self.max_txn = max(self.max_txn, self.in_txn)
                elif not on and txn[0]:
                    self.in_txn -= 1
                txn[0] = on
        try:
            await self._commands(reader, writer, send, rcpts, txn_set)
        finally:
            txn_set(False)

    async def _commands(self, reader, writer, send, rcpts, txn_set):
        for _ in range(100000):
            line = await asyncio.wait_for(reader.readline(), 60)
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                send("250-limited.test")
                send("250 8BITMIME")
            elif verb == "MAIL":
                rcpts.clear()
                txn_set(True)
                send("250 2.1.0 OK")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip().strip("<>"))
                send("250 2.1.5 OK")
            elif verb == "DATA":
                send("354 go ahead")
                await writer.drain()
                for _ in range(10000000):
                    dl = await asyncio.wait_for(reader.readline(), 60)
                    if not dl or dl in (b".\r\n", b".\n"):
                        break
                if self.data_delay:
                    await asyncio.sleep(self.data_delay)
                with self.lock:
                    self.accepted.append((time.monotonic(), list(rcpts)))
                txn_set(False)
                send("250 2.0.0 OK queued")
            elif verb == "RSET":
                rcpts.clear()
                txn_set(False)
                send("250 2.0.0 OK")
            elif verb == "NOOP":
                send("250 2.0.0 OK")
            elif verb == "QUIT":
                send("221 2.0.0 bye")
                await writer.drain()
                return
            else:
                send("502 5.5.2 unknown command")
            await writer.drain()

    # --- life
    def start(self):
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self._session, self.host, self.port, backlog=256))
            ready.set()
            self.loop.run_forever()
            self.server.close()
            # Sessions the MTA keeps open for reuse would hold wait_closed()
            # (and this thread) until they time out: end them first.
            sessions = asyncio.all_tasks(self.loop)
            for t in sessions:
                t.cancel()
            self.loop.run_until_complete(asyncio.gather(*sessions, return_exceptions=True))
            self.loop.run_until_complete(self.server.wait_closed())
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise H.HarnessError("limited peer did not start")
        return self

    def stop(self):
        if self.loop is not None and self.thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.thread = None

    def delivered_rcpts(self):
        with self.lock:
            return [r for _, rs in self.accepted for r in rs]

    @property
    def hostport(self):
        return f"[{self.host}]:{self.port}"
