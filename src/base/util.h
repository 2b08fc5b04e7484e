/*
 * util: the small things every module needs and none should write again.
 *
 * - allocation that cannot return NULL (out of memory aborts with a message: a chaos tool that
 *   half-applies a fault because malloc failed is worse than one that stops);
 * - overflow-checked size arithmetic;
 * - one growable buffer type (struct sbuf) with an optional maximum size, for anything read from
 *   a file, a socket or a child process;
 * - error strings handed out through `char **err` (the caller frees);
 * - time: monotonic microseconds for measuring, wall-clock only for reports;
 * - durations as users write them ("500ms", "30s", "2m");
 * - "did you mean" suggestions for unknown names.
 *
 * The base of every subsystem (src/base/: util.c, util.h, trust.c, trust.h, banned.h). trust.h
 * holds the StrictModes-like checks for files zonedef acts on (journals, pid files, locks).
 * May use: libc only.
 * Used by: everything, cmd/ included. banned.h goes last in every .c file: it turns the libc
 * calls the project does not use (strcpy, sprintf, gets, ...) into compile errors.
 *
 * Nothing here prints or exits, except the out-of-memory abort.
 */
#ifndef ZD_UTIL_H
#define ZD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZD_VERSION "0.1.0"

#define ZD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ZD_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Allocation: never NULL; abort with "zonedef: out of memory" instead. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* realloc for arrays: nmemb * size with an overflow check (overflow aborts like OOM). */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh string; the caller frees. */
char *xasprintf(const char *fmt, ...) ZD_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap);

/* Grow *arr (of *cap elements of `size` bytes) so that it holds at least `need` elements. */
void zd_grow(void **arr, size_t *cap, size_t need, size_t size);
#define ZD_GROW(arr, cap, need) zd_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* Set *err (if err is not NULL) to a new formatted message, freeing what was there. Returns -1 so
 * that `return zd_err(err, "...")` reads naturally. */
int zd_err(char **err, const char *fmt, ...) ZD_PRINTF(2, 3);
/* Ends a function that kept its first error in e: when rc < 0, e becomes *err (what was there is
 * freed; with err NULL, e is freed); else e is freed. Returns rc (-1 or 0). */
int zd_err_hand(char **err, char *e, int rc);

/*
 * struct sbuf: a growable, always NUL-terminated byte buffer.
 * `max` (0 = unlimited) caps len; an append that would pass it fails with -1 and sets
 * `overflow`, leaving the content it had. Initialise with SBUF_INIT or sbuf_init().
 */
struct sbuf {
    char *buf;
    size_t len;
    size_t cap;
    size_t max;
    bool overflow;
};
#define SBUF_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, 0, 0, false                                                                       \
    }
void sbuf_init(struct sbuf *sb, size_t max);
int sbuf_add(struct sbuf *sb, const void *data, size_t n);
int sbuf_adds(struct sbuf *sb, const char *s);
int sbuf_addc(struct sbuf *sb, char c);
int sbuf_addf(struct sbuf *sb, const char *fmt, ...) ZD_PRINTF(2, 3);
int sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap);
/* Append s as a JSON string literal (with the quotes), escaping as RFC 8259 requires. */
int sbuf_add_json_str(struct sbuf *sb, const char *s);
void sbuf_reset(struct sbuf *sb);
/* The content as a C string ("" when empty, never NULL); valid until the next change. */
const char *sbuf_str(const struct sbuf *sb);
/* Hand the content to the caller (who frees it) and reset the buffer. Never NULL. */
char *sbuf_detach(struct sbuf *sb);
/* Frees sb and returns 0 when it holds nothing; else sets *err to its text (zd_err), frees it
 * and returns -1: the end of a function that collects one line per failed host. */
int zd_err_collected(char **err, struct sbuf *sb);
void sbuf_free(struct sbuf *sb);

/* Time. */
uint64_t zd_now_us(void);      /* CLOCK_MONOTONIC in microseconds */
uint64_t zd_wall_us(void);     /* CLOCK_REALTIME in microseconds since the epoch */
void zd_sleep_us(uint64_t us); /* sleeps the whole time, through EINTR */
/* "2026-11-22T02:29:23.123Z" for a wall-clock time; buf of at least 32 bytes. */
const char *zd_iso8601(uint64_t wall_us, char *buf, size_t n);

/*
 * Durations: a number (integer or decimal) followed by a unit: us, ms, s, m, h.
 * "1.5s", "500ms", "2m". No unit, a negative value or more than 30 days is an error.
 * Returns 0 and sets *out, or -1 with *err set.
 */
int zd_parse_duration(const char *s, uint64_t *out_us, char **err);
/* Formats a duration the way a person writes it: "250ms", "1.5s", "2m", "1m30s". */
const char *zd_fmt_duration(uint64_t us, char *buf, size_t n);

/* Parses a whole decimal integer in [min, max]; the whole string must be used. */
int zd_parse_int(const char *s, long long min, long long max, long long *out, char **err);
/* Parses a finite double in [min, max]; the whole string must be used. */
int zd_parse_double(const char *s, double min, double max, double *out, char **err);

/* The candidate closest to `word` by edit distance, if it is close enough to be a plausible
 * typo; NULL otherwise. `cands` ends with a NULL. */
const char *zd_suggest(const char *word, const char *const *cands);

/* Files. */
/* Reads a whole file up to `max` bytes into *out (NUL-terminated; *len without the NUL).
 * A larger file is an error that says so. The caller frees *out. */
int zd_read_file(const char *path, size_t max, char **out, size_t *len, char **err);
/* Writes through a temporary file and rename(2), fsync'd, so readers never see half a file. The
 * temporary name is unpredictable and made with O_EXCL (mkostemp: PATH.tmp.XXXXXX), so a file
 * or symlink planted next to PATH is never opened; the file ends up mode 0644. */
int zd_write_file_atomic(const char *path, const void *data, size_t len, char **err);
/* Creates a new file: O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC plus flags (O_WRONLY, O_APPEND
 * ...), so an existing file or a symlink planted at PATH is an error, never followed. Returns the
 * descriptor or -1 with *err. For private directories and files read back later, see trust.h. */
int zd_create_excl(const char *path, int flags, unsigned mode, char **err);
/* mkdir -p with the given mode for the directories it creates. */
int zd_mkdir_p(const char *path, unsigned mode, char **err);
bool zd_file_exists(const char *path);

/*
 * Secrets: every URL zonedef prints or writes (summaries, --json, plan, journal, result.json,
 * reports, error lines) goes through zd_url_redact first: "http://user:PASSWORD@host/" becomes
 * "http://user:" "***@host/", and a userinfo without ':' (often a token) becomes "http://"
 * "***@host" (written in two literals here only because the sequence would end this comment). A URL
 * without userinfo is returned unchanged. zd_text_redact does it to every URL inside free text (an
 * error message quoting a URL). Both return a new string the caller frees.
 */
char *zd_url_redact(const char *url);
char *zd_text_redact(const char *text);
/* Text from a file or a server, made safe to print: bytes below 0x20 and 0x7f become "\xNN"
 * (a journal's summary cannot move the cursor or clear the screen). Caller frees. */
char *zd_escape_ctl(const char *s);
/* 64 random bits from /dev/urandom (for unique names, never for keys). */
uint64_t zd_random_u64(void);

/* Strings. */
bool zd_str_has_prefix(const char *s, const char *prefix);
bool zd_str_has_suffix(const char *s, const char *suffix);

#endif
