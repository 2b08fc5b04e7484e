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
#include "scenario.h"

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

#include "jsonpos.h"
#include "util.h"

#include "banned.h"

/* After this many problems in one file, stop listing them (one more line says so). */
#define MAX_DIAGS 100

#define SEC    1000000ull
#define NO_OFF ((size_t)-1)

/* ---- names ------------------------------------------------------------------------------- */

static const char *const fault_names[SCN_FAULT__COUNT + 1] = {
    "kill_instances", "stop_instances", "blackhole_zone",
    "traffic_spike",  "latency",        "cpu_stress",
    "kill_process",   "exec",           NULL,
};

const char *scn_fault_name(enum scn_fault f)
{
    return (unsigned)f < SCN_FAULT__COUNT ? fault_names[f] : NULL;
}

bool scn_fault_selects(enum scn_fault f)
{
    switch (f) {
    case SCN_FAULT_KILL_INSTANCES:
    case SCN_FAULT_STOP_INSTANCES:
    case SCN_FAULT_LATENCY:
    case SCN_FAULT_CPU_STRESS:
    case SCN_FAULT_KILL_PROCESS:
    case SCN_FAULT_EXEC: return true;
    default: return false;
    }
}

bool scn_status_expected(const struct scn_load *load, int status)
{
    if (!load->nexpect_status)
        return status >= 200 && status <= 399;
    for (size_t i = 0; i < load->nexpect_status; i++)
        if (status >= load->expect_status[i].lo && status <= load->expect_status[i].hi)
            return true;
    return false;
}

/* ---- diagnostics ------------------------------------------------------------------------- */

void scn_diags_free(struct scn_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].msg);
        free(d->v[i].path);
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

struct npos {
    const cJSON *node;
    size_t off, key_off;
};

struct ctx {
    const char *name; /* the file name in messages */
    const char *text; /* the JSON text (after a BOM; positions count from here) */
    size_t len;
    struct npos *pos;
    size_t npos;
    struct jp_cursor cur;
    struct scn_diags *diags;
    size_t nerr;
    struct scn_scenario *s;
    const char *const *cli;
    size_t ncli;
    size_t vcap;
    bool zones_known; /* the target's zone list is known: zone names can be checked */
};

static void vdiag(struct ctx *c, size_t off, const char *path, const char *fmt, va_list ap)
{
    c->nerr++;
    if (c->nerr > MAX_DIAGS + 1)
        return;
    struct scn_diag d = {NULL, {0, 0}, path ? xstrdup(path) : NULL};
    struct sbuf sb = SBUF_INIT;
    if (off != NO_OFF) {
        size_t o = off;
        struct jp_cursor *cur = o >= c->cur.off ? &c->cur : NULL;
        jp_linecol(c->text, c->len, o, cur, &d.loc.line, &d.loc.col);
        sbuf_addf(&sb, "%s:%d:%d: ", c->name, d.loc.line, d.loc.col);
    } else {
        sbuf_addf(&sb, "%s: ", c->name);
    }
    if (c->nerr == MAX_DIAGS + 1)
        sbuf_addf(&sb, "too many errors, stopping after %d", MAX_DIAGS);
    else
        sbuf_vaddf(&sb, fmt, ap);
    if (path && c->nerr <= MAX_DIAGS)
        sbuf_addf(&sb, " (at %s)", path);
    d.msg = sbuf_detach(&sb);
    ZD_GROW(c->diags->v, c->diags->cap, c->diags->n + 1);
    c->diags->v[c->diags->n++] = d;
}

static void ZD_PRINTF(4, 5) diag(struct ctx *c, size_t off, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(c, off, path, fmt, ap);
    va_end(ap);
}

/* ---- positions --------------------------------------------------------------------------- */

static int npos_cmp(const void *a, const void *b)
{
    const struct npos *x = a, *y = b;
    return x->node < y->node ? -1 : x->node > y->node ? 1 : 0;
}

static void pair_nodes(const cJSON *n, const struct jp_value *v, size_t nv, size_t *i,
                       struct npos *out, size_t *nout)
{
    for (; n; n = n->next) {
        if (*i < nv) {
            out[*nout].node = n;
            out[*nout].off = v[*i].off;
            out[*nout].key_off = v[*i].key_off;
            (*nout)++;
        }
        (*i)++;
        if (n->child)
            pair_nodes(n->child, v, nv, i, out, nout);
    }
}

static const struct npos *find_pos(const struct ctx *c, const cJSON *n)
{
    struct npos key = {n, 0, 0};
    return c->pos ? bsearch(&key, c->pos, c->npos, sizeof(*c->pos), npos_cmp) : NULL;
}

static size_t off_of(const struct ctx *c, const cJSON *n)
{
    const struct npos *p = find_pos(c, n);
    return p ? p->off : NO_OFF;
}

static size_t key_off_of(const struct ctx *c, const cJSON *n)
{
    const struct npos *p = find_pos(c, n);
    return p ? (p->key_off != JP_NO_KEY ? p->key_off : p->off) : NO_OFF;
}

static struct scn_loc loc_of(struct ctx *c, const cJSON *n)
{
    struct scn_loc l = {0, 0};
    size_t off = off_of(c, n);
    if (off != NO_OFF) {
        size_t o = off;
        jp_linecol(c->text, c->len, o, o >= c->cur.off ? &c->cur : NULL, &l.line, &l.col);
    }
    return l;
}

/* ---- paths and types --------------------------------------------------------------------- */

/* "$.a.b", or "$.a[\"odd key\"]" when the key is not a plain name */
static char *path_key(const char *path, const char *key)
{
    bool plain = *key != '\0';
    for (const char *q = key; *q && plain; q++)
        plain = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
                *q == '_' || *q == '-';
    if (plain)
        return xasprintf("%s.%s", path, key);
    struct sbuf sb = SBUF_INIT;
    sbuf_addf(&sb, "%s[", path);
    sbuf_add_json_str(&sb, key);
    sbuf_addc(&sb, ']');
    return sbuf_detach(&sb);
}

static char *path_idx(const char *path, size_t i)
{
    return xasprintf("%s[%zu]", path, i);
}

static const char *type_name(const cJSON *n)
{
    if (cJSON_IsString(n))
        return "a string";
    if (cJSON_IsNumber(n))
        return "a number";
    if (cJSON_IsBool(n))
        return "a boolean";
    if (cJSON_IsNull(n))
        return "null";
    if (cJSON_IsArray(n))
        return "an array";
    if (cJSON_IsObject(n))
        return "an object";
    return "something else";
}

static const cJSON *get(const cJSON *obj, const char *key)
{
    return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/*
 * Checks the keys of `obj` against `known` (NULL-terminated): unknown keys (with a suggestion)
 * and duplicates are errors at the key. `other` (may be NULL) lists keys that exist elsewhere in
 * the same kind of object and gets its own message through `other_msg` ("does not apply to ...").
 * Returns false when obj is not an object (after saying so).
 */
static bool check_object(struct ctx *c, const cJSON *obj, const char *path, const char *what,
                         const char *const *known)
{
    if (!cJSON_IsObject(obj)) {
        diag(c, off_of(c, obj), path, "%s must be an object, not %s", what, type_name(obj));
        return false;
    }
    /* duplicates of known keys only (an unknown key is reported as such): O(members x known),
     * never O(members^2), so 90000 distinct keys cannot stall the check */
    for (size_t i = 0; known[i]; i++) {
        const cJSON *first = NULL;
        for (const cJSON *m = obj->child; m && c->nerr <= MAX_DIAGS; m = m->next) {
            if (strcmp(m->string, known[i]) != 0)
                continue;
            if (!first) {
                first = m;
                continue;
            }
            struct scn_loc l = loc_of(c, first);
            char *kp = path_key(path, m->string);
            diag(c, key_off_of(c, m), kp, "duplicate key '%s' (first at %d:%d)", m->string, l.line,
                 l.col);
            free(kp);
        }
    }
    for (const cJSON *m = obj->child; m && c->nerr <= MAX_DIAGS; m = m->next) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(known[i], m->string) == 0)
                ok = true;
        if (ok)
            continue;
        char *kp = path_key(path, m->string);
        const char *s = zd_suggest(m->string, known);
        if (s)
            diag(c, key_off_of(c, m), kp, "unknown key '%s' in %s (did you mean '%s'?)", m->string,
                 what, s);
        else
            diag(c, key_off_of(c, m), kp, "unknown key '%s' in %s", m->string, what);
        free(kp);
    }
    return true;
}

static void missing(struct ctx *c, const cJSON *obj, const char *path, const char *key,
                    const char *why)
{
    diag(c, off_of(c, obj), path, "missing required key '%s'%s%s", key, why ? " " : "",
         why ? why : "");
}

/* ---- variables --------------------------------------------------------------------------- */

