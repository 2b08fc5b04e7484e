/*
 * hostcmd: shell command lines for host faults, shared by the SSH and AWS (SSM) targets; the
 * contract is in hostcmd.h. Everything here is pure string building: no I/O, so the unit tests
 * run each command under a real /bin/sh and check what it did.
 *
 * Commands are written for POSIX sh plus the usual Linux tools (pgrep/pkill from procps, nft or
 * iptables, timeout and setsid from coreutils/util-linux). Values from scenarios are always
 * passed through hc_quote; numbers and tags (checked) are the only things formatted in bare.
 */
#include "target/hostcmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

bool hc_tag_valid(const char *tag)
{
    if (!tag || !*tag || strlen(tag) > HC_TAG_MAX)
        return false;
    for (const char *p = tag; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

void hc_quote(struct sbuf *sb, const char *s)
{
    sbuf_addc(sb, '\'');
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '\'')
            sbuf_adds(sb, "'\\''");
        else
            sbuf_addc(sb, *p);
    }
    sbuf_addc(sb, '\'');
}

char *hc_quoted(const char *s)
{
    struct sbuf sb = SBUF_INIT;
    hc_quote(&sb, s);
    return sbuf_detach(&sb);
}

char *hc_privileged(const char *cmd, bool sudo)
{
    if (!cmd)
        return NULL;
    if (!sudo)
        return xstrdup(cmd);
    struct sbuf sb = SBUF_INIT;
    sbuf_adds(&sb, "sudo -n sh -c ");
    hc_quote(&sb, cmd);
    return sbuf_detach(&sb);
}

bool hc_sudo_needs_password(const char *output)
{
    return output && (strstr(output, "a password is required") ||
                      strstr(output, "a terminal is required") || strstr(output, "no tty present"));
}

char *hc_exec(const char *command)
{
    if (!command || !*command)
        return NULL;
    struct sbuf sb = SBUF_INIT;
    sbuf_adds(&sb, "sh -c ");
    hc_quote(&sb, command);
    return sbuf_detach(&sb);
}

static const struct {
    int sig;
    const char *name;
} signals[] = {
    {SIGKILL, "KILL"}, {SIGTERM, "TERM"}, {SIGSTOP, "STOP"}, {SIGCONT, "CONT"}, {SIGINT, "INT"},
    {SIGHUP, "HUP"},   {SIGQUIT, "QUIT"}, {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}, {SIGABRT, "ABRT"},
};

const char *hc_signal_name(int sig)
{
    for (size_t i = 0; i < ZD_ARRAY_LEN(signals); i++)
        if (signals[i].sig == sig)
            return signals[i].name;
    return NULL;
}

char *hc_signal(enum hc_by by, const char *what, int sig)
{
    const char *sn = hc_signal_name(sig);
    if (!sn || !what || !*what)
        return NULL;
    struct sbuf sb = SBUF_INIT;
    switch (by) {
    case HC_BY_NAME:
        /* the exact name (/proc/PID/comm, 15 characters at most), zombies left out; read with
         * shell builtins only, no pattern language in between (pgrep's would be a regex). Never
         * the processes this command runs in: the (sub)shell reading the list (/proc/self is
         * whoever opens it, and a builtin's redirection is opened by the shell itself), and its
         * parents up to init: the framing subshell and the long-lived shell of the SSH target,
         * sudo, the sshd session, SSM's agent. Killing "sh" must not kill the command doing it
         * (which then never says what it signalled) nor cut zonedef's own way in. */
        sbuf_adds(&sb, "n=");
        hc_quote(&sb, what);
        sbuf_addf(&sb,
                  "; read -r q _ </proc/self/stat; a=\" $$ \"; "
                  "while [ \"$q\" -gt 1 ] 2>/dev/null; do a=\"$a$q \"; "
                  "read -r s <\"/proc/$q/stat\" || break; s=${s##*) }; set -- $s; q=$2; done; "
                  "p=; for d in /proc/[0-9]*; do read -r c <\"$d/comm\" 2>/dev/null || "
                  "continue; [ \"$c\" = \"$n\" ] || continue; read -r s <\"$d/stat\" || "
                  "continue; s=${s##*) }; case $s in Z*|X*) continue ;; esac; "
                  "case $a in *\" ${d#/proc/} \"*) continue ;; esac; p=\"$p ${d#/proc/}\"; done; "
                  "[ -n \"$p\" ] || { printf 'no process named %%s\\n' \"$n\" >&2; "
                  "exit %d; }; kill -s %s $p && echo \"pids$p\"",
                  HC_EXIT_NOTHING, sn);
        break;
    case HC_BY_PIDFILE:
        sbuf_adds(&sb, "p=$(head -c 32 ");
        hc_quote(&sb, what);
        sbuf_addf(&sb, " 2>/dev/null | tr -cd 0-9); [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null"
                       " || { echo 'no live pid in '");
        hc_quote(&sb, what);
        sbuf_addf(&sb, " >&2; exit %d; }; kill -s %s \"$p\" && echo \"pids $p\"", HC_EXIT_NOTHING,
                  sn);
        break;
    case HC_BY_UNIT:
        sbuf_addf(&sb,
                  "command -v systemctl >/dev/null || { echo 'no systemctl' >&2; exit %d; }; "
                  "systemctl is-active --quiet -- ",
                  HC_EXIT_MISSING);
        hc_quote(&sb, what);
        sbuf_addf(&sb, " || { echo 'unit not active: '");
        hc_quote(&sb, what);
        sbuf_addf(&sb, " >&2; exit %d; }; systemctl kill --signal=%s -- ", HC_EXIT_NOTHING, sn);
        hc_quote(&sb, what);
        break;
    default: sbuf_free(&sb); return NULL;
    }
    return sbuf_detach(&sb);
}

