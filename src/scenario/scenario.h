/*
 * scenario: a failure plan, parsed and validated into plain C structs.
 *
 * cJSON never leaves this module: the rest of zonedef sees only what is declared here. Every
 * duration is in microseconds (`_us`), every rate in requests per second. Strings are owned by
 * the scenario and freed by scn_free(). Each step, probe and the target keep the source position
 * (`loc`) of their JSON object so that runtime messages can point at the file too.
 *
 * Files (src/scenario/): scenario.c runs one file through the pipeline; values.c holds the
 * diagnostics, positions, variables and typed getters; sections.c the target, load,
 * steady_state, guards and expect sections; steps.c the steps and probes; jsonpos.c finds line
 * and column for any value. parse.h is what they share (private to the folder).
 * May use: base, cJSON, pcre2 (regexes are compiled to check them, then dropped).
 * Used by: target (a step is what a target prepares), run, cmd. Never by load or lab: they take
 * their own option structs, filled by whoever calls them.
 *
 * Parsing reports every error of a file in one go, each as "file:line:col: message (at $.path)".
 */
#ifndef ZD_SCENARIO_H
#define ZD_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on what a scenario may contain (errors name them). */
#define SCN_MAX_FILE_BYTES     (1u << 20) /* 1 MiB */
#define SCN_MAX_DEPTH          32         /* JSON nesting */
#define SCN_MAX_STEPS          256
#define SCN_MAX_PROBES         64
#define SCN_MAX_ZONES          16
#define SCN_MAX_HOSTS_PER_ZONE 1024
#define SCN_MAX_HEADERS        64
#define SCN_MAX_VARS           256
#define SCN_MAX_STRING         4096        /* any string value, after substitution */
#define SCN_MAX_BODY           (64u << 10) /* a request body */
#define SCN_MAX_NAME           128         /* names: scenario, zone, step, probe, var */
#define SCN_MAX_NOTIFY         16          /* webhooks in "notify" */

struct scn_loc {
    int line; /* 1-based; 0 = unknown */
    int col;  /* 1-based */
};

enum scn_target_kind { SCN_TARGET_LAB, SCN_TARGET_SSH, SCN_TARGET_AWS };

struct scn_kv {
    char *key;
    char *value;
};

struct scn_zone {
    char *name;
    char **hosts; /* ssh: "host" or "host:port"; lab: unused (the lab knows its instances) */
    size_t nhosts;
    /* ssh: per host (parallel to hosts) its tags, from {"host": ..., "tags": {...}} entries;
     * host_tags NULL when no host of the zone has any */
    struct scn_kv **host_tags;
    size_t *host_ntags;
};

struct scn_target {
    enum scn_target_kind kind;
    char *url;              /* the load balancer URL the traffic goes through (required) */
    struct scn_zone *zones; /* lab: default a, b, c; ssh: required, with hosts */
    size_t nzones;
    struct scn_loc loc;

    /* lab */
    char *lab_dir; /* NULL = the lab's default state directory */

    /* ssh */
    char *ssh_user;                  /* default: $USER */
    int ssh_port;                    /* default 22 */
    char *ssh_key;                   /* private key file; NULL = agent, then ~/.ssh/id_ed25519 */
    char *ssh_known_hosts;           /* default ~/.ssh/known_hosts */
    bool ssh_strict_host_key;        /* default true */
    uint64_t ssh_connect_timeout_us; /* default 10s */
    int ssh_parallel;                /* hosts worked on at once, default 32 */
    char *ssh_service;        /* process name kill_process / kill_instances act on; NULL = none */
    bool ssh_sudo;            /* prefix privileged commands with sudo -n; default false */
    char *ssh_passphrase_env; /* name of the variable holding the key's passphrase */
    uint64_t ssh_command_timeout_us; /* default 30s */
    char *ssh_haproxy_socket;        /* HAProxy runtime socket for lb_health; NULL = none */
    bool ssh_accept_new_hostkeys;    /* set by `run --accept-new-hostkeys`, never by a file */

