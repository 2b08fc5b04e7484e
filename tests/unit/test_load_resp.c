/* test_load_resp: the native engine's quick response-head scan (src/load/resp.c) against
 * http-parser, over a table of answers: whatever the scan takes, http-parser must read the same
 * way (status, body length, keep-alive); what it leaves, it must leave for a reason the table
 * names (http-parser then reads it, as before). */
#include <http_parser.h>

#include "harness.h"
#include "load/engine.h"

struct hp_result {
    int status;
    uint64_t body;
    bool complete, keep, error;
};

static int hp_headers(http_parser *p)
{
    struct hp_result *r = p->data;
    r->status = (int)p->status_code;
    return 0;
}

static int hp_headers_head(http_parser *p)
{
    hp_headers(p);
    return 1; /* an answer to HEAD: no body, as h1.c says */
}

static int hp_body(http_parser *p, const char *at, size_t len)
{
    struct hp_result *r = p->data;
    (void)at;
    r->body += len;
    return 0;
}

static int hp_done(http_parser *p)
{
    struct hp_result *r = p->data;
    r->complete = true;
    r->keep = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1);
    return 0;
}

static struct hp_result parse_hp(const char *resp, size_t n, bool head)
{
    struct hp_result r = {0};
    http_parser p;
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_headers_complete = head ? hp_headers_head : hp_headers;
    s.on_body = hp_body;
    s.on_message_complete = hp_done;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &r;
    http_parser_execute(&p, &s, resp, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&p);
    r.error = e != HPE_OK && e != HPE_PAUSED;
    return r;
}

struct row {
    const char *resp;
    bool head;
    bool taken; /* the scan takes it */
};

#define NGINX                                                                                      \
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 08:55:25 GMT\r\n"           \
    "Content-Type: text/plain\r\n"

static const struct row rows[] = {
    {NGINX "Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n", false, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, true},
    {"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n", false, true},
    {"HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx", false, true}, /* no reason phrase */
    {"HTTP/1.1 200 OK\r\nCONTENT-LENGTH:   12  \r\nCONNECTION: Close\r\n\r\nhello world\n", false,
     true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection:\tkeep-alive\r\n\r\nhello", false, true},
    {"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Tab: a\tb\r\nX-High: caf\xc3\xa9\r\nContent-Length: "
     "0\r\n\r\n",
     false, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true, true}, /* HEAD: no body */
    {"HTTP/1.1 204 No Content\r\n\r\n", false, true},
    {"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", false, true},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", false, true}, /* extra */
    {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart", false, true}, /* body still to come */
    /* left to http-parser */
    {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false},
    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\r\n\r\nread until the close", false, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", false, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nUpgrade: x\r\nContent-Length: 0\r\n\r\n", false,
     false},
    {"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\r\nBad Name: a\r\nContent-Length: 0\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\r\nX-Ctl: a\x01z\r\nContent-Length: 0\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\r\nX-Del: a\x7fz\r\nContent-Length: 0\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, false}, /* bare LF */
    {"HTTP/1.1 200 OK\r\nX-Cr: a\rb\r\nContent-Length: 0\r\n\r\n", false, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false, false}, /* head not complete */
    {"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", false, false},
    {"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n", false, false},
    {"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n", false, false},
    {"SURPRISE, NOT HTTP\r\n\r\n", false, false},
    {"", false, false},
};

static void test_scan_agrees_with_http_parser(void)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        size_t n = strlen(r->resp);
        struct load_resp_head h = {0};
        bool taken = load_resp_scan(r->resp, n, r->head, &h);
        if (taken != r->taken) {
            fprintf(stderr, "    row %zu: taken %d, want %d: %.60s\n", i, taken, r->taken, r->resp);
            CHECK(taken == r->taken);
            continue;
        }
        if (!taken)
            continue;
        struct hp_result p = parse_hp(r->resp, n, r->head);
        CHECK(!p.error);
        CHECK_EQ_INT(h.status, p.status);
        CHECK(h.head_len <= n);
        uint64_t avail = n - h.head_len;
        if (p.complete) {
            /* complete in the buffer: the same body length and keep-alive verdict */
            CHECK_EQ_INT(h.body_len, p.body);
            CHECK_EQ_INT(h.keep, p.keep);
            CHECK(avail >= h.body_len);
        } else {
            /* still to come: http-parser has read what is there, the scan frames the rest */
            CHECK(avail < h.body_len);
            CHECK_EQ_INT(avail, p.body);
        }
    }
}

