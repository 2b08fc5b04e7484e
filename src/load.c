/*
 * load: the traffic engine. Open-loop HTTP load on libcurl multi, measured per interval.
 *
 * The schedule. The target rate is a profile of segments, each a linear ramp from one rate to
 * another followed by a constant rate; load_set_rate() starts a new segment at "now". C(t), the
 * number of requests the schedule wants by time t, is then a piecewise quadratic, and request k
 * (0, 1, 2 ...) is due at the t where C(t) = k. Worker i of N sends requests i, i + N, i + 2N ...
 * so the threads together follow the one global schedule exactly, whatever the rate does.
 *
 * Coordinated omission. A request's latency runs from its *intended* send time, not from when it
 * actually left (wrk2 and vegeta do the same), and it is filed in the timeline interval of its
 * intended time. When the schedule wants a request and every slot (the in-flight cap) is busy,
 * it is counted as not_sent at once: a stalled server shows up as latency and lost requests,
 * never as a client that quietly slowed down. With rate 0 the load is closed-loop instead (every
 * slot re-sent as soon as it finishes, like wrk) and latency runs from the actual send.
 *
 * The loop. Each worker thread owns a multi handle driven through the socket API with its own
 * epoll set. Send times need sub-millisecond precision (20 000 req/s is one request every 50 us)
 * and epoll_wait's timeout is in milliseconds, so the worker waits with epoll_pwait2 (a timespec)
 * until the next deadline (the next send, libcurl's own timer, or the 10 ms bookkeeping tick);
 * on kernels before 5.11 it falls back to epoll_wait and millisecond precision. An eventfd wakes
 * the worker for stop and rate changes. Easy handles are created once per slot and reused;
 * connections stay in the multi handle's cache (HTTP/1.1 keep-alive, or HTTP/2 multiplexing).
 * Workers start together once each is ready, so the first requests of the schedule do not pay for
 * thread start-up.
 *
 * Retries libcurl hides. When a reused keep-alive connection turns out dead, libcurl re-sends the
 * request on a fresh connection and reports success. The pre-request callback runs once per
 * attempt, after the connection is ready and before the request is sent, so a request that saw it
 * twice was re-sent; that is counted as `retried`. The same callback tells a connect timeout
 * (never got a connection) from a response timeout. New sockets are counted by the sockopt
 * callback.
 */
#include "load.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#include "banned.h"

#define LOAD_MAX_RATE        1000000.0
#define LOAD_MAX_CONNECTIONS 10000u
#define LOAD_MAX_THREADS     256u
#define LOAD_MAX_IN_FLIGHT   100000u
#define LOAD_MAX_TIMEOUT_US  (60ull * 1000000)
#define LOAD_MAX_DURATION_US (24ull * 3600 * 1000000)
#define LOAD_MAX_HEADERS     64u
#define LOAD_MAX_HEADER_LEN  8192u
#define LOAD_MAX_BODY        (1u << 20)
#define LOAD_MAX_EXPECT      32u
#define LOAD_MAX_INTERVALS   10000000u
#define LOAD_BODY_MATCH_MAX  (64u << 10) /* the expected-body regex sees at most this much */
#define TICK_US              10000ull    /* bookkeeping: completion marks, interval rates */
#define NEVER                UINT64_MAX

/* One piece of the rate profile: from t0 (us since start), with C(t0) = c0 requests already
 * scheduled, the rate ramps linearly from ra to rb over ramp_us, then stays at rb. */
struct seg {
    uint64_t t0;
    double c0, ra, rb;
    uint64_t ramp_us;
};

struct profile {
    struct seg cur, prev;
    bool has_prev;
};

struct worker;

struct slot {
    CURL *easy;
    struct worker *w;
    uint64_t sched_us;
    uint32_t opened;  /* sockets opened for this request */
    uint32_t prereqs; /* attempts that reached "connection ready, about to send" */
    char *body;       /* only with an expected-body regex */
    size_t body_len, body_cap;
    int next_free;
    bool busy;
};

struct worker {
    struct load *l;
    unsigned id;
    pthread_t th;
    bool started;
    CURLM *multi;
    int epfd, efd;
    uint64_t curl_deadline; /* absolute monotonic us; NEVER = none */
    bool no_pwait2;         /* epoll_pwait2 missing: millisecond waits */
    struct fdev {
        uint32_t events;
        bool registered, watched;
        bool conn; /* a connection socket: libcurl tells us when it opens and closes it */
    } * fdev;      /* by fd: what the epoll set holds */
    size_t nfdev;
    struct slot *slots;
    unsigned nslots, inflight;
    int free_head;
    unsigned conns;
    uint64_t k;          /* the next global request index this worker sends */
    uint64_t next_sched; /* its intended time (us since start); NEVER = none (yet) */
    unsigned prof_ver;
    struct profile prof;
    uint64_t next_rate_at; /* worker 0: next interval boundary whose rate goes to the timeline */
    uint64_t next_tick;
    pcre2_match_data *md;
    _Atomic uint64_t watermark; /* nothing before this is still to be recorded by this worker */
    _Atomic bool finished;
    /* snapshot-readable stats */
    pthread_mutex_t mu;
    struct hist *lateness;
    _Atomic uint64_t status[6];
    _Atomic uint64_t bytes;
};

