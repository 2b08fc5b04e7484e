/*
 * aws_target: what aws_target.c (the ops table: selection, the faults, undo, health) and
 * aws_check.c (sweep and `plan --check`) share. Private to src/target/aws/.
 */
#ifndef ZD_AWS_TARGET_H
#define ZD_AWS_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "scenario/scenario.h"
#include "target/aws/aws.h"

struct cJSON;

#define TAG_RUN      "zonedef:run"
#define TAG_STEP     "zonedef:step"
#define TAG_EXPIRES  "zonedef:expires"
#define TAG_ORIG     "zonedef:orig:"
#define TAG_STOPPED  "zonedef:stopped-by"
#define MAX_SUBNETS  40 /* per AZ: our ACL carries one tag per subnet, AWS allows 50 */
#define STOP_WAIT_US (120ull * 1000000ull)

struct awst {
    struct aws_ctx c;
    char *profile, *account, *arn, *vpc, *tg_arn, *asg, *lb;
    struct aws_tag *tags; /* the target's opt-in tags */
    size_t ntags;
    char *run_id;
    unsigned seq; /* host-fault tags: one per prepared step */
    bool suspend_rebalance;
    /* target id -> AZ, filled by health() as targets show up */
    struct aws_tag *az_of;
    size_t naz, capaz;
    /* the ASG's InService count per AZ, asked at most every ASG_EVERY_US */
    struct aws_asg asg_last;
    bool asg_have;
    uint64_t asg_next_us;
};
#define ASG_EVERY_US 2000000ull

/* The ops table's entries (target.h), gathered into tgt_aws_ops in aws_check.c. */
struct scn_target;
struct tgt_inventory;
int aws_tgt_open(const struct scn_target *cfg, void **state, char **err);
void aws_tgt_close(void *state);
char *aws_tgt_key(void *state);
bool aws_tgt_supports(enum scn_fault f);
int aws_tgt_resolve(void *state, struct tgt_inventory *inv, char **err);
int aws_tgt_health(void *state, struct tgt_inventory *inv, char **err);
int aws_tgt_apply_noted(void *state, const char *action_json, char **note, char **err);
int aws_tgt_undo(void *state, const char *action_json, char **err);
/* The open target's step into an action and a summary (the ops table's prepare). */
int aws_tgt_prepare(void *state, const struct scn_step *s, char **action_json, char **summary,
                    char **err);
/* The ACL a subnet is associated with now: l (caller frees with aws_acls_free), the ACL's index
 * ai and the association's si. */
int aws_tgt_subnet_acl(struct aws_ctx *c, const char *subnet, struct aws_acls *l, size_t *ai,
                       size_t *si, char **err);
/* Moves every subnet on our ACL back and deletes it; a (the journaled action) may be NULL;
 * report (may be NULL) gains a line per change. Refuses an ACL without TAG_RUN. */
int aws_tgt_undo_acl(struct aws_ctx *c, const struct aws_acl *ours, const struct cJSON *a,
                     struct sbuf *report, char **err);
/* An EC2 instance action on ids, one id at a time when the call fails whole on a gone one. */
int aws_tgt_instances_call(struct aws_ctx *c, const char *action, const char *const *ids, size_t n,
                           char **err);
/* The string member k of o, or NULL. */
const char *aws_tgt_jstr(const struct cJSON *o, const char *k);
/* The action's "instances", checked to be instance ids; *ids (caller frees) points into a. */
int aws_tgt_action_ids(const struct cJSON *a, const char ***ids, size_t *n, char **err);

/* sweep and plan --check (aws_check.c) */
int aws_tgt_sweep(void *state, char **report, char **err);
int aws_tgt_check(void *state, const struct scn_step *s, char **report, char **err);

#endif
