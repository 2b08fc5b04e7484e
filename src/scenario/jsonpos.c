/*
 * jsonpos: positions of values in a JSON text, and the checks that must run before cJSON does.
 *
 * Why a separate scanner rather than a position-aware parser: cJSON already parses correctly and
 * the rest of the scenario module wants its tree; what it lacks is positions. A scan over text
 * that cJSON accepted is simple (no error handling beyond staying inside the buffer), and since
 * cJSON keeps document order, the i-th value found here is the i-th node of a pre-order walk of
 * cJSON's tree. See jsonpos.h.
 */
#include "scenario/jsonpos.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#include "base/banned.h"

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int jp_precheck(const char *text, size_t len, int max_depth, size_t *bad_off, const char **what)
{
    const unsigned char *t = (const unsigned char *)text;
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len;) {
        unsigned c = t[i];
        if (c == 0) {
            *bad_off = i;
            *what = "a NUL byte (this looks like a binary file, not JSON)";
            return -1;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(t + i, len - i);
            if (!n) {
                *bad_off = i;
                *what = "invalid UTF-8 (scenario files must be UTF-8 text)";
                return -1;
            }
            i += n;
            esc = false;
            continue;
        }
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                *bad_off = i;
                *what = "nesting too deep";
                return -1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
        i++;
    }
    return 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static long read_u4(const char *t, size_t len, size_t i)
{
    if (i + 4 > len)
        return -1;
    long v = 0;
    for (size_t j = 0; j < 4; j++) {
        int h = hexval(t[i + j]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* t[i] is the opening quote. Returns the offset after the closing one, or sets *what. */
static size_t check_string(const char *t, size_t len, size_t i, size_t *bad, const char **what)
{
    for (i++; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20) {
            *bad = i;
            *what = "a control character inside a string (write \\n, \\t, ...)";
            return 0;
        }
        if (c != '\\')
            continue;
        if (i + 1 >= len)
            break;
        char e = t[i + 1];
        if (e == 'u') {
            long cp = read_u4(t, len, i + 2);
            if (cp < 0) {
                if (i + 6 > len)
                    goto eof;
                *bad = i;
                *what = "invalid \\u escape (it takes 4 hex digits)";
                return 0;
            }
            if (cp == 0) {
                /* cJSON would cut the string there: "warmup\u0000zzz" would read as "warmup" */
                *bad = i;
                *what = "\\u0000 (a NUL character) is not allowed in a string";
                return 0;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                *bad = i;
                *what = "invalid \\u escape: a low surrogate without a high one before it";
                return 0;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                long lo = (i + 7 < len && t[i + 6] == '\\' && t[i + 7] == 'u')
                              ? read_u4(t, len, i + 8)
                              : -1;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    *bad = i;
                    *what = "invalid \\u escape: a high surrogate must be followed by a low one";
                    return 0;
                }
                i += 6;
            }
            i += 5;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                   e == 'r' || e == 't') {
            i++;
        } else {
            *bad = i;
            *what = "invalid escape in a string (a backslash is written \\\\)";
            return 0;
        }
    }
eof:
    *bad = len;
    *what = "unexpected end of file inside a string (truncated file?)";
    return 0;
}

static size_t check_number(const char *t, size_t len, size_t i, size_t *bad, const char **what)
{
    size_t s = i;
    if (t[i] == '-')
        i++;
    if (i < len && t[i] == '0') {
        i++;
    } else if (i < len && t[i] >= '1' && t[i] <= '9') {
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
    } else {
        goto bad;
    }
    if (i < len && t[i] == '.') {
        i++;
        if (!(i < len && t[i] >= '0' && t[i] <= '9'))
            goto bad;
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
    }
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < len && (t[i] == '+' || t[i] == '-'))
            i++;
        if (!(i < len && t[i] >= '0' && t[i] <= '9'))
            goto bad;
        while (i < len && t[i] >= '0' && t[i] <= '9')
            i++;
    }
    if (i - s > 63) {
        /* cJSON copies at most 63 characters of a number and would fail further on */
        *bad = s;
        *what = "number too long (at most 63 characters)";
        return 0;
    }
    if (i < len && ((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'z') ||
                    (t[i] >= 'A' && t[i] <= 'Z') || t[i] == '.' || t[i] == '+' || t[i] == '-'))
        goto bad;
    return i;