char *hc_service(const char *service, bool start)
{
    if (!service || !*service)
        return NULL;
    const char *verb = start ? "start" : "stop";
    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb,
              "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then "
              "systemctl %s -- ",
              verb);
    hc_quote(&sb, service);
    sbuf_adds(&sb, "; elif command -v service >/dev/null; then service ");
    hc_quote(&sb, service);
    sbuf_addf(&sb, " %s; else echo 'neither systemctl nor service on this host' >&2; exit %d; fi",
              verb, HC_EXIT_MISSING);
    return sbuf_detach(&sb);
}

/* The start time of pid $1 (field 22 of /proc/PID/stat, counted after the ')' that ends the
 * command name, which may hold spaces) as a shell snippet: "$(st PID)". */
#define HC_START_FN "st() { sed 's/.*) //' /proc/\"$1\"/stat 2>/dev/null | cut -d' ' -f20; }; "

char *hc_cpu_stress(const char *tag, unsigned workers, unsigned percent, unsigned seconds)
{
    if (!hc_tag_valid(tag) || workers < 1 || workers > 256 || percent < 1 || percent > 100 ||
        seconds < 1 || seconds > 86400)
        return NULL;
    /* a burner: busy for percent ms, idle for the rest of each 100 ms */
    char burn[256];
    if (percent >= 100)
        snprintf(burn, sizeof(burn), "while :; do :; done");
    else
        snprintf(burn, sizeof(burn),
                 "while :; do timeout 0.%03u sh -c \"while :; do :; done\"; sleep 0.%03u; done",
                 percent, 100 - percent);
    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb,
              HC_START_FN "f=/tmp/zonedef-%s.cpu; : >\"$f\" || exit 1; ps=; i=0; "
                          "while [ $i -lt %u ]; do "
                          "setsid timeout -s KILL %u sh -c ",
              tag, workers, seconds);
    hc_quote(&sb, burn);
    sbuf_adds(&sb, " </dev/null >/dev/null 2>&1 & p=$!; echo \"$p $(st $p)\" >>\"$f\"; "
                   "ps=\"$ps $p\"; i=$((i+1)); done; echo \"pids$ps\"");
    return sbuf_detach(&sb);
}

char *hc_cpu_stress_undo(const char *tag)
{
    if (!hc_tag_valid(tag))
        return NULL;
    /* timeout is each burner's session leader: killing its group takes the burner with it */
    return xasprintf(HC_START_FN "f=/tmp/zonedef-%s.cpu; [ -f \"$f\" ] || exit 0; "
                                 "while read -r p s; do [ -n \"$p\" ] && [ \"$(st $p)\" = \"$s\" ] "
                                 "&& kill -s KILL -- -\"$p\" 2>/dev/null; done <\"$f\"; rm -f "
                                 "\"$f\"",
                     tag);
}

