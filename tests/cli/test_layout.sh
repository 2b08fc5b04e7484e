#!/usr/bin/env bash
# test_layout: the architecture the README's "How the code is laid out" describes, checked on
# the tree and on the built objects, so it cannot drift silently:
#   - every library file sits in a subsystem folder of src/, none over 1,200 lines, no two
#     sharing a base name (the archive keeps one member per name);
#   - includes follow the folders' rules (each folder's main header says them);
#   - a header marked "Private to src/F/" is included only inside src/F/ (and by unit tests);
#   - no include circle and no call circle between files (calls read from the objects' symbols);
#   - nothing in src/ prints or exits (no stdout, stderr, printf, puts, perror, exit).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1

OBJ=build/rel/src
if [ ! -d "$OBJ" ]; then
    th_bad "objects to read are built" "run make first ($OBJ is missing)"
    finish
fi

# ---- files -----------------------------------------------------------------------------------
loose=$(find src -maxdepth 1 -type f -name '*.[ch]' | sort)
check_eq "no source file directly in src/ (one folder per subsystem)" "" "$loose"
folders=$(find src -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' ')
check_eq "src/ has the subsystem folders" "base lab load report run scenario target " "$folders"

big=$(find src cmd -name '*.[ch]' -exec wc -l {} + | awk '$2 != "total" && $1 > 1200 {print $2 " (" $1 " lines)"}')
check_eq "no source file over 1,200 lines" "" "$big"

dups=$(find src -name '*.c' -printf '%f\n' | sort | uniq -d)
check_eq "no two library files share a base name" "" "$dups"

for f in $(find src -mindepth 1 -maxdepth 1 -type d | sort); do
    name=$(basename "$f")
    [ "$name" = report ] && [ -z "$(ls "$f")" ] && continue
    main="$f/$name.h"
    [ "$name" = base ] && main="$f/util.h"
    [ "$name" = run ] && main="$f/runner.h"
    if [ -f "$main" ] && head -40 "$main" | grep -q "May use:" && head -40 "$main" | grep -q "Used by:"; then
        th_ok "$main opens with the folder's essay (May use:, Used by:)"
    else
        th_bad "$main opens with the folder's essay (May use:, Used by:)"
    fi
done