struct load {
    char *url, *method, *body;
    size_t body_len;
    bool nobody; /* HEAD */
    struct curl_slist *headers;
    int *exp_lo, *exp_hi;
    size_t nexp;
    pcre2_code *re;
    bool http2, insecure;
    uint64_t timeout_us, connect_timeout_us, duration_us;
    bool closed_loop;
    struct timeline *tl;
    uint64_t t0;
    pthread_mutex_t prof_mu;
    struct profile prof;
    _Atomic unsigned prof_ver;
    _Atomic bool stop;
    _Atomic uint64_t end_us; /* when scheduling ended (us since start); 0 = still going */
    unsigned nworkers;
    struct worker *w;
    bool joined;
    /* start line: workers get ready, then the clock starts for all at once */
    pthread_mutex_t start_mu;
    pthread_cond_t start_cv;
    unsigned ready;
    bool go;
};

/* ---- the rate profile ------------------------------------------------------------------- */

static double seg_rate(const struct seg *s, uint64_t t)
{
    if (t <= s->t0)
        return s->ramp_us ? s->ra : s->rb;
    uint64_t x = t - s->t0;
    if (x >= s->ramp_us)
        return s->rb;
    return s->ra + (s->rb - s->ra) * (double)x / (double)s->ramp_us;
}

/* C(t): requests scheduled by t (fractional). */
static double seg_count(const struct seg *s, uint64_t t)
{
    if (t <= s->t0)
        return s->c0;
    double x = (double)(t - s->t0) / 1e6, r = (double)s->ramp_us / 1e6;
    if (x < r)
        return s->c0 + s->ra * x + (s->rb - s->ra) * x * x / (2 * r);
    return s->c0 + (s->ra + s->rb) / 2 * r + s->rb * (x - r);
}

/* The t where C(t) = k, for k >= c0; NEVER when the rate ends at 0 before reaching k. */
static uint64_t seg_time(const struct seg *s, double k)
{
    double d = k - s->c0, r = (double)s->ramp_us / 1e6, base = 0;
    if (d <= 0)
        return s->t0;
    if (r > 0) {
        double area = (s->ra + s->rb) / 2 * r;
        if (d < area) {
            /* ra x + a x^2 = d, solved in the form that does not cancel when a is small */
            double a = (s->rb - s->ra) / (2 * r);
            double disc = s->ra * s->ra + 4 * a * d;
            double den = s->ra + sqrt(disc > 0 ? disc : 0);
            double x = den > 0 ? 2 * d / den : r;
            return s->t0 + (uint64_t)(x * 1e6 + 0.5);
        }
        d -= area;
        base = r;
    }
    if (s->rb <= 0)
        return NEVER;
    double t = (double)s->t0 + (base + d / s->rb) * 1e6 + 0.5;
    return t >= 1.8e19 ? NEVER : (uint64_t)t;
}

static uint64_t prof_time(const struct profile *p, uint64_t k)
{
    if ((double)k >= p->cur.c0 || !p->has_prev)
        return seg_time(&p->cur, (double)k);
    /* due under the previous segment (the worker was behind when the rate changed) */
    uint64_t t = seg_time(&p->prev, (double)k);
    return t < p->cur.t0 ? t : p->cur.t0;
}

static double prof_rate(const struct profile *p, uint64_t t)
{
    if (t < p->cur.t0 && p->has_prev)
        return seg_rate(&p->prev, t);
    return seg_rate(&p->cur, t);
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
static void fd_grow(struct worker *w, int fd)
{
    if ((size_t)fd < w->nfdev)
        return;
    size_t n = w->nfdev ? w->nfdev : 64;
    while (n <= (size_t)fd)
        n *= 2;
    w->fdev = xreallocarray(w->fdev, n, sizeof(*w->fdev));
    memset(w->fdev + w->nfdev, 0, (n - w->nfdev) * sizeof(*w->fdev));
    w->nfdev = n;
}

static void fd_set_events(struct worker *w, int fd, uint32_t events)
{
    if (fd < 0)
        return;
    fd_grow(w, fd);
    w->fdev[fd].watched = true;
    /* only connection sockets, whose opening and closing we see, skip the call; anything
     * else libcurl watches (the resolver's socketpair) is registered for real each time */
    if (w->fdev[fd].conn && w->fdev[fd].registered && w->fdev[fd].events == events)
        return;
    struct epoll_event ev = {0};
    ev.data.fd = fd;
    ev.events = events;
    int op = w->fdev[fd].registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(w->epfd, op, fd, &ev) < 0) {
        if (errno == EEXIST)
            epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev);
        else if (errno == ENOENT)
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
    w->fdev[fd].registered = true;
    w->fdev[fd].events = events;
}