char *hc_blackhole(const char *tag, int ssh_port)
{
    if (!hc_tag_valid(tag) || ssh_port < 1 || ssh_port > 65535)
        return NULL;
    const char *t = tag;
    int p = ssh_port;
    return xasprintf(
        "if command -v nft >/dev/null; then "
        "nft list table inet zonedef_%s >/dev/null 2>&1 && { echo 'via nft'; exit 0; }; "
        "printf '%%s\\n' "
        "'table inet zonedef_%s {' "
        "' chain in { type filter hook input priority -300; policy drop;' "
        "'  iif lo accept; tcp dport %d accept; tcp sport %d accept; }' "
        "' chain out { type filter hook output priority -300; policy drop;' "
        "'  oif lo accept; tcp sport %d accept; tcp dport %d accept; }' "
        "'}' | nft -f - && echo 'via nft'; "
        "elif command -v iptables >/dev/null; then "
        "iptables -n -L zonedef_%s_i >/dev/null 2>&1 && { echo 'via iptables'; exit 0; }; "
        "iptables -N zonedef_%s_i && iptables -N zonedef_%s_o && "
        "iptables -A zonedef_%s_i -i lo -j ACCEPT && "
        "iptables -A zonedef_%s_i -p tcp --dport %d -j ACCEPT && "
        "iptables -A zonedef_%s_i -p tcp --sport %d -j ACCEPT && "
        "iptables -A zonedef_%s_i -j DROP && "
        "iptables -A zonedef_%s_o -o lo -j ACCEPT && "
        "iptables -A zonedef_%s_o -p tcp --sport %d -j ACCEPT && "
        "iptables -A zonedef_%s_o -p tcp --dport %d -j ACCEPT && "
        "iptables -A zonedef_%s_o -j DROP && "
        "iptables -I INPUT 1 -j zonedef_%s_i && iptables -I OUTPUT 1 -j zonedef_%s_o && "
        "echo 'via iptables'; "
        "else echo 'neither nft nor iptables on this host' >&2; exit %d; fi",
        t, t, p, p, p, p, t, t, t, t, t, p, t, p, t, t, t, p, t, p, t, t, t, HC_EXIT_MISSING);
}

char *hc_blackhole_undo(const char *tag)
{
    if (!hc_tag_valid(tag))
        return NULL;
    const char *t = tag;
    return xasprintf("rc=0; if command -v nft >/dev/null && "
                     "nft list table inet zonedef_%s >/dev/null 2>&1; then "
                     "nft delete table inet zonedef_%s || rc=1; fi; "
                     "if command -v iptables >/dev/null && "
                     "iptables -n -L zonedef_%s_i >/dev/null 2>&1; then "
                     "while iptables -D INPUT -j zonedef_%s_i 2>/dev/null; do :; done; "
                     "while iptables -D OUTPUT -j zonedef_%s_o 2>/dev/null; do :; done; "
                     "iptables -F zonedef_%s_i; iptables -X zonedef_%s_i || rc=1; "
                     "iptables -F zonedef_%s_o 2>/dev/null; iptables -X zonedef_%s_o 2>/dev/null; "
                     "fi; exit $rc",
                     t, t, t, t, t, t, t, t, t);
}

bool hc_iface_valid(const char *name)
{
    if (!name || !*name || strlen(name) > HC_IFNAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == ':' || *p == '-'))
            return false;
    return true;
}

char *hc_netem_check(void)
{
    /* the probe qdisc goes on the lo of a network namespace of its own, which dies with it:
     * nothing on the host changes, and what the host's lo holds does not matter */
    return xasprintf(
        "command -v tc >/dev/null || { echo 'tc is not installed' >&2; exit %d; }; "
        "p='tc qdisc add dev lo root handle " HC_NETEM_HANDLE " netem delay 0ms'; "
        "if unshare -n true 2>/dev/null; then unshare -n sh -c \"$p\" 2>/dev/null && exit 0; "
        "else set -- $(tc qdisc show dev lo root 2>/dev/null); "
        "if [ \"$3\" != 0: ]; then echo \"cannot probe for netem: no private network namespace "
        "(unshare -n) and lo has a qdisc of its own ($2 $3)\" >&2; exit %d; fi; "
        "if $p 2>/dev/null; then tc qdisc del dev lo root handle " HC_NETEM_HANDLE " 2>/dev/null; "
        "exit 0; fi; fi; "
        "echo 'tc netem is not available (no sch_netem in this kernel)' >&2; exit %d",
        HC_EXIT_MISSING, HC_EXIT_MISSING, HC_EXIT_MISSING);
}

