/*
 * aws_target: AWS behind the target ops table (target.h).
 *
 * Opening checks before anything else that the credentials belong to `target.account` (STS
 * GetCallerIdentity); a refusal or a wrong account is invalid input (-2): nothing was changed.
 *
 * Instances are only ever picked through the scenario's opt-in tags (target.tags, plus a step's
 * own): DescribeInstances filters on every tag, so an instance without them is never touched.
 *
 *   kill_instances   TerminateInstances; undo does nothing (the auto scaling group replaces)
 *   stop_instances   tags them zonedef:stopped-by=<run id>, then StopInstances; undo starts
 *                    only the named instances that still carry that tag, then removes it
 *   blackhole_zone   the AWS FIS network-ACL swap for every subnet of the VPC in that AZ.
 *                    prepare records each subnet's current ACL (the journal has it before any
 *                    change); apply creates one ACL with no entries (so: deny all, both ways),
 *                    tagged zonedef:run=<run id>, zonedef:step, zonedef:expires and, per
 *                    subnet, zonedef:orig:<subnet>=<original ACL>, then replaces the subnets'
 *                    associations with it; optionally suspends the ASG's AZRebalance (named
 *                    explicitly: without a list Suspend/ResumeProcesses act on all of them).
 *                    undo finds our ACL *by its tags* (never by an id from the journal),
 *                    moves every subnet still on it back (re-reading the association ids,
 *                    which change on every replace) to its original ACL — the tag's, else
 *                    the journal's, else the VPC's default ACL, and only an ACL of the same
 *                    VPC — deletes it, and resumes AZRebalance if we suspended it.
 *   kill_process, cpu_stress, latency, exec   hostcmd's command lines through SSM (aws_ssm.c);
 *                    latency is checked first (tc netem on every instance, through SSM too)
 * A multi-instance call fails whole on one bad id (InvalidInstanceID.NotFound,
 * IncorrectInstanceState): the ids are then tried one by one and gone instances are skipped.
 *
 * sweep and check live in aws_check.c. sweep (`zonedef recover --sweep FILE`) finds ACLs tagged
 * zonedef:run in the VPC without any journal, undoes them the same way, and starts instances still
 * tagged zonedef:stopped-by.
 */
#include "target/target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "target/aws/aws.h"
#include "target/aws/aws_target.h"

#include "base/banned.h"

static void tagv_free(struct aws_tag *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].key);
        free(t[i].value);
    }
    free(t);
}

void aws_tgt_close(void *state)
{
    struct awst *t = state;
    if (!t)
        return;
    aws_ctx_free(&t->c);
    free(t->profile);
    free(t->account);
    free(t->arn);
    free(t->vpc);
    free(t->tg_arn);
    free(t->asg);
    free(t->lb);
    tagv_free(t->tags, t->ntags);
    tagv_free(t->az_of, t->naz);
    aws_asg_free(&t->asg_last);
    free(t->run_id);
    free(t);
}

static const char *env_nonempty(const char *n)
{
    const char *v = getenv(n);
    return v && *v ? v : NULL;
}

static char *new_run_id(void)
{
    unsigned char r[4] = {0};
    if (getentropy(r, sizeof(r)) < 0)
        r[0] = (unsigned char)getpid();
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    return xasprintf("zd-%s-%02x%02x%02x%02x", ts, r[0], r[1], r[2], r[3]);
}

/* Credentials, region, account: what open() and an undo without state both need. Returns 0,
 * -1, or -2 for a refusal (wrong account, credentials refused). */
static int connect_ctx(struct aws_ctx *c, const char *region, const char *endpoint,
                       const char *profile, const char *account, char **arn, char **err)
{
    memset(c, 0, sizeof(*c));
    c->retry = (struct aws_retry){5, 200000, 5000000, 30000000};
    c->timeout_us = 15000000;
    c->endpoint = endpoint ? xstrdup(endpoint) : NULL;
    const char *r = region ? region : env_nonempty("AWS_REGION");
    if (!r)
        r = env_nonempty("AWS_DEFAULT_REGION");
    struct aws_chain_opts o = {
        .profile = profile, .region = r, .endpoint = endpoint, .retry = &c->retry};
    char *preg = NULL;
    if (aws_creds_resolve(&o, &c->creds, &preg, err) < 0)
        return -2;
    if (!r)
        r = preg;
    if (!r) {
        free(preg);
        return zd_err(err, "no region: set target.region, AWS_REGION or the profile's region") * 2;
    }
    c->region = xstrdup(r);
    free(preg);
    char *acct = NULL, *a = NULL, *e = NULL;
    if (aws_sts_identity(c, &acct, &a, &e) < 0) {
        zd_err(err, "the credentials (%s) were refused: %s", c->creds.source, e);
        free(e);
        return -2;
    }
    int rc = 0;
    if (account && strcmp(acct, account) != 0)
        rc = zd_err(err,
                    "the credentials (%s) belong to account %s, the scenario says %s: "
                    "refusing to touch it (nothing was changed)",
                    c->creds.source, acct, account) *
             2;
    free(acct);
    if (arn)
        *arn = a;
    else
        free(a);
    return rc;
}

