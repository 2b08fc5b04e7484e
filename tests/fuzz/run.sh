#!/usr/bin/env bash
# run.sh SECONDS: builds the scenario parser fuzzer with clang (libFuzzer + ASan + UBSan) into
# build/fuzz/, seeds a working corpus (tests/fuzz/corpus-run/, gitignored) from the golden test
# files and the examples, and fuzzes for SECONDS (default 60). Exits non-zero on a crash, a leak
# or a sanitizer report; the input that caused it is left in build/fuzz/ (crash-*, leak-*).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
case "$secs" in ''|*[!0-9]*) echo "usage: tests/fuzz/run.sh SECONDS" >&2; exit 2 ;; esac
command -v clang >/dev/null || { echo "fuzz: clang is missing (make deps installs it)" >&2; exit 1; }
mkdir -p build/fuzz tests/fuzz/corpus-run
bin=build/fuzz/fuzz_scenario
# shellcheck disable=SC2046
clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -Isrc $(pkg-config --cflags libcjson libpcre2-8) \
    -o "$bin" tests/fuzz/fuzz_scenario.c src/scenario/*.c src/base/util.c \
    $(pkg-config --libs libcjson libpcre2-8) -lm
for f in tests/data/scenarios/valid/*.json tests/data/scenarios/invalid/*.json scenarios/*.json; do
    [ -s "$f" ] && cp -f "$f" "tests/fuzz/corpus-run/seed-$(basename "$f")"
done
echo "fuzz: $bin for ${secs}s, corpus tests/fuzz/corpus-run/"
rc=0
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -dict=tests/fuzz/scenario.dict -artifact_prefix=build/fuzz/ -print_final_stats=1 \
    tests/fuzz/corpus-run/ > build/fuzz/fuzz.log 2>&1 || rc=$?
tail -n 25 build/fuzz/fuzz.log
if [ "$rc" -ne 0 ]; then
    echo "fuzz: FAILED (exit $rc); see build/fuzz/fuzz.log and build/fuzz/crash-* / leak-*"
    exit 1
fi
echo "fuzz: no crash in ${secs}s"
