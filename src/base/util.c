/*
 * util: allocation, the growable buffer, errors, time, durations, suggestions and files.
 * See util.h for the contracts. Everything else in zonedef builds on these, so they are small
 * and boring on purpose.
 */
#include "base/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/banned.h"

static void oom(void)
{
    static const char msg[] = "zonedef: out of memory\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

void *xreallocarray(void *p, size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total))
        oom();
    return xrealloc(p, total);
}

char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        oom();
    return d;
}

char *xstrndup(const char *s, size_t n)
{
    char *d = strndup(s ? s : "", n);
    if (!d)
        oom();
    return d;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        oom();
    return s;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void zd_grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            oom();
        ncap *= 2;
    }
    *arr = xreallocarray(*arr, ncap, size);
    *cap = ncap;
}

int zd_err(char **err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    free(*err);
    *err = msg;
    return -1;
}

int zd_err_hand(char **err, char *e, int rc)
{
    if (rc < 0 && err) {
        free(*err);
        *err = e;
    } else {
        free(e);
    }
    return rc < 0 ? -1 : 0;
}

/* ---- sbuf ---- */

void sbuf_init(struct sbuf *sb, size_t max)
{
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->max = max;
    sb->overflow = false;
}

static int sbuf_reserve(struct sbuf *sb, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(sb->len, extra, &need) || (sb->max && need > sb->max)) {
        sb->overflow = true;
        return -1;
    }
    if (need + 1 > sb->cap) {
        size_t ncap = sb->cap ? sb->cap : 64;
        while (ncap < need + 1) {
            if (ncap > SIZE_MAX / 2)
                oom();
            ncap *= 2;
        }
        sb->buf = xrealloc(sb->buf, ncap);
        sb->cap = ncap;
    }
    return 0;
}

int sbuf_add(struct sbuf *sb, const void *data, size_t n)
{
    if (sbuf_reserve(sb, n) < 0)
        return -1;
    if (n)
        memcpy(sb->buf + sb->len, data, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
    return 0;
}

int sbuf_adds(struct sbuf *sb, const char *s)
{
    return sbuf_add(sb, s, strlen(s));
}

int sbuf_addc(struct sbuf *sb, char c)
{
    return sbuf_add(sb, &c, 1);
}

int sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || sbuf_reserve(sb, (size_t)n) < 0)
        return -1;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return 0;
}

int sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = sbuf_vaddf(sb, fmt, ap);
    va_end(ap);
    return r;
}

int sbuf_add_json_str(struct sbuf *sb, const char *s)
{
    int r = sbuf_addc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && r == 0; p++) {
        switch (*p) {
        case '"': r = sbuf_adds(sb, "\\\""); break;
        case '\\': r = sbuf_adds(sb, "\\\\"); break;
        case '\n': r = sbuf_adds(sb, "\\n"); break;
        case '\r': r = sbuf_adds(sb, "\\r"); break;
        case '\t': r = sbuf_adds(sb, "\\t"); break;
        default:
            if (*p < 0x20)
                r = sbuf_addf(sb, "\\u%04x", *p);
            else
                r = sbuf_addc(sb, (char)*p);
        }
    }
    return r ? r : sbuf_addc(sb, '"');
}

void sbuf_reset(struct sbuf *sb)
{
    sb->len = 0;
    sb->overflow = false;
    if (sb->buf)
        sb->buf[0] = '\0';
}

