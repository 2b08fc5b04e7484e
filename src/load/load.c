/*
 * load: the traffic engine. Open-loop HTTP load, measured per interval (engines: engine.h).
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
 * The loop. Each worker thread owns an epoll set; its engine (engine.h: libcurl multi in
 * curl.c, or the native HTTP/1.1 client in h1.c) registers its sockets there. Send
 * times need sub-millisecond precision (20 000 req/s is one request every 50 us) and
 * epoll_wait's timeout is in milliseconds, so the worker waits with epoll_pwait2 (a timespec)
 * until the next deadline (the next send, the engine's own timer, or the 10 ms bookkeeping
 * tick); on kernels before 5.11 it falls back to epoll_wait and millisecond precision. An
 * eventfd wakes the worker for stop and rate changes. Workers start together once each is ready,
 * so the first requests of the schedule do not pay for thread start-up.
 *
 * Adaptive polling, closed loop only. Against a saturated server on the same machine, a worker
 * that sleeps in epoll between answers is woken by the server for nearly every answer, and the
 * server pays for the wake-up (measured: 1.2 events per wait, nginx's CPU per request 10-20 %
 * above what it spends for wrk, which is never idle). So before a blocking wait the closed loop
 * first looks without sleeping for up to SPIN_US, as long as such looks have been finding
 * events (spin(); it stops by itself where answers come slowly or the spinning takes the CPU
 * the server needs). The latency stamps are unchanged: each next request is still stamped with
 * the clock read that ended the answer before it. Spinning only with fewer threads than
 * online CPUs: with one per core it took CPU from the server and cost CPU per request. There
 * the worker naps instead: NAP_US on a timer of its own (timer slack 1 us), then one look
 * without sleeping, under the same credit. The timer wakes it on its own CPU, so the server
 * pays for no wake-up and its answers are read in batches (measured at 2 threads on 2 cores
 * against one nginx worker: nginx's CPU per request 10.6-12.6 -> 8.4-10.8 us, the client's
 * wake-ups 26-42k -> 16-19k a second, req/s 1.15-1.25x; the README's bench section). An answer that
 * comes during a nap is read up to NAP_US later and its latency includes that, as every closed-loop
 * latency includes the client's own delays (mean latency x rate stays the connections). The open
 * loop always sleeps until its next send: `zonedef run` burns no CPU for nothing and naps never.
 */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "load/engine.h"
#include "base/util.h"

#include "base/banned.h"

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
#define TICK_US              10000ull /* bookkeeping: completion marks, interval rates */
#define NEVER                LOAD_NEVER
#define SPIN_US              15ull /* closed loop: the longest look without sleeping */
#define SPIN_CREDIT_MAX      8
#define SPIN_PROBE           64u   /* blocking waits before spinning is tried again */
#define NAP_US               30ull /* closed loop, a thread per core: the nap before a look */

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

