/*
 * journal: the write-ahead JSON-lines record of a run (see journal.h for the contract).
 *
 * Writing: records are built with sbuf (JSON strings escaped by sbuf_add_json_str) and go out
 * with one write(2) each on an O_APPEND descriptor followed by fsync(2), so a record is durable
 * before the action it guards starts. A crash can only tear the last line.
 *
 * Reading: cJSON, line by line. A torn or unparsable *last* line is what a crash in the middle
 * of a write leaves and is ignored (noted in `torn`); any other damaged line is an error that
 * names it. cJSON stays inside this file.
 */
#include "run/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/trust.h"
#include "base/util.h"

#include "base/banned.h"

struct journal {
    int fd;
    char *path;
};

/* A crash can leave the last record without its newline (a torn write). Before appending, cut
 * it off: its action never started (records are durable before their action), and appending
 * after it would glue two records into one damaged line. */
static int drop_torn_tail(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    off_t end = st.st_size;
    char buf[4096];
    while (end > 0) {
        size_t n = end > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)end;
        ssize_t r = pread(fd, buf, n, end - (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)n)
            return -1;
        for (size_t i = n; i-- > 0;) {
            if (buf[i] == '\n') {
                off_t keep = end - (off_t)n + (off_t)i + 1;
                return keep == st.st_size ? 0 : ftruncate(fd, keep);
            }
        }
        end -= (off_t)n;
    }
    return st.st_size == 0 ? 0 : ftruncate(fd, 0);
}

static struct journal *journal_on(int fd, const char *path)
{
    struct journal *j = xcalloc(1, sizeof(*j));
    j->fd = fd;
    j->path = xstrdup(path);
    return j;
}

/* Splits "DIR/NAME" into its directory (the trust root) and its file name. */
static char *dir_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    return slash ? xstrndup(path, (size_t)(slash == path ? 1 : slash - path)) : xstrdup(".");
}

