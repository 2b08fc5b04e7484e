/*
 * target: the one small table of operations every place zonedef can break things implements
 * (the lab, hosts over SSH, AWS). The runner only talks to this interface.
 *
 * A fault goes through three calls, so the runner can journal it write-ahead:
 *   prepare(step)  -> an *action*: a JSON object (text) that says exactly what will be done and
 *                     holds everything needed to undo it, self-contained (no target state needed:
 *                     pids, addresses, rule table names, instance ids, hosts and credentials'
 *                     *location*, never secrets). The runner writes it to the journal first.
 *   apply(action)  -> does it.
 *   undo(action)   -> undoes it. Idempotent: undoing twice, or undoing what was never applied,
 *                     succeeds. Needs no open target, so `zonedef recover` can call it after a
 *                     crash with only the journal in hand.
 * Instantaneous faults (kill_instances) have an undo that does nothing harmful (the platform
 * replaces what died); undo still exists so the journal is uniform.
 *
 * Files (src/target/): target.c the registry of kinds and the shared selection helpers;
 * target_lab.c the lab; one folder per further kind (ssh/, aws/), each behind its own ops table.
 * May use: base, scenario (a step is what a target prepares), and for a kind its own backend
 * (lab/ for target_lab.c, libssh2 for ssh/, libcurl for aws/). Kinds never include or call each
 * other; what two kinds share (a host command builder, say) lives at the top of target/.
 * Used by: run (the runner and recover go through the table only), cmd/recover.c, tests.
 *
 * Traffic spikes are the runner's own (it changes the load rate); targets never see them.
 */
#ifndef ZD_TARGET_H
#define ZD_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario/scenario.h"

struct tgt_instance {
    char *id; /* stable within a run: "a1", "i-0abc...", "web1.example:22" */
    char *zone;
    char *addr;   /* "127.0.1.1:18101", host name, private IP */
    bool healthy; /* as the load balancer sees it, when known */
    bool running; /* process alive / instance running */
};

struct tgt_zone_health {
    char *zone;
    uint32_t healthy;     /* servers the load balancer sends traffic to */
    uint32_t total;       /* servers it knows of in this zone */
    bool have_in_service; /* aws with an auto scaling group: */
    uint32_t in_service;  /* its instances InService in this zone */
};

struct tgt_inventory {
    struct tgt_instance *inst;
    size_t ninst;
    struct tgt_zone_health *zones;
    size_t nzones;
};
void tgt_inventory_free(struct tgt_inventory *inv); /* frees the contents, not inv itself */

struct tgt_ops {
    const char *kind; /* "lab", "ssh", "aws": also the "kind" field of every action */

    /* Opens the target described by the scenario. Returns 0 and *state, -1 with *err, or -2
     * with *err when the target refuses the configuration itself (wrong account, credentials
     * refused: invalid input, nothing was changed). */
    int (*open)(const struct scn_target *cfg, void **state, char **err);
    void (*close)(void *state);
    /* A string that names the target for locking ("lab:/path/to/lab-dir"); caller frees. */
    char *(*key)(void *state);
    /* Whether this target can inject the fault at all (checked before the run starts). */
    bool (*supports)(enum scn_fault f);
    /* What is there now: instances and per-zone health. */
    int (*resolve)(void *state, struct tgt_inventory *inv, char **err);
    /* Turns a step into an action (see above): picks the instances the selection names, records
     * what undo needs. *summary is one line for people ("black-hole zone b (127.0.2.0/24)").
     * Changes nothing. */
    int (*prepare)(void *state, const struct scn_step *step, char **action_json, char **summary,
                   char **err);
    int (*apply)(void *state, const char *action_json, char **err);
    /* Instead of apply (a kind sets one of the two): applies, and hands back in *note (caller
     * frees; may stay NULL) one line of what only doing it learned, which the runner journals
     * with the "applied" record (aws: the SSM Run Command id, to find the command afterwards). */
    int (*apply_noted)(void *state, const char *action_json, char **note, char **err);
    /* state may be NULL (recover after a crash). */
    int (*undo)(void *state, const char *action_json, char **err);
    /* Optional, used instead of undo when set: the same, with the note apply_noted returned
     * (from the journal's "applied" record; NULL when there was none: a crash before it, or an
     * apply that failed). ssh: the dead-man's switches' pids and start times, cancelled from it
     * as well as from the files on the hosts. */
    int (*undo_noted)(void *state, const char *action_json, const char *note, char **err);
    /* Per-zone health as the load balancer sees it (lb_health probes, the capacity guard). */
    int (*health)(void *state, struct tgt_inventory *inv, char **err);
    /* Optional (NULL = not offered). check: what a step would act on, resolved against the real
     * target, and the permissions proven without changing anything (AWS DryRun); *report is
     * lines for people. sweep: finds what this kind made and left behind without any journal
     * (AWS: network ACLs tagged by zonedef) and undoes it; *report says what was done. */
    int (*check)(void *state, const struct scn_step *step, char **report, char **err);
    int (*sweep)(void *state, char **report, char **err);
};

/* The ops for a scenario's target kind, or for an action's "kind" string; NULL if unknown. */
const struct tgt_ops *tgt_ops_for(enum scn_target_kind kind);
const struct tgt_ops *tgt_ops_named(const char *kind);

/* Reads the "kind" string out of an action's JSON; caller frees; NULL when absent. */
char *tgt_action_kind(const char *action_json);

/* True when the action's fault cannot be undone, whatever the kind: a kill (kill_instances,
 * kill_process with any signal but STOP/TSTP). Its undo does nothing and `recover` says so
 * ("nothing to undo: the platform replaces what died") instead of counting it as undone. */
bool tgt_action_irreversible(const char *action_json);

/* Pre-flight of an ssh target (`zonedef plan --check`): connects to every host in parallel and
 * reports, per host, what a run would need, changing nothing. */
struct tgt_host_check {
    char *host; /* "10.213.2.1:22" */
    char *zone;
    bool reachable, hostkey_ok, auth_ok, sudo_ok; /* sudo_ok: true when sudo is not asked for */
    char *hostkey;                                /* "ED25519 SHA256:...", NULL when unknown */
    char *error;                                  /* the first problem; NULL when none */
    bool nft, iptables, tc, systemd;              /* tools present (known once auth_ok) */
    bool netem;                                   /* tc netem usable (hc_netem_check) */
    int uid;                                      /* of the commands (after sudo); -1 unknown */
};
/* Fills *out (tgt_host_checks_free) with one entry per host, in scenario order; *elapsed_us the
 * wall time of the whole check. 0 when every host passed, 1 when some did not, -1 with *err
 * (not an ssh target). */
int tgt_ssh_check(const struct scn_target *cfg, struct tgt_host_check **out, size_t *n,
                  uint64_t *elapsed_us, char **err);
void tgt_host_checks_free(struct tgt_host_check *v, size_t n);

/* Implementations (one per target module). */
extern const struct tgt_ops tgt_lab_ops;
extern const struct tgt_ops tgt_aws_ops; /* aws/aws_target.c */
extern const struct tgt_ops tgt_ssh_ops; /* ssh/ssh_target.c */

#endif