int aws_tgt_open(const struct scn_target *cfg, void **state, char **err)
{
    struct awst *t = xcalloc(1, sizeof(*t));
    if (!cfg->aws_account) {
        aws_tgt_close(t);
        return zd_err(err, "target.account is required for aws targets") * 2;
    }
    t->profile = cfg->aws_profile ? xstrdup(cfg->aws_profile) : NULL;
    t->account = xstrdup(cfg->aws_account);
    int rc = connect_ctx(&t->c, cfg->aws_region, cfg->aws_endpoint, t->profile, t->account, &t->arn,
                         err);
    if (rc < 0) {
        aws_tgt_close(t);
        return rc;
    }
    if (cfg->naws_tags == 0) {
        aws_tgt_close(t);
        return zd_err(err, "target.tags is required: zonedef only touches instances carrying "
                           "the scenario's opt-in tags") *
               2;
    }
    t->tags = xcalloc(cfg->naws_tags, sizeof(*t->tags));
    for (size_t i = 0; i < cfg->naws_tags; i++) {
        t->tags[i].key = xstrdup(cfg->aws_tags[i].key);
        t->tags[i].value = xstrdup(cfg->aws_tags[i].value);
    }
    t->ntags = cfg->naws_tags;
    t->asg = cfg->aws_asg ? xstrdup(cfg->aws_asg) : NULL;
    t->lb = cfg->aws_load_balancer ? xstrdup(cfg->aws_load_balancer) : NULL;
    t->suspend_rebalance = cfg->aws_suspend_az_rebalance;
    t->run_id = new_run_id();
    if (cfg->aws_target_group) {
        struct aws_tg tg;
        if (aws_elb_target_group(&t->c, cfg->aws_target_group, &tg, err) < 0) {
            aws_tgt_close(t);
            return -1;
        }
        t->tg_arn = tg.arn;
        t->vpc = tg.vpc;
    }
    if (cfg->aws_vpc) {
        if (t->vpc && strcmp(t->vpc, cfg->aws_vpc) != 0) {
            zd_err(err, "target.vpc is %s but target group %s is in %s", cfg->aws_vpc,
                   cfg->aws_target_group, t->vpc);
            aws_tgt_close(t);
            return -2;
        }
        free(t->vpc);
        t->vpc = xstrdup(cfg->aws_vpc);
    }
    if (!t->vpc) {
        struct aws_insts l;
        if (aws_ec2_instances(&t->c, t->tags, t->ntags, NULL, NULL, NULL, 0, &l, err) < 0) {
            aws_tgt_close(t);
            return -1;
        }
        for (size_t i = 0; i < l.n; i++) {
            if (!l.v[i].vpc || !*l.v[i].vpc)
                continue;
            if (t->vpc && strcmp(t->vpc, l.v[i].vpc) != 0) {
                zd_err(err,
                       "the tagged instances are in more than one VPC (%s, %s): name one "
                       "with target.vpc",
                       t->vpc, l.v[i].vpc);
                aws_insts_free(&l);
                aws_tgt_close(t);
                return -2;
            }
            if (!t->vpc)
                t->vpc = xstrdup(l.v[i].vpc);
        }
        aws_insts_free(&l);
    }
    *state = t;
    return 0;
}

char *aws_tgt_key(void *state)
{
    struct awst *t = state;
    return xasprintf("aws:%s:%s:%s", t->account, t->c.region, t->vpc ? t->vpc : "-");
}

bool aws_tgt_supports(enum scn_fault f)
{
    return f == SCN_FAULT_KILL_INSTANCES || f == SCN_FAULT_STOP_INSTANCES ||
           f == SCN_FAULT_BLACKHOLE_ZONE || f == SCN_FAULT_KILL_PROCESS ||
           f == SCN_FAULT_CPU_STRESS || f == SCN_FAULT_LATENCY ||
           f == SCN_FAULT_EXEC; /* the last four through SSM */
}

/* ---- inventory, health ---- */

static const char *az_lookup(const struct awst *t, const char *id)
{
    for (size_t i = 0; i < t->naz; i++)
        if (strcmp(t->az_of[i].key, id) == 0)
            return t->az_of[i].value;
    return NULL;
}

static void az_remember(struct awst *t, const char *id, const char *az)
{
    if (az_lookup(t, id) || t->naz >= 100000)
        return;
    ZD_GROW(t->az_of, t->capaz, t->naz + 1);
    t->az_of[t->naz].key = xstrdup(id);
    t->az_of[t->naz].value = xstrdup(az);
    t->naz++;
}

static struct tgt_zone_health *zone_slot(struct tgt_inventory *inv, size_t *cap, const char *az)
{
    for (size_t i = 0; i < inv->nzones; i++)
        if (strcmp(inv->zones[i].zone, az) == 0)
            return &inv->zones[i];
    ZD_GROW(inv->zones, *cap, inv->nzones + 1);
    struct tgt_zone_health *z = &inv->zones[inv->nzones++];
    memset(z, 0, sizeof(*z));
    z->zone = xstrdup(az);
    return z;
}

