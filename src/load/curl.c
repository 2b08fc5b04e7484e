/*
 * load_curl: the load engine's libcurl multi side, for everything the native HTTP/1.1 engine
 * does not speak: TLS, HTTP/2, URLs with credentials, or `--engine curl`.
 *
 * Each worker owns a multi handle driven through the socket API with the worker's epoll set, and
 * one easy handle per slot, created once and reused; connections stay in the multi handle's
 * cache (HTTP/1.1 keep-alive, or HTTP/2 multiplexing).
 *
 * Retries libcurl hides. When a reused keep-alive connection turns out dead, libcurl re-sends the
 * request on a fresh connection and reports success. The pre-request callback runs once per
 * attempt, after the connection is ready and before the request is sent, so a request that saw it
 * twice was re-sent; that is counted as `retried`. The same callback tells a connect timeout
 * (never got a connection) from a response timeout. New sockets are counted by the sockopt
 * callback.
 */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load/engine.h"
#include "base/util.h"

#include "base/banned.h"

struct cload {
    struct curl_slist *headers;
};

struct cworker {
    CURLM *multi;
    uint64_t deadline; /* libcurl's timer: absolute monotonic us; LOAD_NEVER = none */
    struct fdev {
        uint32_t events;
        bool registered, watched;
        bool conn; /* a connection socket: libcurl tells us when it opens and closes it */
    } * fdev;      /* by fd: what the epoll set holds */
    size_t nfdev;
    int epfd;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- libcurl callbacks ------------------------------------------------------------------ */

/*
 * libcurl says REMOVE when a request ends and ADD again when the next one reuses the connection:
 * two epoll_ctl calls per request for nothing. For connection sockets, whose creation (sockopt
 * callback) and closing (closesocket callback) we see, REMOVE only notes that libcurl stopped
 * watching (the fd stays registered), ADD/MOD with the events it already has costs nothing, and
 * an event on an fd libcurl does not watch unregisters it then (on_unwatched). close() takes an
 * fd out of the epoll set by itself. Other fds libcurl hands us are registered for real.
 */
static void fd_grow(struct cworker *c, int fd)
{
    if ((size_t)fd < c->nfdev)
        return;
    size_t n = c->nfdev ? c->nfdev : 64;
    while (n <= (size_t)fd)
        n *= 2;
    c->fdev = xreallocarray(c->fdev, n, sizeof(*c->fdev));
    memset(c->fdev + c->nfdev, 0, (n - c->nfdev) * sizeof(*c->fdev));
    c->nfdev = n;
}

static void fd_set_events(struct cworker *c, int fd, uint32_t events)
{
    if (fd < 0)
        return;
    fd_grow(c, fd);
    c->fdev[fd].watched = true;
    /* only connection sockets, whose opening and closing we see, skip the call; anything
     * else libcurl watches (the resolver's socketpair) is registered for real each time */
    if (c->fdev[fd].conn && c->fdev[fd].registered && c->fdev[fd].events == events)
        return;
    struct epoll_event ev = {0};
    ev.data.u64 = (uint64_t)fd;
    ev.events = events;
    int op = c->fdev[fd].registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(c->epfd, op, fd, &ev) < 0) {
        if (errno == EEXIST)
            epoll_ctl(c->epfd, EPOLL_CTL_MOD, fd, &ev);
        else if (errno == ENOENT)
            epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
    c->fdev[fd].registered = true;
    c->fdev[fd].events = events;
}

static void on_unwatched(struct cworker *c, int fd)
{
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, fd, NULL);
    if (fd >= 0 && (size_t)fd < c->nfdev)
        c->fdev[fd].registered = false;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct cworker *c = userp;
    (void)e, (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        if (fd >= 0 && (size_t)fd < c->nfdev) {
            c->fdev[fd].watched = false;
            if (!c->fdev[fd].conn)
                on_unwatched(c, fd);
        }
        return 0;
    }
    uint32_t events = 0;
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    fd_set_events(c, fd, events);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct cworker *c = userp;
    (void)m;
    c->deadline = timeout_ms < 0 ? LOAD_NEVER : zd_now_us() + (uint64_t)timeout_ms * 1000;
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    load_body_append(userp, data, size * nmemb);
    return size * nmemb;
}

