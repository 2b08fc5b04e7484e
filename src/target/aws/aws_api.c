/*
 * aws_api: the EC2 (2016-11-15), Auto Scaling (2011-01-01), ELBv2 (2015-12-01) and STS
 * (2011-06-15) Query calls zonedef makes, each a function that builds the form body, follows
 * NextToken/NextMarker pages (at most AWS_MAX_PAGES) and reads the XML into plain structs.
 * Nothing here decides anything: aws_target.c does.
 */
#include "target/aws/aws.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

#define EC2_V "2016-11-15"
#define ASG_V "2011-01-01"
#define ELB_V "2015-12-01"
#define STS_V "2011-06-15"

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void tags_read(const xmlNode *set, struct aws_tag **tags, size_t *n)
{
    size_t cap = 0;
    for (xmlNode *it = aws_xml_child(set, "item"); it; it = aws_xml_next(it)) {
        ZD_GROW(*tags, cap, *n + 1);
        (*tags)[*n].key = aws_xml_text(it, "key");
        (*tags)[*n].value = aws_xml_text(it, "value");
        if (!(*tags)[*n].key)
            (*tags)[*n].key = xstrdup("");
        if (!(*tags)[*n].value)
            (*tags)[*n].value = xstrdup("");
        (*n)++;
    }
}

static void tags_free(struct aws_tag *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].key);
        free(t[i].value);
    }
    free(t);
}

static const char *tag_of(const struct aws_tag *t, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].key, key) == 0)
            return t[i].value;
    return NULL;
}

/* ---- instances ---- */