int aws_tgt_health(void *state, struct tgt_inventory *inv, char **err)
{
    struct awst *t = state;
    memset(inv, 0, sizeof(*inv));
    if (!t->tg_arn)
        return zd_err(err, "no target.target_group: the load balancer's view is unknown");
    struct aws_th *th = NULL;
    size_t n = 0;
    if (aws_elb_target_health(&t->c, t->tg_arn, &th, &n, err) < 0)
        return -1;
    /* AZs of targets we have not seen yet, in one DescribeInstances */
    const char **unknown = xcalloc(n + 1, sizeof(*unknown));
    size_t nu = 0;
    for (size_t i = 0; i < n; i++)
        if (!az_lookup(t, th[i].id) && zd_str_has_prefix(th[i].id, "i-"))
            unknown[nu++] = th[i].id;
    if (nu > 0) {
        static const char *const any[] = {"pending",       "running",    "stopping", "stopped",
                                          "shutting-down", "terminated", NULL};
        struct aws_insts l;
        if (aws_ec2_instances(&t->c, NULL, 0, NULL, any, unknown, nu, &l, NULL) == 0) {
            for (size_t i = 0; i < l.n; i++)
                az_remember(t, l.v[i].id, l.v[i].az);
            aws_insts_free(&l);
        }
    }
    free(unknown);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *az = az_lookup(t, th[i].id);
        struct tgt_zone_health *z = zone_slot(inv, &cap, az ? az : "unknown");
        z->total++;
        z->healthy += strcmp(th[i].state, "healthy") == 0;
        free(th[i].id);
        free(th[i].state);
    }
    free(th);
    if (t->asg && zd_now_us() >= t->asg_next_us) {
        struct aws_asg g;
        t->asg_next_us = zd_now_us() + ASG_EVERY_US;
        if (aws_asg_describe(&t->c, t->asg, &g, NULL) == 0) {
            aws_asg_free(&t->asg_last);
            t->asg_last = g;
            t->asg_have = true;
        }
    }
    if (t->asg_have) {
        for (size_t i = 0; i < t->asg_last.ninst; i++)
            zone_slot(inv, &cap, t->asg_last.inst[i].az);
        for (size_t z = 0; z < inv->nzones; z++) {
            inv->zones[z].have_in_service = true;
            for (size_t i = 0; i < t->asg_last.ninst; i++)
                inv->zones[z].in_service +=
                    strcmp(t->asg_last.inst[i].az, inv->zones[z].zone) == 0 &&
                    strcmp(t->asg_last.inst[i].lifecycle, "InService") == 0;
        }
    }
    return 0;
}

int aws_tgt_resolve(void *state, struct tgt_inventory *inv, char **err)
{
    struct awst *t = state;
    memset(inv, 0, sizeof(*inv));
    struct aws_insts l;
    if (aws_ec2_instances(&t->c, t->tags, t->ntags, NULL, NULL, NULL, 0, &l, err) < 0)
        return -1;
    struct tgt_inventory h = {0};
    bool have_h = t->tg_arn && aws_tgt_health(t, &h, NULL) == 0;
    struct aws_th *th = NULL;
    size_t nth = 0;
    if (t->tg_arn)
        aws_elb_target_health(&t->c, t->tg_arn, &th, &nth, NULL);
    inv->inst = xcalloc(l.n + 1, sizeof(*inv->inst));
    size_t zcap = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct tgt_instance *in = &inv->inst[inv->ninst++];
        in->id = xstrdup(l.v[i].id);
        in->zone = xstrdup(l.v[i].az);
        in->addr = xstrdup(l.v[i].ip ? l.v[i].ip : "");
        in->running = strcmp(l.v[i].state, "running") == 0;
        for (size_t k = 0; k < nth; k++)
            if (strcmp(th[k].id, l.v[i].id) == 0)
                in->healthy = strcmp(th[k].state, "healthy") == 0;
        if (!t->tg_arn)
            in->healthy = in->running;
        az_remember(t, l.v[i].id, l.v[i].az);
        zone_slot(inv, &zcap, l.v[i].az);
    }
    for (size_t k = 0; k < nth; k++) {
        free(th[k].id);
        free(th[k].state);
    }
    free(th);
    if (have_h) {
        for (size_t i = 0; i < h.nzones; i++) {
            struct tgt_zone_health *z = zone_slot(inv, &zcap, h.zones[i].zone);
            z->healthy = h.zones[i].healthy;
            z->total = h.zones[i].total;
        }
    }
    for (size_t i = 0; i < h.nzones; i++) /* not tgt_inventory_free: target.c calls us */
        free(h.zones[i].zone);
    free(h.zones);
    aws_insts_free(&l);
    return 0;
}

/* ---- prepare ---- */

static size_t pick_count(size_t n, uint32_t count, double percent)
{
    if (count)
        return count < n ? count : n;
    if (percent > 0) {
        size_t k = (size_t)ceil((double)n * percent / 100.0);
        return k < 1 ? 1 : k > n ? n : k;
    }
    return n;
}

static void tags_merge(const struct awst *t, const struct scn_select *sel, struct aws_tag **out,
                       size_t *n)
{
    *n = t->ntags + sel->ntags;
    *out = xcalloc(*n + 1, sizeof(**out));
    for (size_t i = 0; i < t->ntags; i++)
        (*out)[i] = t->tags[i];
    for (size_t i = 0; i < sel->ntags; i++) {
        (*out)[t->ntags + i].key = sel->tags[i].key;
        (*out)[t->ntags + i].value = sel->tags[i].value;
    }
}