bad:
    *bad = s;
    *what = "invalid number (JSON numbers look like 12, -3 or 0.25; durations are strings: "
            "\"30s\")";
    return 0;
}

int jp_syntax(const char *t, size_t len, size_t *bad_off, const char **what)
{
    enum { S_VALUE, S_VALUE_OR_CLOSE, S_KEY_OR_CLOSE, S_KEY, S_COLON, S_AFTER } s = S_VALUE;
    char *stack = NULL;
    size_t d = 0, cap = 0, i = 0, comma = 0, n;
    int rc = -1;
    *what = NULL;
    for (;;) {
        while (i < len && is_ws(t[i]))
            i++;
        if (i >= len) {
            if (s == S_AFTER && d == 0) {
                rc = 0;
                goto out;
            }
            *bad_off = len;
            *what = d ? "unexpected end of file: a bracket is not closed (truncated file?)"
                      : "unexpected end of file (truncated file?)";
            goto out;
        }
        char c = t[i], top = d ? stack[d - 1] : 0;
        switch (s) {
        case S_AFTER:
            if (!d) {
                *bad_off = i;
                *what = "unexpected text after the end of the JSON value";
                goto out;
            }
            if (c == ',') {
                comma = i++;
                s = top == '{' ? S_KEY : S_VALUE;
            } else if (c == (top == '{' ? '}' : ']')) {
                d--;
                i++;
            } else {
                *bad_off = i;
                *what = top == '{' ? "expected ',' or '}' after a value (a missing comma?)"
                                   : "expected ',' or ']' after a value (a missing comma?)";
                goto out;
            }
            continue;
        case S_KEY_OR_CLOSE:
        case S_KEY:
            if (c == '"') {
                n = check_string(t, len, i, bad_off, what);
                if (!n)
                    goto out;
                i = n;
                s = S_COLON;
            } else if (c == '}' && s == S_KEY_OR_CLOSE) {
                d--;
                i++;
                s = S_AFTER;
            } else if (c == '}') {
                *bad_off = comma;
                *what = "trailing comma before '}'";
                goto out;
            } else {
                *bad_off = i;
                *what = c == '\''              ? "keys take double quotes, not single quotes"
                        : c == '/' || c == '#' ? "comments are not allowed in JSON"
                                               : "expected a key in double quotes";
                goto out;
            }
            continue;
        case S_COLON:
            if (c != ':') {
                *bad_off = i;
                *what = "expected ':' after the key";
                goto out;
            }
            i++;
            s = S_VALUE;
            continue;
        case S_VALUE_OR_CLOSE:
            if (c == ']') {
                d--;
                i++;
                s = S_AFTER;
                continue;
            }
            break;
        case S_VALUE:
            if (c == ']' && top == '[') {
                *bad_off = comma;
                *what = "trailing comma before ']'";
                goto out;
            }
            break;
        }
        /* a value */
        if (c == '{' || c == '[') {
            ZD_GROW(stack, cap, d + 1);
            stack[d++] = c;
            i++;
            s = c == '{' ? S_KEY_OR_CLOSE : S_VALUE_OR_CLOSE;
            continue;
        }
        s = S_AFTER;
        if (c == '"')
            n = check_string(t, len, i, bad_off, what);
        else if (c == '-' || (c >= '0' && c <= '9'))
            n = check_number(t, len, i, bad_off, what);
        else if (len - i >= 4 && memcmp(t + i, "true", 4) == 0)
            n = i + 4;
        else if (len - i >= 5 && memcmp(t + i, "false", 5) == 0)
            n = i + 5;
        else if (len - i >= 4 && memcmp(t + i, "null", 4) == 0)
            n = i + 4;
        else {
            n = 0;
            *bad_off = i;
            *what = c == '/' || c == '#' ? "comments are not allowed in JSON"
                    : c == '\''          ? "strings take double quotes, not single quotes"
                                         : "expected a value (strings need double quotes)";
        }
        if (!n)
            goto out;
        i = n;
    }
out:
    free(stack);
    return rc;
}