    /* aws */
    char *aws_region;
    char *aws_endpoint;      /* override (moto, LocalStack); NULL = the real AWS endpoint */
    char *aws_profile;       /* NULL = default chain */
    struct scn_kv *aws_tags; /* instances are selected by these tags (all must match) */
    size_t naws_tags;
    char *aws_load_balancer; /* name or ARN */
    char *aws_target_group;  /* name or ARN */
    char *aws_asg;           /* auto scaling group name, optional */
    char *aws_account;       /* required: the 12-digit account the credentials must belong to */
    char *aws_vpc;           /* NULL = the VPC of the target group, else of the tagged instances */
    bool aws_suspend_az_rebalance; /* suspend the ASG's AZRebalance during blackhole_zone */
};

enum scn_status_kind { SCN_STATUS_EXACT, SCN_STATUS_CLASS, SCN_STATUS_RANGE };
struct scn_status {
    int lo, hi; /* inclusive; "2xx" -> 200..299, "200" -> 200..200, "200-204" */
};

enum scn_engine { SCN_ENGINE_AUTO, SCN_ENGINE_NATIVE, SCN_ENGINE_CURL };

struct scn_load {
    double rate;                 /* requests per second, > 0 (required) */
    uint64_t ramp_us;            /* ramp from 0 to rate at the start; default 0 */
    uint32_t connections;        /* default 64 */
    uint32_t threads;            /* 0 = one per core */
    uint32_t max_in_flight;      /* 0 = connections */
    uint64_t timeout_us;         /* per request, default 2s */
    uint64_t connect_timeout_us; /* default 1s */
    char *method;                /* default "GET" */
    struct scn_kv *headers;
    size_t nheaders;
    char *body;                       /* NULL = none */
    struct scn_status *expect_status; /* default one range 200..399 */
    size_t nexpect_status;
    char *expect_body;      /* pcre2 regex; NULL = any body */
    bool http2;             /* default false */
    bool insecure;          /* skip TLS verification; default false */
    char *ca_file;          /* verify TLS against this PEM file; NULL = the system store */
    enum scn_engine engine; /* default auto: native for http://, libcurl otherwise */
    uint64_t interval_us;   /* timeline interval, default 100ms */
};

struct scn_steady {
    double error_rate;  /* max fraction of failed requests in a window; default 0.01 */
    uint64_t p99_us;    /* max p99 in a window; 0 = not checked */
    uint64_t window_us; /* default 1s */
    uint64_t hold_us;   /* how long it must hold; default 5s */
};

enum scn_fault {
    SCN_FAULT_KILL_INSTANCES,
    SCN_FAULT_STOP_INSTANCES,
    SCN_FAULT_BLACKHOLE_ZONE,
    SCN_FAULT_TRAFFIC_SPIKE,
    SCN_FAULT_LATENCY,
    SCN_FAULT_CPU_STRESS,
    SCN_FAULT_KILL_PROCESS,
    SCN_FAULT_EXEC,
    SCN_FAULT__COUNT
};
/* "kill_instances", ... ; NULL for an out-of-range value. */
const char *scn_fault_name(enum scn_fault f);
/* true for faults that act on instances picked by a selection (zone/tag/count/percent). */
bool scn_fault_selects(enum scn_fault f);

struct scn_select {
    char *zone;          /* NULL = every zone */
    struct scn_kv *tags; /* aws/ssh host tags; all must match */
    size_t ntags;
    uint32_t count; /* 0 = not given */
    double percent; /* 0 = not given; (0, 100] */
    /* count and percent are exclusive; neither = every instance in the selection */
};

/* Whether a host's tags include every tag of the selection (all must match, key and value; true
 * when the selection names none). */
bool scn_tags_match(const struct scn_kv *have, size_t nhave, const struct scn_select *sel);
/* How many of n candidates a selection takes, in order: count, or percent of n rounded up (at
 * least 1 when n > 0), or all; never more than n. */
size_t scn_pick_count(size_t n, const struct scn_select *sel);

struct scn_step {
    char *name; /* default "<fault>@<at>" */
    enum scn_fault fault;
    uint64_t at_us;  /* from the start of the run (warm-up included) */
    uint64_t for_us; /* 0 = instantaneous (kill) */
    struct scn_select sel;
    struct scn_loc loc;