static bool valid_var_name(const char *s, size_t n)
{
    if (n == 0 || n > SCN_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i > 0 && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

static struct scn_kv *var_find(struct scn_scenario *s, const char *name, size_t n)
{
    for (size_t i = 0; i < s->nvars; i++)
        if (strlen(s->vars[i].key) == n && strncmp(s->vars[i].key, name, n) == 0)
            return &s->vars[i];
    return NULL;
}

static void var_set(struct ctx *c, const char *name, size_t n, const char *value)
{
    struct scn_kv *kv = var_find(c->s, name, n);
    if (kv) {
        free(kv->value);
        kv->value = xstrdup(value);
        return;
    }
    ZD_GROW(c->s->vars, c->vcap, c->s->nvars + 1);
    c->s->vars[c->s->nvars].key = xstrndup(name, n);
    c->s->vars[c->s->nvars].value = xstrdup(value);
    c->s->nvars++;
}

/* The value of a variable, or NULL. Environment variables that get used are recorded in
 * s->vars, so the scenario says what it ran with. */
static const char *var_get(struct ctx *c, const char *name, size_t n)
{
    struct scn_kv *kv = var_find(c->s, name, n);
    if (kv)
        return kv->value;
    char *nm = xstrndup(name, n);
    const char *env = getenv(nm);
    free(nm);
    if (!env || c->s->nvars >= SCN_MAX_VARS * 2)
        return NULL;
    var_set(c, name, n, env);
    return var_find(c->s, name, n)->value;
}

/* The file's vars, then the environment over them, then --var over both. */
static void parse_vars(struct ctx *c, const cJSON *vars)
{
    if (vars) {
        if (!cJSON_IsObject(vars)) {
            diag(c, off_of(c, vars), "$.vars", "'vars' must be an object, not %s", type_name(vars));
        } else {
            size_t n = 0;
            for (const cJSON *m = vars->child; m; m = m->next, n++) {
                char *kp = path_key("$.vars", m->string);
                if (n == SCN_MAX_VARS) {
                    diag(c, key_off_of(c, m), kp, "too many variables (at most %d)", SCN_MAX_VARS);
                    free(kp);
                    break;
                }
                char num[64];
                const char *val = NULL;
                if (!valid_var_name(m->string, strlen(m->string)))
                    diag(c, key_off_of(c, m), kp,
                         "variable name '%s' must be letters, digits and '_' (not starting with "
                         "a digit), at most %d characters",
                         m->string, SCN_MAX_NAME);
                else if (cJSON_IsString(m))
                    val = m->valuestring;
                else if (cJSON_IsNumber(m) && isfinite(m->valuedouble)) {
                    snprintf(num, sizeof(num), "%.15g", m->valuedouble);
                    val = num;
                } else
                    diag(c, off_of(c, m), kp, "variable '%s' must be a string or a number, not %s",
                         m->string, type_name(m));
                if (val && strlen(val) > SCN_MAX_STRING) {
                    diag(c, off_of(c, m), kp, "variable '%s' is longer than %d bytes", m->string,
                         SCN_MAX_STRING);
                    val = NULL;
                }
                if (val && var_find(c->s, m->string, strlen(m->string))) {
                    diag(c, key_off_of(c, m), kp, "duplicate variable '%s'", m->string);
                    val = NULL;
                }
                if (val) {
                    const char *env = getenv(m->string);
                    var_set(c, m->string, strlen(m->string), env ? env : val);
                }
                free(kp);
            }
        }
    }
    for (size_t i = 0; i < c->ncli; i++) {
        const char *kv = c->cli[i];
        const char *eq = kv ? strchr(kv, '=') : NULL;
        if (!eq || !valid_var_name(kv, (size_t)(eq - kv))) {
            diag(c, NO_OFF, NULL,
                 "--var '%s' must look like name=value (name: letters, digits, '_')", kv ? kv : "");
            continue;
        }
        if (strlen(eq + 1) > SCN_MAX_STRING) {
            diag(c, NO_OFF, NULL, "--var '%.*s' is longer than %d bytes", (int)(eq - kv), kv,
                 SCN_MAX_STRING);
            continue;
        }
        var_set(c, kv, (size_t)(eq - kv), eq + 1);
    }
}

/*
 * Substitutes variables in string node `n`. Returns 0 with *out (caller frees) or -1 after
 * reporting. *had_var tells whether anything was substituted (positions inside the result no
 * longer match the file then).
 */
static int subst(struct ctx *c, const cJSON *n, const char *path, size_t max, char **out,
                 bool *had_var)
{
    const char *s = n->valuestring;
    size_t qoff = off_of(c, n);
    struct sbuf sb;
    sbuf_init(&sb, max);
    bool var = false;
    int rc = 0;
    for (size_t i = 0; s[i];) {
        if (s[i] == '$' && s[i + 1] == '$' && s[i + 2] == '{') {
            sbuf_adds(&sb, "${");
            i += 3;
            continue;
        }
        if (s[i] == '$' && s[i + 1] == '{') {
            /* mapping back to the raw text walks the string: only for a message that will be
             * shown, so a string of 100000 "${x}" stays linear */
#define AT()                                                                                       \
    (qoff == NO_OFF || c->nerr >= MAX_DIAGS ? qoff : jp_string_byte_off(c->text, c->len, qoff, i))
            const char *end = strchr(s + i + 2, '}');
            if (!end) {
                diag(c, AT(), path, "'${' without a closing '}' (write '$${' for a literal '${')");
                rc = -1;
                break;
            }
            const char *name = s + i + 2;
            size_t nl = (size_t)(end - name);
            if (!valid_var_name(name, nl)) {
                diag(c, AT(), path, "bad variable name '%.*s' (letters, digits and '_')", (int)nl,
                     name);
                rc = -1;
            } else {
                const char *v = var_get(c, name, nl);
                if (!v) {
                    diag(c, AT(), path,
                         "undefined variable '%.*s' (define it in \"vars\", the environment or "
                         "with --var %.*s=...)",
                         (int)nl, name, (int)nl, name);
                    rc = -1;
                } else {
                    sbuf_adds(&sb, v);
                }
            }
            var = true;
            i = (size_t)(end - s) + 1;
            continue;
        }
        sbuf_addc(&sb, s[i]);
        i++;
    }
#undef AT
    if (rc == 0 && sb.overflow) {
        diag(c, qoff, path, "string is longer than %zu bytes%s", max,
             var ? " after substituting variables" : "");
        rc = -1;
    }
    if (had_var)
        *had_var = var;
    if (rc < 0) {
        sbuf_free(&sb);
        return -1;
    }
    *out = sbuf_detach(&sb);
    return 0;
}

/* ---- typed getters: 1 = got it, 0 = absent, -1 = wrong (reported) ---------------------------- */

static int str_node(struct ctx *c, const cJSON *n, const char *path, const char *key, size_t max,
                    char **out)
{
    if (!cJSON_IsString(n)) {
        diag(c, off_of(c, n), path, "'%s' must be a string, not %s", key, type_name(n));
        return -1;
    }
    return subst(c, n, path, max, out, NULL) == 0 ? 1 : -1;
}

static int get_str(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t max,
                   char **out)
{
    const cJSON *n = get(obj, key);
    if (!n)
        return 0;
    char *p = path_key(path, key);
    int r = str_node(c, n, p, key, max, out);
    free(p);
    return r;
}

/* A non-empty string without control characters (names, hosts, paths). */
static int get_text(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t max,
                    char **out)
{
    char *v = NULL;
    int r = get_str(c, obj, key, path, max, &v);
    if (r <= 0)
        return r;
    const char *bad = NULL;
    if (!*v)
        bad = "must not be empty";
    for (const unsigned char *q = (const unsigned char *)v; *q && !bad; q++)
        if (*q < 0x20 || *q == 0x7f)
            bad = "must not contain control characters";
    if (bad) {
        char *p = path_key(path, key);
        diag(c, off_of(c, get(obj, key)), p, "'%s' %s", key, bad);
        free(p);
        free(v);
        return -1;
    }
    *out = v;
    return 1;
}

/* A path option: a leading "~/" means $HOME, as in a shell. Returns what get_text returns. */
static int get_path(struct ctx *c, const cJSON *obj, const char *key, const char *path, char **out)
{
    char *v = NULL;
    int r = get_text(c, obj, key, path, SCN_MAX_STRING, &v);
    if (r <= 0)
        return r;
    const char *home = getenv("HOME");
    if (zd_str_has_prefix(v, "~/") && home && *home) {
        char *e = xasprintf("%s/%s", home, v + 2);
        free(v);
        v = e;
    }
    *out = v;
    return 1;
}

static int dur_node(struct ctx *c, const cJSON *n, const char *path, const char *key, uint64_t *out)
{
    if (!cJSON_IsString(n)) {
        if (cJSON_IsNumber(n))
            diag(c, off_of(c, n), path,
                 "'%s' must be a duration string like \"%gs\" or \"500ms\", not a number", key,
                 n->valuedouble);
        else
            diag(c, off_of(c, n), path, "'%s' must be a duration string like \"30s\", not %s", key,
                 type_name(n));
        return -1;
    }
    char *v = NULL;
    if (subst(c, n, path, 64, &v, NULL) < 0)
        return -1;
    char *err = NULL;
    uint64_t us = 0;
    int r = 1;
    if (zd_parse_duration(v, &us, &err) < 0) {
        diag(c, off_of(c, n), path, "'%s': %s", key, err);
        r = -1;
    } else {
        *out = us;
    }
    free(err);
    free(v);
    return r;
}

static int get_dur(struct ctx *c, const cJSON *obj, const char *key, const char *path,
                   uint64_t *out)
{
    const cJSON *n = get(obj, key);
    if (!n)
        return 0;
    char *p = path_key(path, key);
    int r = dur_node(c, n, p, key, out);
    free(p);
    return r;
}

/* A duration that must be in (lo, hi] (lo_excl) or [lo, hi]. */
static int get_dur_range(struct ctx *c, const cJSON *obj, const char *key, const char *path,
                         uint64_t lo, bool lo_excl, uint64_t hi, uint64_t *out)
{
    uint64_t us = 0;
    int r = get_dur(c, obj, key, path, &us);
    if (r <= 0)
        return r;
    char a[32], b[32], g[32];
    if ((lo_excl && us <= lo) || (!lo_excl && us < lo) || us > hi) {
        char *p = path_key(path, key);
        if (lo_excl && lo == 0)
            diag(c, off_of(c, get(obj, key)), p, "'%s' must be more than 0 and at most %s (got %s)",
                 key, zd_fmt_duration(hi, b, sizeof(b)), zd_fmt_duration(us, g, sizeof(g)));
        else
            diag(c, off_of(c, get(obj, key)), p, "'%s' must be between %s and %s (got %s)", key,
                 zd_fmt_duration(lo, a, sizeof(a)), zd_fmt_duration(hi, b, sizeof(b)),
                 zd_fmt_duration(us, g, sizeof(g)));
        free(p);
        return -1;
    }
    *out = us;
    return 1;
}

/* A number in [lo, hi] (or (lo, hi] with lo_excl); a string holding only variables counts. */
static int get_num(struct ctx *c, const cJSON *obj, const char *key, const char *path, double lo,
                   bool lo_excl, double hi, bool whole, double *out)
{
    const cJSON *n = get(obj, key);
    if (!n)
        return 0;
    char *p = path_key(path, key);
    double v = 0;
    int r = 1;
    if (cJSON_IsNumber(n)) {
        v = n->valuedouble;
    } else if (cJSON_IsString(n) && strstr(n->valuestring, "${")) {
        char *s = NULL;
        bool had = false;
        if (subst(c, n, p, 64, &s, &had) < 0) {
            r = -1;
        } else {
            char *end = NULL;
            errno = 0;
            v = strtod(s, &end);
            if (!*s || *end || errno) {
                diag(c, off_of(c, n), p, "'%s' must be a number; its variables give '%s'", key, s);
                r = -1;
            }
            free(s);
        }
    } else {
        diag(c, off_of(c, n), p, "'%s' must be a number, not %s", key, type_name(n));
        r = -1;
    }
    if (r == 1 && !isfinite(v)) {
        diag(c, off_of(c, n), p, "'%s' is not a finite number", key);
        r = -1;
    }
    if (r == 1 && whole && v != floor(v)) {
        diag(c, off_of(c, n), p, "'%s' must be a whole number (got %g)", key, v);
        r = -1;
    }
    if (r == 1 && ((lo_excl && v <= lo) || (!lo_excl && v < lo) || v > hi)) {
        if (lo_excl)
            diag(c, off_of(c, n), p, "'%s' must be more than %.10g and at most %.10g (got %.10g)",
                 key, lo, hi, v);
        else
            diag(c, off_of(c, n), p, "'%s' must be between %.10g and %.10g (got %.10g)", key, lo,
                 hi, v);
        r = -1;
    }
    if (r == 1)
        *out = v;
    free(p);
    return r;
}

static int get_u32(struct ctx *c, const cJSON *obj, const char *key, const char *path, uint32_t lo,
                   uint32_t hi, uint32_t *out)
{
    double v = 0;
    int r = get_num(c, obj, key, path, lo, false, hi, true, &v);
    if (r == 1)
        *out = (uint32_t)v;
    return r;
}

static int get_bool(struct ctx *c, const cJSON *obj, const char *key, const char *path, bool *out)
{
    const cJSON *n = get(obj, key);
    if (!n)
        return 0;
    if (!cJSON_IsBool(n)) {
        char *p = path_key(path, key);
        diag(c, off_of(c, n), p, "'%s' must be true or false, not %s", key, type_name(n));
        free(p);
        return -1;
    }
    *out = cJSON_IsTrue(n);
    return 1;
}

/* An object of string values -> kv list. */
static int get_kv(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t maxn,
                  bool header, struct scn_kv **out, size_t *nout)
{
    const cJSON *n = get(obj, key);
    if (!n)
        return 0;
    char *p = path_key(path, key);
    int r = 1;
    if (!cJSON_IsObject(n)) {
        diag(c, off_of(c, n), p, "'%s' must be an object of strings, not %s", key, type_name(n));
        free(p);
        return -1;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(n), cap = 0;
    if (cnt > maxn) {
        diag(c, off_of(c, n), p, "'%s' has %zu entries, more than the limit of %zu", key, cnt,
             maxn);
        free(p);
        return -1;
    }
    for (const cJSON *m = n->child; m; m = m->next) {
        char *mp = path_key(p, m->string);
        char *v = NULL;
        bool bad_name = !*m->string || strlen(m->string) > SCN_MAX_NAME;
        for (const unsigned char *q = (const unsigned char *)m->string; header && *q; q++)
            if (*q <= 0x20 || *q >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *q))
                bad_name = true;
        if (bad_name) {
            diag(c, key_off_of(c, m), mp, "'%s' is not a valid %s name", m->string,
                 header ? "header" : "tag");
            r = -1;
        } else if (str_node(c, m, mp, m->string, SCN_MAX_STRING, &v) < 0) {
            r = -1;
        } else if (header && (strchr(v, '\r') || strchr(v, '\n'))) {
            diag(c, off_of(c, m), mp, "header '%s' must not contain a line break", m->string);
            free(v);
            r = -1;
        } else {
            ZD_GROW(*out, cap, *nout + 1);
            (*out)[*nout].key = xstrdup(m->string);
            (*out)[*nout].value = v;
            (*nout)++;
        }
        free(mp);
    }
    free(p);
    return r;
}

static bool check_url(struct ctx *c, const cJSON *n, const char *path, const char *key,
                      const char *url)
{
    const char *rest = NULL;
    if (zd_str_has_prefix(url, "http://"))
        rest = url + 7;
    else if (zd_str_has_prefix(url, "https://"))
        rest = url + 8;
    if (!rest) {
        diag(c, off_of(c, n), path, "'%s' must start with http:// or https:// (got '%s')", key,
             url);
        return false;
    }
    if (!*rest || *rest == '/' || *rest == ':' || strpbrk(url, " \t\r\n")) {
        diag(c, off_of(c, n), path, "'%s' is not a valid URL: '%s'", key, url);
        return false;
    }
    return true;
}

/* Compiles a regex only to report errors at the right column (runtime compiles its own). */
static bool check_regex(struct ctx *c, const cJSON *n, const char *path, const char *re,
                        bool had_var)
{
    int code = 0;
    PCRE2_SIZE eoff = 0;
    pcre2_code *rc = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &code, &eoff, NULL);
    if (rc) {
        pcre2_code_free(rc);
        return true;
    }
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
        snprintf((char *)msg, sizeof(msg), "error %d", code);
    size_t off = off_of(c, n);
    if (off != NO_OFF && !had_var)
        off = jp_string_byte_off(c->text, c->len, off, eoff);
    diag(c, off, path, "invalid regex: %s (at offset %zu of the pattern)", (const char *)msg,
         (size_t)eoff);
    return false;
}

static int get_regex(struct ctx *c, const cJSON *obj, const char *key, const char *path, char **out)
{
    const cJSON *n = get(obj, key);
    if (!n)
        return 0;
    char *p = path_key(path, key);
    int r = -1;
    if (!cJSON_IsString(n)) {
        diag(c, off_of(c, n), p, "'%s' must be a string (a regex), not %s", key, type_name(n));
    } else {
        bool had = false;
        char *v = NULL;
        if (subst(c, n, p, SCN_MAX_STRING, &v, &had) == 0) {
            if (check_regex(c, n, p, v, had)) {
                *out = v;
                r = 1;
            } else {
                free(v);
            }
        }
    }
    free(p);
    return r;
}

/* ---- status codes ------------------------------------------------------------------------ */

static bool parse_status_str(const char *s, struct scn_status *st)
{
    size_t n = strlen(s);
    if (n == 3 && s[0] >= '1' && s[0] <= '5' && (s[1] == 'x' || s[1] == 'X') &&
        (s[2] == 'x' || s[2] == 'X')) {
        st->lo = (s[0] - '0') * 100;
        st->hi = st->lo + 99;
        return true;
    }
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || a < 100 || a > 599)
        return false;
    if (!*end) {
        st->lo = st->hi = (int)a;
        return true;
    }
    if (*end != '-')
        return false;
    const char *b0 = end + 1;
    long b = strtol(b0, &end, 10);
    if (end == b0 || *end || b < a || b > 599)
        return false;
    st->lo = (int)a;
    st->hi = (int)b;
    return true;
}