struct journal *jn_open(const char *path, bool append, char **err)
{
    int fd;
    if (!append) {
        /* a new journal: O_EXCL | O_NOFOLLOW, so nothing planted at the path is written to */
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            zd_err(err, "cannot open journal '%s': %s", path, strerror(errno));
            return NULL;
        }
        return journal_on(fd, path);
    }
    const char *base;
    char *dir = dir_of(path, &base);
    fd = zd_open_trusted(dir, base, O_RDWR | O_APPEND, NULL, err);
    free(dir);
    if (fd < 0)
        return NULL;
    if (drop_torn_tail(fd) < 0) {
        zd_err(err, "cannot repair journal '%s': %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    return journal_on(fd, path);
}

void jn_close(struct journal *j)
{
    if (!j)
        return;
    close(j->fd);
    free(j->path);
    free(j);
}

int jn_append(struct journal *j, const char *json, char **err)
{
    size_t len = strlen(json);
    if (memchr(json, '\n', len))
        return zd_err(err, "journal record spans lines");
    char *line = xmalloc(len + 1);
    memcpy(line, json, len);
    line[len] = '\n';
    size_t off = 0;
    while (off < len + 1) {
        ssize_t w = write(j->fd, line + off, len + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            free(line);
            return zd_err(err, "cannot write journal '%s': %s", j->path, strerror(e));
        }
        off += (size_t)w;
    }
    free(line);
    while (fsync(j->fd) < 0) {
        if (errno != EINTR)
            return zd_err(err, "cannot fsync journal '%s': %s", j->path, strerror(errno));
    }
    return 0;
}

/* ---- writers ---- */

static void add_u64(struct sbuf *sb, const char *key, uint64_t v)
{
    sbuf_addf(sb, ",\"%s\":%llu", key, (unsigned long long)v);
}

static void add_dbl(struct sbuf *sb, const char *key, double v)
{
    sbuf_addf(sb, ",\"%s\":%.17g", key, v);
}

static void add_str(struct sbuf *sb, const char *key, const char *v)
{
    sbuf_addf(sb, ",\"%s\":", key);
    if (v) {
        char *red = zd_text_redact(v); /* summaries, errors, details: no password of a URL */
        sbuf_add_json_str(sb, red);
        free(red);
    } else
        sbuf_adds(sb, "null");
}

static int finish(struct journal *j, struct sbuf *sb, char **err)
{
    sbuf_addc(sb, '}');
    int rc = jn_append(j, sbuf_str(sb), err);
    sbuf_free(sb);
    return rc;
}

static void begin(struct sbuf *sb, const char *type)
{
    sbuf_init(sb, 0);
    sbuf_adds(sb, "{\"type\":");
    sbuf_add_json_str(sb, type);
}

int jn_rec_start(struct journal *j, const struct jn_start *s, char **err)
{
    struct sbuf sb;
    begin(&sb, "start");
    add_u64(&sb, "v", JN_VERSION);
    add_str(&sb, "zonedef", ZD_VERSION);
    add_str(&sb, "scenario_path", s->scenario_path);
    add_str(&sb, "scenario", s->scenario_name);
    add_str(&sb, "target_kind", s->target_kind);
    add_str(&sb, "target_key", s->target_key);
    add_str(&sb, "run_dir", s->run_dir);
    add_u64(&sb, "wall_us", s->wall_us);
    add_u64(&sb, "mono_us", s->mono_us);
    add_u64(&sb, "interval_us", s->interval_us);
    add_dbl(&sb, "rate", s->rate);
    add_u64(&sb, "warmup_us", s->warmup_us);
    add_u64(&sb, "settle_us", s->settle_us);
    sbuf_adds(&sb, ",\"steady\":{\"x\":0");
    add_dbl(&sb, "error_rate", s->steady.error_rate);
    add_u64(&sb, "p99_us", s->steady.p99_us);
    add_u64(&sb, "window_us", s->steady.window_us);
    add_u64(&sb, "hold_us", s->steady.hold_us);
    sbuf_adds(&sb, "},\"expect\":{\"x\":0");
    add_u64(&sb, "recovery_us", s->expect.recovery_us);
    add_u64(&sb, "detect_us", s->expect.detect_us);
    add_dbl(&sb, "availability", s->expect.availability);
    add_dbl(&sb, "max_error_rate", s->expect.max_error_rate);
    add_u64(&sb, "p99_us", s->expect.p99_us);
    add_dbl(&sb, "min_score", s->expect.min_score);
    sbuf_adds(&sb, "},\"steps\":[");
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct jn_step *st = &s->steps[i];
        sbuf_adds(&sb, i ? ",{\"x\":0" : "{\"x\":0");
        add_str(&sb, "name", st->name);
        add_str(&sb, "fault", st->fault);
        add_u64(&sb, "at_us", st->at_us);
        add_u64(&sb, "for_us", st->for_us);
        add_u64(&sb, "expect_recovery_us", st->expect_recovery_us);
        add_u64(&sb, "expect_detect_us", st->expect_detect_us);
        add_dbl(&sb, "expect_max_error_rate", st->expect_max_error_rate);
        sbuf_addc(&sb, '}');
    }
    sbuf_addc(&sb, ']');
    return finish(j, &sb, err);
}

int jn_rec_phase(struct journal *j, const char *phase, uint64_t t_us, char **err)
{
    struct sbuf sb;
    begin(&sb, "phase");
    add_str(&sb, "phase", phase);
    add_u64(&sb, "t_us", t_us);
    add_u64(&sb, "wall_us", zd_wall_us());
    return finish(j, &sb, err);
}

