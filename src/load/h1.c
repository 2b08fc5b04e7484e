/*
 * load_h1: the load engine's native HTTP/1.1 client, for http:// and https:// URLs (the default
 * there). The socket under it is plain TCP (net.c) or TLS (tls.c), behind struct load_sockops:
 * this file never asks which; a TLS connection stays "connecting" (and under the connect
 * timeout) until its handshake is done, and a failed handshake is the outcome tls_error.
 *
 * Why not libcurl for this too. On the 2-core machines zonedef is built on, client and servers
 * share the CPU, so the requests per second a load balancer can be pushed to are set by the
 * client's CPU per request. libcurl 7.88 spends about 30 us of one core on a kept-alive request
 * (it parses the URL again, builds a connection and throws it away for the cached one, polls the
 * cached socket to see that it is alive and again before the first read, formats the request
 * with its own printf); wrk about 13 us. This engine does what wrk does: the request bytes are
 * built once, a request costs one send() and one recv() (plus a share of an epoll wait), and the
 * response head is read by resp.c's quick scan when it is the common kind (a complete HTTP/1.1
 * head with a Content-Length), by http-parser (the parser wrk uses, from Debian) otherwise, with
 * no copy either way (README: bench, for the numbers and the profile).
 *
 * What a request goes through, and how each way it can end is classified the way curl.c
 * classifies libcurl's verdicts, so the two engines give the same numbers:
 *   - a free kept-alive connection (most recently used first), or a new one while the worker is
 *     under its share of the connections, or else a FIFO wait for one (the in-flight cap above
 *     the connections);
 *   - connect: refused (RST) is connect_refused; no answer within the connect timeout, or the
 *     request timeout while connecting or waiting for a connection, is connect_timeout;
 *   - request timeout once connected: response_timeout (the connection is closed: its answer
 *     may still come);
 *   - EOF or a reset before the response is complete: reset. When that happens on a reused
 *     connection before a byte of the response came back, the server closed a kept-alive
 *     connection just as the request went out: the request is re-sent once on another
 *     connection and counted as `retried`, which is what libcurl (and browsers) do;
 *   - a response the parser refuses: other; a complete one: by status and body (load.c).
 * Timeouts cost no timer structure: every request has the same timeout and every connect the
 * same connect timeout, so deadlines come in start order and two FIFO lists are the timer queue.
 * The sockets are level-triggered in the worker's epoll set: a connecting socket waits for
 * EPOLLOUT, a connected one for EPOLLIN (an idle one too: that is how a server's close of an
 * idle connection is seen without polling it before reuse); EPOLLOUT only while a request does
 * not fit the socket buffer.
 */
#include <curl/curl.h>
#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "load/engine.h"
#include "base/util.h"

#include "base/banned.h"

#define H1_READ_BUF (64u << 10)

enum h1state { H1_CLOSED, H1_CONNECTING, H1_IDLE, H1_BUSY };

struct h1load {
    const struct load_sockops *io; /* plain (net.c) or TLS (tls.c) */
    bool tls;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *req; /* the whole request, headers and body */
    size_t req_len;
};

struct h1conn {
    struct worker *w;
    uint32_t idx, gen; /* epoll data: both, so an event for a socket since closed is ignored */
    struct load_sock sk;
    enum h1state st;
    bool tcp_up;            /* CONNECTING: TCP is up, the (TLS) handshake runs */
    uint64_t t_open, t_tcp; /* when connect() was called, when TCP was up (monotonic us) */
    uint32_t served;        /* responses completed on this connection */
    struct slot *req;       /* the request it carries (CONNECTING, BUSY) */
    size_t wr_off;          /* bytes of the request written */
    bool want_out;          /* EPOLLOUT in the epoll set */
    bool got_bytes;         /* of the current response */
    bool headers_done;      /* of the current response */
    bool done, keep;        /* the current response is complete; the connection may be reused */
    bool fast;          /* its head was taken by load_resp_scan: the body is counted, not parsed */
    uint64_t body_left; /* fast: body bytes still to come */
    size_t fast_skip;   /* fast: head bytes at the start of the current read */
    long status;
    uint64_t bytes;         /* body bytes of the current response */
    uint64_t conn_deadline; /* CONNECTING: absolute us */
    struct load_link link;  /* on the list of its state: closed, connecting or idle */
    http_parser p;
};

