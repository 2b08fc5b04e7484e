#!/bin/sh
# STAND-IN for tc(8), for tests only. This machine's kernel has no sch_netem (and no module to
# load), so a real `tc qdisc add ... netem` can never succeed here; this script stands in for
# the tc binary where a test puts it (first on PATH in the unit test; bind-mounted over tc in
# ONE lab host's mount namespace in the e2e test) and does what the kernel would do with the
# few `tc qdisc` forms zonedef sends, so the tests can check which commands were sent when.
#
# It records every argv (one line, prefixed with the network namespace) in $ZD_TC_LOG and
# keeps the qdiscs in $ZD_TC_STATE, one "NETNS DEV KIND HANDLE REST" line per non-default
# root qdisc, keyed by the network namespace (so a probe in `unshare -n` sees a fresh lo, and
# the lines of a namespace that is gone are dropped, as the kernel drops its qdiscs).
# Default root qdisc: "noqueue 0:". Like the kernel: `add` on a device that has a non-default
# root qdisc fails ("Exclusivity flag on"); `del ... handle H` fails unless H is the handle.
# Nothing else is supported; anything else exits 1 and says so.
log=${ZD_TC_LOG:-/tmp/zonedef-standin-tc.log}
state=${ZD_TC_STATE:-/tmp/zonedef-standin-tc.state}
ns=$(readlink /proc/self/ns/net 2>/dev/null | tr -cd 0-9)
echo "$ns $*" >>"$log"
[ -f "$state" ] || : >"$state"
# a namespace's qdiscs die with it: forget those of namespaces no process holds any more (their
# inode numbers are reused, so a later `unshare -n` must not find a stale lo line)
live=$(for p in /proc/[0-9]*; do readlink "$p/ns/net" 2>/dev/null; done | tr -cd '0-9\n' | sort -u)
echo "$live" | awk 'NR == FNR { if ($1 != "") l[$1] = 1; next } ($1 in l)' - "$state" >"$state.new" &&
    mv "$state.new" "$state"
[ "$1" = qdisc ] || { echo "standin-tc: only 'tc qdisc' is supported" >&2; exit 1; }
verb=$2
shift 2
[ "$1" = dev ] || { echo "standin-tc: 'dev' expected" >&2; exit 1; }
dev=$2
shift 2
[ -e "/sys/class/net/$dev" ] || { echo "Cannot find device \"$dev\"" >&2; exit 1; }
cur=$(awk -v n="$ns" -v d="$dev" '$1 == n && $2 == d' "$state")
[ "$1" = root ] || { echo "standin-tc: only root qdiscs are supported" >&2; exit 1; }
shift
case $verb in
show)
    if [ -n "$cur" ]; then echo "$cur" | awk '{ $1 = ""; $2 = ""; print "qdisc" $0 }' | tr -s ' '
    else echo "qdisc noqueue 0: root refcnt 2"; fi ;;
add)
    [ -z "$cur" ] || { echo "Error: Exclusivity flag on, cannot modify." >&2; exit 2; }
    [ "$1" = handle ] || { echo "standin-tc: a handle is expected" >&2; exit 1; }
    h=$2
    shift 2
    echo "$ns $dev $* " | sed "s/^\\($ns $dev\\) \\([a-z_]*\\)/\\1 \\2 $h root refcnt 2/" >>"$state" ;;
del)
    [ -n "$cur" ] || { echo "Error: Cannot delete qdisc with handle of zero." >&2; exit 2; }
    h=$(echo "$cur" | awk '{ print $4 }')
    if [ "$1" = handle ] && [ "$2" != "$h" ]; then echo "Error: Invalid handle." >&2; exit 2; fi
    awk -v n="$ns" -v d="$dev" '!($1 == n && $2 == d)' "$state" >"$state.new" && mv "$state.new" "$state" ;;
*) echo "standin-tc: '$verb' is not supported" >&2; exit 1 ;;
esac
exit 0