int jn_rec_intent(struct journal *j, int step, const char *name, const char *fault, uint64_t for_us,
                  const char *action_json, const char *summary, uint64_t t_us, uint64_t wall_us,
                  char **err)
{
    cJSON *a = cJSON_Parse(action_json ? action_json : "");
    if (!a || !cJSON_IsObject(a)) {
        cJSON_Delete(a);
        return zd_err(err, "the target's action for step %d is not a JSON object", step);
    }
    struct sbuf sb;
    begin(&sb, "intent");
    add_u64(&sb, "step", (uint64_t)step);
    add_str(&sb, "name", name);
    add_str(&sb, "fault", fault);
    add_u64(&sb, "for_us", for_us);
    add_str(&sb, "summary", summary);
    add_u64(&sb, "t_us", t_us);
    add_u64(&sb, "wall_us", wall_us);
    sbuf_adds(&sb, ",\"action\":");
    if (strchr(action_json, '\n') || strchr(action_json, '\r')) {
        char *c = cJSON_PrintUnformatted(a);
        sbuf_adds(&sb, c);
        cJSON_free(c);
    } else {
        sbuf_adds(&sb, action_json);
    }
    cJSON_Delete(a);
    return finish(j, &sb, err);
}

int jn_rec_applied(struct journal *j, int step, bool ok, const char *error, const char *note,
                   uint64_t t_us, uint64_t wall_us, char **err)
{
    struct sbuf sb;
    begin(&sb, "applied");
    add_u64(&sb, "step", (uint64_t)step);
    sbuf_addf(&sb, ",\"ok\":%s", ok ? "true" : "false");
    add_str(&sb, "error", error);
    if (note)
        add_str(&sb, "note", note);
    add_u64(&sb, "t_us", t_us);
    add_u64(&sb, "wall_us", wall_us);
    return finish(j, &sb, err);
}

int jn_rec_undo_intent(struct journal *j, int step, const char *by, uint64_t t_us, uint64_t wall_us,
                       char **err)
{
    struct sbuf sb;
    begin(&sb, "undo_intent");
    add_u64(&sb, "step", (uint64_t)step);
    add_str(&sb, "by", by);
    add_u64(&sb, "t_us", t_us);
    add_u64(&sb, "wall_us", wall_us);
    return finish(j, &sb, err);
}

int jn_rec_undone(struct journal *j, int step, bool ok, const char *error, const char *by,
                  uint64_t t_us, uint64_t wall_us, char **err)
{
    struct sbuf sb;
    begin(&sb, "undone");
    add_u64(&sb, "step", (uint64_t)step);
    sbuf_addf(&sb, ",\"ok\":%s", ok ? "true" : "false");
    add_str(&sb, "error", error);
    add_str(&sb, "by", by);
    add_u64(&sb, "t_us", t_us);
    add_u64(&sb, "wall_us", wall_us);
    return finish(j, &sb, err);
}

int jn_rec_interval(struct journal *j, size_t index, const struct tl_stats *st, char **err)
{
    struct sbuf sb;
    begin(&sb, "interval");
    add_u64(&sb, "i", index);
    add_u64(&sb, "t_us", st->start_us);
    add_u64(&sb, "len_us", st->len_us);
    add_u64(&sb, "total", st->total);
    add_u64(&sb, "errors", st->errors);
    sbuf_adds(&sb, ",\"counts\":{");
    bool first = true;
    for (int o = 0; o < TL_OUTCOME__COUNT; o++) {
        if (!st->counts[o])
            continue;
        sbuf_addf(&sb, "%s\"%s\":%llu", first ? "" : ",", tl_outcome_name((enum tl_outcome)o),
                  (unsigned long long)st->counts[o]);
        first = false;
    }
    sbuf_addc(&sb, '}');
    add_u64(&sb, "p50_us", st->p50_us);
    add_u64(&sb, "p90_us", st->p90_us);
    add_u64(&sb, "p99_us", st->p99_us);
    add_u64(&sb, "p999_us", st->p999_us);
    add_u64(&sb, "max_us", st->max_us);
    add_dbl(&sb, "rate", st->target_rate);
    add_u64(&sb, "conns", st->conns_opened);
    add_u64(&sb, "retried", st->retried);
    return finish(j, &sb, err);
}