/* The undo as a shell function u() over the interfaces of file $f: deletes the root qdisc of
 * each only when it is our netem (the kernel refuses `del ... handle H` for another handle
 * anyway), then the file. `set -f`: an interface name is never a glob. */
#define HC_NETEM_UNDO_FN                                                                           \
    "set -f; u() { r=0; while read -r i; do [ -n \"$i\" ] || continue; "                           \
    "set -- $(tc qdisc show dev \"$i\" root 2>/dev/null); "                                        \
    "[ \"$2 $3\" = 'netem " HC_NETEM_HANDLE "' ] || continue; "                                    \
    "tc qdisc del dev \"$i\" root handle " HC_NETEM_HANDLE " || r=1; done <\"$f\"; "               \
    "[ $r = 0 ] && rm -f \"$f\"; return $r; }; "

/* Sets $l to the interfaces (iface, or every one that is up but lo) and exits
 * HC_EXIT_REFUSED naming the first whose root qdisc is not the kernel's default (handle 0:). */
static void netem_ifaces(struct sbuf *sb, const char *iface)
{
    sbuf_adds(sb, "set -f; l=");
    if (iface) {
        hc_quote(sb, iface);
        sbuf_addf(sb,
                  "; [ -e \"/sys/class/net/$l\" ] || { printf 'no interface named %%s\\n' "
                  "\"$l\" >&2; exit %d; }; ",
                  HC_EXIT_NOTHING);
    } else {
        /* IFF_UP is bit 0 of /sys/class/net/IF/flags */
        sbuf_addf(sb,
                  "; set +f; for d in /sys/class/net/*; do i=${d##*/}; "
                  "[ \"$i\" = lo ] && continue; read -r fl <\"$d/flags\" 2>/dev/null || "
                  "continue; [ $((fl & 1)) = 1 ] && l=\"$l $i\"; done; set -f; "
                  "[ -n \"$l\" ] || { echo 'no interface is up (besides lo)' >&2; exit %d; }; ",
                  HC_EXIT_NOTHING);
    }
    sbuf_addf(sb,
              "for i in $l; do set -- $(tc qdisc show dev \"$i\" root 2>/dev/null); "
              "[ -n \"$3\" ] || { printf 'cannot read the root qdisc of %%s\\n' \"$i\" >&2; "
              "exit 1; }; [ \"$3\" = 0: ] || { printf 'interface %%s already has a root qdisc "
              "of its own (%%s %%s): zonedef never replaces one, nothing was changed\\n' "
              "\"$i\" \"$2\" \"$3\" >&2; exit %d; }; done; ",
              HC_EXIT_REFUSED);
}

char *hc_netem_ready(const char *iface)
{
    if (iface && !hc_iface_valid(iface))
        return NULL;
    char *check = hc_netem_check();
    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb, "(%s\n) || exit $?; ", check);
    free(check);
    netem_ifaces(&sb, iface);
    sbuf_adds(&sb, "echo \"ready$(printf ' %s' $l)\"");
    return sbuf_detach(&sb);
}

char *hc_netem(const char *tag, const char *iface, unsigned long delay_us, unsigned long jitter_us,
               double loss)
{
    const unsigned long max = 60ul * 1000000ul;
    if (!hc_tag_valid(tag) || (iface && !hc_iface_valid(iface)) || delay_us > max ||
        jitter_us > max || !(loss >= 0 && loss <= 100) || (jitter_us && !delay_us) ||
        (!delay_us && loss == 0))
        return NULL;
    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb,
              "command -v tc >/dev/null || { echo 'tc is not installed' >&2; exit %d; }; "
              "f=/tmp/zonedef-%s.netem; " HC_NETEM_UNDO_FN
              "[ -f \"$f\" ] && { echo \"netem $(tr '\\n' ' ' <\"$f\")\"; exit 0; }; ",
              HC_EXIT_MISSING, tag);
    /* refused before any change; the list is written before the first add */
    netem_ifaces(&sb, iface);
    sbuf_adds(&sb, "printf '%s\\n' $l >\"$f\" || exit 1; "
                   "for i in $l; do tc qdisc add dev \"$i\" root handle " HC_NETEM_HANDLE " netem");
    if (delay_us)
        sbuf_addf(&sb, " delay %luus", delay_us);
    if (jitter_us)
        sbuf_addf(&sb, " %luus", jitter_us);
    if (loss > 0)
        sbuf_addf(&sb, " loss %.6g%%", loss);
    sbuf_adds(&sb, " || { e=$?; u; exit $e; }; done; echo \"netem$(printf ' %s' $l)\"");
    return sbuf_detach(&sb);
}