static bool status_node(struct ctx *c, const cJSON *n, const char *path, struct scn_status *st)
{
    if (cJSON_IsNumber(n)) {
        double v = n->valuedouble;
        if (v == floor(v) && v >= 100 && v <= 599) {
            st->lo = st->hi = (int)v;
            return true;
        }
        diag(c, off_of(c, n), path, "status %g is not an HTTP status code (100-599)", v);
        return false;
    }
    if (cJSON_IsString(n)) {
        char *s = NULL;
        if (subst(c, n, path, 64, &s, NULL) < 0)
            return false;
        bool ok = parse_status_str(s, st);
        if (!ok)
            diag(c, off_of(c, n), path,
                 "status '%s' must be a code (200), a class (\"2xx\") or a range (\"200-204\")", s);
        free(s);
        return ok;
    }
    diag(c, off_of(c, n), path, "'status' must be a code, a class like \"2xx\" or a list, not %s",
         type_name(n));
    return false;
}

/* ---- target -------------------------------------------------------------------------------- */

static const char *const target_keys_common[] = {"kind", "url", "zones", NULL};
static const char *const target_keys_lab[] = {"lab_dir", NULL};
static const char *const target_keys_ssh[] = {
    "user",     "port",    "key",  "known_hosts", "strict_host_key", "connect_timeout",
    "parallel", "service", "sudo", NULL};
