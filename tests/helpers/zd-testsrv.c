/*
 * zd-testsrv: a small HTTP/1.1 server for the load engine's tests, one epoll loop, keep-alive.
 * Each flag makes it misbehave in one way the engine must classify:
 *
 *   zd-testsrv --listen 127.0.0.1:19001 [--status N] [--body TEXT] [--delay MS] [--reset]
 *              [--chunked] [--close] [--garbage] [--drop-second] [--max-seconds N]
 *
 *   --status N       answer with status N (default 200)
 *   --body TEXT      response body (default "ok\n")
 *   --delay MS       answer each request MS milliseconds after it arrived
 *   --reset          send the headers and part of the body, then reset the connection (RST)
 *   --chunked        send the body with Transfer-Encoding: chunked, in two chunks
 *   --garbage        answer with a line that is not HTTP, then close
 *   --close          answer with "Connection: close" and close the connection after it
 *   --drop-second    on every connection, close without answering when the 2nd request
 *                    arrives (a keep-alive connection that died: libcurl re-sends the request)
 *   --max-seconds N  exit after N seconds whatever happens (default 60), so a test that dies
 *                    never leaves it behind
 *
 * Stop it with SIGTERM; SIGSTOP/SIGCONT freeze it (accepted connections wait in the backlog).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define MAX_REQ   (64 * 1024)

struct conn {
    int fd;
    char in[MAX_REQ];
    size_t inlen;
    char *out;
    size_t outlen, outoff;
    unsigned requests;
    uint64_t respond_at; /* ms; 0 = nothing pending */
    bool head_only;      /* the pending answer is to HEAD */
};

static int status_code = 200;
static const char *body = "ok\n";
static unsigned delay_ms;
static bool reset_mode, drop_second, chunked, close_mode, garbage;
static struct conn *conns[MAX_CONNS];
static int epfd;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
    fprintf(stderr, "zd-testsrv: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void conn_close(struct conn *c, bool rst)
{
    if (rst) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->out);
    free(c);
}

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* Writes what is queued; returns false when the connection is gone. */
static bool flush_out(struct conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = c->fd};
                epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
                return true;
            }
            conn_close(c, false);
            return false;
        }
        c->outoff += (size_t)n;
    }
    c->outlen = c->outoff = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    return true;
}

/* A response to HEAD has the headers of the GET response and no body. */
static bool respond(struct conn *c, bool head_only)
{
    size_t blen = strlen(body);
    char head[512];
    int hn;
    if (chunked && !reset_mode) {
        /* the body in two chunks: its first byte, then the rest */
        hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                      "Transfer-Encoding: chunked\r\n%s\r\n",
                      status_code, reason(status_code), close_mode ? "Connection: close\r\n" : "");
        if (!head_only && blen)
            hn += snprintf(head + hn, sizeof(head) - (size_t)hn,
                           "1\r\n%c\r\n%zx\r\n%s\r\n0\r\n\r\n", body[0], blen - 1, body + 1);
        else if (!head_only)
            hn += snprintf(head + hn, sizeof(head) - (size_t)hn, "0\r\n\r\n");
        blen = 0;
    } else {
        hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                      status_code, reason(status_code), reset_mode ? blen + 100 : blen,
                      close_mode ? "Connection: close\r\n" : "");
    }
    if (head_only)
        blen = 0;
    if (garbage) {
        static const char junk[] = "SURPRISE, NOT HTTP\r\n\r\n";
        send(c->fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL);
        conn_close(c, false);
        return false;
    }
    if (reset_mode) {
        /* the headers and the body, then an RST where 100 more bytes were promised */
        if (send(c->fd, head, (size_t)hn, MSG_NOSIGNAL) > 0)
            send(c->fd, body, blen, MSG_NOSIGNAL);
        usleep(2000);
        conn_close(c, true);
        return false;
    }
    c->out = realloc(c->out, c->outlen + (size_t)hn + blen);
    if (!c->out)
        exit(1);
    memcpy(c->out + c->outlen, head, (size_t)hn);
    memcpy(c->out + c->outlen + (size_t)hn, body, blen);
    c->outlen += (size_t)hn + blen;
    if (!flush_out(c))
        return false;
    if (close_mode) {
        conn_close(c, false);
        return false;
    }
    return true;
}