static int on_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    struct slot *s = clientp;
    struct cworker *c = s->w->eng;
    if (purpose == CURLSOCKTYPE_IPCXN)
        s->opened++;
    /* a new socket: whatever the epoll set held under this fd number was closed with it */
    if (fd >= 0) {
        fd_grow(c, fd);
        c->fdev[fd].registered = false;
        c->fdev[fd].watched = false;
        c->fdev[fd].conn = true;
    }
    return CURL_SOCKOPT_OK;
}

static int on_closesocket(void *clientp, curl_socket_t fd)
{
    struct cworker *c = clientp;
    if (fd >= 0 && (size_t)fd < c->nfdev) {
        c->fdev[fd].registered = false; /* close() takes it out of the epoll set */
        c->fdev[fd].watched = false;
        c->fdev[fd].conn = false;
    }
    return close(fd);
}

static int on_prereq(void *clientp, char *ip, char *lip, int rport, int lport)
{
    struct slot *s = clientp;
    (void)ip, (void)lip, (void)rport, (void)lport;
    s->e.c.prereqs++;
    return CURL_PREREQFUNC_OK;
}

/* ---- one request ------------------------------------------------------------------------ */

static enum tl_outcome classify(struct worker *w, struct slot *s, CURLcode rc)
{
    long code = 0, oserr = 0;
    switch (rc) {
    case CURLE_OK:
        curl_easy_getinfo(s->e.c.easy, CURLINFO_RESPONSE_CODE, &code);
        return load_response_outcome(w, s, code);
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(s->e.c.easy, CURLINFO_OS_ERRNO, &oserr);
        if (oserr == ECONNREFUSED)
            return TL_CONNECT_REFUSED;
        if (oserr == ETIMEDOUT)
            return TL_CONNECT_TIMEOUT;
        return TL_OTHER;
    case CURLE_OPERATION_TIMEDOUT:
        /* no pre-request callback: the connection (TCP, and TLS) was never ready */
        return s->e.c.prereqs ? TL_RESPONSE_TIMEOUT : TL_CONNECT_TIMEOUT;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TL_RESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR: {
        long v = 0;
        curl_easy_getinfo(s->e.c.easy, CURLINFO_SSL_VERIFYRESULT, &v);
        atomic_fetch_add_explicit(&w->tls_failed, 1, memory_order_relaxed);
        /* libcurl checks the name itself: its message says more than the verify result then */
        const char *why = s->e.c.errbuf[0] ? s->e.c.errbuf : curl_easy_strerror(rc);
        if (rc == CURLE_PEER_FAILED_VERIFICATION && v > 1)
            load_tls_note_error(w->l, "TLS handshake failed: certificate refused: %s",
                                X509_verify_cert_error_string(v));
        else if (rc == CURLE_PEER_FAILED_VERIFICATION)
            load_tls_note_error(w->l, "TLS handshake failed: certificate refused: %s", why);
        else
            load_tls_note_error(w->l, "TLS handshake failed: %s", why);
        return TL_TLS_ERROR;
    }
    default: return TL_OTHER;
    }
}

static void finish(struct worker *w, struct slot *s, CURLcode rc)
{
    struct cworker *c = w->eng;
    enum tl_outcome o = classify(w, s, rc);
    s->retried = s->e.c.prereqs >= 2;
    curl_off_t got = 0;
    if (curl_easy_getinfo(s->e.c.easy, CURLINFO_SIZE_DOWNLOAD_T, &got) != CURLE_OK || got < 0)
        got = 0;
    curl_multi_remove_handle(c->multi, s->e.c.easy);
    load_slot_done(w, s, o, (uint64_t)got);
}

static void c_send(struct worker *w, struct slot *s, uint64_t now)
{
    (void)now;
    struct cworker *c = w->eng;
    s->e.c.prereqs = 0;
    s->e.c.errbuf[0] = '\0';
    if (curl_multi_add_handle(c->multi, s->e.c.easy) != CURLM_OK)
        load_slot_done(w, s, TL_OTHER, 0); /* cannot happen with a valid handle: count it */
}