int jn_rec_probe(struct journal *j, const char *name, bool ok, const char *detail, uint64_t t_us,
                 char **err)
{
    struct sbuf sb;
    begin(&sb, "probe");
    add_str(&sb, "name", name);
    sbuf_addf(&sb, ",\"ok\":%s", ok ? "true" : "false");
    add_str(&sb, "detail", detail);
    add_u64(&sb, "t_us", t_us);
    return finish(j, &sb, err);
}

int jn_rec_guard(struct journal *j, const char *guard, const char *detail, uint64_t t_us,
                 char **err)
{
    struct sbuf sb;
    begin(&sb, "guard");
    add_str(&sb, "guard", guard);
    add_str(&sb, "detail", detail);
    add_u64(&sb, "t_us", t_us);
    add_u64(&sb, "wall_us", zd_wall_us());
    return finish(j, &sb, err);
}

int jn_rec_end(struct journal *j, const char *status, int exit_code, double score, bool passed,
               uint64_t t_us, uint64_t wall_us, char **err)
{
    struct sbuf sb;
    begin(&sb, "end");
    add_str(&sb, "status", status);
    add_u64(&sb, "exit_code", (uint64_t)exit_code);
    sbuf_addf(&sb, ",\"score\":%.1f", score);
    sbuf_addf(&sb, ",\"passed\":%s", passed ? "true" : "false");
    add_u64(&sb, "t_us", t_us);
    add_u64(&sb, "wall_us", wall_us);
    return finish(j, &sb, err);
}

void jn_load_fill(struct cJSON *o, const struct jn_load *l)
{
    cJSON_AddStringToObject(o, "engine", l->engine ? l->engine : "?");
    cJSON_AddStringToObject(o, "engine_why", l->engine_why ? l->engine_why : "");
    cJSON_AddNumberToObject(o, "connections", l->connections);
    cJSON_AddNumberToObject(o, "threads", l->threads);
    cJSON_AddNumberToObject(o, "connections_opened", (double)l->conns_opened);
    cJSON_AddNumberToObject(o, "retried", (double)l->retried);
    cJSON_AddNumberToObject(o, "bytes_received", (double)l->bytes_received);
    cJSON_AddNumberToObject(o, "achieved_rate", round(l->achieved_rate * 10.0) / 10.0);
    cJSON_AddNumberToObject(o, "send_lateness_p99_us", (double)l->lateness_p99_us);
    cJSON_AddNumberToObject(o, "send_lateness_max_us", (double)l->lateness_max_us);
    if (l->connects) {
        cJSON *c = cJSON_AddObjectToObject(o, "connect");
        cJSON_AddNumberToObject(c, "count", (double)l->connects);
        cJSON_AddNumberToObject(c, "p50_us", (double)l->connect_p50_us);
        cJSON_AddNumberToObject(c, "p99_us", (double)l->connect_p99_us);
    } else
        cJSON_AddNullToObject(o, "connect");
    if (l->tls_handshakes || l->tls_failed) {
        cJSON *t = cJSON_AddObjectToObject(o, "tls_handshake");
        cJSON_AddNumberToObject(t, "count", (double)l->tls_handshakes);
        cJSON_AddNumberToObject(t, "resumed", (double)l->tls_resumed);
        cJSON_AddNumberToObject(t, "failed", (double)l->tls_failed);
        cJSON_AddNumberToObject(t, "p50_us", (double)l->handshake_p50_us);
        cJSON_AddNumberToObject(t, "p99_us", (double)l->handshake_p99_us);
    } else
        cJSON_AddNullToObject(o, "tls_handshake");
}

int jn_rec_load(struct journal *j, const struct jn_load *l, uint64_t t_us, char **err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "load");
    jn_load_fill(o, l);
    cJSON_AddNumberToObject(o, "t_us", (double)t_us);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = jn_append(j, txt, err);
    cJSON_free(txt);
    return rc;
}

void jn_load_free(struct jn_load *l)
{
    if (!l)
        return;
    free(l->engine);
    free(l->engine_why);
    memset(l, 0, sizeof(*l));
}

/* ---- reading ---- */

static uint64_t get_u64(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 1.8e19)
        return 0;
    return (uint64_t)llround(v->valuedouble);
}

