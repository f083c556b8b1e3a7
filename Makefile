# SPDX-License-Identifier: ISC
# outpost - outbound mail delivery server.
#
#   make            build build/outpost, build/outpost-sendmail, build/outpostctl
#   make deps       install the Debian packages that are missing (needs root)
#   make run        deps + build + run the master in the foreground (etc/outpost.conf, ./var)
#   make check      unit tests (check) and integration tests against real peers
#   make asan       the same tests built with AddressSanitizer and UBSan (build-asan/)
#   make fuzz       build the libFuzzer targets (clang); FUZZ_SECONDS=30 make fuzz-run
#   make demo       offline tour: outpost relays three mails to a local receiver
#                   (python3-aiosmtpd on 127.0.0.1, from make test-deps)
#   make install DESTDIR=... PREFIX=/usr
#   make dist       outpost-VERSION.tar.gz of the tracked files
#   make deb        the Debian package (dpkg-buildpackage -us -uc -b)
#   make man-lint   mandoc -T lint over every man page
#   make clean
#
# CPPFLAGS, CFLAGS and LDFLAGS are used as given (dpkg-buildflags). Warnings
# are errors with WERROR=1, the default in a git checkout (developers, CI)
# and never forced on a release tarball or a package build (WERROR=0).

PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
BINDIR		?= $(PREFIX)/bin
MANDIR		?= $(PREFIX)/share/man
SYSCONFDIR	?= /etc/outpost
UNITDIR		?= /lib/systemd/system
SYSUSERSDIR	?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR	?= $(PREFIX)/lib/tmpfiles.d
LOGROTATEDIR	?= /etc/logrotate.d
STATEDIR	?= /var/spool/outpost
DESTDIR		?=

VERSION		:= $(shell cat VERSION)
WERROR		?= $(if $(wildcard .git),1,0)

BUILD		?= build
CC		?= cc
PKGS		 = libsodium openssl libbsd-overlay libevent libunbound libseccomp libcurl hiredis zlib libxxhash
DEB_PKGS	 = build-essential pkg-config libsodium-dev libssl-dev libbsd-dev \
		   libevent-dev libunbound-dev check libseccomp-dev libcurl4-openssl-dev libhiredis-dev \
		   libsystemd-dev zlib1g-dev libxxhash-dev
TEST_DEB_PKGS	 = postfix swaks python3 python3-aiosmtpd python3-pytest nsd iproute2 procps clang sasl2-bin openssl \
		   libclang-rt-14-dev libsasl2-modules ldnsutils mandoc debhelper lintian logrotate \
		   pflogsumm python3-prometheus-client \
		   python3-dkim python3-nacl python3-xxhash opendkim-tools nftables redis-server

PKG_CFLAGS	:= $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -levent_openssl -levent_pthreads -lpthread
# The journal: the master alone writes log lines, so it alone links libsystemd.
JOURNAL_CFLAGS	:= $(shell pkg-config --cflags libsystemd 2>/dev/null)
JOURNAL_LIBS	:= $(shell pkg-config --libs libsystemd 2>/dev/null)
CHECK_CFLAGS	:= $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS	:= $(shell pkg-config --libs check 2>/dev/null)

WARN		 = -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wpointer-arith -Wmissing-prototypes \
		   -Wno-unused-parameter
CFLAGS		?= -O2 -g
SAN_FLAGS	?=
ALL_CFLAGS	 = -std=gnu11 -D_GNU_SOURCE $(CPPFLAGS) $(WARN) $(CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) \
		   $(JOURNAL_CFLAGS) -Ishared -MMD -MP \
		   -DSYSCONFDIR='"$(SYSCONFDIR)"'
LDFLAGS		+= $(SAN_FLAGS)

