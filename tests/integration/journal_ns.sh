#!/bin/sh
# SPDX-License-Identifier: ISC
# journal_ns.sh JDIR PIDFILE MODE CMD... - run CMD with a systemd-journald of
# its own, for test_journal.py. Meant to run under
# `unshare --mount --propagation private`: tmpfs over /run and
# /var/log/journal hide the host's (nothing of the host is touched), and the
# runtime journal directory is JDIR, bind-mounted, so the test reads it with
# `journalctl -D JDIR` after. journald's pid goes to PIDFILE: the test stops
# it. MODE: native (CMD as it is); stream (CMD's stdout and stderr are a
# journal stream, as a service's under systemd, and JOURNAL_STREAM names it);
# mismatch (the same stream, JOURNAL_STREAM naming another descriptor).
set -eu
jdir=$1 pidfile=$2 mode=$3
shift 3
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -d /var/log/journal ]; then
	mount -t tmpfs -o mode=0755 tmpfs /var/log/journal
fi
mkdir -p /run/systemd/journal /run/log/journal /run/systemd/journald.conf.d
# Only what is sent to it: not the host's kernel log; no rate limit in a test.
cat >/run/systemd/journald.conf.d/test.conf <<CONF
[Journal]
Storage=volatile
ReadKMsg=no
RateLimitBurst=0
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
CONF
mount --bind "$jdir" /run/log/journal
/lib/systemd/systemd-journald </dev/null >"$jdir.out" 2>&1 &
echo $! >"$pidfile"
i=0
while [ ! -S /run/systemd/journal/socket ] || [ ! -S /run/systemd/journal/stdout ]; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "journal_ns.sh: journald did not start" >&2
		exit 1
	fi
	sleep 0.1
done
case $mode in
native)
	exec "$@" ;;
stream)
	# systemd-cat makes the stream; the stat runs in the process whose fd 2 it is.
	exec systemd-cat -t outpost-stderr sh -c \
	    'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"' sh "$@" ;;
mismatch)
	exec systemd-cat -t outpost-stderr sh -c 'JOURNAL_STREAM=1:1 exec "$@"' sh "$@" ;;
*)
	echo "journal_ns.sh: unknown mode $mode" >&2
	exit 2 ;;
esac