static double get_dbl(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : dflt;
}

static char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static bool get_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

void jn_load_read(const struct cJSON *o, struct jn_load *l)
{
    jn_load_free(l);
    l->engine = get_str(o, "engine");
    l->engine_why = get_str(o, "engine_why");
    l->connections = (uint32_t)get_u64(o, "connections");
    l->threads = (uint32_t)get_u64(o, "threads");
    l->conns_opened = get_u64(o, "connections_opened");
    l->retried = get_u64(o, "retried");
    l->bytes_received = get_u64(o, "bytes_received");
    l->achieved_rate = get_dbl(o, "achieved_rate", 0);
    l->lateness_p99_us = get_u64(o, "send_lateness_p99_us");
    l->lateness_max_us = get_u64(o, "send_lateness_max_us");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "connect");
    l->connects = get_u64(c, "count");
    l->connect_p50_us = get_u64(c, "p50_us");
    l->connect_p99_us = get_u64(c, "p99_us");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tls_handshake");
    l->tls_handshakes = get_u64(t, "count");
    l->tls_resumed = get_u64(t, "resumed");
    l->tls_failed = get_u64(t, "failed");
    l->handshake_p50_us = get_u64(t, "p50_us");
    l->handshake_p99_us = get_u64(t, "p99_us");
}

static struct jn_fault *fault_for(struct jn_run *r, int step)
{
    for (size_t i = r->nfaults; i-- > 0;)
        if (r->faults[i].step == step)
            return &r->faults[i];
    return NULL;
}

static void read_start(struct jn_run *r, const cJSON *o)
{
    r->has_start = true;
    r->scenario_path = get_str(o, "scenario_path");
    r->scenario_name = get_str(o, "scenario");
    r->target_kind = get_str(o, "target_kind");
    r->target_key = get_str(o, "target_key");
    r->run_dir = get_str(o, "run_dir");
    r->start_wall_us = get_u64(o, "wall_us");
    r->start_mono_us = get_u64(o, "mono_us");
    r->interval_us = get_u64(o, "interval_us");
    r->warmup_us = get_u64(o, "warmup_us");
    r->settle_us = get_u64(o, "settle_us");
    r->rate = get_dbl(o, "rate", 0);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "steady");
    r->steady.error_rate = get_dbl(st, "error_rate", 0);
    r->steady.p99_us = get_u64(st, "p99_us");
    r->steady.window_us = get_u64(st, "window_us");
    r->steady.hold_us = get_u64(st, "hold_us");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "expect");
    r->expect.recovery_us = get_u64(e, "recovery_us");
    r->expect.detect_us = get_u64(e, "detect_us");
    r->expect.availability = get_dbl(e, "availability", -1);
    r->expect.max_error_rate = get_dbl(e, "max_error_rate", -1);
    r->expect.p99_us = get_u64(e, "p99_us");
    r->expect.min_score = get_dbl(e, "min_score", -1);
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(o, "steps");
    int n = cJSON_GetArraySize(steps);
    if (n > 0 && (unsigned)n <= JN_MAX_FAULTS) {
        r->steps = xcalloc((size_t)n, sizeof(*r->steps));
        r->nsteps = (size_t)n;
        for (int i = 0; i < n; i++) {
            const cJSON *s = cJSON_GetArrayItem(steps, i);
            struct jn_step *d = &r->steps[i];
            d->name = get_str(s, "name");
            d->fault = get_str(s, "fault");
            d->at_us = get_u64(s, "at_us");
            d->for_us = get_u64(s, "for_us");
            d->expect_recovery_us = get_u64(s, "expect_recovery_us");
            d->expect_detect_us = get_u64(s, "expect_detect_us");
            d->expect_max_error_rate = get_dbl(s, "expect_max_error_rate", -1);
        }
    }
}

