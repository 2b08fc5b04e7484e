/*
 * scenario: reads a failure plan (JSON) into the plain structs of scenario.h, strictly, and says
 * everything that is wrong with it in one go.
 *
 * How a file goes through:
 *   1. size, emptiness, an optional UTF-8 BOM;
 *   2. jp_precheck (jsonpos.c): NUL bytes, invalid UTF-8, nesting deeper than SCN_MAX_DEPTH —
 *      before cJSON, whose parser recurses;
 *   3. cJSON parses; a syntax error is reported at the offset cJSON stops at (or at the end of the
 *      file when it is truncated);
 *   4. positions: jp_scan lists the offset of every value (and key) in document order, and a
 *      pre-order walk of the cJSON tree pairs each node with its entry. The pairs are sorted by
 *      node address, so any node's line:col is a binary search away. Positions are only turned
 *      into line:col when an error needs one;
 *   5. the tree is walked section by section; every problem becomes one diagnostic
 *      "file:line:col: message (at $.json.path)" and the walk goes on, so one run shows every
 *      mistake (up to MAX_DIAGS);
 *   6. cross-field checks (zones named by steps exist, steps fit in guards.max_duration, ...).
 *
 * Variables: "${name}" in any string value outside "vars" is replaced by, in increasing order of
 * precedence, the file's "vars", the environment, and --var name=value. "$${" writes a literal
 * "${". A number-valued key also takes a string made only of a variable ("rate": "${rate}").
 *
 * cJSON never leaves this file: the tree is freed before scn_load_* returns.
 */
#include "scenario/scenario.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "base/util.h"

#include "base/banned.h"

#include "scenario/parse.h"

/* ---- names ------------------------------------------------------------------------------- */

bool scn_status_expected(const struct scn_load *load, int status)
{
    if (!load->nexpect_status)
        return status >= 200 && status <= 399;
    for (size_t i = 0; i < load->nexpect_status; i++)
        if (status >= load->expect_status[i].lo && status <= load->expect_status[i].hi)
            return true;
    return false;
}

/* ---- the whole file ------------------------------------------------------------------------- */

static const char *const top_keys[] = {"name",         "description", "vars",   "target", "load",
                                       "steady_state", "warmup",      "settle", "steps",  "probes",
                                       "guards",       "expect",      "notify", NULL};

/* "notify": webhook specs, "[FORMAT=]URL" with FORMAT json, slack or datadog. A webhook URL is a
 * secret (Slack's is its path): write "${SLACK_WEBHOOK}" and keep it in the environment. */
static void parse_notify(struct ctx *c, const cJSON *n)
{
    struct scn_scenario *s = c->s;
    if (!n)
        return;
    if (!cJSON_IsArray(n)) {
        sp_diag(c, sp_off_of(c, n), "$.notify",
                "'notify' must be an array of webhooks ([\"slack=${SLACK_WEBHOOK}\"]), not %s",
                sp_type_name(n));
        return;
    }
    int k = cJSON_GetArraySize(n);
    if (k > SCN_MAX_NOTIFY) {
        sp_diag(c, sp_off_of(c, n), "$.notify", "at most %d webhooks in 'notify' (got %d)",
                SCN_MAX_NOTIFY, k);
        return;
    }
    s->notify = xcalloc(k > 0 ? (size_t)k : 1, sizeof(*s->notify));
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, n)
    {
        char *p = sp_path_idx("$.notify", i++);
        char *v = NULL;
        if (sp_str_node(c, e, p, "notify", SCN_MAX_STRING, &v) > 0) {
            const char *url = v, *eq = strchr(v, '='), *sep = strstr(v, "://");
            bool ok = true;
            if (eq && (!sep || eq < sep)) {
                size_t fl = (size_t)(eq - v);
                if (!((fl == 4 && strncmp(v, "json", 4) == 0) ||
                      (fl == 5 && strncmp(v, "slack", 5) == 0) ||
                      (fl == 7 && strncmp(v, "datadog", 7) == 0))) {
                    sp_diag(c, sp_off_of(c, e), p,
                            "unknown webhook format '%.*s' (json, slack or datadog)", (int)fl, v);
                    ok = false;
                }
                url = eq + 1;
            }
            if (ok && sp_check_url(c, e, p, "notify", url))
                s->notify[s->nnotify++] = v;
            else
                free(v);
        }
        free(p);
    }
}

