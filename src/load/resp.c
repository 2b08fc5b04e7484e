/*
 * resp: a quick scan of the common HTTP/1.1 response head, for the native engine; http-parser
 * (h1.c) does everything else.
 *
 * Why. Profiled with callgrind against nginx (a 160-byte answer, `README: bench`), http-parser
 * was 72 % of the client's user-space instructions: about 4,300 per response, a state-machine
 * step and a branch per byte. Nearly every answer a load test gets looks the same: a status
 * line, a dozen headers, a Content-Length, a short body, all in one read. This scan takes
 * exactly those, with memchr over the lines and a look at the four headers that decide framing
 * and keep-alive, and says "not mine" for anything else, before anything is consumed, so
 * http-parser sees that response from its first byte as before.
 *
 * Taken: "HTTP/1.1 SSS reason" with SSS 200-599; header lines "name: value" with a token name
 * and no control characters in the value (HTAB allowed); one Content-Length of digits (or none
 * for 204, 304 and answers to HEAD, which have no body); Connection "keep-alive" or "close" (or
 * none). Left to http-parser: an incomplete head, HTTP/1.0, 1xx, Transfer-Encoding, no or
 * repeated Content-Length, any other Connection value, obsolete line folding, a bare CR or LF,
 * any byte out of place. test_load checks, over a table of answers, that whatever this scan
 * takes, http-parser reads the same way (status, body length, keep-alive).
 *
 * Even so the scan was half of the client's user-space instructions (about 1,300 of 2,640 per
 * request, callgrind). load_resp_scan_cached keeps the last head taken and its verdict: a
 * response that starts with exactly those bytes gets the same verdict from a memcmp (the scan
 * reads nothing past the head's blank line, so equal bytes cannot scan differently); any other
 * is scanned, and taken into the cache when the scan takes it.
 */
#include <stdint.h>
#include <string.h>

#include "load/engine.h"

#include "base/banned.h"

/* Token bytes (header names) and field-value bytes (visible, space, HTAB, obs-text: exactly
 * what http-parser lets through in a value), by byte value. */
static const unsigned char tchar[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
    ['%'] = 1,         ['&'] = 1,         ['\''] = 1,        ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1,         ['^'] = 1,         ['_'] = 1,         ['`'] = 1, ['|'] = 1, ['~'] = 1,
};
static const unsigned char vchar[256] = {['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1};

/* The value with surrounding spaces and tabs trimmed, as [*v, *vend). */
static void trim(const char **v, const char **vend)
{
    while (*v < *vend && (**v == ' ' || **v == '\t'))
        (*v)++;
    while (*vend > *v && ((*vend)[-1] == ' ' || (*vend)[-1] == '\t'))
        (*vend)--;
}

static uint64_t lower8(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x | 0x2020202020202020ull;
}

/* name (len bytes) is `want` (lowercase letters and '-') in any case; setting bit 5 of a byte
 * maps only the two cases of a letter onto that letter, and only '-' or CR onto '-' (no CR in a
 * name or a value). Two overlapping words for 8 to 16 bytes. */
static bool name_is(const char *name, size_t len, const char *want)
{
    size_t wlen = strlen(want);
    if (len != wlen)
        return false;
    if (len >= 8 && len <= 16)
        return lower8(name) == lower8(want) && lower8(name + len - 8) == lower8(want + len - 8);
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)name[i] | 0x20) != (unsigned char)want[i])
            return false;
    return true;
}

/* No control byte (HTAB aside) and no DEL in p[0..n): eight bytes at a time (a word with a byte
 * below 0x20 or equal to 0x7f has a high bit left in `lo | del`), the rest one by one. */
static bool ctl_free(const char *p, size_t n)
{
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t x, y;
        memcpy(&x, p, 8);
        y = x ^ 0x7f7f7f7f7f7f7f7full;
        uint64_t lo = (x - 0x2020202020202020ull) & ~x & 0x8080808080808080ull;
        uint64_t del = (y - 0x0101010101010101ull) & ~y & 0x8080808080808080ull;
        if (lo | del)
            break; /* an HTAB, or a byte to refuse: look closer */
    }
    for (; n; p++, n--)
        if (!vchar[(unsigned char)*p])
            return false;
    return true;
}

/* The CR of the CRLF that ends the line starting at p, or NULL (no CRLF in buf, a bare CR or
 * LF, a control byte before it). */
static const char *line_end(const char *p, const char *end)
{
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    if (!cr || end - cr < 2 || cr[1] != '\n' || !ctl_free(p, (size_t)(cr - p)))
        return NULL;
    return cr;
}

bool load_resp_scan(const char *buf, size_t n, bool head_req, struct load_resp_head *out)
{
    const char *p = buf, *end = buf + n;
    /* status line: "HTTP/1.1 SSS" then " reason" or nothing, then CRLF */
    if (n < 14 || memcmp(p, "HTTP/1.1 ", 9) != 0)
        return false;
    p += 9;
    if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
        return false;
    int status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;
    const char *eol = line_end(p, end);
    if (!eol || (eol > p && *p != ' '))
        return false;
    p = eol + 2;

    bool have_len = false, keep = true;
    uint64_t len = 0;
    for (;;) {
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            p += 2;
            break;
        }
        const char *name = p;
        while (p < end && tchar[(unsigned char)*p])
            p++;
        if (p == name || p == end || *p != ':')
            return false; /* no name, a space before the colon, a folded line, incomplete */
        size_t nlen = (size_t)(p - name);
        const char *v = p + 1, *vend = line_end(v, end);
        if (!vend)
            return false;
        p = vend + 2;
        if (nlen == 14 && name_is(name, nlen, "content-length")) {
            trim(&v, &vend);
            if (have_len || v == vend || vend - v > 18)
                return false;
            for (len = 0; v < vend; v++) {
                if (*v < '0' || *v > '9')
                    return false;
                len = len * 10 + (uint64_t)(*v - '0');
            }
            have_len = true;
        } else if (nlen == 10 && name_is(name, nlen, "connection")) {
            trim(&v, &vend);
            if (name_is(v, (size_t)(vend - v), "close"))
                keep = false;
            else if (!name_is(v, (size_t)(vend - v), "keep-alive"))
                return false;
        } else if ((nlen == 17 && name_is(name, nlen, "transfer-encoding")) ||
                   (nlen == 7 && name_is(name, nlen, "upgrade"))) {
            return false;
        }
    }
    /* as http-parser frames it: HEAD never has a body; 204 and 304 none unless they say so */
    if (!have_len && !head_req && status != 204 && status != 304)
        return false; /* chunked or read to the close: http-parser */
    out->status = status;
    out->body_len = head_req || !have_len ? 0 : len;
    out->keep = keep;
    out->head_len = (size_t)(p - buf);
    return true;
}

bool load_resp_scan_cached(struct load_resp_cache *c, const char *buf, size_t n, bool head_req,
                           struct load_resp_head *out)
{
    if (c->len && c->head_req == head_req && n >= c->len && memcmp(buf, c->head, c->len) == 0) {
        *out = c->r;
        return true;
    }
    if (!load_resp_scan(buf, n, head_req, out))
        return false;
    if (out->head_len <= sizeof(c->head)) {
        memcpy(c->head, buf, out->head_len);
        c->len = out->head_len;
        c->head_req = head_req;
        c->r = *out;
    }
    return true;
}