static void start_request(struct worker *w, uint64_t sched_us, uint64_t now_rel)
{
    struct slot *s = &w->slots[w->free_head];
    w->free_head = s->next_free;
    s->busy = true;
    s->sched_us = sched_us;
    s->opened = 0;
    s->retried = false;
    s->body_len = 0;
    w->inflight++;
    if (!w->l->closed_loop) { /* closed loop sends when it is ready: never late */
        pthread_mutex_lock(&w->mu);
        hist_record(w->lateness, now_rel > sched_us ? now_rel - sched_us : 0);
        pthread_mutex_unlock(&w->mu);
    }
    w->l->eng->send(w, s, w->l->t0 + now_rel);
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

/* Adaptive polling (closed loop only; the loop comment at the top). Looks at the epoll set
 * without sleeping, for up to SPIN_US (or once after a nap of NAP_US), while that has paid
 * off: a look that found events earns a credit, one that gave up costs two (so it keeps
 * polling while more than two looks in three find something), and with no credit left the
 * worker blocks at once and tries again only after SPIN_PROBE blocking waits. Returns what it
 * found (0: nothing, and *t is the clock read that gave up). */
static int spin(struct worker *w, struct epoll_event *evs, int max, uint64_t deadline, uint64_t *t)
{
    if (w->spin_credit <= 0) {
        if (++w->spin_idle < SPIN_PROBE)
            return 0;
        w->spin_idle = 0;
        w->spin_credit = 1;
    }
    int n;
    if (w->nap) {
        if (*t + NAP_US >= deadline)
            return 0; /* the blocking wait ends sooner */
        struct timespec ts = {0, (long)NAP_US * 1000};
        nanosleep(&ts, NULL);
        n = epoll_wait(w->epfd, evs, max, 0);
        *t = zd_now_us();
    } else {
        uint64_t until = *t + SPIN_US < deadline ? *t + SPIN_US : deadline;
        while ((n = epoll_wait(w->epfd, evs, max, 0)) == 0) {
            *t = zd_now_us();
            if (*t >= until)
                break;
        }
    }
    if (n != 0) {
        if (w->spin_credit < SPIN_CREDIT_MAX)
            w->spin_credit++;
        return n;
    }
    w->spin_credit -= 2;
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct load *l = w->l;
    const struct load_engine *eng = l->eng;
    struct epoll_event evs[64];

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
        /* what is due (timeouts, libcurl's timers) first: the slots it frees are refilled
         * below, stamped no earlier than the clock read that ended the last of them */
        uint64_t ndone = w->ndone;
        eng->expire(w, now);
        if (w->ndone != ndone && w->done_rel > rel) {
            rel = w->done_rel;
            now = l->t0 + rel;
        }
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

        /* wait for the next thing to do */
        uint64_t deadline = w->next_tick, ed = eng->deadline(w);
        if (ed < deadline)
            deadline = ed;
        if (!sched_done && !l->closed_loop && w->next_sched != NEVER &&
            l->t0 + w->next_sched < deadline)
            deadline = l->t0 + w->next_sched;
        int n = 0;
        uint64_t t = zd_now_us();
        if (w->spin && deadline > t && !sched_done)
            n = spin(w, evs, (int)ZD_ARRAY_LEN(evs), deadline, &t);
        if (n > 0) {
            /* found while spinning: handled below */
        } else if (deadline <= t) {
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
            if (evs[i].data.u64 == LOAD_EV_WAKE) {
                drain(w->efd);
                continue;
            }
            uint64_t nd = w->ndone;
            eng->event(w, &evs[i]);
            /* closed loop: the next request leaves at once, on the connection that just
             * answered (the engine reuses the most recent one) while its socket is still hot in
             * the cache, as wrk does, not after the whole batch of events. It is stamped with
             * the clock read that ended the answer (a microsecond ago, and one clock read per
             * request fewer), never with `rel`, which is from before the wait. */
            if (l->closed_loop && w->free_head >= 0 && !stopping) {
                uint64_t at = w->ndone != nd ? w->done_rel : zd_now_us() - l->t0;
                if (!(l->duration_us && at >= l->duration_us))
                    start_request(w, at, at);
            }
        }
    }
    tick(w, zd_now_us() - l->t0, true);
    atomic_store(&w->watermark, NEVER - 1);
    atomic_store(&w->finished, true);
    return NULL;
}

static void worker_free(struct worker *w)
{
    if (w->l && w->l->eng)
        w->l->eng->worker_free(w);
    for (unsigned i = 0; i < w->nslots; i++)
        free(w->slots[i].body);
    free(w->slots);
    if (w->md)
        pcre2_match_data_free(w->md);
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->efd >= 0)
        close(w->efd);
    hist_free(w->lateness);
    hist_free(w->connect_us);
    hist_free(w->handshake_us);
    pthread_mutex_destroy(&w->mu);
}

