/*
 * hostcmd: the shell command lines that break and mend one host, for every target that runs
 * commands on hosts (ssh/ over an SSH channel, aws/ through SSM Run Command). Each builder
 * returns one POSIX sh command line, to be run by `/bin/sh -c` on the host (the way sshd and
 * SSM's AWS-RunShellScript run a command), as root or wrapped with hc_privileged().
 *
 * Safety rules every builder keeps:
 * - every value that comes from a scenario or a journal is shell-quoted (hc_quote): it reaches
 *   the host as one literal word, whatever it holds (quotes, $(...), backquotes, newlines);
 * - what a fault leaves on a host is named by a *tag* of ours ([a-z0-9_], 1..HC_TAG_MAX, checked
 *   here): nft tables and iptables chains "zonedef_<tag>", files "/tmp/zonedef-<tag>.*";
 *   undo and recover rebuild their commands from the tag alone, never from a journaled string;
 * - every undo is idempotent: it succeeds when there is nothing left to undo;
 * - nothing started on a host outlives its fault by design: cpu burners and dead-man's switches
 *   carry their own deadline.
 *
 * Exit status of the commands: 0 done; HC_EXIT_NOTHING (3) when there was nothing to act on
 * (no process of that name, say); HC_EXIT_MISSING (4) when a tool the command needs is absent
 * (nft and iptables both, tc, systemctl/service); HC_EXIT_REFUSED (5) when the host holds
 * something of someone else's where the fault would go (hc_netem: a root qdisc an admin set);
 * anything else is the failing tool's status.
 * Their stdout is documented per builder (machine-readable, one "key value" per line).
 * A command may end with `exit`: to run two in one shell, put each in a subshell,
 * "(A\n) && (B\n)" (the newline before ')' keeps a trailing comment or heredoc harmless).
 *
 * Every builder returns a string the caller frees, or NULL when an argument is invalid (bad tag,
 * empty name, out-of-range number): callers validate first, so NULL is a programming error.
 *
 * May use: base. Used by: target/ssh/, target/aws/ (SSM), tests. Stable API: change it only by
 * adding functions.
 */
#ifndef ZD_HOSTCMD_H
#define ZD_HOSTCMD_H

#include <stdbool.h>

#include "base/util.h"

#define HC_TAG_MAX      40
#define HC_EXIT_NOTHING 3
#define HC_EXIT_MISSING 4
#define HC_EXIT_REFUSED 5          /* what is there is not ours (an admin's qdisc): left alone */
#define HC_NFT_PREFIX   "zonedef_" /* every nft table / iptables chain a fault adds */

/* True when tag is 1..HC_TAG_MAX characters of [a-z0-9_]. */
bool hc_tag_valid(const char *tag);

/* Appends s to sb as one sh word: 'it'\''s' (single quotes; an embedded ' becomes '\''). The
 * empty string becomes ''. Never fails (sbuf limits apart). */
void hc_quote(struct sbuf *sb, const char *s);
/* The same as a new string; caller frees. */
char *hc_quoted(const char *s);

/* cmd run as root: with sudo, `sudo -n sh -c 'cmd'` (-n: fail at once rather than ask for a
 * password; sudo then prints "a password is required" and exits 1, see hc_sudo_needs_password);
 * without, cmd itself (a copy). */
char *hc_privileged(const char *cmd, bool sudo);
/* True when output of a failed hc_privileged command says sudo wanted a password. */
bool hc_sudo_needs_password(const char *output);

/* The scenario's own exec command (inject or undo), run by sh -c: `sh -c 'command'`. */
char *hc_exec(const char *command);

/* How kill_process finds its processes. */
enum hc_by {
    HC_BY_NAME,    /* exact process name (pgrep -x) */
    HC_BY_PIDFILE, /* a file holding a pid */
    HC_BY_UNIT,    /* a systemd unit (systemctl kill) */
};
/* Sends signal `sig` (a number, e.g. SIGKILL; the name is used on the host) to the processes
 * `what` names. Prints "pids P1 P2 ..." (not for units). Exits HC_EXIT_NOTHING when nothing
 * matched. By name, never the command's own process or its parents (its shell, sudo, sshd). */
char *hc_signal(enum hc_by by, const char *what, int sig);

/* Stops (start = false) or starts a service: systemctl where the host runs systemd, else
 * `service NAME stop|start` (sysvinit scripts). Exits HC_EXIT_MISSING when neither exists. */
char *hc_service(const char *service, bool start);

/* Starts `workers` (1..256) cpu burners, each busy `percent` (1..100) of the time, in their own
 * session, each killed by `timeout` after `seconds` (1..86400) whatever happens to zonedef.
 * Their pids and start times go to /tmp/zonedef-<tag>.cpu. Prints "pids P1 ...". */
char *hc_cpu_stress(const char *tag, unsigned workers, unsigned percent, unsigned seconds);
/* Kills the burners of hc_cpu_stress(tag) (only pids whose start time still matches), removes
 * the file. Idempotent. */
char *hc_cpu_stress_undo(const char *tag);