static void parse_root(struct ctx *c, const cJSON *root)
{
    struct scn_scenario *s = c->s;
    s->warmup_us = 10 * SEC;
    s->settle_us = 10 * SEC;
    if (!cJSON_IsObject(root)) {
        sp_diag(c, sp_off_of(c, root), "$", "a scenario must be a JSON object ({...}), not %s",
                sp_type_name(root));
        return;
    }
    sp_check_object(c, root, "$", "the scenario", top_keys);
    sp_parse_vars(c, sp_get(root, "vars"));

    const cJSON *nn = sp_get(root, "name");
    if (!nn) {
        sp_missing(c, root, "$", "name", "(lowercase letters, digits, '.', '_' and '-')");
    } else if (sp_get_text(c, root, "name", "$", SCN_MAX_NAME, &s->name) > 0) {
        bool ok = strlen(s->name) <= SCN_MAX_NAME;
        for (const char *q = s->name; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '.' || *q == '_' ||
                  *q == '-'))
                ok = false;
        if (!ok)
            sp_diag(c, sp_off_of(c, nn), "$.name",
                    "name '%s' must be lowercase letters, digits, '.', '_' and '-' (at most %d)",
                    s->name, SCN_MAX_NAME);
    }
    sp_get_str(c, root, "description", "$", SCN_MAX_STRING, &s->description);
    parse_notify(c, sp_get(root, "notify"));

    const cJSON *tn = sp_get(root, "target");
    if (!tn)
        sp_missing(c, root, "$", "target", "(where to break things: {\"kind\": \"lab\", ...})");
    sp_parse_target(c, tn);
    sp_parse_load(c, sp_get(root, "load"), root);
    sp_parse_steady(c, sp_get(root, "steady_state"));
    sp_get_dur_range(c, root, "warmup", "$", 0, false, 60 * 60 * SEC, &s->warmup_us);
    sp_get_dur_range(c, root, "settle", "$", 0, false, 60 * 60 * SEC, &s->settle_us);
    if (sp_get(root, "warmup") && s->warmup_us < s->steady.window_us)
        sp_diag(c, sp_off_of(c, sp_get(root, "warmup")), "$.warmup",
                "'warmup' must be at least one steady_state window (%gs): the baseline is measured "
                "over it",
                (double)s->steady.window_us / 1e6);
    sp_parse_guards(c, sp_get(root, "guards"));
    sp_parse_steps(c, sp_get(root, "steps"));
    sp_parse_probes(c, sp_get(root, "probes"));
    sp_parse_expect(c, sp_get(root, "expect"));

    uint64_t end = s->warmup_us;
    for (size_t i = 0; i < s->nsteps; i++)
        if (s->steps[i].at_us + s->steps[i].for_us > end)
            end = s->steps[i].at_us + s->steps[i].for_us;
    s->duration_us = end + s->settle_us;
    if (c->nerr == 0 && s->duration_us > s->guards.max_duration_us) {
        char a[32], b[32];
        const cJSON *sn = sp_get(root, "settle");
        sp_diag(c, sn ? sp_off_of(c, sn) : sp_off_of(c, root), sn ? "$.settle" : "$",
                "the run takes %s (the last fault ends, then settle), more than "
                "guards.max_duration (%s)",
                zd_fmt_duration(s->duration_us, a, sizeof(a)),
                zd_fmt_duration(s->guards.max_duration_us, b, sizeof(b)));
    }
    if (s->nsteps > 1)
        qsort(s->steps, s->nsteps, sizeof(*s->steps), sp_step_cmp);
}