static cJSON *base_action(const struct awst *t, const struct scn_step *s, const char *fault)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "kind", "aws");
    cJSON_AddStringToObject(a, "fault", fault);
    cJSON_AddStringToObject(a, "run_id", t->run_id);
    cJSON_AddStringToObject(a, "step", s->name);
    cJSON_AddStringToObject(a, "account", t->account);
    cJSON_AddStringToObject(a, "region", t->c.region);
    if (t->c.endpoint)
        cJSON_AddStringToObject(a, "endpoint", t->c.endpoint);
    if (t->profile)
        cJSON_AddStringToObject(a, "profile", t->profile);
    if (t->vpc)
        cJSON_AddStringToObject(a, "vpc", t->vpc);
    return a;
}

static int prepare_instances(struct awst *t, const struct scn_step *s, const char *fault,
                             char **action_json, char **summary, char **err)
{
    struct aws_tag *tags;
    size_t ntags;
    tags_merge(t, &s->sel, &tags, &ntags);
    static const char *const running[] = {"running", NULL};
    struct aws_insts l;
    int rc = aws_ec2_instances(&t->c, tags, ntags, s->sel.zone, running, NULL, 0, &l, err);
    if (rc < 0) {
        free(tags);
        return -1;
    }
    if (l.n == 0) {
        struct sbuf sb = SBUF_INIT;
        for (size_t i = 0; i < ntags; i++)
            sbuf_addf(&sb, "%s%s=%s", i ? ", " : "", tags[i].key, tags[i].value);
        zd_err(err, "no running instance tagged %s%s%s", sbuf_str(&sb), s->sel.zone ? " in " : "",
               s->sel.zone ? s->sel.zone : "");
        sbuf_free(&sb);
        free(tags);
        aws_insts_free(&l);
        return -1;
    }
    size_t k = pick_count(l.n, s->sel.count, s->sel.percent);
    cJSON *a = base_action(t, s, fault);
    char *verb = xstrdup(strcmp(fault, "kill_instances") == 0 ? "terminate" : "stop");
    if (aws_host_fault(fault)) {
        free(verb);
        if (aws_host_params(s, t->run_id, ++t->seq, a, &verb, err) < 0)
            k = 0; /* err is set: nothing is prepared */
    }
    cJSON *tj = cJSON_AddObjectToObject(a, "tags");
    for (size_t i = 0; i < ntags; i++)
        cJSON_AddStringToObject(tj, tags[i].key, tags[i].value);
    cJSON *ids = cJSON_AddArrayToObject(a, "instances");
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < k; i++) {
        cJSON_AddItemToArray(ids, cJSON_CreateString(l.v[i].id));
        sbuf_addf(&sb, "%s%s (%s)", i ? ", " : "", l.v[i].id, l.v[i].az);
    }
    *summary = xasprintf("%s%s %zu of %zu tagged instance%s: %s", verb ? verb : "",
                         aws_host_fault(fault) ? " via SSM on" : "", k, l.n, l.n == 1 ? "" : "s",
                         sbuf_str(&sb));
    sbuf_free(&sb);
    free(verb);
    *action_json = k ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    free(tags);
    aws_insts_free(&l);
    if (k == 0) {
        free(*summary);
        *summary = NULL;
    }
    return k ? 0 : -1;
}

/* The ACL a subnet is associated with now (every subnet has exactly one). */
int aws_tgt_subnet_acl(struct aws_ctx *c, const char *subnet, struct aws_acls *l, size_t *ai,
                       size_t *si, char **err)
{
    const char *const f[] = {"association.subnet-id", subnet, NULL};
    if (aws_ec2_acls(c, f, l, err) < 0)
        return -1;
    for (size_t i = 0; i < l->n; i++)
        for (size_t k = 0; k < l->v[i].nassoc; k++)
            if (strcmp(l->v[i].assoc[k].subnet, subnet) == 0) {
                *ai = i;
                *si = k;
                return 0;
            }
    aws_acls_free(l);
    return zd_err(err, "subnet %s has no network ACL association", subnet);
}

