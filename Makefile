# outpost - outbound mail delivery server.
#
#   make            build build/outpost, build/outpost-sendmail, build/outpostctl
#   make deps       install the Debian packages that are missing (needs root)
#   make run        deps + build + run the master in the foreground (etc/outpost.conf, ./var)
#   make check      unit tests (check) and integration tests against real peers
#   make asan       the same tests built with AddressSanitizer and UBSan (build-asan/)
#   make fuzz       build the libFuzzer targets (clang); FUZZ_SECONDS=30 make fuzz-run
#   make install DESTDIR=... PREFIX=/usr
#   make clean

PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
BINDIR		?= $(PREFIX)/bin
MANDIR		?= $(PREFIX)/share/man
SYSCONFDIR	?= /etc/outpost
UNITDIR		?= /lib/systemd/system
DESTDIR		?=

BUILD		?= build
CC		?= cc
PKGS		 = libsodium openssl libbsd-overlay libevent libunbound hiredis
DEB_PKGS	 = build-essential pkg-config libsodium-dev libssl-dev libbsd-dev \
		   libevent-dev libunbound-dev check libhiredis-dev
TEST_DEB_PKGS	 = postfix swaks python3 python3-aiosmtpd python3-pytest nsd iproute2 procps clang sasl2-bin openssl \
		   libclang-rt-14-dev libsasl2-modules ldnsutils nftables redis-server

PKG_CFLAGS	:= $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -levent_openssl -levent_pthreads -lpthread
CHECK_CFLAGS	:= $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS	:= $(shell pkg-config --libs check 2>/dev/null)

WARN		 = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wmissing-prototypes \
		   -Wno-unused-parameter
CFLAGS		?= -O2 -g
SAN_FLAGS	?=
ALL_CFLAGS	 = -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) \
		   -Ishared -MMD -MP \
		   -DSYSCONFDIR='"$(SYSCONFDIR)"'
LDFLAGS		+= $(SAN_FLAGS)

SHARED_SRC	 = $(sort $(wildcard shared/*.c))
DAEMON_SRC	 = $(sort $(filter-out daemons/master/master.c,$(wildcard daemons/*/*.c)))
MASTER_MAIN	 = daemons/master/master.c
SENDMAIL_SRC	 = $(sort $(wildcard tools/sendmail/*.c))
CTL_SRC		 = $(sort $(wildcard tools/outpostctl/*.c))
UNIT_SRC	 = $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC	 = $(sort $(wildcard tests/fuzz/fuzz_*.c))

obj		 = $(patsubst %.c,$(BUILD)/%.o,$(1))
SHARED_OBJ	 = $(call obj,$(SHARED_SRC))
DAEMON_OBJ	 = $(call obj,$(DAEMON_SRC))
UNIT_BIN	 = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
FUZZ_BIN	 = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))

PROGS		 = $(BUILD)/outpost $(BUILD)/outpost-sendmail $(BUILD)/outpostctl

.PHONY: all deps test-deps run check check-run unit integration asan fuzz fuzz-targets fuzz-run install clean bench

all: $(PROGS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libshared.a: $(SHARED_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libdaemons.a: $(DAEMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/outpost: $(call obj,$(MASTER_MAIN)) $(BUILD)/libdaemons.a $(BUILD)/libshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/outpost-sendmail: $(call obj,$(SENDMAIL_SRC)) $(BUILD)/libshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/outpostctl: $(call obj,$(CTL_SRC)) $(BUILD)/libdaemons.a $(BUILD)/libshared.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdaemons.a $(BUILD)/libshared.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Idaemons -o $@ $< $(BUILD)/libdaemons.a \
	    $(BUILD)/libshared.a $(LDFLAGS) $(PKG_LIBS) $(CHECK_LIBS)

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

run: deps
	$(MAKE) all
	@tools/ensure-users
	./$(BUILD)/outpost -d -f etc/outpost.conf -o state_directory=$(CURDIR)/var

# Packages first, in a make of their own: pkg-config flags are read when make starts.
check: test-deps
	@$(MAKE) --no-print-directory check-run

check-run: all $(UNIT_BIN)
	@tools/ensure-users
	OUTPOST_BUILD=$(CURDIR)/$(BUILD) tests/run $(UNIT_BIN)

unit: $(UNIT_BIN)
	OUTPOST_BUILD=$(CURDIR)/$(BUILD) tests/run --unit-only $(UNIT_BIN)

# Leak checking stays off: chrooted daemons cannot run LeakSanitizer's /proc walk.
asan:
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:quarantine_size_mb=16 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(MAKE) BUILD=build-asan CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer" \
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
fuzz-run: fuzz
	@for f in $(patsubst $(BUILD)/%,$(FUZZ_BUILD)/%,$(FUZZ_BIN)); do \
	    n=$$(basename $$f); echo "fuzz: $$n for $(FUZZ_SECONDS)s"; mkdir -p $(FUZZ_BUILD)/corpus-$$n; \
	    if $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -rss_limit_mb=2048 \
	        $(FUZZ_BUILD)/corpus-$$n tests/fuzz/seeds/$$n > $(FUZZ_BUILD)/$$n.log 2>&1; then \
	        grep -E '^(Done|stat::number_of_executed_units)' $(FUZZ_BUILD)/$$n.log | head -2; \
	    else \
	        tail -60 $(FUZZ_BUILD)/$$n.log; echo "fuzz: $$n FAILED"; exit 1; \
	    fi; \
	done

bench: all
	tools/bench/relay-bench

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BUILD)/outpost $(DESTDIR)$(SBINDIR)/outpost
	install -m 0755 $(BUILD)/outpostctl $(DESTDIR)$(SBINDIR)/outpostctl
	install -m 0755 $(BUILD)/outpost-sendmail $(DESTDIR)$(SBINDIR)/outpost-sendmail
	install -m 0644 etc/outpost.conf $(DESTDIR)$(SYSCONFDIR)/outpost.conf
	install -m 0644 etc/outpost.service $(DESTDIR)$(UNITDIR)/outpost.service
	install -d $(DESTDIR)$(MANDIR)/man8
	install -m 0644 tools/sendmail/outpost-sendmail.8 $(DESTDIR)$(MANDIR)/man8/outpost-sendmail.8
	ln -sf $(SBINDIR)/outpost-sendmail $(DESTDIR)$(BINDIR)/mailq

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
