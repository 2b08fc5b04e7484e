/*
 * sections: the top-level sections other than the steps: target (kind, URL, zones and the
 * kind's own keys), load (rate, connections, engine, request and what a good answer is),
 * steady_state, guards and expect.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "scenario/parse.h"
#include "base/util.h"

#include "base/banned.h"

/* ---- target -------------------------------------------------------------------------------- */

static const char *const target_keys_common[] = {"kind", "url", "zones", NULL};
static const char *const target_keys_lab[] = {"lab_dir", NULL};
static const char *const target_keys_ssh[] = {
    "user",     "port",    "key",  "known_hosts",        "strict_host_key", "connect_timeout",
    "parallel", "service", "sudo", "key_passphrase_env", "command_timeout", "haproxy_socket",
    NULL};
static const char *const target_keys_aws[] = {"region",
                                              "endpoint",
                                              "profile",
                                              "tags",
                                              "load_balancer",
                                              "target_group",
                                              "asg",
                                              "account",
                                              "vpc",
                                              "suspend_az_rebalance",
                                              NULL};
static const char *const target_kinds[] = {"lab", "ssh", "aws", NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (size_t i = 0; l[i]; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

static bool valid_zone_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SCN_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static void add_zone(struct ctx *c, const cJSON *n, const char *path, const char *name, size_t *cap)
{
    struct scn_target *t = &c->s->target;
    if (!valid_zone_name(name)) {
        sp_diag(c, n ? sp_key_off_of(c, n) : NO_OFF, path,
                "zone name '%s' must be lowercase letters, digits, '-', '_' or '.' (at most %d)",
                name, SCN_MAX_NAME);
        return;
    }
    for (size_t i = 0; i < t->nzones; i++) {
        if (strcmp(t->zones[i].name, name) == 0) {
            sp_diag(c, n ? sp_key_off_of(c, n) : NO_OFF, path, "zone '%s' is listed twice", name);
            return;
        }
    }
    ZD_GROW(t->zones, *cap, t->nzones + 1);
    memset(&t->zones[t->nzones], 0, sizeof(t->zones[0]));
    t->zones[t->nzones].name = xstrdup(name);
    t->nzones++;
}

static bool valid_host(const char *h)
{
    if (!*h || strlen(h) > 255)
        return false;
    for (const char *q = h; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == '/' || *q == '@' || *q == '\'' || *q == '"')
            return false;
    const char *port = NULL;
    if (h[0] == '[') {
        const char *rb = strchr(h, ']');
        if (!rb || rb == h + 1)
            return false;
        if (rb[1] == ':')
            port = rb + 2;
        else if (rb[1])
            return false;
    } else {
        const char *colon = strchr(h, ':');
        if (colon && strchr(colon + 1, ':'))
            return false; /* IPv6 needs brackets when a port may follow */
        if (colon == h)
            return false;
        if (colon)
            port = colon + 1;
    }
    if (port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (end == port || *end || p < 1 || p > 65535)
            return false;
    }
    return true;
}

static void parse_zone_list(struct ctx *c, const cJSON *z, const char *path, size_t *cap)
{
    if (!cJSON_IsArray(z)) {
        sp_diag(c, sp_off_of(c, z), path, "'zones' must be a list of zone names, not %s",
                sp_type_name(z));
        return;
    }
    size_t i = 0;
    for (const cJSON *e = z->child; e; e = e->next, i++) {
        char *ep = sp_path_idx(path, i);
        if (i == SCN_MAX_ZONES) {
            sp_diag(c, sp_off_of(c, e), ep, "too many zones (at most %d)", SCN_MAX_ZONES);
            free(ep);
            break;
        }
        char *v = NULL;
        if (sp_str_node(c, e, ep, "zones[]", SCN_MAX_NAME, &v) > 0) {
            add_zone(c, e, ep, v, cap);
            free(v);
        }
        free(ep);
    }
    if (i == 0)
        sp_diag(c, sp_off_of(c, z), path, "'zones' must name at least one zone");
}

static void parse_ssh_zones(struct ctx *c, const cJSON *z, const char *path, size_t *cap)
{
    struct scn_target *t = &c->s->target;
    if (!cJSON_IsObject(z)) {
        sp_diag(c, sp_off_of(c, z), path,
                "'zones' of an ssh target must map each zone to its hosts, like "
                "{\"a\": [\"web1\", \"web2:2222\"]}, not %s",
                sp_type_name(z));
        return;
    }
    size_t nz = 0;
    for (const cJSON *m = z->child; m; m = m->next, nz++) {
        char *zp = sp_path_key(path, m->string);
        if (nz == SCN_MAX_ZONES) {
            sp_diag(c, sp_key_off_of(c, m), zp, "too many zones (at most %d)", SCN_MAX_ZONES);
            free(zp);
            break;
        }
        size_t before = t->nzones;
        add_zone(c, m, zp, m->string, cap);
        if (t->nzones == before) {
            free(zp);
            continue;
        }
        struct scn_zone *zone = &t->zones[t->nzones - 1];
        if (!cJSON_IsArray(m) || !m->child) {
            sp_diag(c, sp_off_of(c, m), zp, "zone '%s' must list its hosts (a non-empty array)",
                    m->string);
            free(zp);
            continue;
        }
        size_t hcap = 0, i = 0;
        for (const cJSON *h = m->child; h; h = h->next, i++) {
            char *hp = sp_path_idx(zp, i);
            if (i == SCN_MAX_HOSTS_PER_ZONE) {
                sp_diag(c, sp_off_of(c, h), hp, "too many hosts in zone '%s' (at most %d)",
                        m->string, SCN_MAX_HOSTS_PER_ZONE);
                free(hp);
                break;
            }
            char *v = NULL;
            struct scn_kv *kv = NULL;
            size_t nkv = 0;
            int got = 0;
            const cJSON *vn = h; /* the node the host text came from */
            char *vp = NULL;
            if (cJSON_IsObject(h)) {
                /* {"host": "web1:22", "tags": {"role": "db"}}: a host with tags */
                static const char *const hkeys[] = {"host", "tags", NULL};
                if (sp_check_object(c, h, hp, "a host", hkeys)) {
                    vn = sp_get(h, "host");
                    vp = sp_path_key(hp, "host");
                    got = sp_get_str(c, h, "host", hp, 300, &v);
                    if (got == 0)
                        sp_missing(c, h, hp, "host", "(the host's address, like \"web1:22\")");
                    if (sp_get_kv(c, h, "tags", hp, 50, false, &kv, &nkv) < 0)
                        got = -1;
                }
            } else {
                got = sp_str_node(c, h, hp, "host", 300, &v);
            }
            if (got > 0 && !valid_host(v)) {
                sp_diag(c, sp_off_of(c, vn), vp ? vp : hp,
                        "'%s' is not a host (write \"name\", \"name:port\" or \"[v6]:port\")", v);
                got = -1;
            }
            if (got > 0) {
                size_t old = hcap;
                ZD_GROW(zone->hosts, hcap, zone->nhosts + 1);
                if (nkv && !zone->host_tags) {
                    zone->host_tags = xcalloc(hcap, sizeof(*zone->host_tags));
                    zone->host_ntags = xcalloc(hcap, sizeof(*zone->host_ntags));
                } else if (zone->host_tags && hcap != old) {
                    zone->host_tags = xrealloc(zone->host_tags, hcap * sizeof(*zone->host_tags));
                    zone->host_ntags = xrealloc(zone->host_ntags, hcap * sizeof(*zone->host_ntags));
                    memset(zone->host_tags + old, 0, (hcap - old) * sizeof(*zone->host_tags));
                    memset(zone->host_ntags + old, 0, (hcap - old) * sizeof(*zone->host_ntags));
                }
                if (zone->host_tags) {
                    zone->host_tags[zone->nhosts] = kv;
                    zone->host_ntags[zone->nhosts] = nkv;
                    kv = NULL;
                    nkv = 0;
                }
                zone->hosts[zone->nhosts++] = v;
                v = NULL;
            }
            free(v);
            for (size_t k = 0; k < nkv; k++) {
                free(kv[k].key);
                free(kv[k].value);
            }
            free(kv);
            free(vp);
            free(hp);
        }
        free(zp);
    }
    if (nz == 0)
        sp_diag(c, sp_off_of(c, z), path, "'zones' must name at least one zone");
}

void sp_parse_target(struct ctx *c, const cJSON *tn)
{
    struct scn_target *t = &c->s->target;
    const char *P = "$.target";
    t->kind = SCN_TARGET_LAB;
    if (!tn) {
        c->zones_known = false;
        return;
    }
    t->loc = sp_loc_of(c, tn);
    if (!cJSON_IsObject(tn)) {
        sp_diag(c, sp_off_of(c, tn), P, "'target' must be an object, not %s", sp_type_name(tn));
        return;
    }
    /* kind first: it decides which keys belong */
    int kind = -1;
    char *ks = NULL;
    const cJSON *kn = sp_get(tn, "kind");
    if (!kn) {
        sp_missing(c, tn, P, "kind", "(\"lab\", \"ssh\" or \"aws\")");
    } else if (sp_str_node(c, kn, "$.target.kind", "kind", 16, &ks) > 0) {
        for (int i = 0; target_kinds[i]; i++)
            if (strcmp(ks, target_kinds[i]) == 0)
                kind = i;
        if (kind < 0) {
            const char *s = zd_suggest(ks, target_kinds);
            sp_diag(c, sp_off_of(c, kn), "$.target.kind",
                    "unknown target kind '%s'%s%s%s (use \"lab\", \"ssh\" or \"aws\")", ks,
                    s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
    }
    free(ks);
    const char *const *mine = kind == 0   ? target_keys_lab
                              : kind == 1 ? target_keys_ssh
                              : kind == 2 ? target_keys_aws
                                          : NULL;
    const char *all[64];
    size_t na = 0;
    const char *const *lists[] = {target_keys_common, target_keys_lab, target_keys_ssh,
                                  target_keys_aws};
    for (size_t l = 0; l < 4; l++)
        for (size_t i = 0; lists[l][i]; i++)
            all[na++] = lists[l][i];
    all[na] = NULL;
    sp_check_object(c, tn, P, "target", all);
    /* keys of another kind */
    if (kind >= 0) {
        for (const cJSON *m = tn->child; m; m = m->next) {
            if (in_list(target_keys_common, m->string) || in_list(mine, m->string))
                continue;
            for (int k = 0; k < 3; k++) {
                if (k != kind && in_list(lists[k + 1], m->string)) {
                    char *kp = sp_path_key(P, m->string);
                    sp_diag(c, sp_key_off_of(c, m), kp,
                            "'%s' does not apply to %s %s target (it is for %s targets)", m->string,
                            kind == SCN_TARGET_LAB ? "a" : "an", target_kinds[kind],
                            target_kinds[k]);
                    free(kp);
                    break;
                }
            }
        }
    }
    t->kind = kind < 0 ? SCN_TARGET_LAB : (enum scn_target_kind)kind;

    const cJSON *un = sp_get(tn, "url");
    if (!un) {
        sp_missing(c, tn, P, "url", "(the load balancer URL the traffic goes to)");
    } else if (sp_get_text(c, tn, "url", P, SCN_MAX_STRING, &t->url) > 0) {
        if (!sp_check_url(c, un, "$.target.url", "url", t->url)) {
            free(t->url);
            t->url = NULL;
        }
    }

    size_t zcap = 0;
    const cJSON *zn = sp_get(tn, "zones");
    c->zones_known = kind >= 0;
    if (kind == SCN_TARGET_LAB) {
        if (zn) {
            parse_zone_list(c, zn, "$.target.zones", &zcap);
        } else {
            static const char *const def[] = {"a", "b", "c"};
            for (size_t i = 0; i < 3; i++)
                add_zone(c, NULL, NULL, def[i], &zcap);
        }
        sp_get_path(c, tn, "lab_dir", P, &t->lab_dir);
    } else if (kind == SCN_TARGET_SSH) {
        if (!zn)
            sp_missing(c, tn, P, "zones", "(an ssh target lists its hosts per zone)");
        else
            parse_ssh_zones(c, zn, "$.target.zones", &zcap);
        if (sp_get_text(c, tn, "user", P, SCN_MAX_NAME, &t->ssh_user) == 0) {
            const char *u = getenv("USER");
            struct passwd *pw = (!u || !*u) ? getpwuid(geteuid()) : NULL;
            t->ssh_user = xstrdup(u && *u ? u : pw ? pw->pw_name : "root");
        }
        uint32_t port = 22;
        sp_get_u32(c, tn, "port", P, 1, 65535, &port);
        t->ssh_port = (int)port;
        sp_get_path(c, tn, "key", P, &t->ssh_key);
        if (sp_get_path(c, tn, "known_hosts", P, &t->ssh_known_hosts) == 0) {
            const char *home = getenv("HOME");
            t->ssh_known_hosts = xasprintf("%s/.ssh/known_hosts", home && *home ? home : "~");
        }
        t->ssh_strict_host_key = true;
        sp_get_bool(c, tn, "strict_host_key", P, &t->ssh_strict_host_key);
        t->ssh_connect_timeout_us = 10 * SEC;
        sp_get_dur_range(c, tn, "connect_timeout", P, 0, true, 5 * 60 * SEC,
                         &t->ssh_connect_timeout_us);
        uint32_t par = 32;
        sp_get_u32(c, tn, "parallel", P, 1, 1024, &par);
        t->ssh_parallel = (int)par;
        sp_get_text(c, tn, "service", P, SCN_MAX_NAME, &t->ssh_service);
        sp_get_bool(c, tn, "sudo", P, &t->ssh_sudo);
        /* the passphrase itself never sits in a file: only the name of the variable */
        if (sp_get_text(c, tn, "key_passphrase_env", P, SCN_MAX_NAME, &t->ssh_passphrase_env) > 0) {
            bool ok = *t->ssh_passphrase_env != '\0';
            for (const char *q = t->ssh_passphrase_env; *q; q++)
                ok = ok && ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
                            (*q >= '0' && *q <= '9' && q != t->ssh_passphrase_env) || *q == '_');
            if (!ok) {
                char *kp = sp_path_key(P, "key_passphrase_env");
                sp_diag(
                    c, sp_off_of(c, sp_get(tn, "key_passphrase_env")), kp,
                    "'key_passphrase_env' names an environment variable ([A-Za-z_][A-Za-z0-9_]*)"
                    ", not the passphrase");
                free(kp);
            }
        }
        t->ssh_command_timeout_us = 30 * SEC;
        sp_get_dur_range(c, tn, "command_timeout", P, 0, true, 60 * 60 * SEC,
                         &t->ssh_command_timeout_us);
        sp_get_path(c, tn, "haproxy_socket", P, &t->ssh_haproxy_socket);
    } else if (kind == SCN_TARGET_AWS) {
        if (zn)
            parse_zone_list(c, zn, "$.target.zones", &zcap);
        else
            c->zones_known = false; /* resolved from AWS at run time */
        /* region: the scenario's, else AWS_REGION / AWS_DEFAULT_REGION / the profile's, at run
         * time (the target says so when none is found) */
        const cJSON *rn = sp_get(tn, "region");
        if (rn && sp_get_text(c, tn, "region", P, 64, &t->aws_region) > 0) {
            for (const char *q = t->aws_region; *q; q++) {
                if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-')) {
                    sp_diag(c, sp_off_of(c, rn), "$.target.region",
                            "'%s' is not an AWS region name (like \"eu-west-1\")", t->aws_region);
                    break;
                }
            }
        }
        if (sp_get_text(c, tn, "endpoint", P, SCN_MAX_STRING, &t->aws_endpoint) > 0 &&
            !sp_check_url(c, sp_get(tn, "endpoint"), "$.target.endpoint", "endpoint",
                          t->aws_endpoint)) {
            free(t->aws_endpoint);
            t->aws_endpoint = NULL;
        }
        sp_get_text(c, tn, "profile", P, SCN_MAX_NAME, &t->aws_profile);
        if (!sp_get(tn, "tags"))
            sp_missing(c, tn, P, "tags",
                       "(the opt-in tags: zonedef only touches instances carrying them)");
        sp_get_kv(c, tn, "tags", P, 50, false, &t->aws_tags, &t->naws_tags);
        sp_get_text(c, tn, "load_balancer", P, 2048, &t->aws_load_balancer);
        sp_get_text(c, tn, "target_group", P, 2048, &t->aws_target_group);
        sp_get_text(c, tn, "asg", P, 255, &t->aws_asg);
        const cJSON *an = sp_get(tn, "account");
        if (!an) {
            sp_missing(c, tn, P, "account", "(the 12-digit AWS account id the run must be in)");
        } else if (sp_get_text(c, tn, "account", P, 16, &t->aws_account) > 0) {
            size_t n = strlen(t->aws_account), d = strspn(t->aws_account, "0123456789");
            if (n != 12 || d != n)
                sp_diag(c, sp_off_of(c, an), "$.target.account",
                        "'%s' is not an AWS account id (12 digits, like \"123456789012\")",
                        t->aws_account);
        }
        const cJSON *vn = sp_get(tn, "vpc");
        if (vn && sp_get_text(c, tn, "vpc", P, 64, &t->aws_vpc) > 0 &&
            !zd_str_has_prefix(t->aws_vpc, "vpc-"))
            sp_diag(c, sp_off_of(c, vn), "$.target.vpc", "'%s' is not a VPC id (like \"vpc-0abc\")",
                    t->aws_vpc);
        sp_get_bool(c, tn, "suspend_az_rebalance", P, &t->aws_suspend_az_rebalance);
    }
}

/* ---- load, steady state ------------------------------------------------------------------- */

static const char *const load_keys[] = {
    "rate",   "ramp",    "connections", "threads", "max_in_flight", "timeout",  "connect_timeout",
    "method", "headers", "body",        "expect",  "http2",         "insecure", "interval",
    "engine", "ca_file", NULL};
static const char *const engines[] = {"auto", "native", "curl", NULL};
static const char *const load_expect_keys[] = {"status", "body", NULL};
static const char *const methods[] = {"GET",    "HEAD",  "POST",    "PUT",
                                      "DELETE", "PATCH", "OPTIONS", NULL};

void sp_parse_load(struct ctx *c, const cJSON *ln, const cJSON *root)
{
    struct scn_load *l = &c->s->load;
    const char *P = "$.load";
    l->connections = 64;
    l->timeout_us = 2 * SEC;
    l->connect_timeout_us = SEC;
    l->interval_us = 100000;
    if (!ln) {
        sp_missing(c, root, "$", "load", "(at least {\"rate\": ...})");
        goto defaults;
    }
    if (!sp_check_object(c, ln, P, "load", load_keys))
        goto defaults;
    if (!sp_get(ln, "rate"))
        sp_missing(c, ln, P, "rate", "(requests per second)");
    else
        sp_get_num(c, ln, "rate", P, 0, true, 1e6, false, &l->rate);
    sp_get_dur_range(c, ln, "ramp", P, 0, false, 60 * 60 * SEC, &l->ramp_us);
    /* the load engine's own limits (load.c), so a file that validates also starts */
    sp_get_u32(c, ln, "connections", P, 1, 10000, &l->connections);
    sp_get_u32(c, ln, "threads", P, 0, 256, &l->threads);
    sp_get_u32(c, ln, "max_in_flight", P, 0, 100000, &l->max_in_flight);
    sp_get_dur_range(c, ln, "timeout", P, 0, true, 60 * SEC, &l->timeout_us);
    sp_get_dur_range(c, ln, "connect_timeout", P, 0, true, 60 * SEC, &l->connect_timeout_us);
    sp_get_dur_range(c, ln, "interval", P, 10000, false, 10 * SEC, &l->interval_us);
    if (sp_get_text(c, ln, "method", P, 16, &l->method) > 0 && !in_list(methods, l->method)) {
        const char *s = zd_suggest(l->method, methods);
        sp_diag(c, sp_off_of(c, sp_get(ln, "method")), "$.load.method",
                "unknown HTTP method '%s'%s%s%s", l->method, s ? " (did you mean '" : "",
                s ? s : "", s ? "'?)" : " (GET, HEAD, POST, PUT, DELETE, PATCH or OPTIONS)");
    }
    sp_get_kv(c, ln, "headers", P, SCN_MAX_HEADERS, true, &l->headers, &l->nheaders);
    sp_get_str(c, ln, "body", P, SCN_MAX_BODY, &l->body);
    sp_get_bool(c, ln, "http2", P, &l->http2);
    sp_get_bool(c, ln, "insecure", P, &l->insecure);
    sp_get_path(c, ln, "ca_file", P, &l->ca_file);
    char *eng = NULL;
    if (sp_get_text(c, ln, "engine", P, 16, &eng) > 0) {
        const cJSON *engn = sp_get(ln, "engine");
        const char *url = c->s->target.url;
        if (strcmp(eng, "native") == 0)
            l->engine = SCN_ENGINE_NATIVE;
        else if (strcmp(eng, "curl") == 0)
            l->engine = SCN_ENGINE_CURL;
        else if (strcmp(eng, "auto") != 0) {
            const char *s = zd_suggest(eng, engines);
            sp_diag(c, sp_off_of(c, engn), "$.load.engine", "unknown load engine '%s'%s%s%s", eng,
                    s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : " (auto, native or curl)");
        }
        if (l->engine == SCN_ENGINE_NATIVE && (l->http2 || (url && strncasecmp(url, "http://", 7) &&
                                                            strncasecmp(url, "https://", 8))))
            sp_diag(c, sp_off_of(c, engn), "$.load.engine",
                    "the native engine speaks HTTP/1.1 to http:// and https:// URLs (%s): use "
                    "\"auto\" or \"curl\"",
                    l->http2 ? "not HTTP/2" : "the target is neither");
    }
    free(eng);
    const cJSON *en = sp_get(ln, "expect");
    if (en && sp_check_object(c, en, "$.load.expect", "load.expect", load_expect_keys)) {
        const cJSON *sn = sp_get(en, "status");
        if (sn && cJSON_IsArray(sn)) {
            size_t i = 0, cap = 0;
            for (const cJSON *e = sn->child; e; e = e->next, i++) {
                char *ep = sp_path_idx("$.load.expect.status", i);
                struct scn_status st;
                if (i == 32) {
                    sp_diag(c, sp_off_of(c, e), ep, "too many status entries (at most 32)");
                    free(ep);
                    break;
                }
                if (sp_status_node(c, e, ep, &st)) {
                    ZD_GROW(l->expect_status, cap, l->nexpect_status + 1);
                    l->expect_status[l->nexpect_status++] = st;
                }
                free(ep);
            }
            if (i == 0)
                sp_diag(c, sp_off_of(c, sn), "$.load.expect.status", "'status' list is empty");
        } else if (sn) {
            struct scn_status st;
            if (sp_status_node(c, sn, "$.load.expect.status", &st)) {
                l->expect_status = xmalloc(sizeof(*l->expect_status));
                l->expect_status[0] = st;
                l->nexpect_status = 1;
            }
        }
        sp_get_regex(c, en, "body", "$.load.expect", &l->expect_body);
    }
defaults:
    if (!l->method)
        l->method = xstrdup("GET");
    if (!l->nexpect_status) {
        l->expect_status = xmalloc(sizeof(*l->expect_status));
        l->expect_status[0].lo = 200;
        l->expect_status[0].hi = 399;
        l->nexpect_status = 1;
    }
}

static const char *const steady_keys[] = {"error_rate", "p99", "window", "hold", NULL};

void sp_parse_steady(struct ctx *c, const cJSON *n)
{
    struct scn_steady *st = &c->s->steady;
    const char *P = "$.steady_state";
    st->error_rate = 0.01;
    st->window_us = SEC;
    st->hold_us = 5 * SEC;
    if (!n || !sp_check_object(c, n, P, "steady_state", steady_keys))
        return;
    sp_get_num(c, n, "error_rate", P, 0, false, 1, false, &st->error_rate);
    sp_get_dur_range(c, n, "p99", P, 0, true, 60 * SEC, &st->p99_us);
    int w = sp_get_dur_range(c, n, "window", P, 0, true, 60 * SEC, &st->window_us);
    int h = sp_get_dur_range(c, n, "hold", P, 0, true, 10 * 60 * SEC, &st->hold_us);
    if (w >= 0 && h > 0 && st->hold_us < st->window_us)
        sp_diag(c, sp_off_of(c, sp_get(n, "hold")), "$.steady_state.hold",
                "'hold' must be at least one window (%gs)", (double)st->window_us / 1e6);
    if (w > 0 && st->window_us < c->s->load.interval_us)
        sp_diag(c, sp_off_of(c, sp_get(n, "window")), "$.steady_state.window",
                "'window' must be at least load.interval (%gms)",
                (double)c->s->load.interval_us / 1e3);
}

/* ---- guards and expectations --------------------------------------------------------------- */

static const char *const guard_keys[] = {"abort_if_error_rate", "for",         "min_healthy",
                                         "max_duration",        "kill_switch", NULL};

void sp_parse_guards(struct ctx *c, const cJSON *n)
{
    struct scn_guards *g = &c->s->guards;
    const char *P = "$.guards";
    g->abort_error_rate = -1;
    g->abort_for_us = 10 * SEC;
    g->min_healthy_fraction = -1;
    g->max_duration_us = 10 * 60 * SEC;
    if (!n || !sp_check_object(c, n, P, "guards", guard_keys))
        return;
    sp_get_num(c, n, "abort_if_error_rate", P, 0, true, 1, false, &g->abort_error_rate);
    sp_get_dur_range(c, n, "for", P, 0, false, 60 * 60 * SEC, &g->abort_for_us);
    sp_get_num(c, n, "min_healthy", P, 0, false, 1, false, &g->min_healthy_fraction);
    sp_get_dur_range(c, n, "max_duration", P, 0, true, 24 * 60 * 60 * SEC, &g->max_duration_us);
    sp_get_path(c, n, "kill_switch", P, &g->kill_switch);
}

static const char *const expect_keys[] = {
    "recovery_time", "detect_time", "availability", "max_error_rate", "p99", "min_score", NULL};

void sp_parse_expect(struct ctx *c, const cJSON *n)
{
    struct scn_expect *e = &c->s->expect;
    const char *P = "$.expect";
    e->availability = -1;
    e->max_error_rate = -1;
    e->min_score = -1;
    if (!n || !sp_check_object(c, n, P, "expect", expect_keys))
        return;
    sp_get_dur_range(c, n, "recovery_time", P, 0, true, 24 * 60 * 60 * SEC, &e->recovery_us);
    sp_get_dur_range(c, n, "detect_time", P, 0, true, 24 * 60 * 60 * SEC, &e->detect_us);
    sp_get_num(c, n, "availability", P, 0, false, 1, false, &e->availability);
    sp_get_num(c, n, "max_error_rate", P, 0, false, 1, false, &e->max_error_rate);
    sp_get_dur_range(c, n, "p99", P, 0, true, 60 * SEC, &e->p99_us);
    sp_get_num(c, n, "min_score", P, 0, false, 100, false, &e->min_score);
}