static int prepare_blackhole(struct awst *t, const struct scn_step *s, char **action_json,
                             char **summary, char **err)
{
    if (!s->sel.zone)
        return zd_err(err, "blackhole_zone needs a zone (an availability zone name)");
    if (!t->vpc)
        return zd_err(err, "no VPC: name target.vpc or target.target_group, or tag instances");
    char **subnets = NULL;
    size_t ns = 0;
    if (aws_ec2_subnets(&t->c, t->vpc, s->sel.zone, &subnets, &ns, err) < 0)
        return -1;
    if (ns == 0) {
        aws_strv_free(subnets, ns);
        return zd_err(err, "VPC %s has no subnet in %s", t->vpc, s->sel.zone);
    }
    if (ns > MAX_SUBNETS) {
        aws_strv_free(subnets, ns);
        return zd_err(err, "VPC %s has %zu subnets in %s, more than the %d zonedef handles", t->vpc,
                      ns, s->sel.zone, MAX_SUBNETS);
    }
    cJSON *a = base_action(t, s, "blackhole_zone");
    cJSON_AddStringToObject(a, "zone", s->sel.zone);
    char exp[32];
    zd_iso8601(zd_wall_us() + s->for_us + 600000000ull, exp, sizeof(exp));
    cJSON_AddStringToObject(a, "expires", exp);
    cJSON *arr = cJSON_AddArrayToObject(a, "subnets");
    struct sbuf sb = SBUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < ns && rc == 0; i++) {
        struct aws_acls l;
        size_t ai, si;
        if (aws_tgt_subnet_acl(&t->c, subnets[i], &l, &ai, &si, err) < 0) {
            rc = -1;
            break;
        }
        const struct aws_acl *acl = &l.v[ai];
        if (aws_acl_tag(acl, TAG_RUN)) {
            rc = zd_err(err,
                        "subnet %s is already on zonedef's network ACL %s (run %s): run "
                        "'zonedef recover' first",
                        subnets[i], acl->id, aws_acl_tag(acl, TAG_RUN));
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "subnet", subnets[i]);
            cJSON_AddStringToObject(o, "acl", acl->id);
            cJSON_AddItemToArray(arr, o);
            sbuf_addf(&sb, "%s%s (was %s)", i ? ", " : "", subnets[i], acl->id);
        }
        aws_acls_free(&l);
    }
    aws_strv_free(subnets, ns);
    if (rc == 0 && t->suspend_rebalance && t->asg) {
        struct aws_asg g;
        if (aws_asg_describe(&t->c, t->asg, &g, err) < 0) {
            rc = -1;
        } else {
            bool already = false;
            for (size_t i = 0; i < g.nsuspended; i++)
                already |= strcmp(g.suspended[i], "AZRebalance") == 0;
            cJSON_AddStringToObject(a, "asg", t->asg);
            /* suspended already (by someone else): leave it alone on undo too */
            cJSON_AddBoolToObject(a, "suspend_az_rebalance", !already);
            aws_asg_free(&g);
        }
    }
    if (rc == 0) {
        *summary =
            xasprintf("black-hole %s: deny-all network ACL on %s", s->sel.zone, sbuf_str(&sb));
        *action_json = cJSON_PrintUnformatted(a);
    }
    sbuf_free(&sb);
    cJSON_Delete(a);
    return rc;
}

/* latency: the instances as for the other host faults, then tc netem checked on each of them
 * through SSM before anything is applied */
static int prepare_latency(struct awst *t, const struct scn_step *s, char **action_json,
                           char **summary, char **err)
{
    if (prepare_instances(t, s, "latency", action_json, summary, err) < 0)
        return -1;
    cJSON *a = cJSON_Parse(*action_json);
    const char **ids = NULL;
    size_t n = 0;
    int rc = aws_tgt_action_ids(a, &ids, &n, err);
    if (rc == 0)
        rc = aws_host_ready(&t->c, a, ids, n, err);
    free(ids);
    cJSON_Delete(a);
    if (rc < 0) {
        free(*action_json);
        free(*summary);
        *action_json = *summary = NULL;
    }
    return rc;
}

int aws_tgt_prepare(void *state, const struct scn_step *s, char **action_json, char **summary,
                    char **err)
{
    struct awst *t = state;
    *action_json = *summary = NULL;
    switch (s->fault) {
    case SCN_FAULT_KILL_INSTANCES:
        return prepare_instances(t, s, "kill_instances", action_json, summary, err);
    case SCN_FAULT_STOP_INSTANCES:
        return prepare_instances(t, s, "stop_instances", action_json, summary, err);
    case SCN_FAULT_BLACKHOLE_ZONE: return prepare_blackhole(t, s, action_json, summary, err);
    case SCN_FAULT_KILL_PROCESS:
    case SCN_FAULT_CPU_STRESS:
    case SCN_FAULT_EXEC:
        return prepare_instances(t, s, scn_fault_name(s->fault), action_json, summary, err);
    case SCN_FAULT_LATENCY: return prepare_latency(t, s, action_json, summary, err);
    default: break;
    }
    return zd_err(err, "the aws target cannot do '%s'", scn_fault_name(s->fault));
}

/* ---- apply / undo ---- */

const char *aws_tgt_jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool valid_id(const char *s, const char *prefix)
{
    if (!s || !zd_str_has_prefix(s, prefix) || strlen(s) > 64)
        return false;
    for (const char *p = s + strlen(prefix); *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return strlen(s) > strlen(prefix);
}

/* The ids of an action's "instances", checked to be instance ids. */
int aws_tgt_action_ids(const cJSON *a, const char ***ids, size_t *n, char **err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(a, "instances");
    *n = 0;
    *ids = NULL;
    if (!cJSON_IsArray(arr))
        return zd_err(err, "the action has no instances");
    size_t k = (size_t)cJSON_GetArraySize(arr);
    *ids = xcalloc(k + 1, sizeof(**ids));
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) || !valid_id(it->valuestring, "i-")) {
            free(*ids);
            *ids = NULL;
            return zd_err(err, "the action names something that is not an instance id");
        }
        (*ids)[(*n)++] = it->valuestring;
    }
    return 0;
}