/* Every prefix of a taken answer cut inside its head is left to http-parser, never misread. */
static void test_cut_heads(void)
{
    const char *resp = NGINX "Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n";
    struct load_resp_head h;
    CHECK(load_resp_scan(resp, strlen(resp), false, &h));
    size_t head_len = h.head_len;
    CHECK_EQ_INT(head_len, strlen(resp) - 3);
    for (size_t n = 0; n < head_len; n++)
        if (load_resp_scan(resp, n, false, &h)) {
            fprintf(stderr, "    a head cut at %zu bytes was taken\n", n);
            CHECK(!"a cut head is not taken");
            break;
        }
    CHECK(load_resp_scan(resp, head_len, false, &h));
    CHECK_EQ_INT(h.body_len, 3);
    CHECK_EQ_INT(h.keep, 1);
    CHECK_EQ_INT(h.status, 200);
}

/* The cached scan: a head seen before is recognised by its bytes and gets the verdict the scan
 * gives; one byte different (status, length, keep-alive, a Date) is scanned again; a shorter
 * read, another request method or a head the scan refuses never comes from the cache. */
static void test_cached_scan(void)
{
    static struct load_resp_cache c; /* 0.5 KiB: not on the stack */
    struct load_resp_head h, want;
    const char *a = NGINX "Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n";
    CHECK(load_resp_scan(a, strlen(a), false, &want));
    CHECK(load_resp_scan_cached(&c, a, strlen(a), false, &h));
    CHECK_EQ_INT(c.len, want.head_len);
    /* the same head again, with a different body after it: from the cache, the same verdict */
    char b[512];
    snprintf(b, sizeof(b), "%.*sXY\n", (int)want.head_len, a);
    memset(&h, 0, sizeof(h));
    CHECK(load_resp_scan_cached(&c, b, strlen(b), false, &h));
    CHECK_EQ_INT(h.status, 200);
    CHECK_EQ_INT(h.body_len, 3);
    CHECK_EQ_INT(h.keep, 1);
    CHECK_EQ_INT(h.head_len, want.head_len);
    /* the same length, one byte different each time: scanned, and the verdict is the new head's */
    const char *d[] = {
        NGINX "Content-Length: 7\r\nConnection: keep-alive\r\n\r\nok\n",
        NGINX "Content-Length: 3\r\nConnection: keep-alivf\r\n\r\nok\n", /* refused */
        NGINX "Content-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n",
    };
    char e[512];
    snprintf(e, sizeof(e), "%s", a);
    e[9] = '5'; /* HTTP/1.1 500 */
    CHECK(load_resp_scan_cached(&c, e, strlen(e), false, &h));
    CHECK_EQ_INT(h.status, 500);
    CHECK(load_resp_scan_cached(&c, d[0], strlen(d[0]), false, &h));
    CHECK_EQ_INT(h.body_len, 7);
    CHECK(!load_resp_scan_cached(&c, d[1], strlen(d[1]), false, &h));
    CHECK(load_resp_scan_cached(&c, d[2], strlen(d[2]), false, &h));
    CHECK_EQ_INT(h.status, 200);
    CHECK_EQ_INT(h.body_len, 3);
    /* a read that stops inside the cached head is not the cached head */
    for (size_t n = 0; n < want.head_len; n++)
        if (load_resp_scan_cached(&c, a, n, false, &h)) {
            fprintf(stderr, "    a head cut at %zu bytes was taken\n", n);
            CHECK(!"a cut head is not taken from the cache");
            break;
        }
    /* the same bytes answering a HEAD request: no body, whatever the cache holds */
    CHECK(load_resp_scan_cached(&c, a, strlen(a), true, &h));
    CHECK_EQ_INT(h.body_len, 0);
    CHECK(load_resp_scan_cached(&c, a, strlen(a), false, &h));
    CHECK_EQ_INT(h.body_len, 3);
    /* a head too long for the cache is still scanned right, every time */
    char big[2048];
    int off = snprintf(big, sizeof(big), "HTTP/1.1 404 Not Found\r\nX-Pad: ");
    memset(big + off, 'p', 900);
    snprintf(big + off + 900, sizeof(big) - (size_t)off - 900, "\r\nContent-Length: 1\r\n\r\nx");
    for (int i = 0; i < 2; i++) {
        CHECK(load_resp_scan_cached(&c, big, strlen(big), false, &h));
        CHECK_EQ_INT(h.status, 404);
        CHECK_EQ_INT(h.body_len, 1);
    }
    CHECK(load_resp_scan_cached(&c, a, strlen(a), false, &h));
    CHECK_EQ_INT(h.status, 200);
}

int main(void)
{
    TH_RUN(test_scan_agrees_with_http_parser, test_cut_heads, test_cached_scan);
}
