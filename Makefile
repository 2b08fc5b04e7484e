# zonedef — a plain Makefile.
#
#   make            build ./zonedef (installs missing Debian packages first, see `make deps`)
#   make test       unit tests, the same under ASan+UBSan, CLI and end-to-end tests
#   make demo       bring up the lab, run the zone-outage demo, tear the lab down
#   make bench      load engine against wrk, side by side (not part of `make test`)
#   make fuzz       the scenario parser fuzzer, bounded (FUZZ_SECONDS, default 60)
#   make install PREFIX=/usr/local
#
# DEVELOPER=1 adds -Werror; SANITIZE=address,undefined builds everything with sanitizers.

PREFIX ?= /usr/local
CC ?= cc
PKGS := libcurl libcjson openssl libssh2 libpcre2-8 libxml-2.0

# Debian packages: what the build, the tests, the demo and the benchmark need.
DEB_BUILD := gcc make pkg-config libcurl4-openssl-dev libcjson-dev libssl-dev libssh2-1-dev \
             libpcre2-dev libhttp-parser-dev libxml2-dev
DEB_RUN := haproxy openssh-server openssh-client nftables iptables iproute2 procps curl psmisc jq
DEB_TEST := clang libclang-rt-14-dev valgrind clang-format chromium libxml2-utils tmux python3 sudo
DEB_BENCH := wrk nginx-light pssh clustershell ansible-core tcpdump
# command -> package, for the tools the tests and the demo run
DEB_TOOLS := haproxy:haproxy sshd:openssh-server ssh-keygen:openssh-client nft:nftables \
             iptables:iptables ss:iproute2 ip:iproute2 curl:curl pkill:procps clang:clang \
             valgrind:valgrind fuser:psmisc jq:jq clang-format:clang-format chromium:chromium \
             xmllint:libxml2-utils tmux:tmux python3:python3 sudo:sudo

# Recursive (=) on purpose: evaluated when a recipe runs, i.e. after `deps` installed the libs.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
        -Wformat=2 -Wvla
ifeq ($(DEVELOPER),1)
WARN += -Werror
endif
OPT ?= -O2 -g
CFLAGS_ALL = -std=c17 -D_GNU_SOURCE $(OPT) $(WARN) -Isrc $(PKG_CFLAGS) $(CFLAGS)
# http-parser (the load engine's HTTP/1.1 responses) ships no pkg-config file.
LDLIBS_ALL = $(PKG_LIBS) -lhttp_parser -lpthread -lm $(LDLIBS)

ifneq ($(SANITIZE),)
CFLAGS_ALL += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDLIBS_ALL += -fsanitize=$(SANITIZE)
BUILD := build/san
else
BUILD := build/rel
endif

