#!/usr/bin/env bash
# test_format: the C sources follow the repo's .clang-format (house style: CI checks it).
# One check per file, so a failure names the file; `make format` fixes them.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1
if ! command -v clang-format >/dev/null; then
    th_bad "clang-format is installed" "make deps installs it (Debian package clang-format)"
    finish
fi
n=0
for f in src/*/*.c src/*/*.h src/*/*/*.c src/*/*/*.h cmd/*.c cmd/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c tests/helpers/*.c; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    if out=$(clang-format --dry-run --Werror "$f" 2>&1); then
        th_ok "$f is clang-format clean"
    else
        th_bad "$f is clang-format clean" "$(printf '%s\n' "$out" | head -6)"
    fi
done
check "more than 40 C files checked ($n)" [ "$n" -gt 40 ]
finish