/* Handles every complete request in the input buffer; false when the connection is gone. */
static bool handle_input(struct conn *c)
{
    while (c->respond_at == 0) {
        char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (!end)
            return true;
        size_t hlen = (size_t)(end - c->in) + 4, clen = 0;
        bool head_only = c->inlen >= 5 && memcmp(c->in, "HEAD ", 5) == 0;
        for (char *p = c->in; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
            if (*p == '\n')
                p++;
            if (strncasecmp(p, "content-length:", 15) == 0)
                clen = strtoul(p + 15, NULL, 10);
        }
        if (hlen + clen > MAX_REQ) {
            conn_close(c, false);
            return false;
        }
        if (c->inlen < hlen + clen)
            return true;
        memmove(c->in, c->in + hlen + clen, c->inlen - hlen - clen);
        c->inlen -= hlen + clen;
        c->requests++;
        if (drop_second && c->requests == 2) {
            conn_close(c, false);
            return false;
        }
        if (delay_ms) {
            c->respond_at = now_ms() + delay_ms;
            c->head_only = head_only;
            return true;
        }
        if (!respond(c, head_only))
            return false;
    }
    return true;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        if (c->inlen == sizeof(c->in)) {
            conn_close(c, false);
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
        if (n == 0) {
            conn_close(c, false);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            conn_close(c, false);
            return;
        }
        c->inlen += (size_t)n;
    }
    handle_input(c);
}

int main(int argc, char **argv)
{
    const char *listen_at = NULL;
    unsigned max_seconds = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--listen") == 0 && v)
            listen_at = argv[++i];
        else if (strcmp(a, "--status") == 0 && v)
            status_code = atoi(argv[++i]);
        else if (strcmp(a, "--body") == 0 && v)
            body = argv[++i];
        else if (strcmp(a, "--delay") == 0 && v)
            delay_ms = (unsigned)atoi(argv[++i]);
        else if (strcmp(a, "--max-seconds") == 0 && v)
            max_seconds = (unsigned)atoi(argv[++i]);
        else if (strcmp(a, "--reset") == 0)
            reset_mode = true;
        else if (strcmp(a, "--drop-second") == 0)
            drop_second = true;
        else if (strcmp(a, "--chunked") == 0)
            chunked = true;
        else if (strcmp(a, "--close") == 0)
            close_mode = true;
        else if (strcmp(a, "--garbage") == 0)
            garbage = true;
        else {
            fprintf(stderr, "zd-testsrv: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (!listen_at || status_code < 100 || status_code > 599 || max_seconds == 0 ||
        max_seconds > 3600) {
        fprintf(stderr, "usage: zd-testsrv --listen ADDR:PORT [--status N] [--body TEXT] "
                        "[--delay MS] [--reset] [--chunked] [--close] [--garbage] [--drop-second] "
                        "[--max-seconds 1..3600]\n");
        return 2;
    }
    alarm(max_seconds); /* the default SIGALRM action ends the process */
    signal(SIGPIPE, SIG_IGN);

    char host[64];
    const char *colon = strrchr(listen_at, ':');
    if (!colon || (size_t)(colon - listen_at) >= sizeof(host)) {
        fprintf(stderr, "zd-testsrv: --listen wants ADDR:PORT\n");
        return 2;
    }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "zd-testsrv: bad address '%s'\n", host);
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind");
    if (listen(lfd, 1024) < 0)
        die("listen");
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
    printf("listening on %s\n", listen_at);
    fflush(stdout);

    struct epoll_event evs[64];
    for (;;) {
        int timeout = -1;
        if (delay_ms) {
            uint64_t now = now_ms(), first = UINT64_MAX;
            for (int fd = 0; fd < MAX_CONNS; fd++)
                if (conns[fd] && conns[fd]->respond_at && conns[fd]->respond_at < first)
                    first = conns[fd]->respond_at;
            if (first != UINT64_MAX)
                timeout = first <= now ? 0 : (int)(first - now);
        }
        int n = epoll_wait(epfd, evs, 64, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (cfd >= MAX_CONNS) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *c = calloc(1, sizeof(*c));
                    if (!c)
                        exit(1);
                    c->fd = cfd;
                    conns[cfd] = c;
                    struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &ev);
                }
                continue;
            }
            struct conn *c = fd < MAX_CONNS ? conns[fd] : NULL;
            if (!c)
                continue;
            if (evs[i].events & EPOLLOUT) {
                if (!flush_out(c))
                    continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
        if (delay_ms) {
            uint64_t now = now_ms();
            for (int fd = 0; fd < MAX_CONNS; fd++) {
                struct conn *c = conns[fd];
                if (c && c->respond_at && c->respond_at <= now) {
                    c->respond_at = 0;
                    if (respond(c, c->head_only))
                        handle_input(c);
                }
            }
        }
    }
}