char *hc_netem_undo(const char *tag)
{
    if (!hc_tag_valid(tag))
        return NULL;
    return xasprintf("f=/tmp/zonedef-%s.netem; [ -f \"$f\" ] || exit 0; " HC_NETEM_UNDO_FN
                     "command -v tc >/dev/null || { echo 'tc is not installed' >&2; exit %d; }; "
                     "u",
                     tag, HC_EXIT_MISSING);
}

char *hc_deadman_arm(const char *tag, const char *undo_cmd, unsigned seconds)
{
    if (!hc_tag_valid(tag) || !undo_cmd || !*undo_cmd || seconds < 1 || seconds > 86400)
        return NULL;
    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb,
              HC_START_FN "if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; "
                          "then systemd-run --quiet --collect --unit=zonedef-%s --on-active=%u "
                          "/bin/sh -c ",
              tag, seconds);
    hc_quote(&sb, undo_cmd);
    sbuf_addf(&sb, " && echo 'deadman systemd zonedef-%s'; else f=/tmp/zonedef-%s.dm; ", tag, tag);
    /* the sleeper's own script: sleep, undo, remove the file; its session is its own so that
     * cancel can kill the sleeper and its sleep together, and so a dying ssh session (SIGHUP
     * to its process group) does not take it along */
    struct sbuf inner = SBUF_INIT;
    sbuf_addf(&inner, "sleep %u; (", seconds);
    sbuf_adds(&inner, undo_cmd);
    sbuf_addf(&inner, "\n); rm -f /tmp/zonedef-%s.dm", tag);
    sbuf_adds(&sb, "setsid sh -c ");
    hc_quote(&sb, sbuf_str(&inner));
    sbuf_free(&inner);
    sbuf_adds(&sb, " </dev/null >/dev/null 2>&1 & p=$!; s=$(st $p); echo \"$p $s\" >\"$f\" && "
                   "echo \"deadman pid $p $s\"; fi");
    return sbuf_detach(&sb);
}

char *hc_deadman_cancel(const char *tag)
{
    if (!hc_tag_valid(tag))
        return NULL;
    return xasprintf(HC_START_FN "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null "
                                 "&& systemctl is-active --quiet zonedef-%s.timer; then "
                                 "systemctl stop zonedef-%s.timer zonedef-%s.service "
                                 "2>/dev/null; echo cancelled; fi; f=/tmp/zonedef-%s.dm; "
                                 "if [ -f \"$f\" ]; then read -r p s <\"$f\"; "
                                 "if [ -n \"$p\" ] && [ \"$(st $p)\" = \"$s\" ]; then "
                                 "kill -s KILL -- -\"$p\" 2>/dev/null; echo cancelled; fi; "
                                 "rm -f \"$f\"; fi; exit 0",
                     tag, tag, tag, tag);
}

char *hc_preflight(void)
{
    char *netem = hc_netem_check();
    char *r =
        xasprintf("for t in nft iptables tc; do if command -v $t >/dev/null; then "
                  "echo \"$t yes\"; else echo \"$t no\"; fi; done; "
                  "if (%s\n) >/dev/null 2>&1; then echo 'netem yes'; else echo 'netem no'; fi; "
                  "if [ -d /run/systemd/system ]; then echo 'systemd yes'; "
                  "else echo 'systemd no'; fi; echo \"uid $(id -u)\"",
                  netem);
    free(netem);
    return r;
}

char *hc_deadman_cancel_pid(const char *tag, long pid, const char *start)
{
    if (!hc_tag_valid(tag) || pid < 2 || pid > 0x3fffffff || !start || !*start ||
        strlen(start) > 20 || strspn(start, "0123456789") != strlen(start))
        return NULL;
    return xasprintf(HC_START_FN "p=%ld; if [ \"$(st $p)\" = %s ] && tr '\\000' ' ' "
                                 "</proc/$p/cmdline 2>/dev/null | grep -qF /tmp/zonedef-%s.dm; "
                                 "then kill -s KILL -- -$p 2>/dev/null; echo cancelled; fi; "
                                 "rm -f /tmp/zonedef-%s.dm; exit 0",
                     pid, start, tag, tag);
}