# ---- includes ----------------------------------------------------------------------------------
# allowed FILE INCLUDED: 0 when a file of src/ may include that header
allowed() {
    local file=$1 inc=$2 dir=${1#src/}
    dir=${dir%%/*}
    case "$inc" in base/*) return 0 ;; esac
    case "$dir" in
        base) return 1 ;;
        scenario | load | lab) [ "${inc%%/*}" = "$dir" ] ;;
        target)
            case "$inc" in
                scenario/scenario.h) return 0 ;;
                target/*/*)
                    # a kind's folder is its own: target/ssh/ never includes target/aws/
                    local kind=${file#src/target/}
                    case "$kind" in
                        */*) case "$inc" in target/"${kind%%/*}"/*) return 0 ;; *) return 1 ;; esac ;;
                        *) return 0 ;;
                    esac
                    ;;
                target/*) return 0 ;;
                lab/lab.h) case "$file" in src/target/target_lab.c | src/target/lab/*) return 0 ;; esac; return 1 ;;
                *) return 1 ;;
            esac
            ;;
        run) case "$inc" in report/* | cmd/*) return 1 ;; *) return 0 ;; esac ;;
        report)
            case "$inc" in
                report/* | run/results.h | run/journal.h | run/measure.h | load/timeline.h | load/hist.h) return 0 ;;
                *) return 1 ;;
            esac
            ;;
        *) return 1 ;;
    esac
}
bad=""
edges_inc=$(mktemp "$TMP/inc.XXXXXX")
while read -r f; do
    while read -r inc; do
        [ -n "$inc" ] || continue
        allowed "$f" "$inc" || bad+="$f includes $inc"$'\n'
        echo "${f#src/} $inc" >>"$edges_inc"
    done < <(sed -nE 's/^#include "([^"]+)".*/\1/p' "$f")
done < <(find src -name '*.[ch]' | sort)
check_eq "every include in src/ follows its folder's rule" "" "${bad%$'\n'}"

bad=""
for h in $(grep -rl "Private to src/" src --include='*.h' | sort); do
    owner=$(sed -nE 's/.*Private to (src\/[a-z]+\/).*/\1/p' "$h" | head -1)
    rel=${h#src/}
    for f in $(grep -rl "#include \"$rel\"" src cmd tests/helpers tests/fuzz 2>/dev/null | sort); do
        case "$f" in "$owner"*) ;; *) bad+="$f includes $rel (private to $owner)"$'\n' ;; esac
    done
done
check_eq "private headers stay in their folder" "" "${bad%$'\n'}"
n_private=$(grep -rl "Private to src/" src --include='*.h' | wc -l)
check "private headers are marked (load/engine.h, scenario/parse.h: $n_private)" [ "$n_private" -ge 2 ]

bad=""
for f in cmd/*.c cmd/*.h; do
    for inc in $(sed -nE 's/^#include "([^"]+\/[^"]+)".*/\1/p' "$f"); do
        [ -f "src/$inc" ] || bad+="$f includes $inc, which is not a library header"$'\n'
    done
done
check_eq "cmd/ includes only library headers by their folder path" "" "${bad%$'\n'}"

# cycles EDGES-FILE: prints one circle (a -> b -> ... -> a) if the directed graph has one
cycles() {
    awk '
    { if ($1 != $2) { adj[$1] = adj[$1] " " $2; nodes[$1] = 1; nodes[$2] = 1 } }
    function dfs(u,    i, n, v, parts) {
        color[u] = 1; stack[++top] = u
        n = split(adj[u], parts, " ")
        for (i = 1; i <= n; i++) {
            v = parts[i]
            if (color[v] == 1) {
                s = v; for (j = top; j >= 1 && stack[j] != v; j--) s = stack[j] " -> " s
                print v " -> " s; found = 1; return
            }
            if (color[v] == 0) { dfs(v); if (found) return }
        }
        color[u] = 2; top--
    }
    END { for (u in nodes) if (!color[u] && !found) dfs(u) }' "$1"
}
check_eq "no include circle between files" "" "$(cycles "$edges_inc")"

# ---- calls, from the objects ---------------------------------------------------------------------
defs=$(mktemp "$TMP/defs.XXXXXX")
uses=$(mktemp "$TMP/uses.XXXXXX")
edges=$(mktemp "$TMP/calls.XXXXXX")
for o in $(find "$OBJ" -name '*.o' | sort); do
    rel=${o#"$OBJ"/}
    nm "$o" | awk -v f="$rel" '$2 ~ /^[TDRB]$/ {print $3, f}' >>"$defs"
    nm "$o" | awk -v f="$rel" '$1 == "U" {print $2, f}' >>"$uses"
done
awk 'NR == FNR {def[$1] = $2; next} ($1 in def) && def[$1] != $2 {print $2, def[$1]}' "$defs" "$uses" |
    sort -u >"$edges"
nobj=$(find "$OBJ" -name '*.o' | wc -l)
nedge=$(wc -l <"$edges")
check "the objects were read ($nobj objects, $nedge call edges)" [ "$nobj" -gt 20 ] && [ "$nedge" -gt 20 ]
check_eq "no call circle between files" "" "$(cycles "$edges")"

bad=$(awk '$1 ~ /^(exit|printf|__printf_chk|puts|putchar|perror|stdout|stderr|vprintf|__vprintf_chk)$/ {print $2 " uses " $1}' "$uses" | sort -u)
check_eq "nothing in src/ prints to the terminal or exits" "" "$bad"
bad=$(awk '$1 == "abort" && $2 != "base/util.o" {print $2 " uses abort"}' "$uses" | sort -u)
check_eq "only base/util aborts (out of memory)" "" "$bad"

# The checks themselves must be able to fail: a planted circle and a planted bad include.
printf 'a b\nb c\nc a\n' >"$TMP/planted"
check_match "the circle check finds a planted circle" "$(cycles "$TMP/planted")" \
    '^(a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)$'
printf 'a b\nb c\na c\n' >"$TMP/planted"
check_eq "the circle check passes a graph without one" "" "$(cycles "$TMP/planted")"
if allowed src/target/ssh/x.c target/aws/aws.h; then th_bad "a target kind may not include another kind"; else th_ok "a target kind may not include another kind"; fi
if allowed src/report/html.c run/runner.h; then th_bad "report may not include the runner"; else th_ok "report may not include the runner"; fi
if allowed src/target/ssh/x.c target/ssh/ssh.h; then th_ok "a target kind includes its own folder"; else th_bad "a target kind includes its own folder"; fi
finish