static int read_interval(struct jn_run *r, const cJSON *o, size_t *cap, char **err)
{
    uint64_t i = get_u64(o, "i");
    if (i >= JN_MAX_INTERVALS)
        return zd_err(err, "interval %llu is beyond the limit of %u", (unsigned long long)i,
                      JN_MAX_INTERVALS);
    if (i >= r->niv) {
        ZD_GROW(r->iv, *cap, (size_t)i + 1);
        for (size_t k = r->niv; k <= i; k++) {
            memset(&r->iv[k], 0, sizeof(r->iv[k]));
            r->iv[k].start_us = (uint64_t)k * r->interval_us;
        }
        r->niv = (size_t)i + 1;
    }
    struct ms_interval *x = &r->iv[i];
    x->start_us = get_u64(o, "t_us");
    x->total = get_u64(o, "total");
    x->errors = get_u64(o, "errors");
    if (x->errors > x->total)
        return zd_err(err, "interval %llu has more errors than requests", (unsigned long long)i);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "counts");
    x->not_sent = get_u64(c, "not_sent");
    if (x->not_sent > x->errors)
        x->not_sent = x->errors;
    x->p50_us = get_u64(o, "p50_us");
    x->p90_us = get_u64(o, "p90_us");
    x->p99_us = get_u64(o, "p99_us");
    x->max_us = get_u64(o, "max_us");
    return 0;
}

static int read_record(struct jn_run *r, const cJSON *o, size_t *fcap, size_t *icap, char **err)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(t))
        return zd_err(err, "record without a \"type\"");
    const char *type = t->valuestring;
    if (strcmp(type, "start") == 0) {
        read_start(r, o);
        return 0;
    }
    if (strcmp(type, "interval") == 0)
        return read_interval(r, o, icap, err);
    if (strcmp(type, "probe") == 0) {
        r->nprobes++;
        return 0;
    }
    if (strcmp(type, "guard") == 0) {
        r->nguards++;
        return 0;
    }
    if (strcmp(type, "load") == 0) {
        jn_load_read(o, &r->load);
        r->has_load = true;
        return 0;
    }
    if (strcmp(type, "end") == 0) {
        r->ended = true;
        free(r->end_status);
        r->end_status = get_str(o, "status");
        r->end_exit = (int)get_u64(o, "exit_code");
        r->end_score = get_dbl(o, "score", 0);
        r->end_passed = get_bool(o, "passed");
        return 0;
    }
    bool step_record = strcmp(type, "intent") == 0 || strcmp(type, "applied") == 0 ||
                       strcmp(type, "undo_intent") == 0 || strcmp(type, "undone") == 0;
    if (!step_record)
        return 0; /* phases, and record types newer writers may add */
    int step = (int)get_u64(o, "step");
    if (strcmp(type, "intent") == 0) {
        if (r->nfaults >= JN_MAX_FAULTS)
            return zd_err(err, "more than %u faults", JN_MAX_FAULTS);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "action");
        if (!cJSON_IsObject(a))
            return zd_err(err, "intent without an action object");
        ZD_GROW(r->faults, *fcap, r->nfaults + 1);
        struct jn_fault *f = &r->faults[r->nfaults++];
        memset(f, 0, sizeof(*f));
        f->step = step;
        f->name = get_str(o, "name");
        f->fault = get_str(o, "fault");
        f->summary = get_str(o, "summary");
        f->for_us = get_u64(o, "for_us");
        f->intent_t_us = get_u64(o, "t_us");
        f->intent_wall_us = get_u64(o, "wall_us");
        char *s = cJSON_PrintUnformatted(a);
        f->action = xstrdup(s);
        cJSON_free(s);
        return 0;
    }
    struct jn_fault *f = fault_for(r, step);
    if (!f)
        return zd_err(err, "'%s' record for step %d without an intent", type, step);
    if (strcmp(type, "applied") == 0) {
        f->applied_seen = true;
        f->applied_ok = get_bool(o, "ok");
        free(f->apply_error);
        f->apply_error = get_str(o, "error");
        free(f->note);
        f->note = get_str(o, "note");
        f->applied_t_us = get_u64(o, "t_us");
        f->applied_wall_us = get_u64(o, "wall_us");
    } else if (strcmp(type, "undo_intent") == 0) {
        char *by = get_str(o, "by");
        if (by && strcmp(by, "run") == 0 && !f->run_undo_seen) {
            f->run_undo_seen = true;
            f->run_undo_t_us = get_u64(o, "t_us");
        }
        free(by);
        f->undo_wall_us = get_u64(o, "wall_us");
    } else if (strcmp(type, "undone") == 0) {
        bool ok = get_bool(o, "ok");
        if (ok) {
            f->undone = true;
            f->undo_failed = false;
        } else if (!f->undone) {
            f->undo_failed = true;
            free(f->undo_error);
            f->undo_error = get_str(o, "error");
        }
    }
    return 0;
}

