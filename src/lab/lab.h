/*
 * lab: the local lab, a three-zone web tier on loopback that zonedef can break for real.
 *
 * Zones a, b, c, ... are the /24s 127.0.1.0/24, 127.0.2.0/24, ...; instance N of zone Z is a
 * small HTTP server of ours (lab_instance_run) on 127.0.Z.N:18080; HAProxy from Debian sits in
 * front on 127.0.0.1:18000 with health checks and an admin runtime socket; a healer process
 * (lab_healer_run) plays the auto-scaling group; an optional private sshd listens on
 * 127.0.0.1:2222. Everything lives in one directory (lab_default_dir()): configuration, pid
 * files, HAProxy's log (the ground truth of what users saw), the healer's log, keys.
 *
 * Files (src/lab/): lab.c up, down, status, pid files and configuration; names.c zone and
 * instance names and addresses; haproxy.c HAProxy's configuration, runtime socket and stats;
 * instance.c the instance HTTP server; healer.c the auto-scaling stand-in; events.c the ground
 * truth read back from HAProxy's and the healer's logs; proc.c runs one command (lab_run); hosts.c
 * `lab up --hosts`, every instance a host of its own (network, PID and mount namespaces, its own
 * sshd). May use: base. Used by: target/target_lab.c (the lab as a target), cmd/lab.c, and the
 * tests. Never by run: the runner knows the lab only through the target table.
 *
 * Nothing here prints or exits; the long-running daemons are functions that loop and return.
 */
#ifndef ZD_LAB_H
#define ZD_LAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LAB_LB_PORT           18000
#define LAB_INSTANCE_PORT     18080
#define LAB_SSH_PORT          2222
#define LAB_MAX_ZONES         9 /* zones a..i: 127.0.1.0/24 .. 127.0.9.0/24 */
#define LAB_MAX_PER_ZONE      8 /* instances started per zone */
#define LAB_SPARES            2 /* spare slots per zone the healer may fill (scale-out) */
#define LAB_MAX_SLOTS         (LAB_MAX_PER_ZONE + LAB_SPARES)
#define LAB_MAX_HEAL_DELAY_US (600ull * 1000000ull)
#define LAB_MAX_DIR           80    /* unix socket paths live in the dir: keep it short */
#define LAB_BACKEND           "web" /* HAProxy backend name */

struct lab_config {
    int zones;              /* 1..LAB_MAX_ZONES, default 3 */
    int per_zone;           /* 1..LAB_MAX_PER_ZONE, default 2 */
    int spares;             /* spare slots per zone, LAB_SPARES */
    uint64_t heal_delay_us; /* default 3 s */
    bool ssh;
    bool hosts; /* every instance a host in a network namespace of its own (hosts.c) */
    uint64_t started_wall_us;
};
void lab_config_default(struct lab_config *cfg);

/* $ZONEDEF_LAB_DIR, else $XDG_STATE_HOME/zonedef/lab, else ~/.local/state/zonedef/lab (home
 * from $HOME, else from the password database; never /tmp). Caller frees. Never NULL. */
char *lab_default_dir(void);
/* The lab directory's trust check (base/trust.h): DIR and DIR/run are ours (or root's) and not
 * writable by others. Its records say what the lab's faults may signal. 0 or -1 with *err. */
int lab_dir_check(const char *dir, char **err);
/* Makes the lab directory (0700, *created = true), or accepts an existing one that passes the
 * trust check. 0 or -1 with *err. */
int lab_dir_make(const char *dir, bool *created, char **err);
/* Removes a lab directory lab_dir_make created (after a failed `lab up`), following no symlink. */
void lab_dir_remove(const char *dir);

/* Zone names: index 0 -> "a". */
char lab_zone_name(int idx);
/* "b" -> 1; -1 when the name is not a lab zone letter. */
int lab_zone_index(const char *zone);
/* "127.0.<zone+1>.<slot+1>"; buf of at least 16 bytes. */
const char *lab_instance_ip(int zone, int slot, char *buf, size_t n);
/* Parses an instance id ("b1") into zone index and slot (0-based). 0 or -1. */
int lab_parse_instance_id(const char *id, int *zone, int *slot);

/* Lab directory state. */
int lab_config_save(const char *dir, const struct lab_config *cfg, char **err);
int lab_config_load(const char *dir, struct lab_config *cfg, char **err);

/* Pid files: DIR/run/<name>.pid holding "pid starttime". lab_pid_get returns the pid only when
 * that process still exists, is not a zombie and started at the recorded time (so a recycled
 * pid is never signalled); 0 otherwise. */
int lab_pid_put(const char *dir, const char *name, pid_t pid, char **err);
/* What the lab's record says of NAME (pid and start time), read only through the trust check of
 * DIR, DIR/run and the pid file; whether that process still runs is not checked. 0 or -1. */