static const char *const target_keys_aws[] = {"region",        "endpoint",     "profile", "tags",
                                              "load_balancer", "target_group", "asg",     NULL};
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
        diag(c, n ? key_off_of(c, n) : NO_OFF, path,
             "zone name '%s' must be lowercase letters, digits, '-', '_' or '.' (at most %d)", name,
             SCN_MAX_NAME);
        return;
    }
    for (size_t i = 0; i < t->nzones; i++) {
        if (strcmp(t->zones[i].name, name) == 0) {
            diag(c, n ? key_off_of(c, n) : NO_OFF, path, "zone '%s' is listed twice", name);
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
        diag(c, off_of(c, z), path, "'zones' must be a list of zone names, not %s", type_name(z));
        return;
    }
    size_t i = 0;
    for (const cJSON *e = z->child; e; e = e->next, i++) {
        char *ep = path_idx(path, i);
        if (i == SCN_MAX_ZONES) {
            diag(c, off_of(c, e), ep, "too many zones (at most %d)", SCN_MAX_ZONES);
            free(ep);
            break;
        }
        char *v = NULL;
        if (str_node(c, e, ep, "zones[]", SCN_MAX_NAME + 1, &v) > 0) {
            add_zone(c, e, ep, v, cap);
            free(v);
        }
        free(ep);
    }
    if (i == 0)
        diag(c, off_of(c, z), path, "'zones' must name at least one zone");
}

static void parse_ssh_zones(struct ctx *c, const cJSON *z, const char *path, size_t *cap)
{
    struct scn_target *t = &c->s->target;
    if (!cJSON_IsObject(z)) {
        diag(c, off_of(c, z), path,
             "'zones' of an ssh target must map each zone to its hosts, like "
             "{\"a\": [\"web1\", \"web2:2222\"]}, not %s",
             type_name(z));
        return;
    }
    size_t nz = 0;
    for (const cJSON *m = z->child; m; m = m->next, nz++) {
        char *zp = path_key(path, m->string);
        if (nz == SCN_MAX_ZONES) {
            diag(c, key_off_of(c, m), zp, "too many zones (at most %d)", SCN_MAX_ZONES);
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
            diag(c, off_of(c, m), zp, "zone '%s' must list its hosts (a non-empty array)",
                 m->string);
            free(zp);
            continue;
        }
        size_t hcap = 0, i = 0;
        for (const cJSON *h = m->child; h; h = h->next, i++) {
            char *hp = path_idx(zp, i);
            if (i == SCN_MAX_HOSTS_PER_ZONE) {
                diag(c, off_of(c, h), hp, "too many hosts in zone '%s' (at most %d)", m->string,
                     SCN_MAX_HOSTS_PER_ZONE);
                free(hp);
                break;
            }
            char *v = NULL;
            if (str_node(c, h, hp, "host", 300, &v) > 0) {
                if (!valid_host(v)) {
                    diag(c, off_of(c, h), hp,
                         "'%s' is not a host (write \"name\", \"name:port\" or \"[v6]:port\")", v);
                    free(v);
                } else {
                    ZD_GROW(zone->hosts, hcap, zone->nhosts + 1);
                    zone->hosts[zone->nhosts++] = v;
                }
            }
            free(hp);
        }
        free(zp);
    }
    if (nz == 0)
        diag(c, off_of(c, z), path, "'zones' must name at least one zone");
}

