/*
 * aws_check: the AWS target's `zonedef recover --sweep` (ACLs tagged zonedef:run in the VPC
 * undone without any journal, instances still tagged zonedef:stopped-by started) and
 * `plan --check` (each step resolved to its real targets and its permissions proven with
 * DryRun calls where the API has them, changing nothing). Split from aws_target.c; the ops
 * table is here too, at the top of the folder's calls (aws_check -> aws_target, never back).
 */
#include "target/target.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "target/aws/aws.h"
#include "target/aws/aws_target.h"

#include "base/banned.h"

int aws_tgt_sweep(void *state, char **report, char **err)
{
    struct awst *t = state;
    struct sbuf sb = SBUF_INIT;
    *report = NULL;
    const char *const f[] = {"tag-key", TAG_RUN, t->vpc ? "vpc-id" : NULL, t->vpc, NULL};
    struct aws_acls l;
    if (aws_ec2_acls(&t->c, f, &l, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < l.n; i++)
        if (aws_tgt_undo_acl(&t->c, &l.v[i], NULL, &sb, err) < 0)
            rc = -1;
    aws_acls_free(&l);
    /* instances zonedef stopped and never started */
    struct aws_insts in;
    static const char *const stopped[] = {"stopped", NULL};
    if (rc == 0 &&
        aws_ec2_instances(&t->c, t->tags, t->ntags, NULL, stopped, NULL, 0, &in, err) == 0) {
        const char **ids = xcalloc(in.n + 1, sizeof(*ids));
        size_t n = 0;
        for (size_t i = 0; i < in.n; i++)
            if (aws_inst_tag(&in.v[i], TAG_STOPPED))
                ids[n++] = in.v[i].id;
        if (n > 0 && aws_tgt_instances_call(&t->c, "StartInstances", ids, n, err) == 0) {
            const char *keys[] = {TAG_STOPPED};
            rc = aws_ec2_delete_tags(&t->c, ids, n, keys, 1, err);
            for (size_t i = 0; i < n; i++)
                sbuf_addf(&sb, "instance %s started (zonedef had stopped it)\n", ids[i]);
        } else if (n > 0) {
            rc = -1;
        }
        free(ids);
        aws_insts_free(&in);
    }
    *report = sbuf_detach(&sb);
    return rc;
}

static void dry(struct sbuf *sb, const char *what, int rc, char *e, bool *ok)
{
    if (rc == 1)
        sbuf_addf(sb, "    %-40s %s\n", what,
                  "allowed, but the endpoint ignored DryRun and did it (undone where it could)");
    else if (rc == 0)
        sbuf_addf(sb, "    %-40s %s\n", what, "allowed (DryRun)");
    else
        sbuf_addf(sb, "    %-40s DENIED: %s\n", what, e ? e : "");
    if (rc < 0)
        *ok = false;
    free(e);
}

/* DeleteNetworkAcl can only be proven on an ACL that exists, and the only one zonedef may
 * delete is its own, which does not exist yet: a DryRun on an id that exists nowhere tells
 * "denied" from "allowed or not found" without any risk. */
static void dry_delete(struct aws_ctx *c, struct sbuf *sb, bool *ok)
{
    char *code = NULL, *e = NULL;
    int rc = aws_ec2_delete_acl(c, "acl-00000000000000000", true, &code, &e);
    if (rc < 0 && code && strcmp(code, "InvalidNetworkAclID.NotFound") == 0) {
        sbuf_addf(sb, "    %-40s %s\n", "ec2:DeleteNetworkAcl",
                  "not refused (proven only on an ACL of zonedef's, at undo)");
        free(e);
    } else {
        dry(sb, "ec2:DeleteNetworkAcl", rc, e, ok);
    }
    free(code);
}

int aws_tgt_check(void *state, const struct scn_step *s, char **report, char **err)
{
    struct awst *t = state;
    *report = NULL;
    char *action = NULL, *summary = NULL;
    if (aws_tgt_prepare(t, s, &action, &summary, err) < 0)
        return -1;
    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb, "  %s: %s\n", s->name, summary);
    cJSON *a = cJSON_Parse(action);
    bool ok = true;
    char *e = NULL;
    if (s->fault == SCN_FAULT_BLACKHOLE_ZONE) {
        const cJSON *it;
        struct aws_tag tg = {(char *)TAG_RUN, t->run_id};
        char *made = NULL;
        int rc = aws_ec2_create_acl(&t->c, t->vpc, &tg, 1, true, &made, &e);
        if (rc == 1 && made) { /* ours, tagged, never associated: delete it again */
            char *e2 = NULL;
            aws_ec2_delete_acl(&t->c, made, false, NULL, &e2);
            free(e2);
        }
        free(made);
        dry(&sb, "ec2:CreateNetworkAcl (+ CreateTags)", rc, e, &ok);
        bool first = true;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(a, "subnets"))
        {
            const char *sub = aws_tgt_jstr(it, "subnet");
            struct aws_acls l;
            size_t ai, si;
            e = NULL;
            if (!first || aws_tgt_subnet_acl(&t->c, sub, &l, &ai, &si, &e) < 0) {
                free(e);
                e = NULL;
                continue;
            }
            first = false;
            rc = aws_ec2_replace_assoc(&t->c, l.v[ai].assoc[si].assoc_id, l.v[ai].id, true, NULL,
                                       &e);
            /* onto the ACL it is on already: harmless even where DryRun is ignored */
            dry(&sb, "ec2:ReplaceNetworkAclAssociation", rc, e, &ok);
            e = NULL;
            dry_delete(&t->c, &sb, &ok);
            aws_acls_free(&l);
        }
        if (t->suspend_rebalance && t->asg)
            sbuf_addf(&sb, "    %-40s %s\n", "autoscaling:Suspend/ResumeProcesses",
                      "not provable (Auto Scaling has no DryRun)");
    } else if (s->fault == SCN_FAULT_LATENCY) {
        /* prepare ran hc_netem_ready on every instance through SSM: read-only, and it worked */
        sbuf_addf(&sb, "    %-40s %s\n", "ssm:SendCommand (AWS-RunShellScript)",
                  "ok (the read-only netem check ran on every instance)");
    } else if (aws_host_fault(scn_fault_name(s->fault))) {
        sbuf_addf(&sb, "    %-40s %s\n", "ssm:SendCommand (AWS-RunShellScript)",
                  "not provable (SSM has no DryRun)");
    } else {
        const char **ids;
        size_t n;
        if (aws_tgt_action_ids(a, &ids, &n, &e) == 0) {
            bool stop = s->fault == SCN_FAULT_STOP_INSTANCES;
            int rc = aws_ec2_instances_action(&t->c, stop ? "StopInstances" : "TerminateInstances",
                                              ids, n, true, NULL, &e);
            dry(&sb, stop ? "ec2:StopInstances" : "ec2:TerminateInstances", rc, e, &ok);
            if (stop) {
                e = NULL;
                rc = aws_ec2_instances_action(&t->c, "StartInstances", ids, n, true, NULL, &e);
                dry(&sb, "ec2:StartInstances", rc, e, &ok);
                e = NULL;
                struct aws_tag mark = {(char *)TAG_STOPPED, t->run_id};
                rc = aws_ec2_create_tags(&t->c, ids, n, &mark, 1, true, &e);
                if (rc == 1) {
                    const char *keys[] = {TAG_STOPPED};
                    char *e2 = NULL;
                    aws_ec2_delete_tags(&t->c, ids, n, keys, 1, &e2);
                    free(e2);
                }
                dry(&sb, "ec2:CreateTags", rc, e, &ok);
            }
            free(ids);
        } else {
            free(e);
        }
    }
    cJSON_Delete(a);
    free(action);
    free(summary);
    *report = sbuf_detach(&sb);
    return ok ? 0 : zd_err(err, "step '%s': a permission is missing", s->name);
}

const struct tgt_ops tgt_aws_ops = {
    .kind = "aws",
    .open = aws_tgt_open,
    .close = aws_tgt_close,
    .key = aws_tgt_key,
    .supports = aws_tgt_supports,
    .resolve = aws_tgt_resolve,
    .prepare = aws_tgt_prepare,
    .apply_noted = aws_tgt_apply_noted, /* instead of apply */
    .undo = aws_tgt_undo,
    .health = aws_tgt_health,
    .check = aws_tgt_check,
    .sweep = aws_tgt_sweep,
};