const char *sbuf_str(const struct sbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

char *sbuf_detach(struct sbuf *sb)
{
    char *s = sb->buf ? sb->buf : xstrdup("");
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->overflow = false;
    return s;
}

int zd_err_collected(char **err, struct sbuf *sb)
{
    int rc = sb->len ? zd_err(err, "%s", sbuf_str(sb)) : 0;
    sbuf_free(sb);
    return rc;
}

void sbuf_free(struct sbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

/* ---- time ---- */

uint64_t zd_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t zd_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void zd_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

const char *zd_iso8601(uint64_t wall_us, char *buf, size_t n)
{
    time_t secs = (time_t)(wall_us / 1000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03uZ", base, (unsigned)((wall_us / 1000u) % 1000u));
    return buf;
}

/* ---- durations and numbers ---- */

#define ZD_MAX_DURATION_US (30ull * 24 * 3600 * 1000000ull)

int zd_parse_duration(const char *s, uint64_t *out_us, char **err)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"us", 1.0}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}};
    if (!s || !*s)
        return zd_err(err, "empty duration (write it like \"500ms\", \"30s\" or \"2m\")");
    const char *p = s;
    if (*p == '-')
        return zd_err(err, "duration '%s' is negative", s);
    /* decimal only, as the README says: digits, at most one '.', digits (strtod alone would take
     * "0x10s", "0x1p4s" and "1e1s") */
    size_t digits = 0, i = 0;
    while (p[i] >= '0' && p[i] <= '9')
        i++, digits++;
    if (p[i] == '.')
        for (i++; p[i] >= '0' && p[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return zd_err(err, "'%s' is not a duration (write it like \"500ms\", \"30s\" or \"2m\")",
                      s);
    const char *end = p + i;
    for (const char *q = end; *q; q++)
        if ((*q >= '0' && *q <= '9') || *q == '.' || *q == '+' || *q == '-')
            return zd_err(err,
                          "duration '%s' is not a decimal number and a unit (no hex, no "
                          "exponent: write it like \"500ms\", \"1.5s\" or \"2m\")",
                          s);
    char *num = xstrndup(p, i);
    errno = 0;
    double v = strtod(num, NULL);
    free(num);
    if (errno || !isfinite(v))
        return zd_err(err, "'%s' is not a duration (write it like \"500ms\", \"30s\" or \"2m\")",
                      s);
    if (*end == '\0')
        return zd_err(err, "duration '%s' has no unit (use us, ms, s, m or h, e.g. \"%ss\")", s, s);
    for (size_t k = 0; k < ZD_ARRAY_LEN(units); k++) {
        if (strcmp(end, units[k].unit) == 0) {
            double us = v * units[k].mult;
            if (us > (double)ZD_MAX_DURATION_US)
                return zd_err(err, "duration '%s' is longer than 30 days", s);
            if (v > 0 && us < 0.5) /* would read as 0: an error, not a silent nothing */
                return zd_err(err, "duration '%s' is shorter than 1us, the finest zonedef keeps",
                              s);
            *out_us = (uint64_t)llround(us);
            return 0;
        }
    }
    return zd_err(err, "duration '%s' has an unknown unit '%s' (use us, ms, s, m or h)", s, end);
}

const char *zd_fmt_duration(uint64_t us, char *buf, size_t n)
{
    if (us < 1000)
        snprintf(buf, n, "%lluus", (unsigned long long)us);
    else if (us < 1000000)
        snprintf(buf, n, "%gms", (double)us / 1e3);
    else if (us < 60000000)
        snprintf(buf, n, "%gs", (double)(us / 1000) / 1e3);
    else {
        unsigned long long secs = us / 1000000u;
        if (secs % 60 == 0)
            snprintf(buf, n, "%llum", secs / 60);
        else
            snprintf(buf, n, "%llum%llus", secs / 60, secs % 60);
    }
    return buf;
}

int zd_parse_int(const char *s, long long min, long long max, long long *out, char **err)
{
    if (!s || !*s)
        return zd_err(err, "empty number");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return zd_err(err, "'%s' is not a whole number", s);
    if (errno == ERANGE || v < min || v > max)
        return zd_err(err, "%s is out of range (%lld to %lld)", s, min, max);
    *out = v;
    return 0;
}

int zd_parse_double(const char *s, double min, double max, double *out, char **err)
{
    if (!s || !*s)
        return zd_err(err, "empty number");
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v))
        return zd_err(err, "'%s' is not a number", s);
    if (v < min || v > max)
        return zd_err(err, "%s is out of range (%g to %g)", s, min, max);
    *out = v;
    return 0;
}

/* ---- suggestions ---- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *zd_suggest(const char *word, const char *const *cands)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; cands[i]; i++) {
        size_t d = edit_distance(word, cands[i]);
        /* a word that contains the candidate (or the reverse) is a good guess too:
         * "zone_id" -> "zone", "ratee" -> "rate" */
        if (d > 0 && (strstr(word, cands[i]) || strstr(cands[i], word)) && strlen(cands[i]) > 2)
            d = d < 2 ? d : 2;
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    if (!best)
        return NULL;
    size_t len = strlen(word);
    size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    return best_d <= limit ? best : NULL;
}