SHARED_SRC	 = $(sort $(wildcard shared/*.c))
DAEMON_SRC	 = $(sort $(filter-out daemons/master/master.c,$(wildcard daemons/*/*.c)))
MASTER_MAIN	 = daemons/master/master.c
SENDMAIL_SRC	 = $(sort $(wildcard tools/sendmail/*.c))
# -bs speaks SMTP with the listener's own pure parsers.
SENDMAIL_SMTPD	 = daemons/smtpd/smtpd_cmd.c daemons/smtpd/smtpd_data.c
CTL_SRC		 = $(sort $(wildcard tools/outpostctl/*.c))
UNIT_SRC	 = $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC	 = $(sort $(wildcard tests/fuzz/fuzz_*.c))

obj		 = $(patsubst %.c,$(BUILD)/%.o,$(1))
SHARED_OBJ	 = $(call obj,$(SHARED_SRC))
DAEMON_OBJ	 = $(call obj,$(DAEMON_SRC))
UNIT_BIN	 = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_BIN	 = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

PROGS		 = $(BUILD)/outpost $(BUILD)/outpost-sendmail $(BUILD)/outpostctl
# Benchmark and test tools, never installed.
TOOL_PROGS	 = $(BUILD)/outpost-queue-fill

MAN8		 = man/outpost.8 man/outpostctl.8 tools/sendmail/outpost-sendmail.8
GEN_MAN		 = $(BUILD)/man/outpost.conf.5
UNITS		 = $(BUILD)/etc/outpost.service $(BUILD)/etc/outpost@.service

.PHONY: all print-packages deps test-deps run demo check check-run unit integration asan fuzz fuzz-targets fuzz-run \
	install clean bench bench-scale soak dist deb man-lint unit-security

all: $(PROGS) $(TOOL_PROGS) $(BUILD)/mailq $(GEN_MAN) $(UNITS)

# mailq in the build directory, for PATH=build:$PATH after make run.
$(BUILD)/mailq: $(BUILD)/outpost-sendmail
	ln -sf outpost-sendmail $@

# The version reaches one object only: a new VERSION rebuilds just that.
$(BUILD)/shared/version.o: VERSION
$(BUILD)/shared/version.o: ALL_CFLAGS += -DOUTPOST_VERSION='"$(VERSION)"'

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tools/sendmail/%.o: tools/sendmail/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemons -c -o $@ $<

$(BUILD)/libshared.a: $(SHARED_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libdaemons.a: $(DAEMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/outpost: $(call obj,$(MASTER_MAIN)) $(BUILD)/libdaemons.a $(BUILD)/libshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(JOURNAL_LIBS)

$(BUILD)/outpost-sendmail: $(call obj,$(SENDMAIL_SRC) $(SENDMAIL_SMTPD)) $(BUILD)/libshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/outpostctl: $(call obj,$(CTL_SRC)) $(BUILD)/libdaemons.a $(BUILD)/libshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/outpost-queue-fill: $(call obj,tools/bench/queue-fill.c) $(BUILD)/libshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdaemons.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Idaemons -o $@ $< $(BUILD)/libdaemons.a \
	    $(BUILD)/libshared.a $(LDFLAGS) $(PKG_LIBS) $(CHECK_LIBS)

# The packages to build and to test, for .ci/run (one list, kept here).
print-packages:
	@echo $(DEB_PKGS) $(TEST_DEB_PKGS)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

test-deps: deps
	@missing=""; for p in $(TEST_DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    echo 'postfix postfix/main_mailer_type select No configuration' | $$SUDO debconf-set-selections; \
	    $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; \
	fi

# Packages first, in a make of their own: pkg-config flags are read when make starts.
check: test-deps
	@$(MAKE) --no-print-directory WERROR=1 check-run

check-run: all $(UNIT_BIN)
	@tools/ensure-users
	OUTPOST_BUILD=$(CURDIR)/$(BUILD) tests/run $(UNIT_BIN)

unit: $(UNIT_BIN)
	OUTPOST_BUILD=$(CURDIR)/$(BUILD) tests/run --unit-only $(UNIT_BIN)

# Leak checking stays off: chrooted daemons cannot run LeakSanitizer's /proc walk.
asan:
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:quarantine_size_mb=16 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(MAKE) BUILD=build-asan CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer -DQMGR_SHAPE_CHECK" \
	    SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" check

# Fuzz targets link the archives of a separate clang build with sanitizers.
FUZZ_BUILD	 = build-fuzz
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined
fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	    SAN_FLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-targets
fuzz-targets: $(FUZZ_BIN)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/libdaemons.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	clang $(ALL_CFLAGS) -Idaemons -fsanitize=fuzzer -o $@ $< $(BUILD)/libdaemons.a \
	    $(BUILD)/libshared.a $(PKG_LIBS)

FUZZ_SECONDS ?= 30
# One rule per target, so that `make -j2 fuzz-run` runs two at a time.
FUZZ_NAMES	 = $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
fuzz-run: $(addprefix fuzz-run-,$(FUZZ_NAMES))
$(addprefix fuzz-run-,$(FUZZ_NAMES)): fuzz
fuzz-run-%:
	@f=$(FUZZ_BUILD)/fuzz/$*; n=$*; mkdir -p $(FUZZ_BUILD)/corpus-$$n; \
	if $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -rss_limit_mb=2048 \
	    $(FUZZ_BUILD)/corpus-$$n tests/fuzz/seeds/$$n > $(FUZZ_BUILD)/$$n.log 2>&1; then \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s: $$(grep -E '^stat::number_of_executed_units' \
	        $(FUZZ_BUILD)/$$n.log | head -1)"; \
	else \
	    tail -60 $(FUZZ_BUILD)/$$n.log; echo "fuzz: $$n FAILED"; exit 1; \
	fi

bench: all
	tools/bench/relay-bench

# --- distribution: man pages, units, install, dist, deb, run, demo ----------

# outpost.conf(5) is made from `outpost -R`, the parameter table itself.
$(GEN_MAN): $(BUILD)/outpost tools/mkconfman VERSION
	@mkdir -p $(dir $@)
	$(BUILD)/outpost -R | tools/mkconfman $(VERSION) > $@.tmp && mv $@.tmp $@

# The units are made again whenever a prefix differs from the last build's
# (make; make install PREFIX=/usr must not install /usr/local paths).
PREFIX_STAMP	 = $(BUILD)/etc/prefixes
$(PREFIX_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(SBINDIR) $(SYSCONFDIR) $(STATEDIR)' | cmp -s - $@ 2>/dev/null || \
	    echo '$(SBINDIR) $(SYSCONFDIR) $(STATEDIR)' > $@
FORCE:

$(BUILD)/etc/%: etc/%.in $(PREFIX_STAMP) Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    -e 's|@STATEDIR@|$(STATEDIR)|g' $< > $@

man-lint: $(GEN_MAN)
	mandoc -T lint -W warning $(MAN8) $(GEN_MAN)

# systemd-analyze's exposure of the unit, at most 4.0 (its threshold is in tenths),
# and its syntax check on copies that start the binaries of this build.
unit-security: $(UNITS)
	systemd-analyze security --offline=yes --threshold=40 $(BUILD)/etc/outpost.service
	@rm -rf $(BUILD)/unit-verify && mkdir -p $(BUILD)/unit-verify
	sed 's|$(SBINDIR)/|$(CURDIR)/$(BUILD)/|' $(BUILD)/etc/outpost.service > $(BUILD)/unit-verify/outpost.service
	sed 's|$(SBINDIR)/|$(CURDIR)/$(BUILD)/|' $(BUILD)/etc/outpost@.service > $(BUILD)/unit-verify/outpost@check.service
	@# verify exits 0 on an unknown key: any message is a failure.
	cd $(BUILD)/unit-verify && out=$$(systemd-analyze verify --man=no outpost.service \
	    outpost@check.service 2>&1); echo "$$out"; test -z "$$out"
# Crash soak: clients submitting without pause while a random child is killed
# every second (tools/bench/README); `make soak SOAK_SECONDS=60` in CI.
SOAK_SECONDS	?= 120
soak: all
	OUTPOST_BUILD=$(abspath $(BUILD)) tools/bench/soak --seconds $(SOAK_SECONDS)

# A restart with 1,000,000 queued mails (about 15 GB of disk, checked first).
bench-scale: all
	tools/bench/queue-scale -n 1000000

# Independent mode towards 1,000 recipient domains against Postfix (root:
# a network namespace, nsd, nft; tools/bench/README).
.PHONY: bench-domains
bench-domains: all
	OUTPOST_BUILD=$(abspath $(BUILD)) tools/bench/domains-bench -d 1000 -n 10000 -r 3

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(LOGROTATEDIR)
	install -m 0755 $(PROGS) $(DESTDIR)$(SBINDIR)/
	@# The names every Debian program calls (Policy 11.6), relative links.
	ln -sfr $(DESTDIR)$(SBINDIR)/outpost-sendmail $(DESTDIR)$(SBINDIR)/sendmail
	ln -sfr $(DESTDIR)$(SBINDIR)/outpost-sendmail $(DESTDIR)$(PREFIX)/lib/sendmail
	ln -sfr $(DESTDIR)$(SBINDIR)/outpost-sendmail $(DESTDIR)$(BINDIR)/mailq
	ln -sfr $(DESTDIR)$(SBINDIR)/outpost-sendmail $(DESTDIR)$(BINDIR)/newaliases
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(GEN_MAN) $(DESTDIR)$(MANDIR)/man5/
	printf '.so man8/outpost-sendmail.8\n' > $(DESTDIR)$(MANDIR)/man1/mailq.1
	printf '.so man8/outpost-sendmail.8\n' > $(DESTDIR)$(MANDIR)/man8/newaliases.8
	printf '.so man8/outpost-sendmail.8\n' > $(DESTDIR)$(MANDIR)/man8/sendmail.8
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/mailq.1 $(DESTDIR)$(MANDIR)/man8/newaliases.8 \
	    $(DESTDIR)$(MANDIR)/man8/sendmail.8
	install -m 0644 etc/outpost.conf $(DESTDIR)$(SYSCONFDIR)/outpost.conf
	install -m 0644 $(UNITS) $(DESTDIR)$(UNITDIR)/
	install -m 0644 etc/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/outpost.conf
	install -m 0644 etc/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/outpost.conf
	install -m 0644 etc/logrotate $(DESTDIR)$(LOGROTATEDIR)/outpost

# The tracked files, so that a tarball holds exactly what a clone holds.
dist:
	@test -z "$$(git status --porcelain --untracked-files=no)" || \
	    echo "dist: warning: uncommitted changes are not in the tarball" >&2
	rm -f outpost-$(VERSION).tar.gz
	git archive --format=tar.gz --prefix=outpost-$(VERSION)/ -o outpost-$(VERSION).tar.gz HEAD
	@echo "dist: outpost-$(VERSION).tar.gz"

# The package is built from the dist tarball, in build-deb/, so that what
# is shipped is what is tracked and nothing is written outside the tree.
DEB_DIR		 = build-deb
deb: dist
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)
	tar -xzf outpost-$(VERSION).tar.gz -C $(DEB_DIR)
	cd $(DEB_DIR)/outpost-$(VERSION) && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

# make run: the config it runs with (etc/outpost.conf with the state directory
# ./var) goes to var/outpost.conf, so that every tool reaches this instance
# with OUTPOST_CONFIG (or -f var/outpost.conf). RUN_OVERRIDES, name=value
# words, replace parameters of etc/outpost.conf in that file, e.g.
#   make run RUN_OVERRIDES="listen=127.0.0.1:2626 log_level=detailed"
# (`make -o deps run` skips the package check, as the tests do.)
RUN_DIR		 = $(CURDIR)/var
RUN_OVERRIDES	?=
run: deps
	$(MAKE) all
	@tools/ensure-users
	@mkdir -p $(RUN_DIR)
	@tools/run-config etc/outpost.conf $(RUN_DIR) $(RUN_OVERRIDES) > $(RUN_DIR)/outpost.conf.tmp && \
	    mv $(RUN_DIR)/outpost.conf.tmp $(RUN_DIR)/outpost.conf
	@./$(BUILD)/outpost -n -f $(RUN_DIR)/outpost.conf > /dev/null
	@echo "outpost: running with $(RUN_DIR)/outpost.conf. In another shell, paste:"
	@echo "    export OUTPOST_CONFIG=$(RUN_DIR)/outpost.conf PATH=$(CURDIR)/$(BUILD):\$$PATH"
	@echo "then try:  echo 'Subject: hello' | outpost-sendmail you@example.net; outpostctl queue"
	./$(BUILD)/outpost -d -f $(RUN_DIR)/outpost.conf

demo: all
	@tools/ensure-users
	OUTPOST_BUILD=$(CURDIR)/$(BUILD) tools/demo

clean:
	rm -rf build build-asan build-fuzz build-deb outpost-*.tar.gz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
