/*
 * lab_instance: one lab instance, a small single-threaded epoll HTTP/1.1 server (keep-alive,
 * pipelining), and the client for its control endpoint.
 *
 *   GET /health                 200 "ok" (after the extra delay, like any answer)
 *   GET /anything               200 "ok zone=b instance=b1" after delay + service time
 *   GET|POST /_zonedef/control  reads or sets the knobs: ?delay_ms=&jitter_ms=&service_ms=
 *                               &concurrency=&cpu=  (HAProxy refuses this path from outside)
 *
 * Latency faults set delay_ms (there is no netem in this kernel), cpu_stress sets cpu (a share
 * of a core burnt in the background) and service_ms. A request holds one of `concurrency`
 * slots for its service time; beyond that requests queue (as many as there are slots, at most
 * 1 s) and then get 503. Everything a client controls is bounded: 16 KiB per request head and
 * body, 4096 connections, 30 s idle; malformed requests get 400 and the connection is closed.
 * The instance writes its counters to DIR/run/<id>.stats four times a second for the healer.
 */
#include "lab/lab.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"

#include "base/banned.h"

#define IN_MAX    (16u << 10)
#define OUT_MAX   1024
#define MAX_CONNS 4096
#define IDLE_US   (30ull * 1000000ull)
#define QUEUE_US  1000000ull
#define HEAD_US   (10ull * 1000000ull) /* a request head must arrive within this (slowloris) */

enum cstate { C_READ, C_WAIT, C_SERVE, C_WRITE };

struct conn {
    int fd;
    enum cstate st;
    char in[IN_MAX];
    size_t inlen;
    size_t reqlen; /* bytes of the request being answered */
    char out[OUT_MAX];
    size_t outlen, outoff;
    bool keep;        /* keep-alive after this answer */
    bool close_after; /* answer then close (errors) */
    bool holds_slot;
    uint64_t deadline_us; /* C_SERVE: answer at; C_WAIT: give up at */
    uint64_t last_us;     /* last activity, for the idle timeout */
    uint64_t head_us;     /* when the first byte of the current request head came */
    size_t idx;           /* position in inst.conns */
    bool dead;            /* closed; freed at the end of the loop iteration */
    struct conn *dnext;
    int status; /* the answer prepared for C_SERVE */
    bool head;  /* HEAD: no body in the answer */
    char body[160];
    struct conn *qnext; /* C_WAIT queue */
};

struct inst {
    const struct lab_instance_opts *o;
    char zone[4];
    struct lab_knobs k;
    int ep, lfd;
    struct conn **conns;
    size_t nconns, cap;
    struct conn *qhead, *qtail;
    struct conn *dead; /* closed connections events may still point at */
    unsigned inflight, queued;
    unsigned long long served, rejected;
    uint64_t rng;
};

static int knob_set(struct lab_knobs *k, const char *key, const char *val, char **err)
{
    static const struct {
        const char *name;
        size_t off;
        long long lo, hi;
    } tab[] = {
        {"delay_ms", offsetof(struct lab_knobs, delay_ms), 0, 60000},
        {"jitter_ms", offsetof(struct lab_knobs, jitter_ms), 0, 60000},
        {"service_ms", offsetof(struct lab_knobs, service_ms), 0, 10000},
        {"concurrency", offsetof(struct lab_knobs, concurrency), 1, 10000},
        {"cpu", offsetof(struct lab_knobs, cpu), 0, 95},
    };
    for (size_t i = 0; i < ZD_ARRAY_LEN(tab); i++) {
        if (strcmp(tab[i].name, key) != 0)
            continue;
        long long v;
        char *e = NULL;
        if (zd_parse_int(val, tab[i].lo, tab[i].hi, &v, &e) < 0) {
            zd_err(err, "%s: %s", key, e);
            free(e);
            return -1;
        }
        *(int *)((char *)k + tab[i].off) = (int)v;
        return 0;
    }
    /* the counters an instance reports next to its knobs are read-only, not errors */
    static const char *const ro[] = {"inflight", "queued", "served", "rejected", NULL};
    for (size_t i = 0; ro[i]; i++)
        if (strcmp(ro[i], key) == 0)
            return 0;
    static const char *const names[] = {"delay_ms",    "jitter_ms", "service_ms",
                                        "concurrency", "cpu",       NULL};
    const char *s = zd_suggest(key, names);
    return zd_err(err, "unknown knob '%s'%s%s%s", key, s ? " (did you mean '" : "", s ? s : "",
                  s ? "'?)" : "");
}