static void on_unwatched(struct worker *w, int fd)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
    if (fd >= 0 && (size_t)fd < w->nfdev)
        w->fdev[fd].registered = false;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct worker *w = userp;
    (void)e, (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        if (fd >= 0 && (size_t)fd < w->nfdev) {
            w->fdev[fd].watched = false;
            if (!w->fdev[fd].conn)
                on_unwatched(w, fd);
        }
        return 0;
    }
    uint32_t events = 0;
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    fd_set_events(w, fd, events);
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct worker *w = userp;
    (void)m;
    w->curl_deadline = timeout_ms < 0 ? NEVER : zd_now_us() + (uint64_t)timeout_ms * 1000;
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct slot *s = userp;
    size_t n = size * nmemb;
    if (s->w->l->re && s->body_len < LOAD_BODY_MATCH_MAX) {
        size_t take = LOAD_BODY_MATCH_MAX - s->body_len;
        if (take > n)
            take = n;
        if (s->body_len + take > s->body_cap) {
            size_t cap = s->body_cap ? s->body_cap : 1024;
            while (cap < s->body_len + take)
                cap *= 2;
            if (cap > LOAD_BODY_MATCH_MAX)
                cap = LOAD_BODY_MATCH_MAX;
            s->body = xrealloc(s->body, cap);
            s->body_cap = cap;
        }
        memcpy(s->body + s->body_len, data, take);
        s->body_len += take;
    }
    return n;
}

static int on_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    struct slot *s = clientp;
    if (purpose == CURLSOCKTYPE_IPCXN)
        s->opened++;
    /* a new socket: whatever the epoll set held under this fd number was closed with it */
    if (fd >= 0) {
        fd_grow(s->w, fd);
        s->w->fdev[fd].registered = false;
        s->w->fdev[fd].watched = false;
        s->w->fdev[fd].conn = true;
    }
    return CURL_SOCKOPT_OK;
}

static int on_closesocket(void *clientp, curl_socket_t fd)
{
    struct worker *w = clientp;
    if (fd >= 0 && (size_t)fd < w->nfdev) {
        w->fdev[fd].registered = false; /* close() takes it out of the epoll set */
        w->fdev[fd].watched = false;
        w->fdev[fd].conn = false;
    }
    return close(fd);
}

static int on_prereq(void *clientp, char *ip, char *lip, int rport, int lport)
{
    struct slot *s = clientp;
    (void)ip, (void)lip, (void)rport, (void)lport;
    s->prereqs++;
    return CURL_PREREQFUNC_OK;
}

/* ---- one request ------------------------------------------------------------------------ */

static bool status_expected(const struct load *l, long code)
{
    if (l->nexp == 0)
        return code >= 200 && code <= 399;
    for (size_t i = 0; i < l->nexp; i++)
        if (code >= l->exp_lo[i] && code <= l->exp_hi[i])
            return true;
    return false;
}

static enum tl_outcome classify(struct worker *w, struct slot *s, CURLcode rc)
{
    struct load *l = w->l;
    long code = 0, oserr = 0;
    switch (rc) {
    case CURLE_OK:
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 100 && code <= 599)
            atomic_fetch_add_explicit(&w->status[code / 100], 1, memory_order_relaxed);
        if (!status_expected(l, code)) {
            if (code >= 400 && code <= 499)
                return TL_HTTP_4XX;
            if (code >= 500 && code <= 599)
                return TL_HTTP_5XX;
            return TL_OTHER;
        }
        if (l->re && pcre2_match(l->re, (PCRE2_SPTR)(s->body ? s->body : ""), s->body_len, 0, 0,
                                 w->md, NULL) < 0)
            return TL_BODY_MISMATCH;
        return TL_OK;
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(s->easy, CURLINFO_OS_ERRNO, &oserr);
        if (oserr == ECONNREFUSED)
            return TL_CONNECT_REFUSED;
        if (oserr == ETIMEDOUT)
            return TL_CONNECT_TIMEOUT;
        return TL_OTHER;
    case CURLE_OPERATION_TIMEDOUT:
        /* no pre-request callback: the connection (TCP, and TLS) was never ready */
        return s->prereqs ? TL_RESPONSE_TIMEOUT : TL_CONNECT_TIMEOUT;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TL_RESET;
    default: return TL_OTHER;
    }
}

static void finish_request(struct worker *w, struct slot *s, CURLcode rc)
{
    struct load *l = w->l;
    uint64_t now = zd_now_us() - l->t0;
    enum tl_outcome o = classify(w, s, rc);
    tl_record(l->tl, s->sched_us, o, now > s->sched_us ? now - s->sched_us : 0);
    bool retried = s->prereqs >= 2;
    if (s->opened || retried)
        tl_record_conn(l->tl, now, s->opened, retried);
    curl_off_t got = 0;
    if (curl_easy_getinfo(s->easy, CURLINFO_SIZE_DOWNLOAD_T, &got) == CURLE_OK && got > 0)
        atomic_fetch_add_explicit(&w->bytes, (uint64_t)got, memory_order_relaxed);
    curl_multi_remove_handle(w->multi, s->easy);
    s->busy = false;
    s->next_free = w->free_head;
    w->free_head = (int)(s - w->slots);
    w->inflight--;
}