/* Reads the whole descriptor from offset 0 (pread: the offset of an O_APPEND descriptor that is
 * written next does not matter). */
static int read_all(int fd, const char *path, char **out, size_t *len, char **err)
{
    struct sbuf sb;
    sbuf_init(&sb, JN_MAX_BYTES);
    char chunk[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, chunk, sizeof(chunk), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            sbuf_free(&sb);
            return zd_err(err, "cannot read '%s': %s", path, strerror(e));
        }
        if (n == 0)
            break;
        if (sbuf_add(&sb, chunk, (size_t)n) < 0) {
            sbuf_free(&sb);
            return zd_err(err, "'%s' is larger than the limit of %u bytes", path, JN_MAX_BYTES);
        }
        off += n;
    }
    *len = sb.len;
    *out = sbuf_detach(&sb);
    return 0;
}

static int parse_text(const char *path, char *text, size_t len, struct jn_run *r, char **err)
{
    size_t fcap = 0, icap = 0, lineno = 0;
    char *p = text, *end = text + len;
    int rc = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        bool last = nl == NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        char *line = p;
        p = nl ? nl + 1 : end;
        if (*line == '\0')
            continue;
        if (strlen(line) != (size_t)((nl ? nl : end) - line)) {
            rc = zd_err(err, "damaged journal: %s:%zu: a NUL byte inside a record", path, lineno);
            break;
        }
        cJSON *o = cJSON_Parse(line);
        if (!o || !cJSON_IsObject(o)) {
            cJSON_Delete(o);
            /* the last line, torn by a crash in the middle of a write */
            if (last || p >= end) {
                r->torn = true;
                break;
            }
            rc = zd_err(err, "damaged journal: %s:%zu: not a JSON object", path, lineno);
            break;
        }
        char *e = NULL;
        if (read_record(r, o, &fcap, &icap, &e) < 0) {
            rc = zd_err(err, "damaged journal: %s:%zu: %s", path, lineno, e);
            free(e);
            cJSON_Delete(o);
            break;
        }
        cJSON_Delete(o);
        r->lines++;
        if (!r->has_start) {
            rc = zd_err(err,
                        "damaged journal: %s:%zu: the journal does not begin with a start record",
                        path, lineno);
            break;
        }
    }
    if (rc == 0 && !r->has_start)
        rc = zd_err(err, "damaged journal: %s:%zu: no start record (an empty journal)", path,
                    lineno ? lineno : 1);
    return rc;
}

int jn_read_fd(int fd, const char *path, struct jn_run *r, char **err)
{
    memset(r, 0, sizeof(*r));
    char *text = NULL;
    size_t len = 0;
    if (read_all(fd, path, &text, &len, err) < 0)
        return -1;
    int rc = parse_text(path, text, len, r, err);
    free(text);
    if (rc < 0) {
        jn_run_free(r);
        return -1;
    }
    return 0;
}

int jn_read(const char *path, struct jn_run *r, char **err)
{
    memset(r, 0, sizeof(*r));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return zd_err(err, "cannot open '%s': %s", path, strerror(errno));
    int rc = jn_read_fd(fd, path, r, err);
    close(fd);
    return rc < 0 ? -1 : 0;
}