int lab_pid_record(const char *dir, const char *name, pid_t *pid, unsigned long long *start,
                   char **err);
pid_t lab_pid_get(const char *dir, const char *name);
void lab_pid_remove(const char *dir, const char *name);
/* The start time (clock ticks since boot, /proc/PID/stat field 22); 0 when gone. */
unsigned long long lab_proc_starttime(pid_t pid);
/* 'R', 'S', 'T', 'Z', ... from /proc/PID/stat; 0 when gone. */
char lab_proc_state(pid_t pid);

/* Selection math: how many of n to pick for count (0 = not given) or percent (0 = not given);
 * percent rounds up and picks at least 1; neither -> n. Never more than n. */
size_t lab_select_count(size_t n, uint32_t count, double percent);

/* ---- HAProxy (haproxy.c) ---- */

/* The generated haproxy.cfg for a lab in `dir`; caller frees. */
char *lab_haproxy_config(const char *dir, const struct lab_config *cfg);

/* Sends one command to the runtime socket DIR/haproxy.sock; *out (caller frees) gets the reply. */
int lab_haproxy_cmd(const char *dir, const char *cmd, char **out, char **err);

struct lab_srv {
    char name[16]; /* "b1" */
    int zone;      /* index */
    int slot;
    char status[24]; /* HAProxy's: "UP", "DOWN", "MAINT", "UP 1/2", "no check", ... */
    bool up;         /* takes traffic */
    bool maint;
    unsigned scur; /* current sessions */
    unsigned qcur; /* queued */
};
/* Parses `show stat` CSV (pure, for tests): the servers of backend LAB_BACKEND. Caller frees. */
int lab_parse_show_stat(const char *csv, struct lab_srv **out, size_t *n, char **err);
/* show stat through the socket + parse. */
int lab_haproxy_servers(const char *dir, struct lab_srv **out, size_t *n, char **err);

/* ---- instances (instance.c) ---- */

struct lab_instance_opts {
    const char *dir;          /* for the stats file; may be NULL */
    const char *id;           /* "a1" */
    const char *ip;           /* "127.0.1.1" */
    int port;                 /* 0 = any free port, reported in *bound_port */
    volatile int *stop;       /* the loop returns when *stop becomes non-zero (signal handler) */
    volatile int *bound_port; /* may be NULL: set once the server listens */
};
/* Runs the HTTP server until *stop; 0 on a clean stop, -1 with *err (bind failed, ...). */
int lab_instance_run(const struct lab_instance_opts *o, char **err);

/* The instance's knobs, as the control endpoint sets and reports them. */
struct lab_knobs {
    int delay_ms;    /* extra delay before answering, 0..60000 */
    int jitter_ms;   /* 0..60000, uniform extra on top of delay */
    int service_ms;  /* busy service time per request, 0..10000 */
    int concurrency; /* requests served at once, 1..10000; more queue, then 503 */
    int cpu;         /* percent of a core burnt in the background, 0..95 */
};
/* Parses "delay_ms=200&cpu=80" into k (only the keys present change). Pure. */
int lab_knobs_parse(const char *query, struct lab_knobs *k, char **err);
/* One HTTP request to an instance's control endpoint (POST when query != NULL, else GET);
 * fills *now with the values after the call. timeout bounds the whole exchange.
 * Returns 0, -1 with *err, or -2 when the connection was refused (nothing listens). */
int lab_control(const char *ip, int port, const char *query, uint64_t timeout_us,
                struct lab_knobs *now, char **err);

/* ---- the healer (healer.c) ---- */

/* Starts the first instances, then supervises: replaces dead instances after the heal delay,
 * adds spare capacity in surviving zones while a zone is down, scales out on sustained overload.
 * Every action goes to DIR/healer.log. `exe` is the binary to run instances with.
 * Returns when *stop becomes non-zero (after stopping its instances). */
int lab_healer_run(const char *dir, const char *exe, volatile int *stop, char **err);
/* Appends one line to DIR/healer.log (tab-separated: iso, wall us, action, zone, instance,
 * detail). */