static void parse_target(struct ctx *c, const cJSON *tn)
{
    struct scn_target *t = &c->s->target;
    const char *P = "$.target";
    t->kind = SCN_TARGET_LAB;
    if (!tn) {
        c->zones_known = false;
        return;
    }
    t->loc = loc_of(c, tn);
    if (!cJSON_IsObject(tn)) {
        diag(c, off_of(c, tn), P, "'target' must be an object, not %s", type_name(tn));
        return;
    }
    /* kind first: it decides which keys belong */
    int kind = -1;
    char *ks = NULL;
    const cJSON *kn = get(tn, "kind");
    if (!kn) {
        missing(c, tn, P, "kind", "(\"lab\", \"ssh\" or \"aws\")");
    } else if (str_node(c, kn, "$.target.kind", "kind", 16, &ks) > 0) {
        for (int i = 0; target_kinds[i]; i++)
            if (strcmp(ks, target_kinds[i]) == 0)
                kind = i;
        if (kind < 0) {
            const char *s = zd_suggest(ks, target_kinds);
            diag(c, off_of(c, kn), "$.target.kind",
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
    check_object(c, tn, P, "target", all);
    /* keys of another kind */
    if (kind >= 0) {
        for (const cJSON *m = tn->child; m; m = m->next) {
            if (in_list(target_keys_common, m->string) || in_list(mine, m->string))
                continue;
            for (int k = 0; k < 3; k++) {
                if (k != kind && in_list(lists[k + 1], m->string)) {
                    char *kp = path_key(P, m->string);
                    diag(c, key_off_of(c, m), kp,
                         "'%s' does not apply to %s %s target (it is for %s targets)", m->string,
                         kind == SCN_TARGET_LAB ? "a" : "an", target_kinds[kind], target_kinds[k]);
                    free(kp);
                    break;
                }
            }
        }
    }
    t->kind = kind < 0 ? SCN_TARGET_LAB : (enum scn_target_kind)kind;

    const cJSON *un = get(tn, "url");
    if (!un) {
        missing(c, tn, P, "url", "(the load balancer URL the traffic goes to)");
    } else if (get_text(c, tn, "url", P, SCN_MAX_STRING, &t->url) > 0) {
        if (!check_url(c, un, "$.target.url", "url", t->url)) {
            free(t->url);
            t->url = NULL;
        }
    }

    size_t zcap = 0;
    const cJSON *zn = get(tn, "zones");
    c->zones_known = kind >= 0;
    if (kind == SCN_TARGET_LAB) {
        if (zn) {
            parse_zone_list(c, zn, "$.target.zones", &zcap);
        } else {
            static const char *const def[] = {"a", "b", "c"};
            for (size_t i = 0; i < 3; i++)
                add_zone(c, NULL, NULL, def[i], &zcap);
        }
        get_path(c, tn, "lab_dir", P, &t->lab_dir);
    } else if (kind == SCN_TARGET_SSH) {
        if (!zn)
            missing(c, tn, P, "zones", "(an ssh target lists its hosts per zone)");
        else
            parse_ssh_zones(c, zn, "$.target.zones", &zcap);
        if (get_text(c, tn, "user", P, SCN_MAX_NAME, &t->ssh_user) == 0) {
            const char *u = getenv("USER");
            struct passwd *pw = (!u || !*u) ? getpwuid(geteuid()) : NULL;
            t->ssh_user = xstrdup(u && *u ? u : pw ? pw->pw_name : "root");
        }
        uint32_t port = 22;
        get_u32(c, tn, "port", P, 1, 65535, &port);
        t->ssh_port = (int)port;
        get_path(c, tn, "key", P, &t->ssh_key);
        if (get_path(c, tn, "known_hosts", P, &t->ssh_known_hosts) == 0) {
            const char *home = getenv("HOME");
            t->ssh_known_hosts = xasprintf("%s/.ssh/known_hosts", home && *home ? home : "~");
        }
        t->ssh_strict_host_key = true;
        get_bool(c, tn, "strict_host_key", P, &t->ssh_strict_host_key);
        t->ssh_connect_timeout_us = 10 * SEC;
        get_dur_range(c, tn, "connect_timeout", P, 0, true, 5 * 60 * SEC,
                      &t->ssh_connect_timeout_us);
        uint32_t par = 32;
        get_u32(c, tn, "parallel", P, 1, 1024, &par);
        t->ssh_parallel = (int)par;
        get_text(c, tn, "service", P, SCN_MAX_NAME, &t->ssh_service);
        get_bool(c, tn, "sudo", P, &t->ssh_sudo);
    } else if (kind == SCN_TARGET_AWS) {
        if (zn)
            parse_zone_list(c, zn, "$.target.zones", &zcap);
        else
            c->zones_known = false; /* resolved from AWS at run time */
        const cJSON *rn = get(tn, "region");
        if (!rn) {
            missing(c, tn, P, "region", "(like \"eu-west-1\")");
        } else if (get_text(c, tn, "region", P, 64, &t->aws_region) > 0) {
            for (const char *q = t->aws_region; *q; q++) {
                if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-')) {
                    diag(c, off_of(c, rn), "$.target.region",
                         "'%s' is not an AWS region name (like \"eu-west-1\")", t->aws_region);
                    break;
                }
            }
        }
        if (get_text(c, tn, "endpoint", P, SCN_MAX_STRING, &t->aws_endpoint) > 0 &&
            !check_url(c, get(tn, "endpoint"), "$.target.endpoint", "endpoint", t->aws_endpoint)) {
            free(t->aws_endpoint);
            t->aws_endpoint = NULL;
        }
        get_text(c, tn, "profile", P, SCN_MAX_NAME, &t->aws_profile);
        get_kv(c, tn, "tags", P, 50, false, &t->aws_tags, &t->naws_tags);
        get_text(c, tn, "load_balancer", P, 2048, &t->aws_load_balancer);
        get_text(c, tn, "target_group", P, 2048, &t->aws_target_group);
        get_text(c, tn, "asg", P, 255, &t->aws_asg);
    }
}

/* ---- load, steady state ------------------------------------------------------------------- */

static const char *const load_keys[] = {"rate",          "ramp",     "connections",     "threads",
                                        "max_in_flight", "timeout",  "connect_timeout", "method",
                                        "headers",       "body",     "expect",          "http2",
                                        "insecure",      "interval", "engine",          NULL};
static const char *const engines[] = {"auto", "native", "curl", NULL};
static const char *const load_expect_keys[] = {"status", "body", NULL};
static const char *const methods[] = {"GET",    "HEAD",  "POST",    "PUT",
                                      "DELETE", "PATCH", "OPTIONS", NULL};

static void parse_load(struct ctx *c, const cJSON *ln, const cJSON *root)
{
    struct scn_load *l = &c->s->load;
    const char *P = "$.load";
    l->connections = 64;
    l->timeout_us = 2 * SEC;
    l->connect_timeout_us = SEC;
    l->interval_us = 100000;
    if (!ln) {
        missing(c, root, "$", "load", "(at least {\"rate\": ...})");
        goto defaults;
    }
    if (!check_object(c, ln, P, "load", load_keys))
        goto defaults;
    if (!get(ln, "rate"))
        missing(c, ln, P, "rate", "(requests per second)");
    else
        get_num(c, ln, "rate", P, 0, true, 1e6, false, &l->rate);
    get_dur_range(c, ln, "ramp", P, 0, false, 60 * 60 * SEC, &l->ramp_us);
    /* the load engine's own limits (load.c), so a file that validates also starts */
    get_u32(c, ln, "connections", P, 1, 10000, &l->connections);
    get_u32(c, ln, "threads", P, 0, 256, &l->threads);
    get_u32(c, ln, "max_in_flight", P, 0, 100000, &l->max_in_flight);
    get_dur_range(c, ln, "timeout", P, 0, true, 60 * SEC, &l->timeout_us);
    get_dur_range(c, ln, "connect_timeout", P, 0, true, 60 * SEC, &l->connect_timeout_us);
    get_dur_range(c, ln, "interval", P, 10000, false, 10 * SEC, &l->interval_us);
    if (get_text(c, ln, "method", P, 16, &l->method) > 0 && !in_list(methods, l->method)) {
        const char *s = zd_suggest(l->method, methods);
        diag(c, off_of(c, get(ln, "method")), "$.load.method", "unknown HTTP method '%s'%s%s%s",
             l->method, s ? " (did you mean '" : "", s ? s : "",
             s ? "'?)" : " (GET, HEAD, POST, PUT, DELETE, PATCH or OPTIONS)");
    }
    get_kv(c, ln, "headers", P, SCN_MAX_HEADERS, true, &l->headers, &l->nheaders);
    get_str(c, ln, "body", P, SCN_MAX_BODY, &l->body);
    get_bool(c, ln, "http2", P, &l->http2);
    get_bool(c, ln, "insecure", P, &l->insecure);
    char *eng = NULL;
    if (get_text(c, ln, "engine", P, 16, &eng) > 0) {
        const cJSON *engn = get(ln, "engine");
        const char *url = c->s->target.url;
        if (strcmp(eng, "native") == 0)
            l->engine = SCN_ENGINE_NATIVE;
        else if (strcmp(eng, "curl") == 0)
            l->engine = SCN_ENGINE_CURL;
        else if (strcmp(eng, "auto") != 0) {
            const char *s = zd_suggest(eng, engines);
            diag(c, off_of(c, engn), "$.load.engine", "unknown load engine '%s'%s%s%s", eng,
                 s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : " (auto, native or curl)");
        }
        if (l->engine == SCN_ENGINE_NATIVE && (l->http2 || (url && strncasecmp(url, "http://", 7))))
            diag(c, off_of(c, engn), "$.load.engine",
                 "the native engine speaks plain HTTP/1.1 to http:// URLs (%s): use \"auto\" or "
                 "\"curl\"",
                 l->http2 ? "not HTTP/2" : "the target is not http://");
    }
    free(eng);
    const cJSON *en = get(ln, "expect");
    if (en && check_object(c, en, "$.load.expect", "load.expect", load_expect_keys)) {
        const cJSON *sn = get(en, "status");
        if (sn && cJSON_IsArray(sn)) {
            size_t i = 0, cap = 0;
            for (const cJSON *e = sn->child; e; e = e->next, i++) {
                char *ep = path_idx("$.load.expect.status", i);
                struct scn_status st;
                if (i == 32) {
                    diag(c, off_of(c, e), ep, "too many status entries (at most 32)");
                    free(ep);
                    break;
                }
                if (status_node(c, e, ep, &st)) {
                    ZD_GROW(l->expect_status, cap, l->nexpect_status + 1);
                    l->expect_status[l->nexpect_status++] = st;
                }
                free(ep);
            }
            if (i == 0)
                diag(c, off_of(c, sn), "$.load.expect.status", "'status' list is empty");
        } else if (sn) {
            struct scn_status st;
            if (status_node(c, sn, "$.load.expect.status", &st)) {
                l->expect_status = xmalloc(sizeof(*l->expect_status));
                l->expect_status[0] = st;
                l->nexpect_status = 1;
            }
        }
        get_regex(c, en, "body", "$.load.expect", &l->expect_body);
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

static void parse_steady(struct ctx *c, const cJSON *n)
{
    struct scn_steady *st = &c->s->steady;
    const char *P = "$.steady_state";
    st->error_rate = 0.01;
    st->window_us = SEC;
    st->hold_us = 5 * SEC;
    if (!n || !check_object(c, n, P, "steady_state", steady_keys))
        return;
    get_num(c, n, "error_rate", P, 0, false, 1, false, &st->error_rate);
    get_dur_range(c, n, "p99", P, 0, true, 60 * SEC, &st->p99_us);
    int w = get_dur_range(c, n, "window", P, 0, true, 60 * SEC, &st->window_us);
    int h = get_dur_range(c, n, "hold", P, 0, true, 10 * 60 * SEC, &st->hold_us);
    if (w >= 0 && h > 0 && st->hold_us < st->window_us)
        diag(c, off_of(c, get(n, "hold")), "$.steady_state.hold",
             "'hold' must be at least one window (%gs)", (double)st->window_us / 1e6);
    if (w > 0 && st->window_us < c->s->load.interval_us)
        diag(c, off_of(c, get(n, "window")), "$.steady_state.window",
             "'window' must be at least load.interval (%gms)",
             (double)c->s->load.interval_us / 1e3);
}

/* ---- guards and expectations --------------------------------------------------------------- */

static const char *const guard_keys[] = {"abort_if_error_rate", "for",         "min_healthy",
                                         "max_duration",        "kill_switch", NULL};

static void parse_guards(struct ctx *c, const cJSON *n)
{
    struct scn_guards *g = &c->s->guards;
    const char *P = "$.guards";
    g->abort_error_rate = -1;
    g->abort_for_us = 10 * SEC;
    g->min_healthy_fraction = -1;
    g->max_duration_us = 10 * 60 * SEC;
    if (!n || !check_object(c, n, P, "guards", guard_keys))
        return;
    get_num(c, n, "abort_if_error_rate", P, 0, true, 1, false, &g->abort_error_rate);
    get_dur_range(c, n, "for", P, 0, false, 60 * 60 * SEC, &g->abort_for_us);
    get_num(c, n, "min_healthy", P, 0, false, 1, false, &g->min_healthy_fraction);
    get_dur_range(c, n, "max_duration", P, 0, true, 24 * 60 * 60 * SEC, &g->max_duration_us);
    get_path(c, n, "kill_switch", P, &g->kill_switch);
}

static const char *const expect_keys[] = {
    "recovery_time", "detect_time", "availability", "max_error_rate", "p99", "min_score", NULL};

static void parse_expect(struct ctx *c, const cJSON *n)
{
    struct scn_expect *e = &c->s->expect;
    const char *P = "$.expect";
    e->availability = -1;
    e->max_error_rate = -1;
    e->min_score = -1;
    if (!n || !check_object(c, n, P, "expect", expect_keys))
        return;
    get_dur_range(c, n, "recovery_time", P, 0, true, 24 * 60 * 60 * SEC, &e->recovery_us);
    get_dur_range(c, n, "detect_time", P, 0, true, 24 * 60 * 60 * SEC, &e->detect_us);
    get_num(c, n, "availability", P, 0, false, 1, false, &e->availability);
    get_num(c, n, "max_error_rate", P, 0, false, 1, false, &e->max_error_rate);
    get_dur_range(c, n, "p99", P, 0, true, 60 * SEC, &e->p99_us);
    get_num(c, n, "min_score", P, 0, false, 100, false, &e->min_score);
}

/* ---- steps ---------------------------------------------------------------------------------- */

#define F(x)  (1u << (x))
#define F_ALL ((1u << SCN_FAULT__COUNT) - 1)
#define F_SELECT                                                                                   \
    (F(SCN_FAULT_KILL_INSTANCES) | F(SCN_FAULT_STOP_INSTANCES) | F(SCN_FAULT_LATENCY) |            \
     F(SCN_FAULT_CPU_STRESS) | F(SCN_FAULT_KILL_PROCESS) | F(SCN_FAULT_EXEC))

static const struct {
    const char *key;
    unsigned faults; /* the faults the key applies to */
} step_keys[] = {
    {"name", F_ALL},
    {"at", F_ALL},
    {"fault", F_ALL},
    {"expect", F_ALL},
    {"for", F_ALL & ~F(SCN_FAULT_KILL_INSTANCES)},
    {"zone", F_SELECT | F(SCN_FAULT_BLACKHOLE_ZONE)},
    {"tags", F_SELECT},
    {"count", F_SELECT},
    {"percent", F_SELECT},
    {"rate", F(SCN_FAULT_TRAFFIC_SPIKE)},
    {"ramp", F(SCN_FAULT_TRAFFIC_SPIKE)},
    {"delay", F(SCN_FAULT_LATENCY)},
    {"jitter", F(SCN_FAULT_LATENCY)},
    {"cpu", F(SCN_FAULT_CPU_STRESS)},
    {"workers", F(SCN_FAULT_CPU_STRESS)},
    {"process", F(SCN_FAULT_KILL_PROCESS)},
    {"signal", F(SCN_FAULT_KILL_PROCESS)},
    {"command", F(SCN_FAULT_EXEC)},
    {"undo", F(SCN_FAULT_EXEC)},
};
static const char *const step_key_names[] = {"name",    "at",     "fault",   "expect",  "for",
                                             "zone",    "tags",   "count",   "percent", "rate",
                                             "ramp",    "delay",  "jitter",  "cpu",     "workers",
                                             "process", "signal", "command", "undo",    NULL};
static const char *const step_expect_keys[] = {"recovery_time", "detect_time", "max_error_rate",
                                               NULL};

static const struct {
    const char *name;
    int sig;
} signals[] = {{"KILL", SIGKILL}, {"TERM", SIGTERM}, {"STOP", SIGSTOP},
               {"INT", SIGINT},   {"HUP", SIGHUP},   {"QUIT", SIGQUIT},
               {"ABRT", SIGABRT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};

static bool zone_exists(const struct scn_target *t, const char *z)
{
    for (size_t i = 0; i < t->nzones; i++)
        if (strcmp(t->zones[i].name, z) == 0)
            return true;
    return false;
}

static void check_zone(struct ctx *c, const cJSON *n, const char *path, const char *zone)
{
    const struct scn_target *t = &c->s->target;
    if (!c->zones_known || zone_exists(t, zone))
        return;
    struct sbuf sb = SBUF_INIT;
    for (size_t i = 0; i < t->nzones; i++)
        sbuf_addf(&sb, "%s%s", i ? ", " : "", t->zones[i].name);
    diag(c, off_of(c, n), path, "zone '%s' is not one of the target's zones (%s)", zone,
         sbuf_str(&sb));
    sbuf_free(&sb);
}

static void parse_selection(struct ctx *c, const cJSON *n, const char *P, struct scn_step *st)
{
    struct scn_select *sel = &st->sel;
    if (get_text(c, n, "zone", P, SCN_MAX_NAME + 1, &sel->zone) > 0) {
        char *zp = path_key(P, "zone");
        check_zone(c, get(n, "zone"), zp, sel->zone);
        free(zp);
    }
    if (get(n, "tags") && c->s->target.kind != SCN_TARGET_AWS) {
        char *tp = path_key(P, "tags");
        diag(c, key_off_of(c, get(n, "tags")), tp,
             "selecting by 'tags' needs an aws target (lab and ssh hosts have no tags)");
        free(tp);
    } else {
        get_kv(c, n, "tags", P, 50, false, &sel->tags, &sel->ntags);
    }
    int hc = get_u32(c, n, "count", P, 1, 100000, &sel->count);
    int hp = get_num(c, n, "percent", P, 0, true, 100, false, &sel->percent);
    if (hc && hp) {
        char *pp = path_key(P, "percent");
        diag(c, key_off_of(c, get(n, "percent")), pp,
             "'count' and 'percent' cannot both be given: pick one");
        free(pp);
    }
}

/* Returns whether 'at' was given and read (cross-step checks on it make sense then). */
static bool parse_step(struct ctx *c, const cJSON *n, const char *P, struct scn_step *st)
{
    bool at_ok = false;
    st->loc = loc_of(c, n);
    st->signal = SIGKILL;
    st->cpu_percent = 100;
    st->workers = 1;
    st->expect_max_error_rate = -1;
    st->fault = SCN_FAULT__COUNT;
    if (!check_object(c, n, P, "a step", step_key_names))
        return false;
    const cJSON *fn = get(n, "fault");
    char *fs = NULL;
    if (!fn) {
        missing(c, n, P, "fault",
                "(kill_instances, stop_instances, blackhole_zone, "
                "traffic_spike, latency, cpu_stress, kill_process or exec)");
    } else {
        char *fp = path_key(P, "fault");
        if (str_node(c, fn, fp, "fault", 64, &fs) > 0) {
            for (int i = 0; i < SCN_FAULT__COUNT; i++)
                if (strcmp(fs, fault_names[i]) == 0)
                    st->fault = (enum scn_fault)i;
            if (st->fault == SCN_FAULT__COUNT) {
                const char *s = zd_suggest(fs, fault_names);
                if (s)
                    diag(c, off_of(c, fn), fp, "unknown fault '%s' (did you mean '%s'?)", fs, s);
                else
                    diag(c, off_of(c, fn), fp,
                         "unknown fault '%s' (kill_instances, stop_instances, blackhole_zone, "
                         "traffic_spike, latency, cpu_stress, kill_process or exec)",
                         fs);
            }
        }
        free(fp);
    }
    free(fs);
    enum scn_fault f = st->fault;
    bool known = f != SCN_FAULT__COUNT;
    /* keys that exist but do not belong to this fault */
    if (known) {
        for (const cJSON *m = n->child; m; m = m->next) {
            for (size_t i = 0; i < ZD_ARRAY_LEN(step_keys); i++) {
                if (strcmp(step_keys[i].key, m->string) == 0 && !(step_keys[i].faults & F(f))) {
                    char *kp = path_key(P, m->string);
                    if (strcmp(m->string, "for") == 0)
                        diag(c, key_off_of(c, m), kp,
                             "'for' does not apply to %s (it is instantaneous)", fault_names[f]);
                    else
                        diag(c, key_off_of(c, m), kp, "'%s' does not apply to fault '%s'",
                             m->string, fault_names[f]);
                    free(kp);
                }
            }
        }
    }
    if (!get(n, "at"))
        missing(c, n, P, "at", "(when the fault starts, like \"15s\")");
    else
        at_ok = get_dur(c, n, "at", P, &st->at_us) > 0;
    int has_for = 0;
    if (!known || f != SCN_FAULT_KILL_INSTANCES)
        has_for = get_dur_range(c, n, "for", P, 0, true, 24 * 60 * 60 * SEC, &st->for_us);
    get_text(c, n, "name", P, SCN_MAX_NAME, &st->name);

    const cJSON *en = get(n, "expect");
    if (en) {
        char *ep = path_key(P, "expect");
        if (check_object(c, en, ep, "a step's expect", step_expect_keys)) {
            get_dur_range(c, en, "recovery_time", ep, 0, true, 24 * 60 * 60 * SEC,
                          &st->expect_recovery_us);
            get_dur_range(c, en, "detect_time", ep, 0, true, 24 * 60 * 60 * SEC,
                          &st->expect_detect_us);
            get_num(c, en, "max_error_rate", ep, 0, false, 1, false, &st->expect_max_error_rate);
        }
        free(ep);
    }
    if (!known)
        return at_ok;
    if (scn_fault_selects(f)) {
        parse_selection(c, n, P, st);
    } else if (f == SCN_FAULT_BLACKHOLE_ZONE &&
               get_text(c, n, "zone", P, SCN_MAX_NAME + 1, &st->sel.zone) > 0) {
        char *zp = path_key(P, "zone");
        check_zone(c, get(n, "zone"), zp, st->sel.zone);
        free(zp);
    }
    bool need_for = false;
    const char *why = NULL;
    switch (f) {
    case SCN_FAULT_BLACKHOLE_ZONE:
        if (!get(n, "zone"))
            missing(c, n, P, "zone", "(the zone to black-hole)");
        need_for = true;
        why = "(how long the zone stays dark)";
        break;
    case SCN_FAULT_STOP_INSTANCES:
        need_for = true;
        why = "(how long the instances stay stopped)";
        break;
    case SCN_FAULT_TRAFFIC_SPIKE:
        if (!get(n, "rate"))
            missing(c, n, P, "rate", "(requests per second during the spike)");
        else
            get_num(c, n, "rate", P, 0, true, 1e6, false, &st->rate);
        if (get_dur_range(c, n, "ramp", P, 0, false, 60 * 60 * SEC, &st->ramp_us) > 0 &&
            has_for > 0 && st->ramp_us * 2 > st->for_us) {
            char *rp = path_key(P, "ramp");
            diag(c, off_of(c, get(n, "ramp")), rp,
                 "'ramp' up and down (2 x ramp) must fit in 'for'");
            free(rp);
        }
        need_for = true;
        why = "(how long the spike lasts)";
        break;
    case SCN_FAULT_LATENCY:
        if (!get(n, "delay"))
            missing(c, n, P, "delay", "(the latency to add, like \"200ms\")");
        else
            get_dur_range(c, n, "delay", P, 0, true, 60 * SEC, &st->delay_us);
        get_dur_range(c, n, "jitter", P, 0, false, 60 * SEC, &st->jitter_us);
        need_for = true;
        why = "(how long the latency lasts)";
        break;
    case SCN_FAULT_CPU_STRESS:
        get_u32(c, n, "cpu", P, 1, 100, &st->cpu_percent);
        get_u32(c, n, "workers", P, 1, 1024, &st->workers);
        need_for = true;
        why = "(how long the stress lasts)";
        break;
    case SCN_FAULT_KILL_PROCESS: {
        if (get_text(c, n, "process", P, SCN_MAX_NAME, &st->process) == 0) {
            if (c->s->target.ssh_service)
                st->process = xstrdup(c->s->target.ssh_service);
            else
                missing(c, n, P, "process", "(the process name to signal)");
        }
        char *sig = NULL;
        const cJSON *sn = get(n, "signal");
        if (get_text(c, n, "signal", P, 16, &sig) > 0) {
            const char *nm = zd_str_has_prefix(sig, "SIG") ? sig + 3 : sig;
            bool found = false;
            for (size_t i = 0; i < ZD_ARRAY_LEN(signals); i++) {
                if (strcmp(nm, signals[i].name) == 0) {
                    st->signal = signals[i].sig;
                    found = true;
                }
            }
            if (!found) {
                char *sp = path_key(P, "signal");
                diag(c, off_of(c, sn), sp,
                     "unknown signal '%s' (KILL, TERM, STOP, INT, HUP, QUIT, ABRT, USR1, USR2)",
                     sig);
                free(sp);
            }
        }
        free(sig);
        if (st->signal == SIGSTOP) {
            need_for = true;
            why = "(a STOP signal is undone with CONT after 'for')";
        } else if (has_for > 0) {
            char *fp = path_key(P, "for");
            diag(c, key_off_of(c, get(n, "for")), fp,
                 "'for' applies to kill_process only with signal STOP (other signals are "
                 "instantaneous)");
            free(fp);
        }
        break;
    }
    case SCN_FAULT_EXEC:
        if (get_text(c, n, "command", P, SCN_MAX_STRING, &st->command) == 0)
            missing(c, n, P, "command", "(the shell command to run)");
        if (get_text(c, n, "undo", P, SCN_MAX_STRING, &st->undo_command) > 0) {
            need_for = true;
            why = "(the undo command runs when 'for' ends)";
        }
        break;
    default: break;
    }
    if (need_for && !get(n, "for"))
        missing(c, n, P, "for", why);
    if (!st->name) {
        char b[32];
        st->name = xasprintf("%s@%s", fault_names[f], zd_fmt_duration(st->at_us, b, sizeof(b)));
    }
    return at_ok;
}

static int step_cmp(const void *a, const void *b)
{
    const struct scn_step *x = a, *y = b;
    if (x->at_us != y->at_us)
        return x->at_us < y->at_us ? -1 : 1;
    /* stable: steps keep file order, recorded in loc */
    if (x->loc.line != y->loc.line)
        return x->loc.line < y->loc.line ? -1 : 1;
    return x->loc.col < y->loc.col ? -1 : x->loc.col > y->loc.col;
}

static void parse_steps(struct ctx *c, const cJSON *n)
{
    struct scn_scenario *s = c->s;
    if (!n)
        return;
    if (!cJSON_IsArray(n)) {
        diag(c, off_of(c, n), "$.steps", "'steps' must be a list of steps, not %s", type_name(n));
        return;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(n);
    if (cnt > SCN_MAX_STEPS) {
        diag(c, off_of(c, n), "$.steps", "%zu steps, more than the limit of %d", cnt,
             SCN_MAX_STEPS);
        return;
    }
    s->steps = xcalloc(cnt ? cnt : 1, sizeof(*s->steps));
    const cJSON **nodes = xcalloc(cnt ? cnt : 1, sizeof(*nodes));
    bool *at_ok = xcalloc(cnt ? cnt : 1, sizeof(*at_ok));
    size_t i = 0;
    for (const cJSON *e = n->child; e; e = e->next, i++) {
        char *P = path_idx("$.steps", i);
        at_ok[i] = parse_step(c, e, P, &s->steps[i]);
        nodes[i] = e;
        free(P);
    }
    s->nsteps = cnt;
    /* checks across steps, in file order */
    for (i = 0; i < cnt; i++) {
        struct scn_step *st = &s->steps[i];
        if (st->fault == SCN_FAULT__COUNT)
            continue;
        char *P = path_idx("$.steps", i);
        char a[32], b[32], d[32];
        const cJSON *atn = get(nodes[i], "at");
        if (at_ok[i] && st->at_us < s->warmup_us) {
            char *ap = path_key(P, "at");
            diag(c, off_of(c, atn), ap,
                 "step starts at %s, inside the warm-up (%s): faults start after the baseline "
                 "is measured",
                 zd_fmt_duration(st->at_us, a, sizeof(a)),
                 zd_fmt_duration(s->warmup_us, b, sizeof(b)));
            free(ap);
        }
        if (at_ok[i] && st->at_us + st->for_us > s->guards.max_duration_us) {
            const cJSON *fn = get(nodes[i], "for") ? get(nodes[i], "for") : atn;
            char *fp = path_key(P, get(nodes[i], "for") ? "for" : "at");
            diag(c, off_of(c, fn), fp, "step ends at %s, after guards.max_duration (%s)",
                 zd_fmt_duration(st->at_us + st->for_us, a, sizeof(a)),
                 zd_fmt_duration(s->guards.max_duration_us, d, sizeof(d)));
            free(fp);
        }
        for (size_t j = 0; j < i; j++) {
            struct scn_step *o = &s->steps[j];
            if (o->fault == SCN_FAULT__COUNT || !o->name || !st->name)
                continue; /* not read far enough to compare */
            if (get(nodes[i], "name") && strcmp(o->name, st->name) == 0) {
                char *np = path_key(P, "name");
                diag(c, off_of(c, get(nodes[i], "name")), np,
                     "step name '%s' is already used by $.steps[%zu]", st->name, j);
                free(np);
            }
            /* the same fault twice on the same place at the same time: the first undo would
             * cancel the second while it is still meant to hold */
            bool same_place = (!o->sel.zone && !st->sel.zone) ||
                              (o->sel.zone && st->sel.zone && !strcmp(o->sel.zone, st->sel.zone));
            bool lasting = o->for_us && st->for_us;
            bool overlap = st->at_us < o->at_us + o->for_us && o->at_us < st->at_us + st->for_us;
            if (o->fault == st->fault && same_place && lasting && overlap &&
                (st->fault == SCN_FAULT_BLACKHOLE_ZONE || st->fault == SCN_FAULT_TRAFFIC_SPIKE ||
                 st->fault == SCN_FAULT_LATENCY)) {
                diag(c, off_of(c, nodes[i]), P,
                     "%s overlaps $.steps[%zu] ('%s') on the same %s: one would undo the other",
                     fault_names[st->fault], j, o->name,
                     st->fault == SCN_FAULT_TRAFFIC_SPIKE ? "load" : "zone");
            }
        }
        free(P);
    }
    free(nodes);
    free(at_ok);
}

/* ---- probes --------------------------------------------------------------------------------- */

static const char *const probe_keys[] = {"name", "kind",        "interval", "timeout",
                                         "url",  "status",      "body",     "command",
                                         "zone", "min_healthy", NULL};
static const char *const probe_kinds[] = {"http", "command", "lb_health", NULL};

static void parse_probes(struct ctx *c, const cJSON *n)
{
    struct scn_scenario *s = c->s;
    if (!n)
        return;
    if (!cJSON_IsArray(n)) {
        diag(c, off_of(c, n), "$.probes", "'probes' must be a list, not %s", type_name(n));
        return;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(n);
    if (cnt > SCN_MAX_PROBES) {
        diag(c, off_of(c, n), "$.probes", "%zu probes, more than the limit of %d", cnt,
             SCN_MAX_PROBES);
        return;
    }
    s->probes = xcalloc(cnt ? cnt : 1, sizeof(*s->probes));
    s->nprobes = cnt;
    size_t i = 0;
    for (const cJSON *e = n->child; e; e = e->next, i++) {
        struct scn_probe *p = &s->probes[i];
        char *P = path_idx("$.probes", i);
        p->loc = loc_of(c, e);
        p->interval_us = SEC;
        p->timeout_us = 2 * SEC;
        p->status.lo = 200;
        p->status.hi = 399;
        p->min_healthy = 1;
        int kind = -1;
        if (check_object(c, e, P, "a probe", probe_keys)) {
            char *ks = NULL;
            const cJSON *kn = get(e, "kind");
            if (!kn) {
                missing(c, e, P, "kind", "(http, command or lb_health)");
            } else if (get_text(c, e, "kind", P, 32, &ks) > 0) {
                for (int k = 0; probe_kinds[k]; k++)
                    if (strcmp(ks, probe_kinds[k]) == 0)
                        kind = k;
                if (kind < 0) {
                    char *kp = path_key(P, "kind");
                    const char *sg = zd_suggest(ks, probe_kinds);
                    diag(c, off_of(c, kn), kp, "unknown probe kind '%s'%s%s%s", ks,
                         sg ? " (did you mean '" : "", sg ? sg : "",
                         sg ? "'?)" : " (http, command or lb_health)");
                    free(kp);
                }
            }
            free(ks);
            p->kind = kind < 0 ? SCN_PROBE_HTTP : (enum scn_probe_kind)kind;
            get_text(c, e, "name", P, SCN_MAX_NAME, &p->name);
            get_dur_range(c, e, "interval", P, 10000, false, 60 * 60 * SEC, &p->interval_us);
            get_dur_range(c, e, "timeout", P, 0, true, 5 * 60 * SEC, &p->timeout_us);
            /* keys of other kinds */
            static const struct {
                const char *key;
                int kind;
            } own[] = {{"url", SCN_PROBE_HTTP},       {"status", SCN_PROBE_HTTP},
                       {"body", SCN_PROBE_HTTP},      {"command", SCN_PROBE_COMMAND},
                       {"zone", SCN_PROBE_LB_HEALTH}, {"min_healthy", SCN_PROBE_LB_HEALTH}};
            if (kind >= 0) {
                for (size_t k = 0; k < ZD_ARRAY_LEN(own); k++) {
                    const cJSON *m = get(e, own[k].key);
                    if (m && own[k].kind != kind) {
                        char *kp = path_key(P, own[k].key);
                        diag(c, key_off_of(c, m), kp, "'%s' does not apply to %s %s probe",
                             own[k].key, kind == SCN_PROBE_HTTP ? "an" : "a", probe_kinds[kind]);
                        free(kp);
                    }
                }
            }
            if (kind == SCN_PROBE_HTTP) {
                const cJSON *un = get(e, "url");
                if (!un) {
                    missing(c, e, P, "url", "(what the http probe fetches)");
                } else if (get_text(c, e, "url", P, SCN_MAX_STRING, &p->url) > 0) {
                    char *up = path_key(P, "url");
                    if (!check_url(c, un, up, "url", p->url)) {
                        free(p->url);
                        p->url = NULL;
                    }
                    free(up);
                }
                const cJSON *sn = get(e, "status");
                if (sn) {
                    char *sp = path_key(P, "status");
                    status_node(c, sn, sp, &p->status);
                    free(sp);
                }
                get_regex(c, e, "body", P, &p->body);
            } else if (kind == SCN_PROBE_COMMAND) {
                if (get_text(c, e, "command", P, SCN_MAX_STRING, &p->command) == 0)
                    missing(c, e, P, "command", "(a shell command; the probe passes on exit 0)");
            } else if (kind == SCN_PROBE_LB_HEALTH) {
                if (get_text(c, e, "zone", P, SCN_MAX_NAME + 1, &p->zone) > 0) {
                    char *zp = path_key(P, "zone");
                    check_zone(c, get(e, "zone"), zp, p->zone);
                    free(zp);
                }
                get_u32(c, e, "min_healthy", P, 0, 100000, &p->min_healthy);
            }
            if (p->name) {
                for (size_t j = 0; j < i; j++) {
                    if (s->probes[j].name && strcmp(s->probes[j].name, p->name) == 0) {
                        char *np = path_key(P, "name");
                        diag(c, off_of(c, get(e, "name")), np,
                             "probe name '%s' is already used by $.probes[%zu]", p->name, j);
                        free(np);
                        break;
                    }
                }
            }
        }
        if (!p->name)
            p->name = xasprintf("%s-%zu", kind >= 0 ? probe_kinds[kind] : "probe", i + 1);
        free(P);
    }
}

/* ---- the whole file ------------------------------------------------------------------------- */

static const char *const top_keys[] = {"name",         "description", "vars",   "target", "load",
                                       "steady_state", "warmup",      "settle", "steps",  "probes",
                                       "guards",       "expect",      NULL};

static void parse_root(struct ctx *c, const cJSON *root)
{
    struct scn_scenario *s = c->s;
    s->warmup_us = 10 * SEC;
    s->settle_us = 10 * SEC;
    if (!cJSON_IsObject(root)) {
        diag(c, off_of(c, root), "$", "a scenario must be a JSON object ({...}), not %s",
             type_name(root));
        return;
    }
    check_object(c, root, "$", "the scenario", top_keys);
    parse_vars(c, get(root, "vars"));

    const cJSON *nn = get(root, "name");
    if (!nn) {
        missing(c, root, "$", "name", "(lowercase letters, digits, '.', '_' and '-')");
    } else if (get_text(c, root, "name", "$", SCN_MAX_NAME + 64, &s->name) > 0) {
        bool ok = strlen(s->name) <= SCN_MAX_NAME;
        for (const char *q = s->name; *q; q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '.' || *q == '_' ||
                  *q == '-'))
                ok = false;
        if (!ok)
            diag(c, off_of(c, nn), "$.name",
                 "name '%s' must be lowercase letters, digits, '.', '_' and '-' (at most %d)",
                 s->name, SCN_MAX_NAME);
    }
    get_str(c, root, "description", "$", SCN_MAX_STRING, &s->description);

    const cJSON *tn = get(root, "target");
    if (!tn)
        missing(c, root, "$", "target", "(where to break things: {\"kind\": \"lab\", ...})");
    parse_target(c, tn);
    parse_load(c, get(root, "load"), root);
    parse_steady(c, get(root, "steady_state"));
    get_dur_range(c, root, "warmup", "$", 0, false, 60 * 60 * SEC, &s->warmup_us);
    get_dur_range(c, root, "settle", "$", 0, false, 60 * 60 * SEC, &s->settle_us);
    if (get(root, "warmup") && s->warmup_us < s->steady.window_us)
        diag(c, off_of(c, get(root, "warmup")), "$.warmup",
             "'warmup' must be at least one steady_state window (%gs): the baseline is measured "
             "over it",
             (double)s->steady.window_us / 1e6);
    parse_guards(c, get(root, "guards"));
    parse_steps(c, get(root, "steps"));
    parse_probes(c, get(root, "probes"));
    parse_expect(c, get(root, "expect"));

    uint64_t end = s->warmup_us;
    for (size_t i = 0; i < s->nsteps; i++)
        if (s->steps[i].at_us + s->steps[i].for_us > end)
            end = s->steps[i].at_us + s->steps[i].for_us;
    s->duration_us = end + s->settle_us;
    if (c->nerr == 0 && s->duration_us > s->guards.max_duration_us) {
        char a[32], b[32];
        const cJSON *sn = get(root, "settle");
        diag(c, sn ? off_of(c, sn) : off_of(c, root), sn ? "$.settle" : "$",
             "the run takes %s (the last fault ends, then settle), more than "
             "guards.max_duration (%s)",
             zd_fmt_duration(s->duration_us, a, sizeof(a)),
             zd_fmt_duration(s->guards.max_duration_us, b, sizeof(b)));
    }
    if (s->nsteps > 1)
        qsort(s->steps, s->nsteps, sizeof(*s->steps), step_cmp);
}

void scn_free(struct scn_scenario *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->name);
    free(s->description);
    struct scn_target *t = &s->target;
    free(t->url);
    for (size_t i = 0; i < t->nzones; i++) {
        free(t->zones[i].name);
        for (size_t j = 0; j < t->zones[i].nhosts; j++)
            free(t->zones[i].hosts[j]);
        free(t->zones[i].hosts);
    }
    free(t->zones);
    free(t->lab_dir);
    free(t->ssh_user);
    free(t->ssh_key);
    free(t->ssh_known_hosts);
    free(t->ssh_service);
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
        diag(&c, NO_OFF, NULL, "file is %zu bytes, larger than the limit of %u bytes (1 MiB)", len,
             SCN_MAX_FILE_BYTES);
        goto fail;
    }
    size_t ws = 0;
    while (ws < c.len && strchr(" \t\r\n", c.text[ws]) && c.text[ws])
        ws++;
    if (ws == c.len) {
        diag(&c, NO_OFF, NULL, "file is empty (a scenario is a JSON object: {\"name\": ...})");
        goto fail;
    }
    if (jp_precheck(c.text, c.len, SCN_MAX_DEPTH, &bad, &what) < 0) {
        if (strcmp(what, "nesting too deep") == 0)
            diag(&c, bad, NULL, "nesting too deep: more than %d levels of arrays and objects",
                 SCN_MAX_DEPTH);
        else
            diag(&c, bad, NULL, "%s", what);
        goto fail;
    }
    if (jp_syntax(c.text, c.len, &bad, &what) < 0) {
        diag(&c, bad, NULL, "syntax error: %s", what);
        goto fail;
    }
    /* not require_null_terminated: cJSON 1.7.15 then wants the NUL inside `len` */
    root = cJSON_ParseWithLengthOpts(c.text, c.len, NULL, 0);
    if (!root) {
        /* jp_syntax accepted it, so this is cJSON running out of memory or a disagreement */
        diag(&c, NO_OFF, NULL, "cannot parse the JSON (cJSON failed on text that looks valid)");
        goto fail;
    }
    size_t nv = jp_scan(c.text, c.len, &vals);
    c.pos = xcalloc(nv ? nv : 1, sizeof(*c.pos));
    size_t idx = 0;
    pair_nodes(root, vals, nv, &idx, c.pos, &c.npos);
    if (idx != nv) {
        /* the scanner and cJSON disagree: positions would be wrong, so use none */
        c.npos = 0;
    }
    qsort(c.pos, c.npos, sizeof(*c.pos), npos_cmp);

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
        diag(&c, NO_OFF, NULL, "invalid scenario");
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