void aws_insts_free(struct aws_insts *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        struct aws_inst *x = &l->v[i];
        free(x->id);
        free(x->az);
        free(x->state);
        free(x->ip);
        free(x->subnet);
        free(x->vpc);
        tags_free(x->tags, x->ntags);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

const char *aws_inst_tag(const struct aws_inst *in, const char *key)
{
    return tag_of(in->tags, in->ntags, key);
}

/* An EC2 listing, page by page (NextToken, at most AWS_MAX_PAGES):
 *     struct ec2_pages pg = {0};
 *     while (ec2_more(&pg)) { build q; root = ec2_page(c, &pg, &q, err) or fail; read root }
 * ec2_more reads the last page's nextToken and frees it; false once there is none (everything
 * is freed then). ec2_page sends q (consumed) with that token and returns the page's root, or
 * NULL with *err (everything freed). */
struct ec2_pages {
    int n;
    char *token;
    xmlDoc *doc;
};

static bool ec2_more(struct ec2_pages *p)
{
    if (p->doc) {
        free(p->token);
        p->token = aws_xml_text(xmlDocGetRootElement(p->doc), "nextToken");
        xmlFreeDoc(p->doc);
        p->doc = NULL;
    }
    if (p->n == 0 || (p->token && *p->token && p->n < AWS_MAX_PAGES))
        return true;
    free(p->token);
    p->token = NULL;
    return false;
}

static xmlNode *ec2_page(struct aws_ctx *c, struct ec2_pages *p, struct aws_query *q, char **err)
{
    if (p->token)
        aws_q_add(q, "NextToken", p->token);
    free(p->token);
    p->token = NULL;
    int rc = aws_query_call(c, AWS_EC2, q, &p->doc, NULL, err);
    aws_q_free(q);
    if (rc < 0) {
        p->doc = NULL;
        return NULL;
    }
    p->n++;
    return xmlDocGetRootElement(p->doc);
}

static int inst_cmp(const void *a, const void *b)
{
    return strcmp(((const struct aws_inst *)a)->id, ((const struct aws_inst *)b)->id);
}

int aws_ec2_instances(struct aws_ctx *c, const struct aws_tag *tags, size_t ntags, const char *az,
                      const char *const *states, const char *const *ids, size_t nids,
                      struct aws_insts *out, char **err)
{
    memset(out, 0, sizeof(*out));
    size_t cap = 0;
    struct ec2_pages pg = {0};
    while (ec2_more(&pg)) {
        struct aws_query q;
        aws_q_init(&q, "DescribeInstances", EC2_V);
        int f = 1;
        for (size_t i = 0; i < ntags; i++, f++) {
            char *nm = xasprintf("tag:%s", tags[i].key);
            aws_q_addf(&q, nm, "Filter.%d.Name", f);
            free(nm);
            aws_q_addf(&q, tags[i].value, "Filter.%d.Value.1", f);
        }
        static const char *const live[] = {"pending", "running", "stopping", "stopped", NULL};
        const char *const *st = states ? states : live;
        aws_q_addf(&q, "instance-state-name", "Filter.%d.Name", f);
        for (int k = 0; st[k]; k++)
            aws_q_addf(&q, st[k], "Filter.%d.Value.%d", f, k + 1);
        for (size_t i = 0; i < nids; i++)
            aws_q_addf(&q, ids[i], "InstanceId.%zu", i + 1);
        xmlNode *root = ec2_page(c, &pg, &q, err);
        if (!root) {
            aws_insts_free(out);
            return -1;
        }
        for (xmlNode *r = aws_xml_path(root, "reservationSet/item"); r; r = aws_xml_next(r)) {
            for (xmlNode *it = aws_xml_path(r, "instancesSet/item"); it; it = aws_xml_next(it)) {
                /* the AZ is matched here, not with the "availability-zone" filter: moto
                 * 5.2 answers that filter with nothing */
                if (az) {
                    char *iz = aws_xml_text(it, "placement/availabilityZone");
                    bool same = iz && strcmp(iz, az) == 0;
                    free(iz);
                    if (!same)
                        continue;
                }
                /* ids and tags are checked here too: an endpoint that ignores a filter must
                 * not widen a selection */
                char *iid = aws_xml_text(it, "instanceId");
                bool want = iid != NULL;
                for (size_t k = 0; want && nids > 0; k++) {
                    if (k == nids) {
                        want = false;
                        break;
                    }
                    if (strcmp(ids[k], iid) == 0)
                        break;
                }
                free(iid);
                if (want && ntags > 0) {
                    struct aws_tag *got = NULL;
                    size_t ng = 0;
                    tags_read(aws_xml_child(it, "tagSet"), &got, &ng);
                    for (size_t k = 0; want && k < ntags; k++) {
                        const char *v = tag_of(got, ng, tags[k].key);
                        want = v && strcmp(v, tags[k].value) == 0;
                    }
                    tags_free(got, ng);
                }
                if (!want)
                    continue;
                ZD_GROW(out->v, cap, out->n + 1);
                struct aws_inst *x = &out->v[out->n++];
                memset(x, 0, sizeof(*x));
                x->id = aws_xml_text(it, "instanceId");
                x->az = aws_xml_text(it, "placement/availabilityZone");
                x->state = aws_xml_text(it, "instanceState/name");
                x->ip = aws_xml_text(it, "privateIpAddress");
                x->subnet = aws_xml_text(it, "subnetId");
                x->vpc = aws_xml_text(it, "vpcId");
                tags_read(aws_xml_child(it, "tagSet"), &x->tags, &x->ntags);
                if (!x->id)
                    x->id = xstrdup("");
                if (!x->az)
                    x->az = xstrdup("");
                if (!x->state)
                    x->state = xstrdup("");
            }
        }
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), inst_cmp);
    return 0;
}

int aws_ec2_instances_action(struct aws_ctx *c, const char *action, const char *const *ids,
                             size_t n, bool dry_run, char **code, char **err)
{
    struct aws_query q;
    aws_q_init(&q, action, EC2_V);
    for (size_t i = 0; i < n; i++)
        aws_q_addf(&q, ids[i], "InstanceId.%zu", i + 1);
    if (dry_run)
        aws_q_add(&q, "DryRun", "true");
    xmlDoc *d = NULL;
    char *cd = NULL;
    int rc = aws_query_call(c, AWS_EC2, &q, &d, &cd, err);
    aws_q_free(&q);
    if (rc < 0 && dry_run && cd && strcmp(cd, "DryRunOperation") == 0) {
        rc = 0;
        free(*err);
        *err = NULL;
    } else if (rc == 0 && dry_run) {
        rc = 1; /* done for real: the endpoint ignored DryRun */
    }
    if (code)
        *code = cd;
    else
        free(cd);
    xmlFreeDoc(d);
    return rc;
}