static int worker_init(struct load *l, struct worker *w, unsigned id, unsigned conns,
                       unsigned slots, char **err)
{
    w->l = l;
    w->id = id;
    w->epfd = w->efd = -1;
    w->k = id;
    w->conns = conns;
    w->free_head = -1;
    w->prof = l->prof;
    w->prof_ver = atomic_load(&l->prof_ver);
    /* open loop sleeps until its next send; closed loop spins only where a core is left over
     * for the server (measured: at 2 threads on 2 cores it cost CPU per request and gained
     * nothing; the README's bench section), and naps where there is none */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bool spare = cores > 0 && l->nworkers < (unsigned long)cores;
    w->spin = l->closed_loop;
    w->nap = l->closed_loop && !spare;
    w->spin_credit = 1;
    w->lateness = hist_new();
    w->connect_us = hist_new();
    w->handshake_us = hist_new();
    pthread_mutex_init(&w->mu, NULL);
    atomic_init(&w->watermark, 0);
    atomic_init(&w->finished, false);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->efd < 0)
        return zd_err(err, "cannot create the worker's event descriptors: %s", strerror(errno));
    struct epoll_event ev = {0};
    ev.events = EPOLLIN;
    ev.data.u64 = LOAD_EV_WAKE;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->efd, &ev);
    if (l->re) {
        w->md = pcre2_match_data_create_from_pattern(l->re, NULL);
        if (!w->md)
            return zd_err(err, "cannot allocate regex match data");
    }
    w->slots = xcalloc(slots, sizeof(*w->slots));
    w->nslots = slots;
    for (unsigned i = 0; i < slots; i++) {
        w->slots[i].w = w;
        w->slots[i].next_free = w->free_head;
        w->free_head = (int)i;
    }
    return l->eng->worker_init(w, err);
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
    if (o->ca_file && access(o->ca_file, R_OK) < 0)
        return zd_err(err, "cannot read the CA file '%s': %s", o->ca_file, strerror(errno));
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

/*
 * Every connection is a descriptor, and each worker has two more (epoll, eventfd). A soft limit
 * of 1024 (the usual default) would turn --connections 2000 into a flood of `other` outcomes
 * (socket() fails with EMFILE), so the soft limit is raised as far as the hard one allows, and a
 * load that still does not fit is refused up front with the number it needs.
 */
static int ensure_fds(unsigned conns, unsigned threads, char **err)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    rlim_t need = (rlim_t)conns + 2 * (rlim_t)threads + 64; /* stdio, logs, journal, probes */
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        struct rlimit nl = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl.rlim_cur = want;
        if (rl.rlim_cur < need)
            return zd_err(err,
                          "%u connections need %llu file descriptors, and the limit is %llu "
                          "(ulimit -n; the hard limit is %llu)",
                          conns, (unsigned long long)need, (unsigned long long)rl.rlim_cur,
                          (unsigned long long)rl.rlim_max);
    }
    return 0;
}

/* ---- the public API --------------------------------------------------------------------- */