struct h1worker {
    struct h1load *hl;
    struct h1conn *conns;
    unsigned nconns;
    struct load_list closed, connecting, idle;
    struct load_list flight;  /* every request in flight, in start order (their deadlines) */
    struct load_list waiting; /* requests waiting for a connection */
    http_parser_settings ps;
    char *buf;
    struct load_resp_cache rc; /* the last response head resp.c took */
};

/* ---- lists ------------------------------------------------------------------------------ */

#define ENTRY(link, type, member) ((type *)(void *)((char *)(link)-offsetof(type, member)))

static void list_push(struct load_list *li, struct load_link *n, bool front)
{
    if (front) {
        n->prev = NULL;
        n->next = li->head;
        if (li->head)
            li->head->prev = n;
        else
            li->tail = n;
        li->head = n;
    } else {
        n->next = NULL;
        n->prev = li->tail;
        if (li->tail)
            li->tail->next = n;
        else
            li->head = n;
        li->tail = n;
    }
}

static void list_remove(struct load_list *li, struct load_link *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        li->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        li->tail = n->prev;
    n->prev = n->next = NULL;
}

/* The first connection or request of a list, or NULL. */
static struct h1conn *first_conn(const struct load_list *li)
{
    return li->head ? ENTRY(li->head, struct h1conn, link) : NULL;
}

static struct slot *first_in_flight(const struct h1worker *h)
{
    return h->flight.head ? ENTRY(h->flight.head, struct slot, e.h.flight) : NULL;
}

static struct slot *first_waiting(const struct h1worker *h)
{
    return h->waiting.head ? ENTRY(h->waiting.head, struct slot, e.h.wait) : NULL;
}

static struct load_list *list_of(struct h1worker *h, enum h1state st)
{
    switch (st) {
    case H1_CLOSED: return &h->closed;
    case H1_CONNECTING: return &h->connecting;
    case H1_IDLE: return &h->idle;
    default: return NULL;
    }
}

/* Moves c to the list of state st: closed and idle most recently used first, connecting in
 * deadline order (busy connections are on none). */
static void set_state(struct h1worker *h, struct h1conn *c, enum h1state st)
{
    struct load_list *from = list_of(h, c->st), *to = list_of(h, st);
    if (from)
        list_remove(from, &c->link);
    c->st = st;
    if (to)
        list_push(to, &c->link, st != H1_CONNECTING);
}

static void queue_add(struct h1worker *h, struct slot *s, bool front)
{
    s->e.h.queued = true;
    list_push(&h->waiting, &s->e.h.wait, front);
}

static void queue_remove(struct h1worker *h, struct slot *s)
{
    if (!s->e.h.queued)
        return;
    list_remove(&h->waiting, &s->e.h.wait);
    s->e.h.queued = false;
}

/* ---- connections ------------------------------------------------------------------------ */

static void set_events(struct h1conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {0};
    ev.events = events;
    ev.data.u64 = (uint64_t)c->gen << 32 | c->idx;
    epoll_ctl(c->w->epfd, op, c->sk.fd, &ev);
}

/* Closes the connection (close() takes it out of the epoll set); its request, if any, stays
 * with the caller. */
static void conn_close(struct h1worker *h, struct h1conn *c)
{
    h->hl->io->close(&c->sk);
    if (c->sk.fd >= 0)
        close(c->sk.fd);
    c->sk.fd = -1;
    if (c->req)
        c->req->e.h.conn = NULL;
    c->req = NULL;
    c->want_out = false;
    set_state(h, c, H1_CLOSED);
}