static void start_request(struct worker *w, uint64_t sched_us, uint64_t now_rel)
{
    struct slot *s = &w->slots[w->free_head];
    w->free_head = s->next_free;
    s->busy = true;
    s->sched_us = sched_us;
    s->opened = 0;
    s->prereqs = 0;
    s->body_len = 0;
    w->inflight++;
    if (!w->l->closed_loop) { /* closed loop sends when it is ready: never late */
        pthread_mutex_lock(&w->mu);
        hist_record(w->lateness, now_rel > sched_us ? now_rel - sched_us : 0);
        pthread_mutex_unlock(&w->mu);
    }
    if (curl_multi_add_handle(w->multi, s->easy) != CURLM_OK) {
        /* cannot happen with a valid handle; count it rather than lose it */
        s->busy = false;
        s->next_free = w->free_head;
        w->free_head = (int)(s - w->slots);
        w->inflight--;
        tl_record(w->l->tl, sched_us, TL_OTHER, 0);
    }
}

static int setup_easy(struct worker *w, struct slot *s, char **err)
{
    struct load *l = w->l;
    CURL *e = curl_easy_init();
    if (!e)
        return zd_err(err, "cannot create a libcurl handle");
    s->easy = e;
    s->w = w;
    curl_easy_setopt(e, CURLOPT_URL, l->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, s);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_closesocket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, w);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)((l->timeout_us + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)((l->connect_timeout_us + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* an explicit "no proxy": libcurl otherwise reads the *_proxy variables on every request */
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    if (l->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, l->headers);
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

/* ---- the worker ------------------------------------------------------------------------- */

static void drain(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
}

/* The worker's low-water mark: everything scheduled before it has been recorded. */
static uint64_t worker_watermark(struct worker *w, uint64_t now_rel, bool sched_done)
{
    uint64_t m = sched_done ? NEVER - 1 : (w->l->closed_loop ? now_rel : w->next_sched);
    if (m == NEVER)
        m = now_rel; /* rate 0 for now: nothing before now is still coming */
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->slots[i].busy && w->slots[i].sched_us < m)
            m = w->slots[i].sched_us;
    return m;
}

static void tick(struct worker *w, uint64_t now_rel, bool sched_done)
{
    struct load *l = w->l;
    atomic_store(&w->watermark, worker_watermark(w, now_rel, sched_done));
    uint64_t m = NEVER;
    for (unsigned i = 0; i < l->nworkers; i++) {
        uint64_t x = atomic_load(&l->w[i].watermark);
        if (x < m)
            m = x;
    }
    if (m != NEVER - 1)
        tl_mark_complete(l->tl, m);
    if (w->id == 0 && !l->closed_loop) {
        uint64_t iv = tl_interval_us(l->tl);
        while (w->next_rate_at <= now_rel) {
            tl_set_rate(l->tl, w->next_rate_at, prof_rate(&w->prof, w->next_rate_at));
            w->next_rate_at += iv;
        }
    }
}

static void refresh_profile(struct worker *w)
{
    struct load *l = w->l;
    unsigned v = atomic_load(&l->prof_ver);
    if (v == w->prof_ver)
        return;
    pthread_mutex_lock(&l->prof_mu);
    w->prof = l->prof;
    w->prof_ver = atomic_load(&l->prof_ver);
    pthread_mutex_unlock(&l->prof_mu);
    w->next_sched = prof_time(&w->prof, w->k);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct load *l = w->l;
    struct epoll_event evs[64];
    int running = 0;

    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* timer wakeups to the microsecond */
    /* First-use costs (this thread's malloc arena, its stack) are paid before the clock starts,
     * or the first requests of the schedule pay them as lateness. */
    free(xmalloc(4096));
    pthread_mutex_lock(&l->start_mu);
    l->ready++;
    pthread_cond_broadcast(&l->start_cv);
    while (!l->go)
        pthread_cond_wait(&l->start_cv, &l->start_mu);
    pthread_mutex_unlock(&l->start_mu);
    w->next_sched = l->closed_loop ? NEVER : prof_time(&w->prof, w->k);
    w->next_tick = 0;
    for (;;) {
        uint64_t now = zd_now_us();
        uint64_t rel = now - l->t0;
        bool stopping = atomic_load_explicit(&l->stop, memory_order_relaxed);
        bool sched_done = stopping;
        if (l->closed_loop) {
            if (l->duration_us && rel >= l->duration_us)
                sched_done = true;
            while (!sched_done && w->free_head >= 0)
                start_request(w, rel, rel);
        } else {
            /* after load_stop: what was due before the stop still goes out (or counts as
             * not_sent), a late wake-up must not make it vanish; nothing after it does */
            uint64_t limit = rel;
            if (stopping) {
                uint64_t end = atomic_load(&l->end_us);
                limit = end ? end - 1 : rel;
            } else {
                refresh_profile(w);
            }
            while (w->next_sched <= limit) {
                if (l->duration_us && w->next_sched >= l->duration_us)
                    break;
                if (w->free_head >= 0)
                    start_request(w, w->next_sched, rel);
                else
                    tl_record(l->tl, w->next_sched, TL_NOT_SENT, 0);
                w->k += l->nworkers;
                w->next_sched = prof_time(&w->prof, w->k);
            }
            if (l->duration_us && w->next_sched >= l->duration_us && w->next_sched != NEVER)
                sched_done = true;
            if (l->duration_us && rel >= l->duration_us)
                sched_done = true;
        }
        if (now >= w->next_tick) {
            tick(w, rel, sched_done);
            w->next_tick = now + TICK_US;
        }
        if (sched_done && w->inflight == 0)
            break;

        /* let libcurl run what is due, then wait for the next thing to do */
        if (w->curl_deadline <= now) {
            w->curl_deadline = NEVER;
            curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        uint64_t deadline = w->next_tick;
        if (w->curl_deadline < deadline)
            deadline = w->curl_deadline;
        if (!sched_done && !l->closed_loop && w->next_sched != NEVER &&
            l->t0 + w->next_sched < deadline)
            deadline = l->t0 + w->next_sched;
        int n;
        uint64_t t = zd_now_us();
        if (deadline <= t) {
            n = epoll_wait(w->epfd, evs, (int)ZD_ARRAY_LEN(evs), 0);
        } else if (!w->no_pwait2) {
            /* a nanosecond timeout: no timer to arm and read back per send */
            struct timespec ts = {(time_t)((deadline - t) / 1000000),
                                  (long)((deadline - t) % 1000000) * 1000};
            n = epoll_pwait2(w->epfd, evs, (int)ZD_ARRAY_LEN(evs), &ts, NULL);
            if (n < 0 && errno == ENOSYS) {
                w->no_pwait2 = true; /* kernel before 5.11: epoll_wait from now on */
                n = 0;
            }
        } else {
            n = epoll_wait(w->epfd, evs, (int)ZD_ARRAY_LEN(evs),
                           (int)((deadline - t + 999) / 1000));
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == w->efd) {
                drain(fd);
                continue;
            }
            if ((size_t)fd >= w->nfdev || !w->fdev[fd].watched) {
                on_unwatched(w, fd);
                continue;
            }
            int flags = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP))
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & EPOLLERR)
                flags |= CURL_CSELECT_ERR;
            curl_multi_socket_action(w->multi, fd, flags, &running);
        }
        if (w->curl_deadline <= zd_now_us()) {
            w->curl_deadline = NEVER;
            curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(w->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct slot *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            if (s)
                finish_request(w, s, msg->data.result);
        }
    }
    tick(w, zd_now_us() - l->t0, true);
    atomic_store(&w->watermark, NEVER - 1);
    atomic_store(&w->finished, true);
    return NULL;
}