void scn_free(struct scn_scenario *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->name);
    free(s->description);
    for (size_t i = 0; i < s->nnotify; i++)
        free(s->notify[i]);
    free(s->notify);
    struct scn_target *t = &s->target;
    free(t->url);
    for (size_t i = 0; i < t->nzones; i++) {
        free(t->zones[i].name);
        for (size_t j = 0; j < t->zones[i].nhosts; j++) {
            free(t->zones[i].hosts[j]);
            for (size_t k = 0; t->zones[i].host_tags && k < t->zones[i].host_ntags[j]; k++) {
                free(t->zones[i].host_tags[j][k].key);
                free(t->zones[i].host_tags[j][k].value);
            }
            if (t->zones[i].host_tags)
                free(t->zones[i].host_tags[j]);
        }
        free(t->zones[i].hosts);
        free(t->zones[i].host_tags);
        free(t->zones[i].host_ntags);
    }
    free(t->zones);
    free(t->lab_dir);
    free(t->ssh_user);
    free(t->ssh_key);
    free(t->ssh_known_hosts);
    free(t->ssh_service);
    free(t->ssh_passphrase_env);
    free(t->ssh_haproxy_socket);
    free(t->aws_region);
    free(t->aws_endpoint);
    free(t->aws_profile);
    for (size_t i = 0; i < t->naws_tags; i++) {
        free(t->aws_tags[i].key);
        free(t->aws_tags[i].value);
    }
    free(t->aws_tags);
    free(t->aws_load_balancer);
    free(t->aws_target_group);
    free(t->aws_asg);
    free(t->aws_account);
    free(t->aws_vpc);
    struct scn_load *l = &s->load;
    free(l->method);
    for (size_t i = 0; i < l->nheaders; i++) {
        free(l->headers[i].key);
        free(l->headers[i].value);
    }
    free(l->headers);
    free(l->body);
    free(l->expect_status);
    free(l->expect_body);
    free(l->ca_file);
    for (size_t i = 0; i < s->nsteps; i++) {
        struct scn_step *st = &s->steps[i];
        free(st->name);
        free(st->sel.zone);
        for (size_t j = 0; j < st->sel.ntags; j++) {
            free(st->sel.tags[j].key);
            free(st->sel.tags[j].value);
        }
        free(st->sel.tags);
        free(st->process);
        free(st->interface);
        free(st->command);
        free(st->undo_command);
    }
    free(s->steps);
    for (size_t i = 0; i < s->nprobes; i++) {
        struct scn_probe *p = &s->probes[i];
        free(p->name);
        free(p->url);
        free(p->body);
        free(p->command);
        free(p->zone);
    }
    free(s->probes);
    free(s->guards.kill_switch);
    for (size_t i = 0; i < s->nvars; i++) {
        free(s->vars[i].key);
        free(s->vars[i].value);
    }
    free(s->vars);
    free(s);
}

static int diag_cmp(const void *a, const void *b)
{
    const struct scn_diag *x = a, *y = b;
    if (x->loc.line != y->loc.line)
        return x->loc.line < y->loc.line ? -1 : 1;
    if (x->loc.col != y->loc.col)
        return x->loc.col < y->loc.col ? -1 : 1;
    return 0;
}

/* File order reads best; qsort is not stable, so equal positions keep their order by a final
 * insertion pass instead. */
static void sort_diags(struct scn_diag *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct scn_diag d = v[i];
        size_t j = i;
        while (j > 0 && diag_cmp(&v[j - 1], &d) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = d;
    }
}