# Sources are found by folder: one folder per subsystem under src/ (README: how the code is laid
# out). Object names stay unique per file, so two files may not share a base name.
SRC := $(sort $(wildcard src/*/*.c src/*/*/*.c))
CMD := $(sort $(wildcard cmd/*.c))
LIB_OBJ := $(SRC:%.c=$(BUILD)/%.o)
CMD_OBJ := $(CMD:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=build/helpers/%)
CLI_TESTS := $(sort $(wildcard tests/cli/*.sh))
E2E_TESTS := $(sort $(wildcard tests/e2e/*.sh))

.PHONY: all deps check-deps test unit helpers test-san demo bench fuzz install clean format format-check

all: zonedef

# ---- dependencies -------------------------------------------------------------------------
# `make deps` installs every Debian package listed above that is missing (as root), or prints
# the exact apt-get line and stops (as anyone else). Builds run it first, so a fresh machine
# needs no other step.
check-deps deps:
	@missing=""; \
	for p in $(PKGS); do pkg-config --exists $$p 2>/dev/null || missing=1; done; \
	[ -f /usr/include/http_parser.h ] || missing=1; \
	command -v pkg-config >/dev/null 2>&1 || missing=1; \
	command -v $(CC) >/dev/null 2>&1 || missing=1; \
	for t in $(DEB_TOOLS); do command -v $${t%%:*} >/dev/null 2>&1 || \
	    [ -x /usr/sbin/$${t%%:*} ] || missing=1; done; \
	if [ "$@" = deps ] && [ -n "$(WITH_BENCH)" ]; then \
	    for t in wrk nginx; do command -v $$t >/dev/null 2>&1 || [ -x /usr/sbin/$$t ] || missing=1; done; \
	fi; \
	[ -z "$$missing" ] && [ "$@" = check-deps ] && exit 0; \
	pkgs="$(DEB_BUILD) $(DEB_RUN) $(DEB_TEST)"; \
	[ -n "$(WITH_BENCH)" ] && pkgs="$$pkgs $(DEB_BENCH)"; \
	need=$$(dpkg-query -W -f='$${db:Status-Abbrev} $${Package}\n' $$pkgs 2>/dev/null | \
	        awk '$$1=="ii" {print $$2}' | sort -u > /tmp/zonedef-have.$$$$; \
	        for p in $$pkgs; do grep -qx "$$p" /tmp/zonedef-have.$$$$ || echo $$p; done; \
	        rm -f /tmp/zonedef-have.$$$$); \
	need=$$(echo $$need); \
	if [ -z "$$need" ]; then [ "$@" = deps ] && echo "deps: every Debian package is installed"; exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then \
	    echo "deps: installing $$need"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    { apt-get install -y -q --no-install-recommends $$need >/tmp/zonedef-apt.log 2>&1 || \
	      { apt-get update -q >>/tmp/zonedef-apt.log 2>&1 && \
	        apt-get install -y -q --no-install-recommends $$need >>/tmp/zonedef-apt.log 2>&1; }; } || \
	      { tail -n 20 /tmp/zonedef-apt.log; echo "deps: apt-get failed (log: /tmp/zonedef-apt.log)"; exit 1; }; \
	    rm -f /tmp/zonedef-apt.log; \
	    for s in nginx haproxy ssh; do \
	        if command -v service >/dev/null 2>&1; then service $$s stop >/dev/null 2>&1 || true; fi; \
	    done; \
	else \
	    echo "deps: missing Debian packages; run as root:"; \
	    echo "  apt-get install -y $$need"; exit 1; \
	fi

# ---- build ----------------------------------------------------------------------------------
# Replaced by rename, not overwritten: a running lab keeps executing the old binary (cp onto a
# running executable fails with 'Text file busy').
zonedef: $(BUILD)/zonedef
	@cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/zonedef: $(CMD_OBJ) $(BUILD)/libzonedef.a
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# The library as an archive, so a unit test links only the modules it uses.
$(BUILD)/libzonedef.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/harness.h $(BUILD)/libzonedef.a | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -o $@ $< $(BUILD)/libzonedef.a $(LDLIBS_ALL)

# Test servers and tools the shell tests run (always built without sanitizers).
build/helpers/%: tests/helpers/%.c build/rel/libzonedef.a | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< build/rel/libzonedef.a $(LDLIBS_ALL)

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)

# ---- tests ----------------------------------------------------------------------------------
unit: $(UNIT_BIN)
helpers: $(HELPER_BIN)

# The unit tests once more with ASan+UBSan (separate objects under build/san).
test-san:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined OPT="-O1 -g" unit

test: zonedef unit helpers test-san
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	tests/run.sh "make test" $(UNIT_BIN) $(UNIT_SRC:tests/unit/%.c=build/san/tests/%) \
	    tests/unit/valgrind.sh $(CLI_TESTS) $(E2E_TESTS)

# ---- demo, bench, fuzz ------------------------------------------------------------------------
demo: zonedef
	@tests/demo.sh

bench:
	@$(MAKE) --no-print-directory deps WITH_BENCH=1
	@$(MAKE) --no-print-directory zonedef
	@tests/bench/bench.sh

FUZZ_SECONDS ?= 60
fuzz: | check-deps
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# ---- install, format, clean -----------------------------------------------------------------
install: zonedef
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 zonedef $(DESTDIR)$(PREFIX)/bin/zonedef

FORMAT_FILES = $(sort $(wildcard src/*/*.[ch] src/*/*/*.[ch]) $(wildcard cmd/*.[ch] tests/unit/*.[ch] \
               tests/fuzz/*.c tests/helpers/*.c))

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build zonedef