static void c_event(struct worker *w, const struct epoll_event *ev)
{
    struct cworker *c = w->eng;
    int fd = (int)ev->data.u64, running = 0;
    if ((size_t)fd >= c->nfdev || !c->fdev[fd].watched) {
        on_unwatched(c, fd);
        return;
    }
    int flags = 0;
    if (ev->events & (EPOLLIN | EPOLLHUP))
        flags |= CURL_CSELECT_IN;
    if (ev->events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (ev->events & EPOLLERR)
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(c->multi, fd, flags, &running);
}

static uint64_t c_deadline(struct worker *w)
{
    struct cworker *c = w->eng;
    return c->deadline;
}

static void c_expire(struct worker *w, uint64_t now)
{
    struct cworker *c = w->eng;
    int running = 0, left;
    if (c->deadline <= now) {
        c->deadline = LOAD_NEVER;
        curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct slot *s = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (s)
            finish(w, s, msg->data.result);
    }
}

/* ---- set-up ----------------------------------------------------------------------------- */

static int c_setup(struct load *l, char **err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return zd_err(err, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
    struct cload *cl = xcalloc(1, sizeof(*cl));
    l->eng_state = cl;
    for (size_t i = 0; i < l->nheaders; i++) {
        char *line = xasprintf("%s: %s", l->headers[i].name, l->headers[i].value);
        struct curl_slist *n = curl_slist_append(cl->headers, line);
        free(line);
        if (!n)
            return zd_err(err, "out of memory building headers");
        cl->headers = n;
    }
    if (l->body) {
        /* no "Expect: 100-continue" round trip on larger bodies */
        struct curl_slist *n = curl_slist_append(cl->headers, "Expect:");
        if (!n)
            return zd_err(err, "out of memory building headers");
        cl->headers = n;
    }
    return 0;
}

static void c_teardown(struct load *l)
{
    struct cload *cl = l->eng_state;
    if (!cl)
        return;
    curl_slist_free_all(cl->headers);
    free(cl);
    l->eng_state = NULL;
}

static int setup_easy(struct worker *w, struct slot *s, char **err)
{
    struct load *l = w->l;
    struct cload *cl = l->eng_state;
    CURL *e = curl_easy_init();
    if (!e)
        return zd_err(err, "cannot create a libcurl handle");
    s->e.c.easy = e;
    s->e.c.errbuf = xcalloc(1, CURL_ERROR_SIZE);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->e.c.errbuf);
    curl_easy_setopt(e, CURLOPT_URL, l->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, s);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, w->eng);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)((l->timeout_us + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)((l->connect_timeout_us + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* an explicit "no proxy": libcurl otherwise reads the *_proxy variables on every request */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    if (cl->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, cl->headers);
    if (l->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, l->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)l->body_len);
    }
    if (l->nobody)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (l->method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, l->method);
    if (l->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (l->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, l->ca_file);
    }
    if (l->http2) {
        bool tls = zd_str_has_prefix(l->url, "https:") || zd_str_has_prefix(l->url, "HTTPS:");
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                         tls ? (long)CURL_HTTP_VERSION_2TLS
                             : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    return 0;
}

static int c_worker_init(struct worker *w, char **err)
{
    struct load *l = w->l;
    struct cworker *c = xcalloc(1, sizeof(*c));
    w->eng = c;
    c->epfd = w->epfd;
    c->deadline = LOAD_NEVER;
    c->multi = curl_multi_init();
    if (!c->multi)
        return zd_err(err, "cannot create a libcurl multi handle");
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)w->conns);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)w->conns);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)w->conns);
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING,
                      l->http2 ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
    for (unsigned i = 0; i < w->nslots; i++)
        if (setup_easy(w, &w->slots[i], err) < 0)
            return -1;
    return 0;
}

static void c_worker_free(struct worker *w)
{
    struct cworker *c = w->eng;
    if (!c)
        return;
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->slots[i].e.c.easy && w->slots[i].busy && c->multi)
            curl_multi_remove_handle(c->multi, w->slots[i].e.c.easy);
    /* the multi handle closes the cached connections through on_closesocket: c->fdev first */
    if (c->multi)
        curl_multi_cleanup(c->multi);
    for (unsigned i = 0; i < w->nslots; i++) {
        if (w->slots[i].e.c.easy)
            curl_easy_cleanup(w->slots[i].e.c.easy);
        free(w->slots[i].e.c.errbuf);
    }
    free(c->fdev);
    free(c);
    w->eng = NULL;
}

const struct load_engine load_engine_curl = {
    .name = "curl",
    .setup = c_setup,
    .teardown = c_teardown,
    .worker_init = c_worker_init,
    .worker_free = c_worker_free,
    .send = c_send,
    .event = c_event,
    .deadline = c_deadline,
    .expire = c_expire,
};