static void load_destroy(struct load *l)
{
    if (!l)
        return;
    for (unsigned i = 0; l->w && i < l->nworkers; i++)
        worker_free(&l->w[i]);
    free(l->w);
    if (l->eng)
        l->eng->teardown(l);
    tl_free(l->tl);
    if (l->re)
        pcre2_code_free(l->re);
    free(l->exp_lo);
    free(l->exp_hi);
    free(l->url);
    free(l->ca_file);
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
    bool native = load_h1_supports(o->url, o->http2);
    if (o->engine == LOAD_ENGINE_NATIVE && !native) {
        char *shown = zd_url_redact(o->url);
        zd_err(err,
               "the native engine speaks HTTP/1.1 to http:// and https:// URLs without "
               "credentials (use the curl engine %s '%s')",
               o->http2 ? "for HTTP/2 to" : "for a URL with credentials such as", shown);
        free(shown);
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
    l->ca_file = o->ca_file ? xstrdup(o->ca_file) : NULL;
    l->timeout_us = o->timeout_us ? o->timeout_us : 2000000;
    l->connect_timeout_us = o->connect_timeout_us ? o->connect_timeout_us : 1000000;
    l->duration_us = o->duration_us;
    l->closed_loop = o->rate == 0;
    l->headers = o->headers;
    l->nheaders = o->nheaders;
    l->eng = native && o->engine != LOAD_ENGINE_CURL ? &load_engine_h1 : &load_engine_curl;
    bool tls = strncasecmp(o->url, "https:", 6) == 0;
    if (o->engine != LOAD_ENGINE_AUTO)
        l->why = "asked for";
    else if (native)
        l->why = tls ? "auto: native for https:// over HTTP/1.1" : "auto: native for http://";
    else
        l->why = o->http2 ? "auto: libcurl for HTTP/2" : "auto: libcurl for a URL with credentials";
    int erc = l->eng->setup(l, err);
    if (erc == LOAD_SETUP_UNRESOLVED && o->engine == LOAD_ENGINE_AUTO) {
        /* a host that does not resolve now: libcurl tries again per request (and counts each
         * failure as `other`) */
        l->eng->teardown(l);
        if (err) {
            free(*err);
            *err = NULL;
        }
        l->eng = &load_engine_curl;
        l->why = "auto: libcurl, the host did not resolve at start";
        erc = l->eng->setup(l, err);
    }
    l->headers = NULL; /* the caller's: not kept */
    l->nheaders = 0;
    if (erc < 0)
        goto fail;

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
    if (ensure_fds(conns, threads, err) < 0)
        goto fail;

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

const char *const load_engine_names[] = {"auto", "native", "curl", NULL};

int load_engine_parse(const char *name, enum load_engine_kind *out)
{
    for (int i = 0; load_engine_names[i]; i++)
        if (strcmp(name, load_engine_names[i]) == 0) {
            *out = (enum load_engine_kind)i;
            return 0;
        }
    return -1;
}

const char *load_engine_name(const struct load *l)
{
    return l->eng->name;
}

const char *load_engine_why(const struct load *l)
{
    return l->why;
}

unsigned load_threads(const struct load *l)
{
    return l->nworkers;
}

const char *load_tls_error(const struct load *l)
{
    return atomic_load(&((struct load *)l)->tls_err_state) == 2 ? l->tls_err : NULL;
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
    struct hist *late = hist_new(), *conn = hist_new(), *hs = hist_new();
    for (unsigned i = 0; i < l->nworkers; i++) {
        struct worker *w = &l->w[i];
        for (int k = 0; k < 6; k++)
            out->status[k] += atomic_load_explicit(&w->status[k], memory_order_relaxed);
        out->bytes_received += atomic_load_explicit(&w->bytes, memory_order_relaxed);
        out->tls_handshakes += atomic_load_explicit(&w->tls_handshakes, memory_order_relaxed);
        out->tls_resumed += atomic_load_explicit(&w->tls_resumed, memory_order_relaxed);
        out->tls_failed += atomic_load_explicit(&w->tls_failed, memory_order_relaxed);
        pthread_mutex_lock(&w->mu);
        hist_merge(late, w->lateness);
        hist_merge(conn, w->connect_us);
        hist_merge(hs, w->handshake_us);
        pthread_mutex_unlock(&w->mu);
    }
    out->lateness_p99_us = hist_quantile(late, 0.99);
    out->lateness_max_us = hist_max(late);
    out->connects = hist_count(conn);
    out->connect_p50_us = hist_quantile(conn, 0.5);
    out->connect_p99_us = hist_quantile(conn, 0.99);
    out->handshake_p50_us = hist_quantile(hs, 0.5);
    out->handshake_p99_us = hist_quantile(hs, 0.99);
    hist_free(late);
    hist_free(conn);
    hist_free(hs);
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