int lab_knobs_parse(const char *query, struct lab_knobs *k, char **err)
{
    struct lab_knobs t = *k;
    char *copy = xstrdup(query);
    char *save = NULL;
    int rc = 0;
    for (char *kv = strtok_r(copy, "& \n", &save); kv; kv = strtok_r(NULL, "& \n", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = zd_err(err, "'%s' is not key=value", kv);
            break;
        }
        *eq = '\0';
        if ((rc = knob_set(&t, kv, eq + 1, err)) < 0)
            break;
    }
    free(copy);
    if (rc == 0)
        *k = t;
    return rc;
}

/* ---- the server ---- */

static uint64_t rnd(struct inst *in)
{
    in->rng ^= in->rng << 13;
    in->rng ^= in->rng >> 7;
    in->rng ^= in->rng << 17;
    return in->rng;
}

static void conn_close(struct inst *in, struct conn *c)
{
    if (c->holds_slot && in->inflight)
        in->inflight--;
    epoll_ctl(in->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    /* unlink from the wait queue */
    struct conn **pp = &in->qhead, *prev = NULL;
    while (*pp) {
        if (*pp == c) {
            if (in->qtail == c)
                in->qtail = prev;
            *pp = c->qnext;
            in->queued--;
            break;
        }
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    struct conn *last = in->conns[--in->nconns];
    in->conns[c->idx] = last;
    last->idx = c->idx;
    c->dead = true;
    c->dnext = in->dead;
    in->dead = c;
}

static void free_dead(struct inst *in)
{
    while (in->dead) {
        struct conn *c = in->dead;
        in->dead = c->dnext;
        free(c);
    }
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    }
    return "Unknown";
}

/* Builds the answer in c->out and starts writing it. */
static void respond(struct inst *in, struct conn *c, int status, const char *body, bool head)
{
    bool keep = c->keep && !c->close_after;
    int n = snprintf(c->out, sizeof(c->out),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "X-Zonedef-Instance: %s\r\nConnection: %s\r\n\r\n%s",
                     status, reason(status), strlen(body), in->o->id, keep ? "keep-alive" : "close",
                     head ? "" : body);
    c->outlen = n > 0 && (size_t)n < sizeof(c->out) ? (size_t)n : 0;
    c->outoff = 0;
    c->keep = keep;
    c->st = C_WRITE;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(in->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static uint64_t delay_us(struct inst *in)
{
    uint64_t d = (uint64_t)in->k.delay_ms * 1000;
    if (in->k.jitter_ms > 0)
        d += rnd(in) % ((uint64_t)in->k.jitter_ms * 1000 + 1);
    return d;
}

static void start_service(struct inst *in, struct conn *c, uint64_t now)
{
    c->holds_slot = true;
    in->inflight++;
    c->st = C_SERVE;
    c->status = 200;
    c->deadline_us = now + delay_us(in) + (uint64_t)in->k.service_ms * 1000;
    struct epoll_event ev = {.events = 0, .data.ptr = c};
    epoll_ctl(in->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Answer later (after the delay) without holding a slot. */
static void answer_after_delay(struct inst *in, struct conn *c, int status, uint64_t now)
{
    c->st = C_SERVE;
    c->status = status;
    c->deadline_us = now + delay_us(in);
    struct epoll_event ev = {.events = 0, .data.ptr = c};
    epoll_ctl(in->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void handle_request(struct inst *in, struct conn *c, uint64_t now)
{
    char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    size_t hlen = (size_t)(end - c->in) + 4;
    *end = '\0';
    c->close_after = false;
    char method[16], target[1024], version[16];
    if (sscanf(c->in, "%15s %1023s %15s", method, target, version) != 3 ||
        !zd_str_has_prefix(version, "HTTP/1.")) {
        c->close_after = true;
        c->reqlen = c->inlen;
        respond(in, c, 400, "bad request\n", false);
        return;
    }
    c->keep = strcmp(version, "HTTP/1.0") != 0;
    size_t clen = 0;
    for (char *l = strstr(c->in, "\r\n"); l; l = strstr(l, "\r\n")) {
        l += 2;
        if (strncasecmp(l, "content-length:", 15) == 0) {
            char *e;
            unsigned long v = strtoul(l + 15, &e, 10);
            if (v > IN_MAX) {
                c->close_after = true;
                c->reqlen = c->inlen;
                respond(in, c, 413, "body too large\n", false);
                return;
            }
            clen = v;
        } else if (strncasecmp(l, "transfer-encoding:", 18) == 0) {
            c->close_after = true;
            c->reqlen = c->inlen;
            respond(in, c, 501, "chunked bodies are not supported\n", false);
            return;
        } else if (strncasecmp(l, "connection:", 11) == 0) {
            char v[64];
            size_t vl = strcspn(l + 11, "\r");
            snprintf(v, sizeof(v), "%.*s", (int)(vl < 63 ? vl : 63), l + 11);
            if (strcasestr(v, "close"))
                c->keep = false;
            else if (strcasestr(v, "keep-alive"))
                c->keep = true;
        }
    }
    *end = '\r';
    if (hlen + clen > IN_MAX) {
        c->close_after = true;
        c->reqlen = c->inlen;
        respond(in, c, 413, "request too large\n", false);
        return;
    }
    if (c->inlen < hlen + clen)
        return; /* the body is still coming */
    c->reqlen = hlen + clen;
    c->head = strcmp(method, "HEAD") == 0;
    bool get = strcmp(method, "GET") == 0 || c->head;
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    if (strcmp(target, "/health") == 0) {
        snprintf(c->body, sizeof(c->body), "ok\n");
        answer_after_delay(in, c, get ? 200 : 405, now);
        return;
    }
    if (strcmp(target, "/_zonedef/control") == 0) {
        char *e = NULL;
        int status = 200;
        if (strcmp(method, "POST") == 0 && q && lab_knobs_parse(q, &in->k, &e) < 0)
            status = 400;
        else if (!get && strcmp(method, "POST") != 0)
            status = 405;
        if (status == 400)
            snprintf(c->body, sizeof(c->body), "%s\n", e);
        else
            snprintf(c->body, sizeof(c->body),
                     "delay_ms=%d jitter_ms=%d service_ms=%d concurrency=%d cpu=%d inflight=%u "
                     "queued=%u served=%llu rejected=%llu\n",
                     in->k.delay_ms, in->k.jitter_ms, in->k.service_ms, in->k.concurrency,
                     in->k.cpu, in->inflight, in->queued, in->served, in->rejected);
        free(e);
        respond(in, c, status, c->body, false);
        return;
    }
    if (!get && strcmp(method, "POST") != 0) {
        snprintf(c->body, sizeof(c->body), "method not allowed\n");
        answer_after_delay(in, c, 405, now);
        return;
    }
    snprintf(c->body, sizeof(c->body), "ok zone=%s instance=%s\n", in->zone, in->o->id);
    if (in->inflight < (unsigned)in->k.concurrency) {
        start_service(in, c, now);
    } else if (in->queued < (unsigned)in->k.concurrency) {
        c->st = C_WAIT;
        c->deadline_us = now + QUEUE_US;
        c->qnext = NULL;
        if (in->qtail)
            in->qtail->qnext = c;
        else
            in->qhead = c;
        in->qtail = c;
        in->queued++;
        struct epoll_event ev = {.events = 0, .data.ptr = c};
        epoll_ctl(in->ep, EPOLL_CTL_MOD, c->fd, &ev);
    } else {
        in->rejected++;
        snprintf(c->body, sizeof(c->body), "overloaded\n");
        answer_after_delay(in, c, 503, now);
    }
}

/* After an answer went out: drop the request from the buffer, go on with the next one. */
static void next_request(struct inst *in, struct conn *c, uint64_t now)
{
    if (c->holds_slot) {
        c->holds_slot = false;
        in->inflight--;
    }
    memmove(c->in, c->in + c->reqlen, c->inlen - c->reqlen);
    c->inlen -= c->reqlen;
    c->reqlen = 0;
    c->head_us = now;
    c->st = C_READ;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(in->ep, EPOLL_CTL_MOD, c->fd, &ev);
    if (memmem(c->in, c->inlen, "\r\n\r\n", 4))
        handle_request(in, c, now);
}

static void on_writable(struct inst *in, struct conn *c, uint64_t now)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w <= 0) {
            conn_close(in, c);
            return;
        }
        c->outoff += (size_t)w;
    }
    c->last_us = now;
    if (!c->keep) {
        conn_close(in, c);
        return;
    }
    next_request(in, c, now);
}

static void on_readable(struct inst *in, struct conn *c, uint64_t now)
{
    for (;;) {
        if (c->inlen >= IN_MAX) {
            if (!memmem(c->in, c->inlen, "\r\n\r\n", 4)) {
                c->close_after = true;
                c->reqlen = c->inlen;
                respond(in, c, 431, "request head too large\n", false);
            }
            return;
        }
        if (c->inlen == 0)
            c->head_us = now;
        ssize_t r = recv(c->fd, c->in + c->inlen, IN_MAX - c->inlen, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0) {
            conn_close(in, c);
            return;
        }
        c->inlen += (size_t)r;
        c->last_us = now;
    }
    if (c->st == C_READ && memmem(c->in, c->inlen, "\r\n\r\n", 4))
        handle_request(in, c, now);
}

static void on_accept(struct inst *in, uint64_t now)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(in->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (in->nconns >= MAX_CONNS) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        c->st = C_READ;
        c->last_us = now;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(in->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        ZD_GROW(in->conns, in->cap, in->nconns + 1);
        c->idx = in->nconns;
        in->conns[in->nconns++] = c;
    }
}

/* Timers: answers whose time has come, queue timeouts, idle connections. Returns the next
 * deadline (or now + 100 ms). */
static uint64_t on_timers(struct inst *in, uint64_t now)
{
    uint64_t next = now + 100000;
    for (size_t i = 0; i < in->nconns;) {
        struct conn *c = in->conns[i];
        size_t before = in->nconns;
        if (c->st == C_SERVE && c->deadline_us <= now) {
            if (c->status == 200 && c->holds_slot)
                in->served++;
            respond(in, c, c->status, c->body, c->head);
        } else if (c->st == C_WAIT && c->deadline_us <= now) {
            /* waited its whole queue time: 503 */
            struct conn **pp = &in->qhead, *prev = NULL;
            while (*pp && *pp != c) {
                prev = *pp;
                pp = &(*pp)->qnext;
            }
            if (*pp) {
                *pp = c->qnext;
                if (in->qtail == c)
                    in->qtail = prev;
                in->queued--;
            }
            in->rejected++;
            snprintf(c->body, sizeof(c->body), "overloaded\n");
            respond(in, c, 503, c->body, false);
        } else if (c->st == C_READ &&
                   (now - c->last_us > IDLE_US || (c->inlen && now - c->head_us > HEAD_US))) {
            conn_close(in, c);
        } else if ((c->st == C_SERVE || c->st == C_WAIT) && c->deadline_us < next) {
            next = c->deadline_us;
        }
        if (in->nconns == before)
            i++;
    }
    /* free slots go to the queue, oldest first */
    while (in->qhead && in->inflight < (unsigned)in->k.concurrency) {
        struct conn *c = in->qhead;
        in->qhead = c->qnext;
        if (!in->qhead)
            in->qtail = NULL;
        in->queued--;
        start_service(in, c, now);
        if (c->deadline_us < next)
            next = c->deadline_us;
    }
    return next;
}

static void write_stats(struct inst *in)
{
    if (!in->o->dir)
        return;
    char path[512], line[128];
    snprintf(path, sizeof(path), "%s/run/%s.stats", in->o->dir, in->o->id);
    int n = snprintf(line, sizeof(line), "%u %u %llu %llu %d\n", in->inflight, in->queued,
                     in->served, in->rejected, in->k.concurrency);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (pwrite(fd, line, (size_t)n, 0) == n && ftruncate(fd, n) == 0) {
        /* nothing more to do */
    }
    close(fd);
}

int lab_instance_run(const struct lab_instance_opts *o, char **err)
{
    struct inst in = {.o = o, .ep = -1, .lfd = -1};
    in.k = (struct lab_knobs){
        .delay_ms = 0, .jitter_ms = 0, .service_ms = 0, .concurrency = 64, .cpu = 0};
    in.rng = zd_wall_us() | 1;
    int z, s;
    if (lab_parse_instance_id(o->id, &z, &s) < 0)
        return zd_err(err, "'%s' is not a lab instance id (like 'b1')", o->id);
    snprintf(in.zone, sizeof(in.zone), "%c", lab_zone_name(z));

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->ip, &sa.sin_addr) != 1)
        return zd_err(err, "'%s' is not an IPv4 address", o->ip);
    in.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(in.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(in.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(in.lfd, 1024) < 0) {
        int e = errno;
        close(in.lfd);
        return zd_err(err, "cannot listen on %s:%d: %s", o->ip, o->port, strerror(e));
    }
    socklen_t sl = sizeof(sa);
    if (o->bound_port && getsockname(in.lfd, (struct sockaddr *)&sa, &sl) == 0)
        *o->bound_port = ntohs(sa.sin_port);
    in.ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(in.ep, EPOLL_CTL_ADD, in.lfd, &ev);

    uint64_t next_stats = 0, burn_cycle = 0;
    while (!*o->stop) {
        uint64_t now = zd_now_us();
        uint64_t next = on_timers(&in, now);
        if (now >= next_stats) {
            write_stats(&in);
            next_stats = now + 250000;
        }
        /* cpu: burn cpu% of every 10 ms, serve in the rest */
        if (in.k.cpu > 0 && now >= burn_cycle) {
            uint64_t until = now + (uint64_t)in.k.cpu * 100;
            volatile uint64_t x = 0;
            while (zd_now_us() < until)
                x++;
            burn_cycle = now + 10000;
            now = zd_now_us();
            if (next > burn_cycle)
                next = burn_cycle;
        }
        int wait_ms = next > now ? (int)((next - now + 999) / 1000) : 0;
        struct epoll_event evs[64];
        int n = epoll_wait(in.ep, evs, 64, wait_ms);
        if (n < 0 && errno != EINTR) {
            zd_err(err, "epoll_wait: %s", strerror(errno));
            break;
        }
        now = zd_now_us();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                on_accept(&in, now);
                continue;
            }
            if (c->dead) /* closed earlier in this batch */
                continue;
            if (evs[i].events & (EPOLLERR | EPOLLHUP) && c->st != C_WRITE) {
                if (!(evs[i].events & EPOLLIN)) {
                    conn_close(&in, c);
                    continue;
                }
            }
            if (c->st == C_WRITE)
                on_writable(&in, c, now);
            else if (c->st == C_READ)
                on_readable(&in, c, now);
        }
        free_dead(&in);
    }
    while (in.nconns)
        conn_close(&in, in.conns[0]);
    free_dead(&in);
    free(in.conns);
    close(in.ep);
    close(in.lfd);
    return *o->stop ? 0 : -1;
}

/* ---- the control client ---- */

int lab_control(const char *ip, int port, const char *query, uint64_t timeout_us,
                struct lab_knobs *now_k, char **err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
        return zd_err(err, "'%s' is not an IPv4 address", ip);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return zd_err(err, "socket: %s", strerror(errno));
    uint64_t deadline = zd_now_us() + timeout_us;
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        rc = errno == ECONNREFUSED ? -2 : -1;
        zd_err(err, "%s:%d: %s", ip, port, strerror(errno));
        close(fd);
        return rc;
    }
    struct sbuf req = SBUF_INIT, resp = SBUF_INIT;
    sbuf_init(&resp, 4096);
    sbuf_addf(&req,
              "%s /_zonedef/control%s%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
              "Content-Length: 0\r\n\r\n",
              query ? "POST" : "GET", query ? "?" : "", query ? query : "", ip);
    size_t off = 0;
    bool connected = false;
    while (rc == 0) {
        uint64_t t = zd_now_us();
        if (t >= deadline) {
            rc = zd_err(err, "%s:%d: no answer within %llums", ip, port,
                        (unsigned long long)(timeout_us / 1000));
            break;
        }
        struct pollfd p = {.fd = fd, .events = off < req.len ? POLLOUT : POLLIN};
        int pr = poll(&p, 1, (int)((deadline - t) / 1000 + 1));
        if (pr <= 0)
            continue;
        if (!connected) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr) {
                zd_err(err, "%s:%d: %s", ip, port, strerror(soerr));
                rc = soerr == ECONNREFUSED ? -2 : -1;
                break;
            }
            connected = true;
        }
        if (off < req.len) {
            ssize_t w = send(fd, req.buf + off, req.len - off, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (w < 0) {
                rc = zd_err(err, "%s:%d: %s", ip, port, strerror(errno));
                break;
            }
            off += (size_t)w;
            continue;
        }
        char buf[1024];
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r < 0) {
            rc = zd_err(err, "%s:%d: %s", ip, port, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        if (sbuf_add(&resp, buf, (size_t)r) < 0) {
            rc = zd_err(err, "%s:%d: answer too large", ip, port);
            break;
        }
    }
    close(fd);
    if (rc == 0) {
        const char *s = sbuf_str(&resp);
        const char *body = strstr(s, "\r\n\r\n");
        int status = 0;
        if (sscanf(s, "HTTP/1.%*d %d", &status) != 1 || !body)
            rc = zd_err(err, "%s:%d: not an HTTP answer", ip, port);
        else if (status != 200)
            rc = zd_err(err, "%s:%d: control: %.*s", ip, port, (int)strcspn(body + 4, "\n"),
                        body + 4);
        else if (now_k && lab_knobs_parse(body + 4, now_k, err) < 0)
            rc = -1;
    }
    sbuf_free(&req);
    sbuf_free(&resp);
    return rc;
}