int scn_load_buffer(const char *name, const char *text, size_t len, const char *const *vars,
                    size_t nvars, struct scn_scenario **out, struct scn_diags *diags)
{
    struct ctx c;
    memset(&c, 0, sizeof(c));
    c.name = name ? name : "<scenario>";
    c.text = text;
    c.len = len;
    c.cur.line = 1;
    c.diags = diags;
    c.cli = vars;
    c.ncli = nvars;
    *out = NULL;
    size_t first = diags->n;
    cJSON *root = NULL;
    struct jp_value *vals = NULL;
    size_t bad = 0;
    const char *what = NULL;

    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        /* positions count from after the BOM: editors do not show it as a column */
        c.text += 3;
        c.len -= 3;
    }
    if (len > SCN_MAX_FILE_BYTES) {
        sp_diag(&c, NO_OFF, NULL, "file is %zu bytes, larger than the limit of %u bytes (1 MiB)",
                len, SCN_MAX_FILE_BYTES);
        goto fail;
    }
    size_t ws = 0;
    while (ws < c.len && strchr(" \t\r\n", c.text[ws]) && c.text[ws])
        ws++;
    if (ws == c.len) {
        sp_diag(&c, NO_OFF, NULL, "file is empty (a scenario is a JSON object: {\"name\": ...})");
        goto fail;
    }
    if (jp_precheck(c.text, c.len, SCN_MAX_DEPTH, &bad, &what) < 0) {
        if (strcmp(what, "nesting too deep") == 0)
            sp_diag(&c, bad, NULL, "nesting too deep: more than %d levels of arrays and objects",
                    SCN_MAX_DEPTH);
        else
            sp_diag(&c, bad, NULL, "%s", what);
        goto fail;
    }
    if (jp_syntax(c.text, c.len, &bad, &what) < 0) {
        sp_diag(&c, bad, NULL, "syntax error: %s", what);
        goto fail;
    }
    /* not require_null_terminated: cJSON 1.7.15 then wants the NUL inside `len` */
    root = cJSON_ParseWithLengthOpts(c.text, c.len, NULL, 0);
    if (!root) {
        /* jp_syntax accepted it, so this is cJSON running out of memory or a disagreement */
        sp_diag(&c, NO_OFF, NULL, "cannot parse the JSON (cJSON failed on text that looks valid)");
        goto fail;
    }
    size_t nv = jp_scan(c.text, c.len, &vals);
    c.pos = xcalloc(nv ? nv : 1, sizeof(*c.pos));
    size_t idx = 0;
    sp_pair_nodes(root, vals, nv, &idx, c.pos, &c.npos);
    if (idx != nv) {
        /* the scanner and cJSON disagree: positions would be wrong, so use none */
        c.npos = 0;
    }
    qsort(c.pos, c.npos, sizeof(*c.pos), sp_npos_cmp);

    c.s = xcalloc(1, sizeof(*c.s));
    c.s->path = xstrdup(c.name);
    parse_root(&c, root);
    if (c.nerr)
        goto fail;
    cJSON_Delete(root);
    free(vals);
    free(c.pos);
    *out = c.s;
    return 0;
fail:
    if (c.nerr == 0)
        sp_diag(&c, NO_OFF, NULL, "invalid scenario");
    /* the "too many errors" line stays last */
    sort_diags(diags->v + first, diags->n - first - (c.nerr > MAX_DIAGS ? 1 : 0));
    cJSON_Delete(root);
    free(vals);
    free(c.pos);
    scn_free(c.s);
    return -1;
}

int scn_load_file(const char *path, const char *const *vars, size_t nvars,
                  struct scn_scenario **out, struct scn_diags *diags)
{
    *out = NULL;
    struct stat st;
    char *err = NULL, *text = NULL;
    size_t len = 0;
    /* refuse a big file before reading any of it */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > SCN_MAX_FILE_BYTES) {
        struct scn_diag d = {xasprintf("%s: file is %lld bytes, larger than the limit of %u "
                                       "bytes (1 MiB)",
                                       path, (long long)st.st_size, SCN_MAX_FILE_BYTES),
                             {0, 0},
                             NULL};
        ZD_GROW(diags->v, diags->cap, diags->n + 1);
        diags->v[diags->n++] = d;
        return -1;
    }
    if (zd_read_file(path, SCN_MAX_FILE_BYTES, &text, &len, &err) < 0) {
        struct scn_diag d = {NULL, {0, 0}, NULL};
        if (err && strstr(err, "larger than the limit"))
            d.msg = xasprintf("%s: file is larger than the limit of %u bytes (1 MiB)", path,
                              SCN_MAX_FILE_BYTES);
        else
            d.msg = xasprintf("%s", err ? err : "cannot read file");
        ZD_GROW(diags->v, diags->cap, diags->n + 1);
        diags->v[diags->n++] = d;
        free(err);
        return -1;
    }
    int r = scn_load_buffer(path, text, len, vars, nvars, out, diags);
    free(text);
    return r;
}