/* ---- files ---- */

int zd_read_file(const char *path, size_t max, char **out, size_t *len, char **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return zd_err(err, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return zd_err(err, "'%s' is a directory", path);
    }
    struct sbuf sb;
    sbuf_init(&sb, max);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            sbuf_free(&sb);
            return zd_err(err, "cannot read '%s': %s", path, strerror(e));
        }
        if (n == 0)
            break;
        if (sbuf_add(&sb, chunk, (size_t)n) < 0) {
            close(fd);
            sbuf_free(&sb);
            return zd_err(err, "'%s' is larger than the limit of %zu bytes", path, max);
        }
    }
    close(fd);
    if (len)
        *len = sb.len;
    *out = sbuf_detach(&sb);
    return 0;
}

int zd_write_file_atomic(const char *path, const void *data, size_t len, char **err)
{
    /* a fresh, unpredictable name made with O_EXCL (mkostemp): a planted file or symlink at
     * PATH.tmp.* is never opened, truncated or followed */
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        zd_err(err, "cannot create a temporary file next to '%s': %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *p = data;
    size_t left = len;
    int rc = fchmod(fd, 0644);
    while (left && rc == 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc < 0) {
        zd_err(err, "cannot write '%s': %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        zd_err(err, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int zd_create_excl(const char *path, int flags, unsigned mode, char **err)
{
    int fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return zd_err(err, "cannot create '%s': %s", path, strerror(errno));
    return fd;
}

int zd_mkdir_p(const char *path, unsigned mode, char **err)
{
    char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
            zd_err(err, "cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
        zd_err(err, "cannot create directory '%s': %s", p, strerror(errno));
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

bool zd_file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---- secrets and control characters ---- */

char *zd_url_redact(const char *url)
{
    if (!url)
        return xstrdup("");
    const char *sep = strstr(url, "://");
    if (!sep)
        return xstrdup(url);
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i; /* the last '@' of the authority ends the userinfo */
    if (!at)
        return xstrdup(url);
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    struct sbuf sb = SBUF_INIT;
    sbuf_add(&sb, url, (size_t)(auth - url));
    if (colon) /* user:password -> user:*** */
        sbuf_add(&sb, auth, (size_t)(colon - auth));
    sbuf_adds(&sb, colon ? ":***" : "***"); /* a lone userinfo is often a token: hide it all */
    sbuf_adds(&sb, at);
    return sbuf_detach(&sb);
}

char *zd_text_redact(const char *text)
{
    if (!text)
        return xstrdup("");
    struct sbuf sb = SBUF_INIT;
    const char *p = text;
    for (;;) {
        const char *sep = strstr(p, "://");
        if (!sep) {
            sbuf_adds(&sb, p);
            break;
        }
        /* the URL starts at its scheme: letters, digits, '+', '-', '.' before "://" */
        const char *start = sep;
        while (start > p && (isalnum((unsigned char)start[-1]) || start[-1] == '+' ||
                             start[-1] == '-' || start[-1] == '.'))
            start--;
        /* and ends at white space or a quote */
        size_t ulen = (size_t)(sep - start) + 3 + strcspn(sep + 3, " \t\r\n'\"<>");
        sbuf_add(&sb, p, (size_t)(start - p));
        char *one = xstrndup(start, ulen);
        char *red = zd_url_redact(one);
        sbuf_adds(&sb, red);
        free(red);
        free(one);
        p = start + ulen;
    }
    return sbuf_detach(&sb);
}

char *zd_escape_ctl(const char *s)
{
    struct sbuf sb = SBUF_INIT;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            sbuf_addf(&sb, "\\x%02x", *p);
        else
            sbuf_addc(&sb, (char)*p);
    }
    return sbuf_detach(&sb);
}

uint64_t zd_random_u64(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, &v, sizeof(v));
        close(fd);
        if (n == (ssize_t)sizeof(v))
            return v;
    }
    /* no /dev/urandom: still different per process and per call */
    static uint64_t counter;
    return (zd_wall_us() * 6364136223846793005ull) ^ ((uint64_t)getpid() << 32) ^ ++counter;
}

bool zd_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool zd_str_has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}
