/*
 * jsonpos: where things are in a JSON text, for error messages that point at a line and column.
 *
 * cJSON builds a tree but forgets positions. This module scans the same text without building
 * anything and returns, in document order, the byte offset of every value (and of its key, for
 * object members). cJSON keeps members and elements in document order too, so a pre-order walk of
 * the cJSON tree meets its nodes in exactly the order of jp_scan's array: the scenario parser
 * pairs them up once and looks positions up by node afterwards.
 *
 * jp_precheck runs *before* cJSON sees the text: it rejects what cJSON would mishandle or what
 * makes a poor message (NUL bytes, invalid UTF-8) and nesting deeper than a limit, iteratively,
 * because cJSON's parser recurses and a file of 100000 '[' must not reach it.
 *
 * Nothing here allocates more than the arrays it returns, prints, or knows about scenarios.
 */
#ifndef ZD_JSONPOS_H
#define ZD_JSONPOS_H

#include <stdbool.h>
#include <stddef.h>

#define JP_NO_KEY ((size_t)-1)

struct jp_value {
    size_t off;     /* first byte of the value ('{', '[', '"', digit, 't', ...) */
    size_t key_off; /* the opening quote of the member's key; JP_NO_KEY outside objects */
};

/*
 * Checks text[0..len) for NUL bytes, invalid UTF-8 (overlong forms, surrogates, > U+10FFFF,
 * truncated sequences) and nesting deeper than max_depth (brackets inside strings do not count).
 * Returns 0, or -1 with *bad_off at the offending byte and *what a static description.
 */
int jp_precheck(const char *text, size_t len, int max_depth, size_t *bad_off, const char **what);

/*
 * A strict RFC 8259 syntax check, iterative (no recursion), run before cJSON so that a syntax
 * error is reported exactly where it is, with a message that says what was expected (cJSON's
 * error offset is approximate and says nothing). Returns 0, or -1 with *bad_off and *what (a
 * static string). An error at the end of the text reads "unexpected end of file ...".
 */
int jp_syntax(const char *text, size_t len, size_t *bad_off, const char **what);

/*
 * Lists every value of a text that a JSON parser accepted, in document order. Returns the count
 * and sets *out (the caller frees it with free()). The scan tolerates what it does not expect
 * (it never reads past len), but its result only means something for valid JSON.
 */
size_t jp_scan(const char *text, size_t len, struct jp_value **out);

/* A resumable position: jp_linecol continues from here when asked about a later offset, so
 * looking up many positions in increasing order costs one pass. Start with {0, 1, 0}. */
struct jp_cursor {
    size_t off;
    int line;
    size_t line_start;
};

/* 1-based line and column of byte `off`; columns count UTF-8 characters, a tab counts as one.
 * `cur` may be NULL (scan from the start). */
void jp_linecol(const char *text, size_t len, size_t off, struct jp_cursor *cur, int *line,
                int *col);

/*
 * The offset in the raw JSON text of byte `k` of a string value's *decoded* content, where
 * `quote_off` is the offset of its opening quote (escape sequences such as \n or \u00e9 are
 * walked, so a regex error offset lands on the right character). Past the end: the closing quote.
 */
size_t jp_string_byte_off(const char *text, size_t len, size_t quote_off, size_t k);

#endif