static void worker_free(struct worker *w)
{
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->slots[i].easy && w->slots[i].busy && w->multi)
            curl_multi_remove_handle(w->multi, w->slots[i].easy);
    /* the multi handle closes the cached connections through on_closesocket: w->fdev first */
    if (w->multi)
        curl_multi_cleanup(w->multi);
    for (unsigned i = 0; i < w->nslots; i++) {
        if (w->slots[i].easy)
            curl_easy_cleanup(w->slots[i].easy);
        free(w->slots[i].body);
    }
    free(w->slots);
    free(w->fdev);
    if (w->md)
        pcre2_match_data_free(w->md);
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->efd >= 0)
        close(w->efd);
    hist_free(w->lateness);
    pthread_mutex_destroy(&w->mu);
}

static int worker_init(struct load *l, struct worker *w, unsigned id, unsigned conns,
                       unsigned slots, char **err)
{
    w->l = l;
    w->id = id;
    w->epfd = w->efd = -1;
    w->curl_deadline = NEVER;
    w->k = id;
    w->conns = conns;
    w->free_head = -1;
    w->prof = l->prof;
    w->prof_ver = atomic_load(&l->prof_ver);
    w->lateness = hist_new();
    pthread_mutex_init(&w->mu, NULL);
    atomic_init(&w->watermark, 0);
    atomic_init(&w->finished, false);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->efd < 0)
        return zd_err(err, "cannot create the worker's event descriptors: %s", strerror(errno));
    struct epoll_event ev = {0};
    ev.events = EPOLLIN;
    ev.data.fd = w->efd;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->efd, &ev);
    w->multi = curl_multi_init();
    if (!w->multi)
        return zd_err(err, "cannot create a libcurl multi handle");
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)conns);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)conns);
    curl_multi_setopt(w->multi, CURLMOPT_PIPELINING,
                      l->http2 ? (long)CURLPIPE_MULTIPLEX : (long)CURLPIPE_NOTHING);
    if (l->re) {
        w->md = pcre2_match_data_create_from_pattern(l->re, NULL);
        if (!w->md)
            return zd_err(err, "cannot allocate regex match data");
    }
    w->slots = xcalloc(slots, sizeof(*w->slots));
    w->nslots = slots;
    for (unsigned i = 0; i < slots; i++) {
        if (setup_easy(w, &w->slots[i], err) < 0)
            return -1;
        w->slots[i].next_free = w->free_head;
        w->free_head = (int)i;
    }
    return 0;
}