static int simple(struct aws_ctx *c, enum aws_svc svc, struct aws_query *q, bool dry_run,
                  xmlDoc **keep, char **code, char **err)
{
    if (dry_run)
        aws_q_add(q, "DryRun", "true");
    xmlDoc *d = NULL;
    char *cd = NULL;
    int rc = aws_query_call(c, svc, q, &d, &cd, err);
    aws_q_free(q);
    if (rc < 0 && dry_run && cd && strcmp(cd, "DryRunOperation") == 0) {
        rc = 0;
        free(*err);
        *err = NULL;
    } else if (rc == 0 && dry_run) {
        rc = 1; /* the endpoint ignored DryRun and did it (moto does for some calls) */
    }
    if (code)
        *code = cd;
    else
        free(cd);
    if (keep)
        *keep = d;
    else
        xmlFreeDoc(d);
    return rc;
}

int aws_ec2_create_tags(struct aws_ctx *c, const char *const *ids, size_t nids,
                        const struct aws_tag *tags, size_t ntags, bool dry_run, char **err)
{
    struct aws_query q;
    aws_q_init(&q, "CreateTags", EC2_V);
    for (size_t i = 0; i < nids; i++)
        aws_q_addf(&q, ids[i], "ResourceId.%zu", i + 1);
    for (size_t i = 0; i < ntags; i++) {
        aws_q_addf(&q, tags[i].key, "Tag.%zu.Key", i + 1);
        aws_q_addf(&q, tags[i].value, "Tag.%zu.Value", i + 1);
    }
    return simple(c, AWS_EC2, &q, dry_run, NULL, NULL, err);
}

int aws_ec2_delete_tags(struct aws_ctx *c, const char *const *ids, size_t nids,
                        const char *const *keys, size_t nkeys, char **err)
{
    struct aws_query q;
    aws_q_init(&q, "DeleteTags", EC2_V);
    for (size_t i = 0; i < nids; i++)
        aws_q_addf(&q, ids[i], "ResourceId.%zu", i + 1);
    for (size_t i = 0; i < nkeys; i++)
        aws_q_addf(&q, keys[i], "Tag.%zu.Key", i + 1);
    return simple(c, AWS_EC2, &q, false, NULL, NULL, err);
}

/* ---- network ACLs, subnets ---- */