    /* traffic_spike */
    double rate;      /* the rate during the spike */
    uint64_t ramp_us; /* ramp up to it (and down after), default 0 */
    /* latency */
    uint64_t delay_us;
    uint64_t jitter_us;
    double loss;     /* percent of packets dropped, 0..100; 0 = none */
    char *interface; /* the host interface (ssh, aws); NULL = every interface that is up but lo */
    /* cpu_stress */
    uint32_t cpu_percent; /* 1..100, default 100 */
    uint32_t workers;     /* default 1 per selected instance */
    /* kill_process */
    char *process; /* process name (pkill -x) */
    int signal;    /* default SIGKILL; written "KILL", "TERM", "STOP" */
    /* exec */
    char *command;      /* run on each selected host (ssh) or locally (lab) */
    char *undo_command; /* run when the fault ends; NULL = nothing to undo */

    /* per-step expectations (0 / negative = not set) */
    uint64_t expect_recovery_us;
    uint64_t expect_detect_us;
    double expect_max_error_rate; /* < 0 = not set */
};

enum scn_probe_kind { SCN_PROBE_HTTP, SCN_PROBE_COMMAND, SCN_PROBE_LB_HEALTH };

struct scn_probe {
    char *name;
    enum scn_probe_kind kind;
    uint64_t interval_us; /* default 1s */
    uint64_t timeout_us;  /* default 2s */
    struct scn_loc loc;
    /* http */
    char *url;
    struct scn_status status; /* default 200..399 */
    char *body;               /* regex, optional */
    /* command */
    char *command; /* passes when it exits 0 */
    /* lb_health */
    char *zone;           /* NULL = all zones */
    uint32_t min_healthy; /* passes when at least this many servers are healthy; default 1 */
};

struct scn_guards {
    double abort_error_rate;     /* abort when the error rate stays above this...; < 0 = off */
    uint64_t abort_for_us;       /* ...for this long; default 10s */
    double min_healthy_fraction; /* abort when healthy capacity falls below this; < 0 = off */
    uint64_t max_duration_us;    /* abort after this; default 10m; every step must fit inside */
    char *kill_switch;           /* abort when this file exists; NULL = off */
};

struct scn_expect {
    uint64_t recovery_us;  /* every fault must recover within this; 0 = not checked */
    uint64_t detect_us;    /* 0 = not checked */
    double availability;   /* overall, 0..1; < 0 = not checked */
    double max_error_rate; /* in any window; < 0 = not checked */
    uint64_t p99_us;       /* overall p99; 0 = not checked */
    double min_score;      /* 0..100; < 0 = not checked */
};

struct scn_scenario {
    char *path; /* as given */
    char *name; /* required: [a-z0-9._-], at most SCN_MAX_NAME */
    char *description;
    /* webhooks to post the run's events to: "[json=|slack=|datadog=]URL" (cmd/run.c adds the
     * --notify ones); at most SCN_MAX_NOTIFY */
    char **notify;
    size_t nnotify;
    struct scn_target target;
    struct scn_load load;
    struct scn_steady steady;
    uint64_t warmup_us;     /* default 10s */
    uint64_t settle_us;     /* after the last fault ends, before the final check; default 10s */
    struct scn_step *steps; /* sorted by at_us (stable) */
    size_t nsteps;
    struct scn_probe *probes;
    size_t nprobes;
    struct scn_guards guards;
    struct scn_expect expect;
    struct scn_kv *vars; /* the resolved variables (file, then environment, then --var) */
    size_t nvars;
    uint64_t duration_us; /* derived: end of the last step + settle (what `plan` shows) */
};

/* One error found in a file. `msg` is the whole line: "file:line:col: message (at $.path)". */
struct scn_diag {
    char *msg;
    struct scn_loc loc;
    char *path; /* JSON path, "$.steps[2].zone" */
};
struct scn_diags {
    struct scn_diag *v;
    size_t n, cap;
};
void scn_diags_free(struct scn_diags *d);

/*
 * Parses and validates `path`. `vars` are "name=value" overrides from --var (may be NULL).
 * On success returns 0 and *out (free with scn_free). On failure returns -1, *out is NULL, and
 * every problem found is appended to `diags` (at least one).
 */
int scn_load_file(const char *path, const char *const *vars, size_t nvars,
                  struct scn_scenario **out, struct scn_diags *diags);
/* The same for text already in memory; `name` is used in messages in place of a file name. */
int scn_load_buffer(const char *name, const char *text, size_t len, const char *const *vars,
                    size_t nvars, struct scn_scenario **out, struct scn_diags *diags);
void scn_free(struct scn_scenario *s);

/* True when `status` falls in one of the load's expected ranges. */
bool scn_status_expected(const struct scn_load *load, int status);

#endif