/* The request in s is over with outcome o. */
static void req_done(struct h1worker *h, struct slot *s, enum tl_outcome o, uint64_t bytes)
{
    list_remove(&h->flight, &s->e.h.flight);
    queue_remove(h, s);
    if (s->e.h.conn)
        s->e.h.conn->req = NULL;
    s->e.h.conn = NULL;
    load_slot_done(s->w, s, o, bytes);
}

/* The connection broke before the response was complete: re-send once when a reused connection
 * died before answering (a kept-alive connection the server had just closed), else `o`. */
static void conn_failed(struct h1worker *h, struct h1conn *c, enum tl_outcome o)
{
    struct slot *s = c->req;
    bool resend = s && c->served > 0 && !c->got_bytes && !s->retried;
    conn_close(h, c);
    if (!s)
        return;
    if (resend) {
        s->retried = true;
        queue_add(h, s, true);
    } else {
        req_done(h, s, o, 0);
    }
}

static void write_request(struct h1worker *h, struct h1conn *c)
{
    const struct h1load *hl = h->hl;
    while (c->wr_off < hl->req_len) {
        size_t put = 0;
        enum load_io r = hl->io->write(&c->sk, hl->req + c->wr_off, hl->req_len - c->wr_off, &put);
        if (r == LOAD_IO_OK) {
            c->wr_off += put;
            continue;
        }
        if (r == LOAD_IO_WANT_WRITE) {
            if (!c->want_out) {
                set_events(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                c->want_out = true;
            }
            return;
        }
        if (r == LOAD_IO_WANT_READ)
            return; /* TLS wants the peer first: EPOLLIN is set, the read side retries */
        conn_failed(h, c, TL_RESET);
        return;
    }
    if (c->want_out) {
        set_events(c, EPOLLIN, EPOLL_CTL_MOD);
        c->want_out = false;
    }
}

/* Puts request s on connected connection c and sends it. */
static void assign(struct h1worker *h, struct h1conn *c, struct slot *s)
{
    queue_remove(h, s);
    set_state(h, c, H1_BUSY);
    c->req = s;
    s->e.h.conn = c;
    c->wr_off = 0;
    c->got_bytes = c->headers_done = c->done = c->keep = c->fast = false;
    c->status = 0;
    c->bytes = 0;
    http_parser_init(&c->p, HTTP_RESPONSE);
    c->p.data = c;
    write_request(h, c);
}

static enum tl_outcome connect_error(int e)
{
    if (e == ECONNREFUSED)
        return TL_CONNECT_REFUSED;
    if (e == ETIMEDOUT)
        return TL_CONNECT_TIMEOUT;
    return TL_OTHER;
}

/* The TCP connection of connecting c is up: start the session (TLS: the handshake). */
static void conn_handshake(struct h1worker *h, struct h1conn *c)
{
    struct slot *s = c->req;
    switch (h->hl->io->handshake(s->w, &c->sk)) {
    case LOAD_IO_OK:
        if (h->hl->tls)
            load_conn_timed(s->w, 0, zd_now_us() - c->t_tcp);
        set_events(c, EPOLLIN, EPOLL_CTL_MOD);
        assign(h, c, s);
        return;
    case LOAD_IO_WANT_READ: set_events(c, EPOLLIN, EPOLL_CTL_MOD); return;
    case LOAD_IO_WANT_WRITE: set_events(c, EPOLLOUT, EPOLL_CTL_MOD); return;
    default:
        conn_close(h, c);
        req_done(h, s, TL_TLS_ERROR, 0);
        return;
    }
}

static void conn_established(struct h1worker *h, struct h1conn *c, uint64_t now)
{
    c->tcp_up = true;
    c->t_tcp = now;
    load_conn_timed(c->req->w, now - c->t_open, 0);
    conn_handshake(h, c);
}

/* Opens closed connection c for request s. */
static void conn_open(struct h1worker *h, struct h1conn *c, struct slot *s, uint64_t now)
{
    const struct h1load *hl = h->hl;
    queue_remove(h, s);
    int fd = socket(hl->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        req_done(h, s, TL_OTHER, 0); /* out of descriptors: counted, not fatal */
        return;
    }
    s->opened++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->sk.fd = fd;
    c->sk.ssl = NULL;
    c->gen++;
    c->served = 0;
    c->want_out = false;
    c->tcp_up = false;
    c->t_open = now;
    c->req = s;
    s->e.h.conn = c;
    int rc = connect(fd, (const struct sockaddr *)&hl->addr, hl->addrlen);
    if (rc < 0 && errno != EINPROGRESS) {
        enum tl_outcome o = connect_error(errno);
        conn_close(h, c);
        req_done(h, s, o, 0);
        return;
    }
    c->conn_deadline = now + s->w->l->connect_timeout_us;
    set_state(h, c, H1_CONNECTING);
    set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
    if (rc == 0)
        conn_established(h, c, now);
}

/* Gives waiting requests the connections that are free: kept-alive ones first, then new ones
 * while the worker is under its share. */
static void kick(struct h1worker *h)
{
    struct slot *s;
    while ((s = first_waiting(h))) {
        if (h->idle.head)
            assign(h, first_conn(&h->idle), s);
        else if (h->closed.head)
            conn_open(h, first_conn(&h->closed), s, zd_now_us());
        else
            break;
    }
}

/* ---- responses ---------------------------------------------------------------------------- */

static int on_headers_complete(http_parser *p)
{
    struct h1conn *c = p->data;
    c->status = p->status_code;
    c->headers_done = true;
    /* a response to HEAD has no body whatever its headers say */
    return c->w->l->nobody ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct h1conn *c = p->data;
    c->bytes += len;
    if (c->req)
        load_body_append(c->req, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct h1conn *c = p->data;
    if (c->status >= 100 && c->status <= 199 && c->status != 101) {
        /* an interim response (100 Continue, 103 Early Hints): the real one follows */
        c->headers_done = false;
        c->status = 0;
        return 0;
    }
    c->done = true;
    c->keep = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1); /* anything after it is not ours: stop here */
    return 0;
}

/* The response on c is complete. */
static void response_done(struct h1worker *h, struct h1conn *c, bool keep)
{
    struct slot *s = c->req;
    enum tl_outcome o = load_response_outcome(s->w, s, c->status);
    uint64_t bytes = c->bytes;
    c->served++;
    c->req = NULL;
    s->e.h.conn = NULL;
    if (keep)
        set_state(h, c, H1_IDLE);
    else
        conn_close(h, c);
    req_done(h, s, o, bytes);
}

/* The first read of a response: when resp.c takes its head, the response is framed by its
 * Content-Length from here on and http-parser never sees it. */
static bool fast_head(struct h1worker *h, struct h1conn *c, size_t n)
{
    struct load_resp_head rh;
    if (!load_resp_scan_cached(&h->rc, h->buf, n, c->w->l->nobody, &rh))
        return false;
    c->got_bytes = c->headers_done = c->fast = true;
    c->status = rh.status;
    c->keep = rh.keep;
    c->body_left = rh.body_len;
    c->fast_skip = rh.head_len;
    return true;
}

/* Body bytes of a fast response in buf[0..n) (after its head, on the first read): counted and
 * kept for the body regex. Returns the bytes of buf that belonged to the response. */
static size_t fast_body(struct h1conn *c, const char *buf, size_t n)
{
    size_t off = c->fast_skip;
    c->fast_skip = 0;
    size_t avail = n - off, take = avail < c->body_left ? avail : (size_t)c->body_left;
    c->body_left -= take;
    c->bytes += take;
    if (take && c->req)
        load_body_append(c->req, buf + off, take);
    return off + take;
}

/* Reads what the connection has (TLS: on while OpenSSL holds bytes of a record already
 * read, which epoll cannot see) and feeds it to the parser. */
static void conn_read(struct h1worker *h, struct h1conn *c)
{
    const struct load_sockops *io = h->hl->io;
    for (;;) {
        size_t n = 0;
        enum load_io r = io->read(&c->sk, h->buf, H1_READ_BUF, &n);
        if (r == LOAD_IO_WANT_READ || r == LOAD_IO_WANT_WRITE)
            return;
        if (r != LOAD_IO_OK) {
            /* EOF ends a response that runs until the connection closes; anything else is cut */
            if (r == LOAD_IO_EOF && c->headers_done && !c->fast) {
                http_parser_execute(&c->p, &h->ps, NULL, 0);
                if (c->done) {
                    response_done(h, c, false);
                    return;
                }
            }
            conn_failed(h, c, TL_RESET);
            return;
        }
        if (c->fast || (!c->got_bytes && fast_head(h, c, n))) {
            size_t used = fast_body(c, h->buf, n);
            if (c->body_left == 0) {
                response_done(h, c, c->keep && used == n && !io->pending(&c->sk));
                return;
            }
            if (!io->pending(&c->sk))
                return;
            continue;
        }
        c->got_bytes = true;
        size_t used = http_parser_execute(&c->p, &h->ps, h->buf, n);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
        if (c->done) {
            /* bytes after the response (or a parser that wants more): the connection is not
             * clean */
            response_done(h, c, c->keep && e == HPE_PAUSED && used == n && !io->pending(&c->sk));
            return;
        }
        if (e != HPE_OK) {
            /* a malformed response: what libcurl calls a weird server reply; cut mid-body:
             * reset */
            enum tl_outcome o = c->headers_done ? TL_RESET : TL_OTHER;
            struct slot *s = c->req;
            conn_close(h, c);
            req_done(h, s, o, 0);
            return;
        }
        if (!io->pending(&c->sk))
            return;
    }
}

/* ---- the engine's entry points ----------------------------------------------------------- */

static void h_send(struct worker *w, struct slot *s, uint64_t now)
{
    struct h1worker *h = w->eng;
    s->e.h.conn = NULL;
    s->e.h.queued = false;
    s->e.h.deadline = now + w->l->timeout_us;
    list_push(&h->flight, &s->e.h.flight, false);
    queue_add(h, s, false);
    kick(h);
}

static void h_event(struct worker *w, const struct epoll_event *ev)
{
    struct h1worker *h = w->eng;
    uint32_t idx = (uint32_t)ev->data.u64, gen = (uint32_t)(ev->data.u64 >> 32);
    if (idx >= h->nconns || h->conns[idx].gen != gen)
        return; /* a socket closed earlier in this round of events */
    struct h1conn *c = &h->conns[idx];
    switch (c->st) {
    case H1_CONNECTING: {
        if (c->tcp_up) {
            conn_handshake(h, c);
            break;
        }
        int e = 0;
        socklen_t len = sizeof(e);
        if (getsockopt(c->sk.fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
            e = errno;
        if (e == 0 && !(ev->events & (EPOLLERR | EPOLLHUP))) {
            conn_established(h, c, zd_now_us());
        } else {
            struct slot *s = c->req;
            conn_close(h, c);
            req_done(h, s, connect_error(e ? e : ECONNREFUSED), 0);
        }
        break;
    }
    case H1_BUSY:
        if ((ev->events & EPOLLOUT) && c->want_out)
            write_request(h, c);
        if (c->st == H1_BUSY && (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
            conn_read(h, c);
        break;
    case H1_IDLE: {
        /* the server closed a kept-alive connection (or sent what nobody asked for); TLS may
         * also just have taken in a session ticket or a key update, which keeps it */
        char b[64];
        size_t got;
        if (h->hl->io->read(&c->sk, b, sizeof(b), &got) != LOAD_IO_WANT_READ)
            conn_close(h, c);
        break;
    }
    case H1_CLOSED: break;
    }
    kick(h);
}

static uint64_t h_deadline(struct worker *w)
{
    struct h1worker *h = w->eng;
    struct slot *s = first_in_flight(h);
    struct h1conn *c = first_conn(&h->connecting);
    uint64_t d = s ? s->e.h.deadline : LOAD_NEVER;
    if (c && c->conn_deadline < d)
        d = c->conn_deadline;
    return d;
}

static void h_expire(struct worker *w, uint64_t now)
{
    struct h1worker *h = w->eng;
    struct h1conn *c;
    while ((c = first_conn(&h->connecting)) && c->conn_deadline <= now) {
        struct slot *s = c->req;
        conn_close(h, c);
        if (s)
            req_done(h, s, TL_CONNECT_TIMEOUT, 0);
    }
    struct slot *s;
    while ((s = first_in_flight(h)) && s->e.h.deadline <= now) {
        c = s->e.h.conn;
        enum tl_outcome o = TL_CONNECT_TIMEOUT; /* still waiting for a connection */
        if (c && c->st == H1_BUSY)
            o = TL_RESPONSE_TIMEOUT;
        if (c)
            conn_close(h, c); /* an answer may still come: the connection is spoilt */
        req_done(h, s, o, 0);
    }
    kick(h);
}

/* ---- set-up ------------------------------------------------------------------------------- */

/* The custom header named `name`, or NULL. An empty value means "do not send this header". */
static const struct load_header *find_header(const struct load *l, const char *name)
{
    for (size_t i = 0; i < l->nheaders; i++)
        if (strcasecmp(l->headers[i].name, name) == 0)
            return &l->headers[i];
    return NULL;
}

static void add_default(struct sbuf *sb, const struct load *l, const char *name, const char *v)
{
    if (!find_header(l, name))
        sbuf_addf(sb, "%s: %s\r\n", name, v);
}

/* The request, byte for byte what libcurl sends for the same options (test_load checks it): the
 * request line; Host (port only when not 80), or the custom Host in its place; Accept unless a
 * custom one comes with the others; the custom headers in their order (one with an empty value
 * is not sent: libcurl's way to remove a default); for a body, Content-Length and libcurl's
 * default Content-Type unless given; the body. */
static int build_request(struct load *l, struct h1load *hl, const char *path, const char *query,
                         const char *hostport, char **err)
{
    struct sbuf sb;
    sbuf_init(&sb, 2 * 1024 * 1024);
    const char *method = l->nobody ? "HEAD" : l->method ? l->method : l->body ? "POST" : "GET";
    sbuf_addf(&sb, "%s %s%s%s HTTP/1.1\r\n", method, path, query ? "?" : "", query ? query : "");
    const struct load_header *host = find_header(l, "Host");
    if (!host)
        sbuf_addf(&sb, "Host: %s\r\n", hostport);
    else if (*host->value)
        sbuf_addf(&sb, "Host: %s\r\n", host->value);
    add_default(&sb, l, "Accept", "*/*");
    for (size_t i = 0; i < l->nheaders; i++)
        if (*l->headers[i].value && strcasecmp(l->headers[i].name, "Host") != 0)
            sbuf_addf(&sb, "%s: %s\r\n", l->headers[i].name, l->headers[i].value);
    if (l->body) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", l->body_len);
        add_default(&sb, l, "Content-Length", n);
        add_default(&sb, l, "Content-Type", "application/x-www-form-urlencoded");
    }
    sbuf_adds(&sb, "\r\n");
    if (l->body)
        sbuf_add(&sb, l->body, l->body_len);
    if (sb.overflow) {
        sbuf_free(&sb);
        return zd_err(err, "the request is larger than 2 MiB");
    }
    hl->req_len = sb.len;
    hl->req = sbuf_detach(&sb);
    return 0;
}

bool load_h1_supports(const char *url, bool http2)
{
    if (http2 || !url)
        return false;
    CURLU *u = curl_url();
    if (!u)
        return false;
    bool ok = false;
    char *scheme = NULL, *user = NULL, *password = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0))
        ok = curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_OK &&
             curl_url_get(u, CURLUPART_PASSWORD, &password, 0) != CURLUE_OK;
    curl_free(scheme);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    return ok;
}

static int h_setup(struct load *l, char **err)
{
    struct h1load *hl = xcalloc(1, sizeof(*hl));
    l->eng_state = hl;
    CURLU *u = curl_url();
    if (!u)
        return zd_err(err, "out of memory parsing the URL");
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    int ret = -1;
    if (curl_url_set(u, CURLUPART_URL, l->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
        zd_err(err, "invalid URL '%s'", l->url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;
    /* getaddrinfo wants an IPv6 literal without its brackets */
    size_t hlen = strlen(host);
    char *name = host[0] == '[' && hlen > 2 ? xstrndup(host + 1, hlen - 2) : xstrdup(host);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(name, port, &hints, &res);
    free(name);
    if (gai != 0 || !res) {
        zd_err(err, "cannot resolve '%s': %s", host, gai_strerror(gai));
        ret = LOAD_SETUP_UNRESOLVED;
        goto out;
    }
    memcpy(&hl->addr, res->ai_addr, res->ai_addrlen);
    hl->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    hl->tls = strcmp(scheme, "https") == 0;
    hl->io = hl->tls ? &load_sock_tls : &load_sock_plain;
    if (hl->tls && load_tls_setup(l, host, err) < 0)
        goto out;
    /* the port in Host only when it is not the scheme's own, as libcurl does */
    const char *defport = hl->tls ? "443" : "80";
    char *hostport = strcmp(port, defport) == 0 ? xstrdup(host) : xasprintf("%s:%s", host, port);
    ret = build_request(l, hl, path, query, hostport, err);
    free(hostport);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return ret;
}

static void h_teardown(struct load *l)
{
    struct h1load *hl = l->eng_state;
    load_tls_teardown(l);
    if (!hl)
        return;
    free(hl->req);
    free(hl);
    l->eng_state = NULL;
}

static int h_worker_init(struct worker *w, char **err)
{
    struct h1worker *h = xcalloc(1, sizeof(*h));
    w->eng = h;
    h->hl = w->l->eng_state;
    h->nconns = w->conns ? w->conns : 1;
    h->conns = xcalloc(h->nconns, sizeof(*h->conns));
    for (unsigned i = 0; i < h->nconns; i++) {
        struct h1conn *c = &h->conns[i];
        c->w = w;
        c->idx = i;
        c->sk.fd = -1;
        c->sk.ssl = NULL;
        c->st = H1_CLOSED;
        list_push(&h->closed, &c->link, false);
    }
    h->buf = xmalloc(H1_READ_BUF);
    http_parser_settings_init(&h->ps);
    h->ps.on_headers_complete = on_headers_complete;
    h->ps.on_body = on_body;
    h->ps.on_message_complete = on_message_complete;
    (void)err;
    return 0;
}

static void h_worker_free(struct worker *w)
{
    struct h1worker *h = w->eng;
    if (!h)
        return;
    for (unsigned i = 0; i < h->nconns; i++) {
        h->hl->io->close(&h->conns[i].sk);
        if (h->conns[i].sk.fd >= 0)
            close(h->conns[i].sk.fd);
    }
    load_tls_worker_free(w);
    free(h->conns);
    free(h->buf);
    free(h);
    w->eng = NULL;
}

const struct load_engine load_engine_h1 = {
    .name = "native",
    .setup = h_setup,
    .teardown = h_teardown,
    .worker_init = h_worker_init,
    .worker_free = h_worker_free,
    .send = h_send,
    .event = h_event,
    .deadline = h_deadline,
    .expire = h_expire,
};
