/*
 * values: the parser's toolbox. Diagnostics ("file:line:col: message (at $.path)"), the
 * positions of cJSON nodes in the text, JSON paths for messages, "${var}" substitution, and the
 * typed getters every section uses: strings, durations, numbers, key/value maps, paths, URLs,
 * regexes and status codes. Each getter checks the type, the range and the limit, and reports
 * what is wrong where it is.
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

void ZD_PRINTF(4, 5) sp_diag(struct ctx *c, size_t off, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag(c, off, path, fmt, ap);
    va_end(ap);
}

/* ---- positions --------------------------------------------------------------------------- */

int sp_npos_cmp(const void *a, const void *b)
{
    const struct npos *x = a, *y = b;
    return x->node < y->node ? -1 : x->node > y->node ? 1 : 0;
}

void sp_pair_nodes(const cJSON *n, const struct jp_value *v, size_t nv, size_t *i, struct npos *out,
                   size_t *nout)
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
            sp_pair_nodes(n->child, v, nv, i, out, nout);
    }
}

static const struct npos *find_pos(const struct ctx *c, const cJSON *n)
{
    struct npos key = {n, 0, 0};
    return c->pos ? bsearch(&key, c->pos, c->npos, sizeof(*c->pos), sp_npos_cmp) : NULL;
}

size_t sp_off_of(const struct ctx *c, const cJSON *n)
{
    const struct npos *p = find_pos(c, n);
    return p ? p->off : NO_OFF;
}

size_t sp_key_off_of(const struct ctx *c, const cJSON *n)
{
    const struct npos *p = find_pos(c, n);
    return p ? (p->key_off != JP_NO_KEY ? p->key_off : p->off) : NO_OFF;
}

struct scn_loc sp_loc_of(struct ctx *c, const cJSON *n)
{
    struct scn_loc l = {0, 0};
    size_t off = sp_off_of(c, n);
    if (off != NO_OFF) {
        size_t o = off;
        jp_linecol(c->text, c->len, o, o >= c->cur.off ? &c->cur : NULL, &l.line, &l.col);
    }
    return l;
}

/* ---- paths and types --------------------------------------------------------------------- */

/* "$.a.b", or "$.a[\"odd key\"]" when the key is not a plain name */
char *sp_path_key(const char *path, const char *key)
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

char *sp_path_idx(const char *path, size_t i)
{
    return xasprintf("%s[%zu]", path, i);
}

const char *sp_type_name(const cJSON *n)
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