/* Black-holes the host: every packet in and out dropped except loopback and TCP to or from
 * ssh_port (the control connection), with nft table `inet zonedef_<tag>` (chains in/out at
 * priority -300), or, where nft is missing, iptables chains zonedef_<tag>_i / _o hooked first
 * into INPUT and OUTPUT. Prints "via nft" or "via iptables"; exits HC_EXIT_MISSING when the host
 * has neither. Applying twice is a no-op. */
char *hc_blackhole(const char *tag, int ssh_port);
/* Removes what hc_blackhole(tag) added (nft table or iptables chains). Idempotent. */
char *hc_blackhole_undo(const char *tag);

/* The handle of every qdisc hc_netem adds ("7a0d:"): undo deletes a root qdisc only with it
 * (`tc qdisc del ... root handle 7a0d:`, which the kernel refuses for any other handle). */
#define HC_NETEM_HANDLE "7a0d:"
#define HC_IFNAME_MAX   15 /* IFNAMSIZ - 1 */

/* True when name is 1..HC_IFNAME_MAX characters of [A-Za-z0-9_.:-] (what a scenario may name). */
bool hc_iface_valid(const char *name);

/* Checks that tc netem can be used: exits 0 when `tc qdisc add dev lo root netem` is accepted,
 * HC_EXIT_MISSING when tc or the sch_netem module is missing. The probe runs in a private
 * network namespace (`unshare -n`: a fresh lo nobody else uses, gone with the probe), so it
 * changes nothing and a qdisc already on the host's lo cannot fool it; where unshare -n is not
 * possible it falls back to the host's lo, only when lo has its default qdisc (else it exits
 * HC_EXIT_MISSING saying it cannot probe), and removes the probe at once by our handle. */
char *hc_netem_check(void);

/* Pre-flight of hc_netem(_, iface, ...), changing nothing: hc_netem_check, then the interfaces
 * hc_netem would use, refused the same way (HC_EXIT_NOTHING, HC_EXIT_REFUSED). Prints
 * "ready IF1 IF2 ...". NULL when iface is invalid. */
char *hc_netem_ready(const char *iface);

/* Adds latency and/or loss to the host's egress with tc netem, as root qdisc handle
 * HC_NETEM_HANDLE: `delay <delay_us>us [<jitter_us>us] [loss <loss>%]`. On `iface` (checked
 * with hc_iface_valid; exits HC_EXIT_NOTHING when the host has no such interface), or, when NULL,
 * on every interface that is up except lo. The interface list goes to /tmp/zonedef-<tag>.netem
 * before any change, so undo and recover rebuild from the tag. Uses `tc qdisc add`, never
 * `replace`: an interface whose root qdisc is not the kernel's default (handle 0:) is refused
 * before anything is added, naming it (exit HC_EXIT_REFUSED); when one add fails the ones before
 * it are taken back. Applying twice is a no-op. Prints "netem IF1 IF2 ...". Every packet the
 * host sends on those interfaces is delayed, the SSH control connection's too.
 * delay_us and jitter_us 0..60 s, loss 0..100 (percent); jitter needs a delay; NULL when all
 * three are 0. */
char *hc_netem(const char *tag, const char *iface, unsigned long delay_us, unsigned long jitter_us,
               double loss);
/* Removes what hc_netem(tag) added: on each interface of the tag's file, the root qdisc only
 * when it is netem with handle HC_NETEM_HANDLE; then the file. Idempotent (no file: exit 0). */
char *hc_netem_undo(const char *tag);

/* The dead-man's switch: runs `undo_cmd` on the host after `seconds` (1..86400) unless
 * cancelled. Where the host runs systemd: a transient timer unit zonedef-<tag>
 * (systemd-run --on-active); else a detached `sleep N; undo` in its own session whose pid and
 * start time go to /tmp/zonedef-<tag>.dm. Prints "deadman systemd zonedef-<tag>" or
 * "deadman pid PID START". undo_cmd is quoted here (it is one of hostcmd's own). */
char *hc_deadman_arm(const char *tag, const char *undo_cmd, unsigned seconds);
/* Cancels the switch of hc_deadman_arm(tag) without running its undo (stops the timer, or kills
 * the sleeper's process group when its start time still matches), removes the file.
 * Idempotent. Prints "cancelled" when it found one. */
char *hc_deadman_cancel(const char *tag);

/* Pre-flight, changing nothing: prints one line per tool, "nft yes|no", "iptables yes|no",
 * "tc yes|no", "netem yes|no" (hc_netem_check passed: tc there and sch_netem usable),
 * "systemd yes|no", "uid N". */
char *hc_preflight(void);

/* "KILL" for SIGKILL, ...; NULL for a signal hostcmd does not name. */
const char *hc_signal_name(int sig);

/* Cancels the sleeper of hc_deadman_arm(tag) from what its "deadman pid PID START" line said
 * (kept in the journal), without its file: kills the sleeper's process group only when
 * /proc/PID still has that start time and its command line names /tmp/zonedef-<tag>.dm (a pid
 * reused since is never signalled), removes the file. Idempotent. Prints "cancelled" when it
 * killed it. NULL for a bad tag, a pid < 2 or a start that is not 1..20 digits. */
char *hc_deadman_cancel_pid(const char *tag, long pid, const char *start);

#endif