/* ---- options ---------------------------------------------------------------------------- */

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
            !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
            return false;
    return true;
}

static int check_url(const char *url, char **err)
{
    if (!url || !*url)
        return zd_err(err, "no URL");
    CURLU *u = curl_url();
    if (!u)
        return zd_err(err, "out of memory parsing the URL");
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc != CURLUE_OK) {
        zd_err(err, "invalid URL '%s': %s", url, curl_url_strerror(rc));
        curl_url_cleanup(u);
        return -1;
    }
    char *scheme = NULL;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    int ret = 0;
    if (!scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        ret = zd_err(err, "invalid URL '%s': only http:// and https:// are supported", url);
    curl_free(scheme);
    curl_url_cleanup(u);
    return ret;
}

static int check_opts(const struct load_opts *o, char **err)
{
    if (check_url(o->url, err) < 0)
        return -1;
    if (!(o->rate >= 0 && o->rate <= LOAD_MAX_RATE))
        return zd_err(err, "rate must be between 0 and %.0f requests/s", LOAD_MAX_RATE);
    if (o->connections > LOAD_MAX_CONNECTIONS)
        return zd_err(err, "connections must be at most %u", LOAD_MAX_CONNECTIONS);
    if (o->threads > LOAD_MAX_THREADS)
        return zd_err(err, "threads must be at most %u", LOAD_MAX_THREADS);
    if (o->max_in_flight > LOAD_MAX_IN_FLIGHT)
        return zd_err(err, "max in flight must be at most %u", LOAD_MAX_IN_FLIGHT);
    if (o->timeout_us > LOAD_MAX_TIMEOUT_US || o->connect_timeout_us > LOAD_MAX_TIMEOUT_US)
        return zd_err(err, "timeouts must be at most 60s");
    if (o->timeout_us && o->timeout_us < 1000)
        return zd_err(err, "timeout must be at least 1ms");
    if (o->connect_timeout_us && o->connect_timeout_us < 1000)
        return zd_err(err, "connect timeout must be at least 1ms");
    if (o->duration_us > LOAD_MAX_DURATION_US)
        return zd_err(err, "duration must be at most 24h");
    if (o->ramp_us > LOAD_MAX_DURATION_US)
        return zd_err(err, "ramp must be at most 24h");
    if (o->interval_us && (o->interval_us < 1000 || o->interval_us > 60000000))
        return zd_err(err, "interval must be between 1ms and 60s");
    if (o->max_intervals > LOAD_MAX_INTERVALS)
        return zd_err(err, "max intervals must be at most %u", LOAD_MAX_INTERVALS);
    if (o->method && (!is_token(o->method) || strlen(o->method) > 32))
        return zd_err(err, "invalid method '%s'", o->method);
    if (o->nheaders > LOAD_MAX_HEADERS)
        return zd_err(err, "at most %u headers", LOAD_MAX_HEADERS);
    for (size_t i = 0; i < o->nheaders; i++) {
        const struct load_header *h = &o->headers[i];
        if (!h->name || !is_token(h->name))
            return zd_err(err, "invalid header name '%s'", h->name ? h->name : "");
        if (!h->value || strpbrk(h->value, "\r\n"))
            return zd_err(err, "header '%s': the value must be one line", h->name);
        if (strlen(h->name) + strlen(h->value) > LOAD_MAX_HEADER_LEN)
            return zd_err(err, "header '%s' is longer than %u bytes", h->name, LOAD_MAX_HEADER_LEN);
    }
    if (o->body && o->body_len > LOAD_MAX_BODY)
        return zd_err(err, "the request body is larger than %u bytes", LOAD_MAX_BODY);
    if (o->nexpect > LOAD_MAX_EXPECT)
        return zd_err(err, "at most %u expected status ranges", LOAD_MAX_EXPECT);
    for (size_t i = 0; i < o->nexpect; i++)
        if (o->expect_lo[i] < 100 || o->expect_hi[i] > 599 || o->expect_lo[i] > o->expect_hi[i])
            return zd_err(err, "invalid expected status range %d-%d", o->expect_lo[i],
                          o->expect_hi[i]);
    return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the public API --------------------------------------------------------------------- */

static void load_destroy(struct load *l)
{
    if (!l)
        return;
    for (unsigned i = 0; l->w && i < l->nworkers; i++)
        worker_free(&l->w[i]);
    free(l->w);
    tl_free(l->tl);
    curl_slist_free_all(l->headers);
    if (l->re)
        pcre2_code_free(l->re);
    free(l->exp_lo);
    free(l->exp_hi);
    free(l->url);
    free(l->method);
    free(l->body);
    pthread_mutex_destroy(&l->prof_mu);
    pthread_mutex_destroy(&l->start_mu);
    pthread_cond_destroy(&l->start_cv);
    free(l);
}

struct load *load_start(const struct load_opts *o, char **err)
{
    if (check_opts(o, err) < 0)
        return NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        zd_err(err, "cannot initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    struct load *l = xcalloc(1, sizeof(*l));
    pthread_mutex_init(&l->prof_mu, NULL);
    pthread_mutex_init(&l->start_mu, NULL);
    pthread_cond_init(&l->start_cv, NULL);
    l->url = xstrdup(o->url);
    if (o->method && strcmp(o->method, "HEAD") == 0)
        l->nobody = true;
    else if (o->method)
        l->method = xstrdup(o->method);
    if (o->body) {
        l->body = xmalloc(o->body_len + 1);
        memcpy(l->body, o->body, o->body_len);
        l->body[o->body_len] = '\0';
        l->body_len = o->body_len;
    }
    for (size_t i = 0; i < o->nheaders; i++) {
        char *line = xasprintf("%s: %s", o->headers[i].name, o->headers[i].value);
        struct curl_slist *n = curl_slist_append(l->headers, line);
        free(line);
        if (!n) {
            zd_err(err, "out of memory building headers");
            goto fail;
        }
        l->headers = n;
    }
    if (l->body) {
        /* no "Expect: 100-continue" round trip on larger bodies */
        struct curl_slist *n = curl_slist_append(l->headers, "Expect:");
        if (n)
            l->headers = n;
    }
    if (o->nexpect) {
        l->exp_lo = xreallocarray(NULL, o->nexpect, sizeof(int));
        l->exp_hi = xreallocarray(NULL, o->nexpect, sizeof(int));
        memcpy(l->exp_lo, o->expect_lo, o->nexpect * sizeof(int));
        memcpy(l->exp_hi, o->expect_hi, o->nexpect * sizeof(int));
        l->nexp = o->nexpect;
    }
    if (o->expect_body) {
        int ec;
        PCRE2_SIZE off;
        l->re =
            pcre2_compile((PCRE2_SPTR)o->expect_body, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
        if (!l->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            zd_err(err, "invalid body regex '%s' at offset %zu: %s", o->expect_body, (size_t)off,
                   (char *)msg);
            goto fail;
        }
        pcre2_jit_compile(l->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    }
    l->http2 = o->http2;
    l->insecure = o->insecure;
    l->timeout_us = o->timeout_us ? o->timeout_us : 2000000;
    l->connect_timeout_us = o->connect_timeout_us ? o->connect_timeout_us : 1000000;
    l->duration_us = o->duration_us;
    l->closed_loop = o->rate == 0;

    uint64_t iv = o->interval_us ? o->interval_us : 100000;
    size_t maxiv = o->max_intervals;
    if (!maxiv) {
        uint64_t span = o->duration_us ? o->duration_us + l->timeout_us : 600ull * 1000000;
        maxiv = (size_t)(span / iv + 2);
    }
    if (maxiv > LOAD_MAX_INTERVALS)
        maxiv = LOAD_MAX_INTERVALS;
    l->tl = tl_new(iv, maxiv);

    unsigned conns = o->connections ? o->connections : 64;
    unsigned threads = o->threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
        if (threads > 64)
            threads = 64;
    }
    if (threads > conns)
        threads = conns;
    unsigned inflight = o->max_in_flight ? o->max_in_flight : conns;
    if (inflight < threads)
        inflight = threads;

    l->prof.cur.t0 = 0;
    l->prof.cur.c0 = 0;
    l->prof.cur.ra = o->ramp_us ? 0 : o->rate;
    l->prof.cur.rb = o->rate;
    l->prof.cur.ramp_us = o->ramp_us;
    atomic_init(&l->prof_ver, 1);
    atomic_init(&l->stop, false);
    atomic_init(&l->end_us, 0);

    l->nworkers = threads;
    l->w = xcalloc(threads, sizeof(*l->w));
    for (unsigned i = 0; i < threads; i++) {
        unsigned c = conns / threads + (i < conns % threads);
        unsigned s = inflight / threads + (i < inflight % threads);
        if (worker_init(l, &l->w[i], i, c, s, err) < 0)
            goto fail;
    }
    for (unsigned i = 0; i < threads; i++) {
        l->w[i].next_rate_at = iv;
        int rc = pthread_create(&l->w[i].th, NULL, worker_main, &l->w[i]);
        if (rc != 0) {
            zd_err(err, "cannot start a load thread: %s", strerror(rc));
            atomic_store(&l->stop, true);
            pthread_mutex_lock(&l->start_mu);
            l->t0 = zd_now_us();
            l->go = true;
            pthread_cond_broadcast(&l->start_cv);
            pthread_mutex_unlock(&l->start_mu);
            for (unsigned k = 0; k < i; k++)
                pthread_join(l->w[k].th, NULL);
            goto fail;
        }
        l->w[i].started = true;
    }
    /* every worker is ready: the clock of the schedule and the timeline starts now */
    pthread_mutex_lock(&l->start_mu);
    while (l->ready < threads)
        pthread_cond_wait(&l->start_cv, &l->start_mu);
    l->t0 = zd_now_us();
    if (!l->closed_loop)
        tl_set_rate(l->tl, 0, prof_rate(&l->prof, 0));
    l->go = true;
    pthread_cond_broadcast(&l->start_cv);
    pthread_mutex_unlock(&l->start_mu);
    return l;
fail:
    load_destroy(l);
    return NULL;
}

void load_set_rate(struct load *l, double rate, uint64_t ramp_us)
{
    if (l->closed_loop || !(rate >= 0))
        return;
    if (rate > LOAD_MAX_RATE)
        rate = LOAD_MAX_RATE;
    if (ramp_us > LOAD_MAX_DURATION_US)
        ramp_us = LOAD_MAX_DURATION_US;
    pthread_mutex_lock(&l->prof_mu);
    uint64_t t = zd_now_us() - l->t0;
    struct seg *c = &l->prof.cur;
    if (t < c->t0)
        t = c->t0;
    struct seg n = {t, seg_count(c, t), seg_rate(c, t), rate, ramp_us};
    if (ramp_us == 0)
        n.ra = rate;
    l->prof.prev = *c;
    l->prof.has_prev = true;
    l->prof.cur = n;
    atomic_fetch_add(&l->prof_ver, 1);
    pthread_mutex_unlock(&l->prof_mu);
    uint64_t one = 1;
    for (unsigned i = 0; i < l->nworkers; i++) {
        ssize_t r = write(l->w[i].efd, &one, sizeof(one));
        (void)r;
    }
}

double load_rate(const struct load *l)
{
    if (l->closed_loop)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&l->prof_mu);
    double r = prof_rate(&l->prof, zd_now_us() - l->t0);
    pthread_mutex_unlock((pthread_mutex_t *)&l->prof_mu);
    return r;
}

struct timeline *load_timeline(struct load *l)
{
    return l->tl;
}

uint64_t load_elapsed_us(const struct load *l)
{
    return zd_now_us() - l->t0;
}

bool load_done(const struct load *l)
{
    for (unsigned i = 0; i < l->nworkers; i++)
        if (!atomic_load(&l->w[i].finished))
            return false;
    return true;
}

void load_stop(struct load *l)
{
    if (!l || l->joined)
        return;
    uint64_t now = zd_now_us() - l->t0;
    uint64_t end = l->duration_us && now > l->duration_us ? l->duration_us : now;
    /* workers that ended on their own sent the whole schedule: it spanned the duration (the
     * last send is one period before the end) */
    if (l->duration_us && load_done(l))
        end = l->duration_us;
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&l->end_us, &zero, end ? end : 1);
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    for (unsigned i = 0; i < l->nworkers; i++) {
        ssize_t r = write(l->w[i].efd, &one, sizeof(one));
        (void)r;
    }
    for (unsigned i = 0; i < l->nworkers; i++)
        if (l->w[i].started)
            pthread_join(l->w[i].th, NULL);
    l->joined = true;
    tl_mark_complete(l->tl, UINT64_MAX);
}

void load_free(struct load *l)
{
    if (!l)
        return;
    load_stop(l);
    load_destroy(l);
}

void load_totals(const struct load *l, struct load_totals *out)
{
    memset(out, 0, sizeof(*out));
    struct tl_stats s;
    if (tl_sum(l->tl, 0, tl_len(l->tl), &s) == 0) {
        memcpy(out->counts, s.counts, sizeof(out->counts));
        out->total = s.total;
        out->errors = s.errors;
        out->conns_opened = s.conns_opened;
        out->retried = s.retried;
    }
    struct hist *late = hist_new();
    for (unsigned i = 0; i < l->nworkers; i++) {
        struct worker *w = &l->w[i];
        for (int k = 0; k < 6; k++)
            out->status[k] += atomic_load_explicit(&w->status[k], memory_order_relaxed);
        out->bytes_received += atomic_load_explicit(&w->bytes, memory_order_relaxed);
        pthread_mutex_lock(&w->mu);
        hist_merge(late, w->lateness);
        pthread_mutex_unlock(&w->mu);
    }
    out->lateness_p99_us = hist_quantile(late, 0.99);
    out->lateness_max_us = hist_max(late);
    hist_free(late);
    uint64_t end = atomic_load(&l->end_us);
    if (!end) {
        end = zd_now_us() - l->t0;
        if (l->duration_us && end > l->duration_us)
            end = l->duration_us;
    }
    out->elapsed_us = end;
    uint64_t sent = out->total - out->counts[TL_NOT_SENT];
    out->achieved_rate = end ? (double)sent * 1e6 / (double)end : 0;
}

struct hist *load_latency(const struct load *l)
{
    struct hist *h = hist_new();
    tl_latency(l->tl, 0, tl_len(l->tl), h);
    return h;
}