void lab_healer_log(const char *dir, const char *action, const char *zone, const char *inst,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- up, down, status (lab.c) ---- */

/* Brings the lab up in `dir` and waits until every server is UP (at most 5 s).
 * `exe` is the zonedef binary (for the healer and instances). *ready_us gets the time it took.
 * Returns 0; 1 when a lab is already up there (nothing done); -1 with *err. */
int lab_up(const char *dir, const struct lab_config *cfg, const char *exe, uint64_t *ready_us,
           char **err);
/* Stops every process it started (by pid), removes the lab's nft tables. Safe to run twice.
 * *stopped gets the number of processes stopped. 0 or -1 with *err (something survived). */
int lab_down(const char *dir, int *stopped, char **err);

struct lab_proc {
    char name[32];
    pid_t pid;  /* 0 when not running */
    char state; /* /proc state letter; 'T' = stopped */
};
struct lab_status {
    bool up; /* HAProxy is running */
    struct lab_config cfg;
    struct lab_proc *procs; /* haproxy, healer, sshd, then instances */
    size_t nprocs;
    struct lab_srv *srv; /* HAProxy's view; empty when it does not answer */
    size_t nsrv;
    char **nft_tables; /* the lab's nft tables present now */
    size_t nnft;
};
int lab_status_get(const char *dir, struct lab_status *st, char **err);
void lab_status_free(struct lab_status *st);

/* nft tables the lab's faults add are named with this prefix ("zonedef_bh_b"). */
#define LAB_NFT_PREFIX "zonedef_bh_"
/* Lists the names of the inet tables with our prefix present now. */
int lab_nft_tables(char ***names, size_t *n, char **err);
/* Runs argv (no shell), waits at most timeout_us; *out (may be NULL) gets stdout+stderr
 * (at most 64 KiB). Returns the exit status (0..255), or -1 with *err. */
int lab_run(char *const argv[], uint64_t timeout_us, char **out, char **err);

/* ---- hosts (hosts.c): `lab up --hosts` ---- */

#define LAB_HOSTS_NS_PREFIX "zonedef-"   /* network namespace of host b1: zonedef-b1 */
#define LAB_HOSTS_BRIDGE    "zonedefbr0" /* 10.213.0.1/16 in the root namespace */
#define LAB_HOSTS_SERVICE   "web"        /* the HTTP server's process and service name */
#define LAB_HOSTS_SSH_PORT  22

/* "10.213.<zone+1>.<slot+1>"; buf of at least 16 bytes (names.c, like the next one). */
const char *lab_host_ip(int zone, int slot, char *buf, size_t n);
/* "zonedef-b1"; buf of at least 32 bytes. */
void lab_host_ns(int zone, int slot, char *buf, size_t n);
/* Makes the bridge, the namespaces and veths, the keys (DIR/ssh/id_ed25519, id_rsa,
 * known_hosts, authorized_keys; DIR/hosts/<id>/ per host) and starts every host: pids[zone *
 * per_zone + slot] gets its process (the caller records it; -1 when not started); returns when
 * every host's sshd and HTTP server accept. Needs root. 0 or -1. */
int lab_hosts_up(const char *dir, const struct lab_config *cfg, const char *exe, pid_t *pids,
                 char **err);
/* Removes every namespace, veth, bridge and guard table of a hosts lab, found by name (after a
 * crash too), killing what still runs in the namespaces. *removed counts what went. 0 or -1. */
int lab_hosts_down(const char *dir, int *removed, char **err);
/* The hosts labs' network namespaces present now (names with LAB_HOSTS_NS_PREFIX). */
int lab_hosts_list(char ***names, size_t *n);

/* ---- ground truth (events.c) ---- */

struct lab_server_event {
    uint64_t t_us;
    char server[16];
    char zone[4];
    char state[8]; /* "UP", "DOWN" */
    char *reason;
};
struct lab_bucket {
    uint64_t t_us;
    uint64_t total, errors;
    uint32_t *status; /* counts per status code index (see lab_events.status_codes) */
};
struct lab_healer_event {
    uint64_t t_us;
    char *action, *zone, *instance, *detail;
};
struct lab_events {
    struct lab_server_event *servers;
    size_t nservers;
    uint64_t interval_us;
    struct lab_bucket *buckets;
    size_t nbuckets;
    int *status_codes; /* the distinct statuses seen, ascending (-1 = no response) */
    size_t nstatus;
    uint64_t first_error_us, last_error_us; /* 0 = none */
    struct lab_healer_event *healer;
    size_t nhealer;
};
#define LAB_MAX_BUCKETS 200000
#define LAB_MAX_EVENTS  1000000

/* Reads DIR/haproxy.log and DIR/healer.log for [since, until) (wall-clock us since the epoch;
 * 0 = open end). interval 0 = 100 ms. Fills *out (lab_events_free). 0 or -1 with *err. */
int lab_events_read(const char *dir, uint64_t since_wall_us, uint64_t until_wall_us,
                    uint64_t interval_us, struct lab_events *out, char **err);
void lab_events_free(struct lab_events *ev);
/* The JSON of the ground-truth contract (README "lab events"). Caller frees. */
char *lab_events_json(const struct lab_events *ev);

/* One parsed line of haproxy.log (pure, for tests). kind: 0 = neither, 1 = request,
 * 2 = server state change. */
struct lab_log_line {
    int kind;
    uint64_t t_us;
    int status;      /* request: HTTP status, -1 = no response */
    char server[16]; /* server event: "b1" */
    char state[8];
    char reason[128];
};
int lab_parse_log_line(const char *line, struct lab_log_line *out);

#endif