static size_t skip_string(const char *t, size_t len, size_t i)
{
    /* t[i] is the opening quote; returns the offset after the closing one */
    for (i++; i < len; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return len;
}

size_t jp_scan(const char *t, size_t len, struct jp_value **out)
{
    struct jp_value *v = NULL;
    size_t n = 0, cap = 0;
    /* per open container: is it an object, and does it expect a key next */
    bool *is_obj = NULL, *want_key = NULL;
    size_t depth = 0, dcap = 0;
    size_t pending_key = JP_NO_KEY;
    size_t i = 0;
    while (i < len) {
        char c = t[i];
        bool in_obj = depth && is_obj[depth - 1];
        switch (c) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
        case ':': i++; continue;
        case ',':
            if (in_obj)
                want_key[depth - 1] = true;
            i++;
            continue;
        case '}':
        case ']':
            if (depth)
                depth--;
            i++;
            continue;
        default: break;
        }
        if (c == '"' && in_obj && want_key[depth - 1]) {
            pending_key = i;
            want_key[depth - 1] = false;
            i = skip_string(t, len, i);
            continue;
        }
        /* a value */
        ZD_GROW(v, cap, n + 1);
        v[n].off = i;
        v[n].key_off = in_obj ? pending_key : JP_NO_KEY;
        n++;
        pending_key = JP_NO_KEY;
        if (c == '{' || c == '[') {
            if (depth + 1 > dcap) {
                size_t c2 = dcap;
                ZD_GROW(is_obj, dcap, depth + 1);
                ZD_GROW(want_key, c2, depth + 1);
            }
            is_obj[depth] = c == '{';
            want_key[depth] = c == '{';
            depth++;
            i++;
        } else if (c == '"') {
            i = skip_string(t, len, i);
        } else {
            /* number or literal: everything up to the next delimiter */
            i++;
            while (i < len && t[i] != ',' && t[i] != ']' && t[i] != '}' && t[i] != ' ' &&
                   t[i] != '\t' && t[i] != '\n' && t[i] != '\r' && t[i] != ':')
                i++;
        }
    }
    free(is_obj);
    free(want_key);
    *out = v;
    return n;
}

void jp_linecol(const char *text, size_t len, size_t off, struct jp_cursor *cur, int *line,
                int *col)
{
    struct jp_cursor c = {0, 1, 0};
    if (cur && cur->off <= off && cur->line > 0)
        c = *cur;
    if (off > len)
        off = len;
    for (size_t i = c.off; i < off; i++) {
        if (text[i] == '\n') {
            c.line++;
            c.line_start = i + 1;
        }
    }
    c.off = off;
    int k = 1;
    for (size_t i = c.line_start; i < off; i++)
        if (((unsigned char)text[i] & 0xc0) != 0x80)
            k++;
    *line = c.line;
    *col = k;
    if (cur)
        *cur = c;
}

size_t jp_string_byte_off(const char *t, size_t len, size_t quote_off, size_t k)
{
    size_t i = quote_off + 1, got = 0;
    while (i < len && t[i] != '"') {
        size_t raw, dec;
        if (t[i] == '\\' && i + 1 < len) {
            if (t[i + 1] == 'u') {
                long cp = read_u4(t, len, i + 2);
                raw = 6;
                if (cp >= 0xd800 && cp <= 0xdbff && i + 7 < len && t[i + 6] == '\\' &&
                    t[i + 7] == 'u') {
                    raw = 12;
                    dec = 4;
                } else {
                    dec = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
                }
            } else {
                raw = 2;
                dec = 1;
            }
        } else {
            raw = 1;
            dec = 1;
        }
        if (got + dec > k)
            return i;
        got += dec;
        i += raw;
    }
    return i < len ? i : len;
}