struct journal *jn_open_trusted(const char *run_dir, struct jn_run *r, int *why, char **err)
{
    memset(r, 0, sizeof(*r));
    int e = 0;
    char *path = xasprintf("%s/journal.jsonl", run_dir);
    int fd = zd_open_trusted(run_dir, "journal.jsonl", O_RDWR | O_APPEND, &e, err);
    if (fd < 0) {
        *why = e == ENOENT ? JN_MISSING : e == 0 ? JN_UNTRUSTED : JN_IO;
        free(path);
        return NULL;
    }
    if (jn_read_fd(fd, path, r, err) < 0) {
        *why = JN_DAMAGED;
        close(fd);
        free(path);
        return NULL;
    }
    /* the torn tail goes through the same descriptor that was checked and read */
    if (drop_torn_tail(fd) < 0) {
        zd_err(err, "cannot repair journal '%s': %s", path, strerror(errno));
        *why = JN_IO;
        jn_run_free(r);
        close(fd);
        free(path);
        return NULL;
    }
    *why = 0;
    struct journal *j = journal_on(fd, path);
    free(path);
    return j;
}

void jn_run_free(struct jn_run *r)
{
    if (!r)
        return;
    free(r->scenario_path);
    free(r->scenario_name);
    free(r->target_kind);
    free(r->target_key);
    free(r->run_dir);
    for (size_t i = 0; i < r->nsteps; i++) {
        free(r->steps[i].name);
        free(r->steps[i].fault);
    }
    free(r->steps);
    for (size_t i = 0; i < r->nfaults; i++) {
        struct jn_fault *f = &r->faults[i];
        free(f->name);
        free(f->fault);
        free(f->summary);
        free(f->action);
        free(f->apply_error);
        free(f->note);
        free(f->undo_error);
    }
    free(r->faults);
    free(r->iv);
    free(r->end_status);
    jn_load_free(&r->load);
    memset(r, 0, sizeof(*r));
}

bool jn_fault_open(const struct jn_fault *f)
{
    /* intended but the apply provably failed before changing anything is still undone: a
     * failed apply may have half-applied (undo is idempotent, so undoing costs nothing) */
    return !f->undone;
}

size_t jn_open_faults(const struct jn_run *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nfaults; i++)
        if (jn_fault_open(&r->faults[i]))
            n++;
    return n;
}

int jn_measure_input(const struct jn_run *r, struct ms_input *in, struct ms_fault_in **faults,
                     char **err)
{
    memset(in, 0, sizeof(*in));
    *faults = NULL;
    if (!r->has_start || r->interval_us == 0)
        return zd_err(err, "the journal has no usable start record");
    struct ms_fault_in *fs = xcalloc(r->nfaults ? r->nfaults : 1, sizeof(*fs));
    size_t n = 0;
    for (size_t i = 0; i < r->nfaults; i++) {
        const struct jn_fault *f = &r->faults[i];
        if (!f->applied_seen || !f->applied_ok)
            continue;
        struct ms_fault_in *m = &fs[n++];
        m->name = f->name ? f->name : "?";
        m->fault = f->fault ? f->fault : "?";
        m->inject_us = f->intent_t_us;
        if (f->for_us == 0)
            m->end_us = f->intent_t_us;
        else if (f->run_undo_seen && f->run_undo_t_us >= f->intent_t_us)
            m->end_us = f->run_undo_t_us;
        else
            m->end_us = f->intent_t_us + f->for_us;
        m->expect_max_error_rate = -1;
        if (f->step >= 0 && (size_t)f->step < r->nsteps) {
            const struct jn_step *s = &r->steps[f->step];
            m->expect_recovery_us = s->expect_recovery_us;
            m->expect_detect_us = s->expect_detect_us;
            m->expect_max_error_rate = s->expect_max_error_rate;
        }
    }
    in->iv = r->iv;
    in->n = r->niv;
    in->interval_us = r->interval_us;
    in->steady = r->steady;
    in->faults = fs;
    in->nfaults = n;
    in->expect = r->expect;
    *faults = fs;
    return 0;
}