const cJSON *sp_get(const cJSON *obj, const char *key)
{
    return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/*
 * Checks the keys of `obj` against `known` (NULL-terminated): unknown keys (with a suggestion)
 * and duplicates are errors at the key. `other` (may be NULL) lists keys that exist elsewhere in
 * the same kind of object and gets its own message through `other_msg` ("does not apply to ...").
 * Returns false when obj is not an object (after saying so).
 */
bool sp_check_object(struct ctx *c, const cJSON *obj, const char *path, const char *what,
                     const char *const *known)
{
    if (!cJSON_IsObject(obj)) {
        sp_diag(c, sp_off_of(c, obj), path, "%s must be an object, not %s", what,
                sp_type_name(obj));
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
            struct scn_loc l = sp_loc_of(c, first);
            char *kp = sp_path_key(path, m->string);
            sp_diag(c, sp_key_off_of(c, m), kp, "duplicate key '%s' (first at %d:%d)", m->string,
                    l.line, l.col);
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
        char *kp = sp_path_key(path, m->string);
        const char *s = zd_suggest(m->string, known);
        if (s)
            sp_diag(c, sp_key_off_of(c, m), kp, "unknown key '%s' in %s (did you mean '%s'?)",
                    m->string, what, s);
        else
            sp_diag(c, sp_key_off_of(c, m), kp, "unknown key '%s' in %s", m->string, what);
        free(kp);
    }
    return true;
}

void sp_missing(struct ctx *c, const cJSON *obj, const char *path, const char *key, const char *why)
{
    sp_diag(c, sp_off_of(c, obj), path, "missing required key '%s'%s%s", key, why ? " " : "",
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
void sp_parse_vars(struct ctx *c, const cJSON *vars)
{
    if (vars) {
        if (!cJSON_IsObject(vars)) {
            sp_diag(c, sp_off_of(c, vars), "$.vars", "'vars' must be an object, not %s",
                    sp_type_name(vars));
        } else {
            size_t n = 0;
            for (const cJSON *m = vars->child; m; m = m->next, n++) {
                char *kp = sp_path_key("$.vars", m->string);
                if (n == SCN_MAX_VARS) {
                    sp_diag(c, sp_key_off_of(c, m), kp, "too many variables (at most %d)",
                            SCN_MAX_VARS);
                    free(kp);
                    break;
                }
                char num[64];
                const char *val = NULL;
                if (strlen(m->string) > SCN_MAX_NAME)
                    sp_diag(c, sp_key_off_of(c, m), kp, "name is longer than %d characters",
                            SCN_MAX_NAME);
                else if (!valid_var_name(m->string, strlen(m->string)))
                    sp_diag(c, sp_key_off_of(c, m), kp,
                            "variable name '%s' must be letters, digits and '_' (not starting with "
                            "a digit), at most %d characters",
                            m->string, SCN_MAX_NAME);
                else if (cJSON_IsString(m))
                    val = m->valuestring;
                else if (cJSON_IsNumber(m) && isfinite(m->valuedouble)) {
                    snprintf(num, sizeof(num), "%.15g", m->valuedouble);
                    val = num;
                } else
                    sp_diag(c, sp_off_of(c, m), kp,
                            "variable '%s' must be a string or a number, not %s", m->string,
                            sp_type_name(m));
                if (val && strlen(val) > SCN_MAX_STRING) {
                    sp_diag(c, sp_off_of(c, m), kp, "variable '%s' is longer than %d bytes",
                            m->string, SCN_MAX_STRING);
                    val = NULL;
                }
                if (val && var_find(c->s, m->string, strlen(m->string))) {
                    sp_diag(c, sp_key_off_of(c, m), kp, "duplicate variable '%s'", m->string);
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
            sp_diag(c, NO_OFF, NULL,
                    "--var '%s' must look like name=value (name: letters, digits, '_')",
                    kv ? kv : "");
            continue;
        }
        if (strlen(eq + 1) > SCN_MAX_STRING) {
            sp_diag(c, NO_OFF, NULL, "--var '%.*s' is longer than %d bytes", (int)(eq - kv), kv,
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
    size_t qoff = sp_off_of(c, n);
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
                sp_diag(c, AT(), path,
                        "'${' without a closing '}' (write '$${' for a literal '${')");
                rc = -1;
                break;
            }
            const char *name = s + i + 2;
            size_t nl = (size_t)(end - name);
            if (!valid_var_name(name, nl)) {
                sp_diag(c, AT(), path, "bad variable name '%.*s' (letters, digits and '_')",
                        (int)nl, name);
                rc = -1;
            } else {
                const char *v = var_get(c, name, nl);
                if (!v) {
                    sp_diag(c, AT(), path,
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
        if (max == 4 * SCN_MAX_NAME) /* a name (sp_str_node): its own message at every length */
            sp_diag(c, qoff, path, "name is longer than %d characters%s", SCN_MAX_NAME,
                    var ? " after substituting variables" : "");
        else
            sp_diag(c, qoff, path, "string is longer than %zu bytes%s", max,
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

int sp_str_node(struct ctx *c, const cJSON *n, const char *path, const char *key, size_t max,
                char **out)
{
    if (!cJSON_IsString(n)) {
        sp_diag(c, sp_off_of(c, n), path, "'%s' must be a string, not %s", key, sp_type_name(n));
        return -1;
    }
    if (max != SCN_MAX_NAME)
        return subst(c, n, path, max, out, NULL) == 0 ? 1 : -1;
    /* a name: at most SCN_MAX_NAME characters (UTF-8 ones, not bytes), and the same message at
     * every length (4 bytes a character is the most UTF-8 takes) */
    char *v = NULL;
    bool had = false;
    if (subst(c, n, path, 4 * SCN_MAX_NAME, &v, &had) < 0)
        return -1;
    size_t chars = 0;
    for (const unsigned char *q = (const unsigned char *)v; *q; q++)
        chars += (*q & 0xc0) != 0x80;
    if (chars > SCN_MAX_NAME) {
        sp_diag(c, sp_off_of(c, n), path, "name is longer than %d characters%s", SCN_MAX_NAME,
                had ? " after substituting variables" : "");
        free(v);
        return -1;
    }
    *out = v;
    return 1;
}

int sp_get_str(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t max,
               char **out)
{
    const cJSON *n = sp_get(obj, key);
    if (!n)
        return 0;
    char *p = sp_path_key(path, key);
    int r = sp_str_node(c, n, p, key, max, out);
    free(p);
    return r;
}

/* A non-empty string without control characters (names, hosts, paths). */
int sp_get_text(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t max,
                char **out)
{
    char *v = NULL;
    int r = sp_get_str(c, obj, key, path, max, &v);
    if (r <= 0)
        return r;
    const char *bad = NULL;
    if (!*v)
        bad = "must not be empty";
    for (const unsigned char *q = (const unsigned char *)v; *q && !bad; q++)
        if (*q < 0x20 || *q == 0x7f)
            bad = "must not contain control characters";
    if (bad) {
        char *p = sp_path_key(path, key);
        sp_diag(c, sp_off_of(c, sp_get(obj, key)), p, "'%s' %s", key, bad);
        free(p);
        free(v);
        return -1;
    }
    *out = v;
    return 1;
}

/* A path option: a leading "~/" means $HOME, as in a shell. Returns what get_text returns. */
int sp_get_path(struct ctx *c, const cJSON *obj, const char *key, const char *path, char **out)
{
    char *v = NULL;
    int r = sp_get_text(c, obj, key, path, SCN_MAX_STRING, &v);
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
            sp_diag(c, sp_off_of(c, n), path,
                    "'%s' must be a duration string like \"%gs\" or \"500ms\", not a number", key,
                    n->valuedouble);
        else
            sp_diag(c, sp_off_of(c, n), path, "'%s' must be a duration string like \"30s\", not %s",
                    key, sp_type_name(n));
        return -1;
    }
    char *v = NULL;
    if (subst(c, n, path, 64, &v, NULL) < 0)
        return -1;
    char *err = NULL;
    uint64_t us = 0;
    int r = 1;
    if (zd_parse_duration(v, &us, &err) < 0) {
        sp_diag(c, sp_off_of(c, n), path, "'%s': %s", key, err);
        r = -1;
    } else {
        *out = us;
    }
    free(err);
    free(v);
    return r;
}

int sp_get_dur(struct ctx *c, const cJSON *obj, const char *key, const char *path, uint64_t *out)
{
    const cJSON *n = sp_get(obj, key);
    if (!n)
        return 0;
    char *p = sp_path_key(path, key);
    int r = dur_node(c, n, p, key, out);
    free(p);
    return r;
}

/* A duration that must be in (lo, hi] (lo_excl) or [lo, hi]. */
int sp_get_dur_range(struct ctx *c, const cJSON *obj, const char *key, const char *path,
                     uint64_t lo, bool lo_excl, uint64_t hi, uint64_t *out)
{
    uint64_t us = 0;
    int r = sp_get_dur(c, obj, key, path, &us);
    if (r <= 0)
        return r;
    char a[32], b[32], g[32];
    if ((lo_excl && us <= lo) || (!lo_excl && us < lo) || us > hi) {
        char *p = sp_path_key(path, key);
        if (lo_excl && lo == 0)
            sp_diag(c, sp_off_of(c, sp_get(obj, key)), p,
                    "'%s' must be more than 0 and at most %s (got %s)", key,
                    zd_fmt_duration(hi, b, sizeof(b)), zd_fmt_duration(us, g, sizeof(g)));
        else
            sp_diag(c, sp_off_of(c, sp_get(obj, key)), p, "'%s' must be between %s and %s (got %s)",
                    key, zd_fmt_duration(lo, a, sizeof(a)), zd_fmt_duration(hi, b, sizeof(b)),
                    zd_fmt_duration(us, g, sizeof(g)));
        free(p);
        return -1;
    }
    *out = us;
    return 1;
}

/* A number in [lo, hi] (or (lo, hi] with lo_excl); a string holding only variables counts. */
int sp_get_num(struct ctx *c, const cJSON *obj, const char *key, const char *path, double lo,
               bool lo_excl, double hi, bool whole, double *out)
{
    const cJSON *n = sp_get(obj, key);
    if (!n)
        return 0;
    char *p = sp_path_key(path, key);
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
                sp_diag(c, sp_off_of(c, n), p, "'%s' must be a number; its variables give '%s'",
                        key, s);
                r = -1;
            }
            free(s);
        }
    } else {
        sp_diag(c, sp_off_of(c, n), p, "'%s' must be a number, not %s", key, sp_type_name(n));
        r = -1;
    }
    if (r == 1 && !isfinite(v)) {
        sp_diag(c, sp_off_of(c, n), p, "'%s' is not a finite number", key);
        r = -1;
    }
    if (r == 1 && whole && v != floor(v)) {
        sp_diag(c, sp_off_of(c, n), p, "'%s' must be a whole number (got %g)", key, v);
        r = -1;
    }
    if (r == 1 && ((lo_excl && v <= lo) || (!lo_excl && v < lo) || v > hi)) {
        if (lo_excl)
            sp_diag(c, sp_off_of(c, n), p,
                    "'%s' must be more than %.10g and at most %.10g (got %.10g)", key, lo, hi, v);
        else
            sp_diag(c, sp_off_of(c, n), p, "'%s' must be between %.10g and %.10g (got %.10g)", key,
                    lo, hi, v);
        r = -1;
    }
    if (r == 1)
        *out = v;
    free(p);
    return r;
}

int sp_get_u32(struct ctx *c, const cJSON *obj, const char *key, const char *path, uint32_t lo,
               uint32_t hi, uint32_t *out)
{
    double v = 0;
    int r = sp_get_num(c, obj, key, path, lo, false, hi, true, &v);
    if (r == 1)
        *out = (uint32_t)v;
    return r;
}

int sp_get_bool(struct ctx *c, const cJSON *obj, const char *key, const char *path, bool *out)
{
    const cJSON *n = sp_get(obj, key);
    if (!n)
        return 0;
    if (!cJSON_IsBool(n)) {
        char *p = sp_path_key(path, key);
        sp_diag(c, sp_off_of(c, n), p, "'%s' must be true or false, not %s", key, sp_type_name(n));
        free(p);
        return -1;
    }
    *out = cJSON_IsTrue(n);
    return 1;
}

/* An object of string values -> kv list. */
int sp_get_kv(struct ctx *c, const cJSON *obj, const char *key, const char *path, size_t maxn,
              bool header, struct scn_kv **out, size_t *nout)
{
    const cJSON *n = sp_get(obj, key);
    if (!n)
        return 0;
    char *p = sp_path_key(path, key);
    int r = 1;
    if (!cJSON_IsObject(n)) {
        sp_diag(c, sp_off_of(c, n), p, "'%s' must be an object of strings, not %s", key,
                sp_type_name(n));
        free(p);
        return -1;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(n), cap = 0;
    if (cnt > maxn) {
        sp_diag(c, sp_off_of(c, n), p, "'%s' has %zu entries, more than the limit of %zu", key, cnt,
                maxn);
        free(p);
        return -1;
    }
    for (const cJSON *m = n->child; m; m = m->next) {
        char *mp = sp_path_key(p, m->string);
        char *v = NULL;
        bool bad_name = !*m->string || strlen(m->string) > SCN_MAX_NAME;
        for (const unsigned char *q = (const unsigned char *)m->string; header && *q; q++)
            if (*q <= 0x20 || *q >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *q))
                bad_name = true;
        if (bad_name) {
            sp_diag(c, sp_key_off_of(c, m), mp, "'%s' is not a valid %s name", m->string,
                    header ? "header" : "tag");
            r = -1;
        } else if (sp_str_node(c, m, mp, m->string, SCN_MAX_STRING, &v) < 0) {
            r = -1;
        } else if (header && (strchr(v, '\r') || strchr(v, '\n'))) {
            sp_diag(c, sp_off_of(c, m), mp, "header '%s' must not contain a line break", m->string);
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

bool sp_check_url(struct ctx *c, const cJSON *n, const char *path, const char *key, const char *url)
{
    const char *rest = NULL;
    if (zd_str_has_prefix(url, "http://"))
        rest = url + 7;
    else if (zd_str_has_prefix(url, "https://"))
        rest = url + 8;
    if (!rest) {
        sp_diag(c, sp_off_of(c, n), path, "'%s' must start with http:// or https:// (got '%s')",
                key, url);
        return false;
    }
    if (!*rest || *rest == '/' || *rest == ':' || strpbrk(url, " \t\r\n")) {
        sp_diag(c, sp_off_of(c, n), path, "'%s' is not a valid URL: '%s'", key, url);
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
    size_t off = sp_off_of(c, n);
    if (off != NO_OFF && !had_var)
        off = jp_string_byte_off(c->text, c->len, off, eoff);
    sp_diag(c, off, path, "invalid regex: %s (at offset %zu of the pattern)", (const char *)msg,
            (size_t)eoff);
    return false;
}

int sp_get_regex(struct ctx *c, const cJSON *obj, const char *key, const char *path, char **out)
{
    const cJSON *n = sp_get(obj, key);
    if (!n)
        return 0;
    char *p = sp_path_key(path, key);
    int r = -1;
    if (!cJSON_IsString(n)) {
        sp_diag(c, sp_off_of(c, n), p, "'%s' must be a string (a regex), not %s", key,
                sp_type_name(n));
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

bool sp_status_node(struct ctx *c, const cJSON *n, const char *path, struct scn_status *st)
{
    if (cJSON_IsNumber(n)) {
        double v = n->valuedouble;
        if (v == floor(v) && v >= 100 && v <= 599) {
            st->lo = st->hi = (int)v;
            return true;
        }
        sp_diag(c, sp_off_of(c, n), path, "status %g is not an HTTP status code (100-599)", v);
        return false;
    }
    if (cJSON_IsString(n)) {
        char *s = NULL;
        if (subst(c, n, path, 64, &s, NULL) < 0)
            return false;
        bool ok = parse_status_str(s, st);
        if (!ok)
            sp_diag(c, sp_off_of(c, n), path,
                    "status '%s' must be a code (200), a class (\"2xx\") or a range (\"200-204\")",
                    s);
        free(s);
        return ok;
    }
    sp_diag(c, sp_off_of(c, n), path,
            "'status' must be a code, a class like \"2xx\" or a list, not %s", sp_type_name(n));
    return false;
}