/* The action's tags (opt-in), to re-check instances before touching them. */
static void action_tags(const cJSON *a, struct aws_tag **tags, size_t *n)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, "tags");
    *n = 0;
    *tags = xcalloc((size_t)cJSON_GetArraySize(o) + 1, sizeof(**tags));
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (!cJSON_IsString(it))
            continue;
        (*tags)[*n].key = it->string;
        (*tags)[*n].value = it->valuestring;
        (*n)++;
    }
}

static bool gone_code(const char *code)
{
    return code && (strcmp(code, "InvalidInstanceID.NotFound") == 0 ||
                    strcmp(code, "InvalidInstanceID.Malformed") == 0 ||
                    strcmp(code, "IncorrectInstanceState") == 0);
}

/* One call for all ids; when it fails whole on one bad id, one call per id. */
int aws_tgt_instances_call(struct aws_ctx *c, const char *action, const char *const *ids, size_t n,
                           char **err)
{
    if (n == 0)
        return 0;
    char *code = NULL, *e = NULL;
    if (aws_ec2_instances_action(c, action, ids, n, false, &code, &e) == 0)
        return 0;
    if (!gone_code(code)) {
        zd_err(err, "%s: %s", action, e);
        free(code);
        free(e);
        return -1;
    }
    free(code);
    free(e);
    struct sbuf bad = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        code = e = NULL;
        if (aws_ec2_instances_action(c, action, &ids[i], 1, false, &code, &e) < 0 &&
            !gone_code(code))
            sbuf_addf(&bad, "%s%s: %s", bad.len ? "; " : "", ids[i], e);
        free(code);
        free(e);
    }
    int rc = bad.len ? zd_err(err, "%s: %s", action, sbuf_str(&bad)) : 0;
    sbuf_free(&bad);
    return rc;
}

/* stop: StopInstances, else TerminateInstances; host >= 0: the host fault's command through
 * SSM instead (1 = its undo) */
static int apply_instances(struct aws_ctx *c, const cJSON *a, bool stop, int host, char **note,
                           char **err)
{
    const char **ids;
    size_t n;
    if (aws_tgt_action_ids(a, &ids, &n, err) < 0)
        return -1;
    struct aws_tag *tags;
    size_t ntags;
    action_tags(a, &tags, &ntags);
    int rc = -1;
    if (ntags == 0) {
        zd_err(err, "the action carries no opt-in tags: refusing to touch instances");
        goto out;
    }
    /* still tagged, still there: only those */
    struct aws_insts l;
    static const char *const live[] = {"pending", "running", NULL};
    if (aws_ec2_instances(c, tags, ntags, NULL, live, ids, n, &l, err) < 0)
        goto out;
    const char **ok = xcalloc(l.n + 1, sizeof(*ok));
    for (size_t i = 0; i < l.n; i++)
        ok[i] = l.v[i].id;
    rc = 0;
    if (host >= 0)
        rc = aws_host_act(c, a, ok, l.n, host == 1, note, err);
    else if (stop && l.n > 0) {
        const char *run = aws_tgt_jstr(a, "run_id");
        struct aws_tag mark = {(char *)TAG_STOPPED, (char *)(run ? run : "")};
        rc = aws_ec2_create_tags(c, ok, l.n, &mark, 1, false, err);
    }
    if (rc == 0 && host < 0)
        rc = aws_tgt_instances_call(c, stop ? "StopInstances" : "TerminateInstances", ok, l.n, err);
    free(ok);
    aws_insts_free(&l);
out:
    free(tags);
    free(ids);
    return rc;
}

static int undo_stop(struct aws_ctx *c, const cJSON *a, const char *run, char **err)
{
    const char **ids;
    size_t n;
    if (aws_tgt_action_ids(a, &ids, &n, err) < 0)
        return -1;
    /* only instances that carry our mark with this run id */
    struct aws_tag mark = {(char *)TAG_STOPPED, (char *)run};
    static const char *const st[] = {"pending", "running", "stopping", "stopped", NULL};
    int rc = 0;
    uint64_t until = zd_now_us() + STOP_WAIT_US;
    for (;;) {
        struct aws_insts l;
        if (aws_ec2_instances(c, &mark, 1, NULL, st, ids, n, &l, err) < 0) {
            rc = -1;
            break;
        }
        bool stopping = false;
        const char **todo = xcalloc(l.n + 1, sizeof(*todo));
        size_t nt = 0;
        for (size_t i = 0; i < l.n; i++) {
            stopping |= strcmp(l.v[i].state, "stopping") == 0;
            if (strcmp(l.v[i].state, "stopped") == 0)
                todo[nt++] = l.v[i].id;
        }
        if (stopping && zd_now_us() < until) {
            free(todo);
            aws_insts_free(&l);
            zd_sleep_us(2000000); /* StartInstances refuses a stopping instance */
            continue;
        }
        rc = aws_tgt_instances_call(c, "StartInstances", todo, nt, err);
        if (rc == 0 && l.n > 0) {
            const char **all = xcalloc(l.n + 1, sizeof(*all));
            for (size_t i = 0; i < l.n; i++)
                all[i] = l.v[i].id;
            const char *keys[] = {TAG_STOPPED};
            rc = aws_ec2_delete_tags(c, all, l.n, keys, 1, err);
            free(all);
        }
        if (rc == 0 && stopping)
            rc = zd_err(err, "instances still stopping after %llus: not started",
                        (unsigned long long)(STOP_WAIT_US / 1000000));
        free(todo);
        aws_insts_free(&l);
        break;
    }
    free(ids);
    return rc;
}