void aws_acls_free(struct aws_acls *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        struct aws_acl *a = &l->v[i];
        free(a->id);
        free(a->vpc);
        for (size_t k = 0; k < a->nassoc; k++) {
            free(a->assoc[k].assoc_id);
            free(a->assoc[k].subnet);
        }
        free(a->assoc);
        tags_free(a->tags, a->ntags);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

const char *aws_acl_tag(const struct aws_acl *a, const char *key)
{
    return tag_of(a->tags, a->ntags, key);
}

int aws_ec2_acls(struct aws_ctx *c, const char *const *filters, struct aws_acls *out, char **err)
{
    memset(out, 0, sizeof(*out));
    size_t cap = 0;
    struct ec2_pages pg = {0};
    while (ec2_more(&pg)) {
        struct aws_query q;
        aws_q_init(&q, "DescribeNetworkAcls", EC2_V);
        for (int i = 0, f = 1; filters && filters[2 * i] && i < 8; i++) {
            if (strcmp(filters[2 * i], "network-acl-id") == 0) { /* the parameter, not a filter */
                aws_q_add(&q, "NetworkAclId.1", filters[2 * i + 1]);
                continue;
            }
            aws_q_addf(&q, filters[2 * i], "Filter.%d.Name", f);
            aws_q_addf(&q, filters[2 * i + 1], "Filter.%d.Value.1", f);
            f++;
        }
        xmlNode *root = ec2_page(c, &pg, &q, err);
        if (!root) {
            aws_acls_free(out);
            return -1;
        }
        for (xmlNode *it = aws_xml_path(root, "networkAclSet/item"); it; it = aws_xml_next(it)) {
            ZD_GROW(out->v, cap, out->n + 1);
            struct aws_acl *a = &out->v[out->n++];
            memset(a, 0, sizeof(*a));
            a->id = aws_xml_text(it, "networkAclId");
            a->vpc = aws_xml_text(it, "vpcId");
            char *def = aws_xml_text(it, "default");
            a->is_default = def && strcmp(def, "true") == 0;
            free(def);
            size_t acap = 0;
            for (xmlNode *s = aws_xml_path(it, "associationSet/item"); s; s = aws_xml_next(s)) {
                ZD_GROW(a->assoc, acap, a->nassoc + 1);
                a->assoc[a->nassoc].assoc_id = aws_xml_text(s, "networkAclAssociationId");
                a->assoc[a->nassoc].subnet = aws_xml_text(s, "subnetId");
                if (!a->assoc[a->nassoc].assoc_id || !a->assoc[a->nassoc].subnet) {
                    free(a->assoc[a->nassoc].assoc_id);
                    free(a->assoc[a->nassoc].subnet);
                    continue;
                }
                a->nassoc++;
            }
            tags_read(aws_xml_child(it, "tagSet"), &a->tags, &a->ntags);
            if (!a->id)
                a->id = xstrdup("");
            if (!a->vpc)
                a->vpc = xstrdup("");
        }
    }
    return 0;
}

static int subnets_of(struct aws_ctx *c, const char *vpc, const char *az, char ***ids, char ***azs,
                      size_t *n, char **err)
{
    *n = 0;
    *ids = NULL;
    if (azs)
        *azs = NULL;
    size_t cap = 0, cap2 = 0;
    struct ec2_pages pg = {0};
    while (ec2_more(&pg)) {
        struct aws_query q;
        aws_q_init(&q, "DescribeSubnets", EC2_V);
        aws_q_add(&q, "Filter.1.Name", "vpc-id");
        aws_q_add(&q, "Filter.1.Value.1", vpc);
        if (az) {
            aws_q_add(&q, "Filter.2.Name", "availability-zone");
            aws_q_add(&q, "Filter.2.Value.1", az);
        }
        xmlNode *root = ec2_page(c, &pg, &q, err);
        if (!root) {
            aws_strv_free(*ids, *n);
            if (azs)
                aws_strv_free(*azs, *n);
            *ids = NULL;
            *n = 0;
            return -1;
        }
        for (xmlNode *it = aws_xml_path(root, "subnetSet/item"); it; it = aws_xml_next(it)) {
            char *id = aws_xml_text(it, "subnetId");
            if (!id)
                continue;
            ZD_GROW(*ids, cap, *n + 1);
            (*ids)[*n] = id;
            if (azs) {
                ZD_GROW(*azs, cap2, *n + 1);
                char *z = aws_xml_text(it, "availabilityZone");
                (*azs)[*n] = z ? z : xstrdup("");
            }
            (*n)++;
        }
    }
    return 0;
}

int aws_ec2_subnets(struct aws_ctx *c, const char *vpc, const char *az, char ***subnets, size_t *n,
                    char **err)
{
    if (subnets_of(c, vpc, az, subnets, NULL, n, err) < 0)
        return -1;
    if (*n > 1)
        qsort(*subnets, *n, sizeof(char *), strp_cmp);
    return 0;
}

int aws_ec2_vpc_zones(struct aws_ctx *c, const char *vpc, char ***zones, size_t *n, char **err)
{
    char **ids, **azs;
    size_t k;
    if (subnets_of(c, vpc, NULL, &ids, &azs, &k, err) < 0)
        return -1;
    aws_strv_free(ids, k);
    if (k > 1)
        qsort(azs, k, sizeof(char *), strp_cmp);
    size_t w = 0;
    for (size_t i = 0; i < k; i++) {
        if (w > 0 && strcmp(azs[w - 1], azs[i]) == 0) {
            free(azs[i]);
            continue;
        }
        azs[w++] = azs[i];
    }
    *zones = azs;
    *n = w;
    return 0;
}

int aws_ec2_create_acl(struct aws_ctx *c, const char *vpc, const struct aws_tag *tags, size_t ntags,
                       bool dry_run, char **acl_id, char **err)
{
    if (acl_id)
        *acl_id = NULL;
    struct aws_query q;
    aws_q_init(&q, "CreateNetworkAcl", EC2_V);
    aws_q_add(&q, "VpcId", vpc);
    if (ntags) {
        aws_q_add(&q, "TagSpecification.1.ResourceType", "network-acl");
        for (size_t i = 0; i < ntags; i++) {
            aws_q_addf(&q, tags[i].key, "TagSpecification.1.Tag.%zu.Key", i + 1);
            aws_q_addf(&q, tags[i].value, "TagSpecification.1.Tag.%zu.Value", i + 1);
        }
    }
    xmlDoc *d = NULL;
    int rc = simple(c, AWS_EC2, &q, dry_run, &d, NULL, err);
    if (rc < 0)
        return -1;
    if ((dry_run && rc == 0) || !acl_id) {
        xmlFreeDoc(d);
        return rc;
    }
    *acl_id = aws_xml_text(xmlDocGetRootElement(d), "networkAcl/networkAclId");
    if (rc == 1) { /* made despite DryRun: the caller deletes it */
        xmlFreeDoc(d);
        return 1;
    }
    xmlFreeDoc(d);
    if (!*acl_id || !*acl_id[0]) {
        free(*acl_id);
        *acl_id = NULL;
        return zd_err(err, "CreateNetworkAcl answered without a networkAclId");
    }
    return 0;
}

int aws_ec2_replace_assoc(struct aws_ctx *c, const char *assoc_id, const char *acl, bool dry_run,
                          char **new_assoc, char **err)
{
    if (new_assoc)
        *new_assoc = NULL;
    struct aws_query q;
    aws_q_init(&q, "ReplaceNetworkAclAssociation", EC2_V);
    aws_q_add(&q, "AssociationId", assoc_id);
    aws_q_add(&q, "NetworkAclId", acl);
    xmlDoc *d = NULL;
    if (simple(c, AWS_EC2, &q, dry_run, &d, NULL, err) < 0)
        return -1;
    if (new_assoc && !dry_run)
        *new_assoc = aws_xml_text(xmlDocGetRootElement(d), "newAssociationId");
    xmlFreeDoc(d);
    return 0;
}

int aws_ec2_delete_acl(struct aws_ctx *c, const char *acl, bool dry_run, char **code, char **err)
{
    struct aws_query q;
    aws_q_init(&q, "DeleteNetworkAcl", EC2_V);
    aws_q_add(&q, "NetworkAclId", acl);
    return simple(c, AWS_EC2, &q, dry_run, NULL, code, err);
}

/* ---- STS ---- */

int aws_sts_identity(struct aws_ctx *c, char **account, char **arn, char **err)
{
    *account = *arn = NULL;
    struct aws_query q;
    aws_q_init(&q, "GetCallerIdentity", STS_V);
    xmlDoc *d = NULL;
    if (simple(c, AWS_STS, &q, false, &d, NULL, err) < 0)
        return -1;
    xmlNode *r = aws_xml_child(xmlDocGetRootElement(d), "GetCallerIdentityResult");
    *account = aws_xml_text(r, "Account");
    *arn = aws_xml_text(r, "Arn");
    xmlFreeDoc(d);
    if (!*account) {
        free(*arn);
        *arn = NULL;
        return zd_err(err, "STS GetCallerIdentity answered without an account");
    }
    return 0;
}

/* ---- Auto Scaling ---- */

void aws_asg_free(struct aws_asg *g)
{
    if (!g)
        return;
    free(g->name);
    for (size_t i = 0; i < g->ninst; i++) {
        free(g->inst[i].id);
        free(g->inst[i].az);
        free(g->inst[i].lifecycle);
        free(g->inst[i].health);
    }
    free(g->inst);
    aws_strv_free(g->suspended, g->nsuspended);
    memset(g, 0, sizeof(*g));
}

int aws_asg_describe(struct aws_ctx *c, const char *name, struct aws_asg *out, char **err)
{
    memset(out, 0, sizeof(*out));
    struct aws_query q;
    aws_q_init(&q, "DescribeAutoScalingGroups", ASG_V);
    aws_q_add(&q, "AutoScalingGroupNames.member.1", name);
    xmlDoc *d = NULL;
    if (simple(c, AWS_ASG, &q, false, &d, NULL, err) < 0)
        return -1;
    xmlNode *g = aws_xml_path(xmlDocGetRootElement(d),
                              "DescribeAutoScalingGroupsResult/AutoScalingGroups/member");
    if (!g) {
        xmlFreeDoc(d);
        return zd_err(err, "auto scaling group '%s' does not exist", name);
    }
    out->name = aws_xml_text(g, "AutoScalingGroupName");
    size_t cap = 0;
    for (xmlNode *m = aws_xml_path(g, "Instances/member"); m; m = aws_xml_next(m)) {
        ZD_GROW(out->inst, cap, out->ninst + 1);
        struct aws_asg_inst *x = &out->inst[out->ninst++];
        x->id = aws_xml_text(m, "InstanceId");
        x->az = aws_xml_text(m, "AvailabilityZone");
        x->lifecycle = aws_xml_text(m, "LifecycleState");
        x->health = aws_xml_text(m, "HealthStatus");
        if (!x->id)
            x->id = xstrdup("");
        if (!x->az)
            x->az = xstrdup("");
        if (!x->lifecycle)
            x->lifecycle = xstrdup("");
        if (!x->health)
            x->health = xstrdup("");
    }
    cap = 0;
    for (xmlNode *m = aws_xml_path(g, "SuspendedProcesses/member"); m; m = aws_xml_next(m)) {
        char *p = aws_xml_text(m, "ProcessName");
        if (!p)
            continue;
        ZD_GROW(out->suspended, cap, out->nsuspended + 1);
        out->suspended[out->nsuspended++] = p;
    }
    xmlFreeDoc(d);
    return 0;
}

int aws_asg_process(struct aws_ctx *c, const char *name, const char *process, bool suspend,
                    char **err)
{
    if (!process || !*process)
        return zd_err(err, "refusing to %s every process of '%s' (no process named)",
                      suspend ? "suspend" : "resume", name);
    struct aws_query q;
    aws_q_init(&q, suspend ? "SuspendProcesses" : "ResumeProcesses", ASG_V);
    aws_q_add(&q, "AutoScalingGroupName", name);
    aws_q_add(&q, "ScalingProcesses.member.1", process);
    return simple(c, AWS_ASG, &q, false, NULL, NULL, err);
}

/* ---- ELBv2 ---- */

int aws_elb_target_group(struct aws_ctx *c, const char *name_or_arn, struct aws_tg *out, char **err)
{
    memset(out, 0, sizeof(*out));
    struct aws_query q;
    aws_q_init(&q, "DescribeTargetGroups", ELB_V);
    aws_q_add(
        &q, zd_str_has_prefix(name_or_arn, "arn:") ? "TargetGroupArns.member.1" : "Names.member.1",
        name_or_arn);
    xmlDoc *d = NULL;
    if (simple(c, AWS_ELB, &q, false, &d, NULL, err) < 0)
        return -1;
    xmlNode *m =
        aws_xml_path(xmlDocGetRootElement(d), "DescribeTargetGroupsResult/TargetGroups/member");
    out->arn = aws_xml_text(m, "TargetGroupArn");
    out->vpc = aws_xml_text(m, "VpcId");
    xmlFreeDoc(d);
    if (!out->arn) {
        free(out->vpc);
        out->vpc = NULL;
        return zd_err(err, "target group '%s' does not exist", name_or_arn);
    }
    return 0;
}

int aws_elb_load_balancer(struct aws_ctx *c, const char *name_or_arn, char **arn, char **dns,
                          char **err)
{
    *arn = *dns = NULL;
    struct aws_query q;
    aws_q_init(&q, "DescribeLoadBalancers", ELB_V);
    aws_q_add(
        &q, zd_str_has_prefix(name_or_arn, "arn:") ? "LoadBalancerArns.member.1" : "Names.member.1",
        name_or_arn);
    xmlDoc *d = NULL;
    if (simple(c, AWS_ELB, &q, false, &d, NULL, err) < 0)
        return -1;
    xmlNode *m =
        aws_xml_path(xmlDocGetRootElement(d), "DescribeLoadBalancersResult/LoadBalancers/member");
    *arn = aws_xml_text(m, "LoadBalancerArn");
    *dns = aws_xml_text(m, "DNSName");
    xmlFreeDoc(d);
    if (!*arn) {
        free(*dns);
        *dns = NULL;
        return zd_err(err, "load balancer '%s' does not exist", name_or_arn);
    }
    return 0;
}

int aws_elb_target_health(struct aws_ctx *c, const char *tg_arn, struct aws_th **out, size_t *n,
                          char **err)
{
    *out = NULL;
    *n = 0;
    struct aws_query q;
    aws_q_init(&q, "DescribeTargetHealth", ELB_V);
    aws_q_add(&q, "TargetGroupArn", tg_arn);
    xmlDoc *d = NULL;
    if (simple(c, AWS_ELB, &q, false, &d, NULL, err) < 0)
        return -1;
    size_t cap = 0;
    for (xmlNode *m = aws_xml_path(xmlDocGetRootElement(d),
                                   "DescribeTargetHealthResult/TargetHealthDescriptions/member");
         m; m = aws_xml_next(m)) {
        char *id = aws_xml_text(m, "Target/Id");
        if (!id)
            continue;
        ZD_GROW(*out, cap, *n + 1);
        (*out)[*n].id = id;
        char *st = aws_xml_text(m, "TargetHealth/State");
        (*out)[*n].state = st ? st : xstrdup("unknown");
        (*n)++;
    }
    xmlFreeDoc(d);
    return 0;
}