static const char *journal_orig(const cJSON *a, const char *subnet)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(a, "subnets"))
    {
        const char *s = aws_tgt_jstr(it, "subnet");
        if (s && strcmp(s, subnet) == 0)
            return aws_tgt_jstr(it, "acl");
    }
    return NULL;
}

/* An ACL id of this VPC that is not one of ours, or NULL. */
static char *restore_target(struct aws_ctx *c, const char *vpc, const char *want, char **err)
{
    if (want && valid_id(want, "acl-")) {
        const char *const f[] = {"network-acl-id", want, "vpc-id", vpc, NULL};
        struct aws_acls l;
        if (aws_ec2_acls(c, f, &l, err) < 0)
            return NULL;
        char *r = l.n == 1 && !aws_acl_tag(&l.v[0], TAG_RUN) ? xstrdup(l.v[0].id) : NULL;
        aws_acls_free(&l);
        if (r)
            return r;
    }
    const char *const f[] = {"vpc-id", vpc, "default", "true", NULL};
    struct aws_acls l;
    if (aws_ec2_acls(c, f, &l, err) < 0)
        return NULL;
    char *r = l.n >= 1 ? xstrdup(l.v[0].id) : NULL;
    aws_acls_free(&l);
    if (!r)
        zd_err(err, "VPC %s has no default network ACL to fall back to", vpc);
    return r;
}

/* Moves every subnet on our ACL back and deletes the ACL. `a` (the journaled action) may be
 * NULL (sweep). The ACL must carry TAG_RUN: checked here again. */
int aws_tgt_undo_acl(struct aws_ctx *c, const struct aws_acl *ours, const cJSON *a,
                     struct sbuf *report, char **err)
{
    if (!aws_acl_tag(ours, TAG_RUN))
        return zd_err(err, "network ACL %s is not zonedef's (no %s tag): refusing to touch it",
                      ours->id, TAG_RUN);
    int rc = 0;
    for (size_t i = 0; i < ours->nassoc; i++) {
        const struct aws_acl_assoc *as = &ours->assoc[i];
        char *tk = xasprintf(TAG_ORIG "%s", as->subnet);
        const char *want = aws_acl_tag(ours, tk);
        free(tk);
        if (!want && a)
            want = journal_orig(a, as->subnet);
        char *to = restore_target(c, ours->vpc, want, err);
        if (!to) {
            rc = -1;
            continue;
        }
        char *na = NULL;
        if (aws_ec2_replace_assoc(c, as->assoc_id, to, false, &na, err) < 0)
            rc = -1;
        else if (report)
            sbuf_addf(report, "subnet %s back on %s\n", as->subnet, to);
        free(na);
        free(to);
    }
    if (rc < 0)
        return -1;
    char *code = NULL;
    if (aws_ec2_delete_acl(c, ours->id, false, &code, err) < 0) {
        bool gone = code && strcmp(code, "InvalidNetworkAclID.NotFound") == 0;
        free(code);
        if (!gone)
            return -1;
        free(*err);
        *err = NULL;
    } else {
        free(code);
    }
    if (report)
        sbuf_addf(report, "network ACL %s (run %s) deleted\n", ours->id,
                  aws_acl_tag(ours, TAG_RUN));
    return 0;
}

static int undo_blackhole(struct aws_ctx *c, const cJSON *a, const char *run, char **err)
{
    const char *vpc = aws_tgt_jstr(a, "vpc"), *step = aws_tgt_jstr(a, "step");
    if (!valid_id(vpc, "vpc-"))
        return zd_err(err, "the action names no VPC");
    const char *const f[] = {"vpc-id",         vpc, "tag:" TAG_RUN, run, "tag:" TAG_STEP,
                             step ? step : "", NULL};
    struct aws_acls l;
    if (aws_ec2_acls(c, f, &l, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        const char *r = aws_acl_tag(&l.v[i], TAG_RUN);
        if (!r || strcmp(r, run) != 0)
            continue; /* the filter said so, but check: only ever ours */
        rc = aws_tgt_undo_acl(c, &l.v[i], a, NULL, err);
    }
    aws_acls_free(&l);
    const cJSON *sus = cJSON_GetObjectItemCaseSensitive(a, "suspend_az_rebalance");
    const char *asg = aws_tgt_jstr(a, "asg");
    if (rc == 0 && cJSON_IsTrue(sus) && asg)
        rc = aws_asg_process(c, asg, "AZRebalance", false, err);
    return rc;
}

static int apply_blackhole(struct aws_ctx *c, const cJSON *a, const char *run, char **err)
{
    const char *vpc = aws_tgt_jstr(a, "vpc"), *zone = aws_tgt_jstr(a, "zone"),
               *step = aws_tgt_jstr(a, "step");
    const char *exp = aws_tgt_jstr(a, "expires");
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(a, "subnets");
    if (!valid_id(vpc, "vpc-") || !zone || !cJSON_IsArray(subs))
        return zd_err(err, "the action is not a blackhole_zone action");
    const cJSON *sus = cJSON_GetObjectItemCaseSensitive(a, "suspend_az_rebalance");
    const char *asg = aws_tgt_jstr(a, "asg");
    if (cJSON_IsTrue(sus) && asg && aws_asg_process(c, asg, "AZRebalance", true, err) < 0)
        return -1;
    size_t n = (size_t)cJSON_GetArraySize(subs);
    struct aws_tag *tags = xcalloc(n + 5, sizeof(*tags));
    char **keep = xcalloc(n + 2, sizeof(*keep));
    size_t nt = 0;
    char *name = xasprintf("zonedef-blackhole-%s", zone);
    tags[nt++] = (struct aws_tag){(char *)"Name", name};
    tags[nt++] = (struct aws_tag){(char *)TAG_RUN, (char *)run};
    tags[nt++] = (struct aws_tag){(char *)TAG_STEP, (char *)(step ? step : "")};
    tags[nt++] = (struct aws_tag){(char *)TAG_EXPIRES, (char *)(exp ? exp : "")};
    const cJSON *it;
    size_t k = 0;
    cJSON_ArrayForEach(it, subs)
    {
        const char *s = aws_tgt_jstr(it, "subnet"), *acl = aws_tgt_jstr(it, "acl");
        if (!valid_id(s, "subnet-") || !valid_id(acl, "acl-"))
            continue;
        keep[k] = xasprintf(TAG_ORIG "%s", s);
        tags[nt++] = (struct aws_tag){keep[k], (char *)acl};
        k++;
    }
    char *ours = NULL;
    int rc = aws_ec2_create_acl(c, vpc, tags, nt, false, &ours, err);
    cJSON_ArrayForEach(it, subs)
    {
        if (rc < 0)
            break;
        const char *s = aws_tgt_jstr(it, "subnet"), *orig = aws_tgt_jstr(it, "acl");
        struct aws_acls l;
        size_t ai, si;
        if (!valid_id(s, "subnet-") || aws_tgt_subnet_acl(c, s, &l, &ai, &si, err) < 0) {
            rc = -1;
            break;
        }
        if (!orig || strcmp(l.v[ai].id, orig) != 0) {
            rc = zd_err(err,
                        "subnet %s moved from %s to %s since the step was journaled: "
                        "stopping",
                        s, orig ? orig : "?", l.v[ai].id);
        } else {
            char *na = NULL;
            rc = aws_ec2_replace_assoc(c, l.v[ai].assoc[si].assoc_id, ours, false, &na, err);
            free(na);
        }
        aws_acls_free(&l);
    }
    free(ours);
    for (size_t i = 0; i < k; i++)
        free(keep[i]);
    free(keep);
    free(name);
    free(tags);
    return rc;
}

/* Runs fn with a context: the open target's, or (recover) one made from the action's own
 * region, endpoint, profile and account. */
static int act(struct awst *t, const char *action_json, bool undo, char **note, char **err)
{
    cJSON *a = cJSON_Parse(action_json);
    if (!a)
        return zd_err(err, "the action is not JSON");
    const char *fault = aws_tgt_jstr(a, "fault"), *run = aws_tgt_jstr(a, "run_id");
    int rc = -1;
    if (!fault || !run || !zd_str_has_prefix(run, "zd-")) {
        zd_err(err, "the action is not one of zonedef's aws actions");
        goto out;
    }
    if (undo && strcmp(fault, "kill_instances") == 0) {
        rc = 0; /* terminated is terminated: the auto scaling group replaces */
        goto out;
    }
    struct aws_ctx own, *c = t ? &t->c : &own;
    if (!t) {
        rc = connect_ctx(&own, aws_tgt_jstr(a, "region"), aws_tgt_jstr(a, "endpoint"),
                         aws_tgt_jstr(a, "profile"), aws_tgt_jstr(a, "account"), NULL, err);
        if (rc < 0) {
            aws_ctx_free(&own);
            rc = -1;
            goto out;
        }
    }
    if (strcmp(fault, "kill_instances") == 0)
        rc = apply_instances(c, a, false, -1, NULL, err);
    else if (strcmp(fault, "stop_instances") == 0)
        rc = undo ? undo_stop(c, a, run, err) : apply_instances(c, a, true, -1, NULL, err);
    else if (aws_host_fault(fault)) /* the SSM command id goes into the journal (note) */
        rc = apply_instances(c, a, false, undo, note, err);
    else if (strcmp(fault, "blackhole_zone") == 0)
        rc = undo ? undo_blackhole(c, a, run, err) : apply_blackhole(c, a, run, err);
    else
        rc = zd_err(err, "unknown aws fault '%s'", fault);
    if (!t)
        aws_ctx_free(&own);
out:
    cJSON_Delete(a);
    return rc;
}

int aws_tgt_apply_noted(void *state, const char *action_json, char **note, char **err)
{
    return act(state, action_json, false, note, err);
}

int aws_tgt_undo(void *state, const char *action_json, char **err)
{
    return act(state, action_json, true, NULL, err);
}
